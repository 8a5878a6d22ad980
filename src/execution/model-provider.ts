/**
 * The port between a run and a language model: one streamed completion.
 * Adapters (chosen by MODEL_PROVIDER) speak one wire protocol each; the
 * retry and timeout policy of SPEC §9 lives once, in `callModel`
 * (model-call.ts), not in every adapter.
 */

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ModelUsage {
  inputTokens: number;
  outputTokens: number;
}

/**
 * A token count as a provider reported it, if it is one: a whole number from
 * 0 to 2^53 - 1. Anything else (negative, fractional, 1e300, a string, an
 * object) is null: it is the provider's data, stored and served as an
 * integer ≥ 0, and must neither reach a client nor fail a run that completed.
 */
export function tokenCount(value: unknown): number | null {
  return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : null;
}

/** The usage of a reply from the two counts its provider reported: null when neither is a count; a missing one is 0. */
export function usageOf(input: unknown, output: unknown): ModelUsage | null {
  const inputTokens = tokenCount(input);
  const outputTokens = tokenCount(output);
  return inputTokens === null && outputTokens === null ? null : { inputTokens: inputTokens ?? 0, outputTokens: outputTokens ?? 0 };
}

export interface ModelRequest {
  /** The profile's system prompt first, then the conversation, oldest first. */
  messages: ChatMessage[];
  /** Aborting it must abort the HTTP request (the provider sees the socket close). */
  signal: AbortSignal;
}

/** SPEC §9: the only failure codes a run may report. Fixed messages live beside them. */
export const PROVIDER_ERROR_CODES = [
  'provider_unreachable',
  'provider_timeout',
  'provider_auth_failed',
  'provider_rate_limited',
  'provider_rejected',
  'provider_error',
  'provider_bad_response',
  'context_too_long',
] as const;
export type ProviderErrorCode = (typeof PROVIDER_ERROR_CODES)[number];

export const PROVIDER_ERROR_MESSAGES: Record<ProviderErrorCode, string> = {
  provider_unreachable: 'The model provider could not be reached',
  provider_timeout: 'The model provider did not answer in time',
  provider_auth_failed: 'The model provider refused the configured credential',
  provider_rate_limited: 'The model provider is rate limiting requests',
  provider_rejected: 'The model provider rejected the request',
  provider_error: 'The model provider failed to answer',
  provider_bad_response: 'The model provider sent a response that could not be understood',
  context_too_long: 'The conversation is too long for the model',
};

/**
 * A classified provider failure. `message` is always the fixed text of its
 * code: the provider's own text, URL or key never travels in it. `cause` is
 * for the operator log only (and is redacted there).
 */
export class ProviderError extends Error {
  constructor(
    readonly code: ProviderErrorCode,
    /** Worth another attempt if no text was produced yet (connection, timeout, 429, 5xx). */
    readonly retryable: boolean,
    /** From a Retry-After header, when the provider sent one. */
    readonly retryAfterMs?: number,
    override readonly cause?: unknown,
  ) {
    super(PROVIDER_ERROR_MESSAGES[code]);
    this.name = 'ProviderError';
  }
}

/**
 * Where an adapter reports what arrives on the stream. `callModel`'s
 * watchdog is reset by both: reasoning models send non-text chunks (thinking,
 * usage, role-only deltas) for a long time before the first reply text.
 */
export interface StreamSink {
  /** One piece of reply text, in order; never reasoning. Counts as activity. */
  text(text: string): void;
  /** A chunk arrived that carries no reply text. */
  activity(): void;
}

/**
 * One adapter per wire protocol. `stream` makes exactly one HTTP request (no
 * retries of its own: the SDK's are turned off), calls `sink.text` for every
 * piece of reply text in order and `sink.activity` for every other chunk it
 * receives, and resolves with the usage once the reply is complete (the
 * protocol's end marker was seen). It rejects with a ProviderError, or with the
 * signal's reason when the signal was aborted. It leaves no listener on
 * `request.signal` once it has settled.
 */
export abstract class ModelProvider {
  /** `openai-compatible` or `anthropic`: for the operator log and diagnostics. */
  abstract readonly name: string;
  abstract stream(request: ModelRequest, sink: StreamSink): Promise<{ usage: ModelUsage | null }>;
}

/** What an adapter is built from (MODEL_* and WORKER_PROVIDER_API_KEY; see app-config.ts). Internal: never projected. */
export interface ModelProviderSettings {
  kind: 'openai-compatible' | 'anthropic';
  /** MODEL_BASE_URL; undefined means the SDK's default (api.openai.com / api.anthropic.com). */
  baseUrl: string | undefined;
  /** MODEL_NAME */
  model: string;
  /** WORKER_PROVIDER_API_KEY; null when unset (local servers such as Ollama need none). */
  apiKey: string | null;
  /** MODEL_STREAM_USAGE (openai-compatible only): send stream_options.include_usage. */
  streamUsage: boolean;
  /** MODEL_MAX_TOKENS: the reply's token cap (Anthropic requires one; sent to OpenAI-compatible servers as max_tokens only when set explicitly). */
  maxTokens: number | null;
}
