import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import type { MessageCreateParamsStreaming, RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import {
  ModelProvider,
  ProviderError,
  type ModelProviderSettings,
  type ModelRequest,
  type ModelUsage,
  type StreamSink,
  tokenCount,
  usageOf,
} from '../model-provider';
import { toAnthropicConversation } from './anthropic-conversation';
import { withLinkedAbortSignal } from './linked-abort';
import { providerFetch, sseFieldValues, type StreamEventRules, watchedRequest } from './provider-fetch';
import {
  badChunk,
  noEvents,
  ownProviderError,
  parseRetryAfterMs,
  providerErrorForStatus,
  providerErrorForStreamFailure,
  streamEndedEarly,
} from './provider-failure';

const ANTHROPIC_DEFAULT_BASE_URL = 'https://api.anthropic.com';

/** The Messages API requires a reply cap; MODEL_MAX_TOKENS overrides it. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;

/**
 * Without a credential given here the SDK falls back to its default chain
 * (ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, credential files): a key we were
 * not configured with. A placeholder keeps it to ours; Anthropic answers it
 * with 401 (provider_auth_failed), a keyless compatible server ignores it.
 */
const NO_API_KEY_PLACEHOLDER = 'no-api-key-configured';

/**
 * The status Anthropic documents for each error `type`, so an `error` event
 * inside a 200 stream is classified like the HTTP error it stands for.
 */
const STATUS_OF_ERROR_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

const CONTEXT_TOO_LONG_TEXT = /prompt is too long/i;

const ANTHROPIC_STREAM_RULES: StreamEventRules = {
  // The end marker (the SDK names an event by its last `event:` line): the SDK would read on until the server closes.
  isLast: (event) => sseFieldValues(event, 'event').at(-1) === 'message_stop',
};

/** Anthropic Messages API, streamed. */
export class AnthropicProvider extends ModelProvider {
  readonly name = 'anthropic';
  private readonly client: Anthropic;

  constructor(private readonly settings: ModelProviderSettings) {
    super();
    this.client = new Anthropic({
      apiKey: settings.apiKey ?? NO_API_KEY_PLACEHOLDER,
      // Pinned, so ANTHROPIC_BASE_URL in the environment cannot send our key elsewhere.
      baseURL: settings.baseUrl ?? ANTHROPIC_DEFAULT_BASE_URL,
      // Retry policy lives once in callModel (SPEC §9); the SDK's would multiply it.
      maxRetries: 0,
      // The SDK logs unparseable events and (with ANTHROPIC_LOG) URLs and bodies straight
      // to the console, past our redacting logger; failures reach the operator log as `cause`.
      logLevel: 'off',
      // No redirects, whole events of bounded size, bounded error bodies (provider-fetch.ts).
      fetch: providerFetch({ rules: ANTHROPIC_STREAM_RULES }),
    });
  }

  async stream(request: ModelRequest, sink: StreamSink): Promise<{ usage: ModelUsage | null }> {
    return withLinkedAbortSignal(request.signal, async (signal) => {
      try {
        const stream = await this.client.messages.create(this.body(request), { signal, maxRetries: 0, fetchOptions: watchedRequest(() => sink.activity()) });
        let stopped = false;
        let events = 0;
        let inputTokens: number | null = null;
        let outputTokens: number | null = null;
        for await (const event of stream as AsyncIterable<RawMessageStreamEvent | { type?: unknown }>) {
          events++;
          if (typeof event !== 'object' || event === null || Array.isArray(event)) throw badChunk('not an object');
          switch (event.type) {
            case 'message_start': {
              const usage = (event as { message?: { usage?: { input_tokens?: unknown } } }).message?.usage;
              inputTokens = tokenCount(usage?.input_tokens) ?? inputTokens;
              sink.activity();
              break;
            }
            case 'content_block_delta': {
              const delta = (event as { delta?: { type?: unknown; text?: unknown } }).delta;
              // thinking_delta, signature_delta, input_json_delta, citations_delta: not reply text.
              if (delta?.type === 'text_delta') {
                if (typeof delta.text !== 'string') throw badChunk('text_delta without text');
                if (delta.text) sink.text(delta.text);
                else sink.activity();
              } else sink.activity();
              break;
            }
            case 'message_delta': {
              const usage = (event as { usage?: { output_tokens?: unknown } }).usage;
              outputTokens = tokenCount(usage?.output_tokens) ?? outputTokens;
              sink.activity();
              break;
            }
            case 'message_stop':
              stopped = true;
              sink.activity();
              break;
            default:
              // content_block_start/stop, and event types added after this was written.
              sink.activity();
          }
        }
        // The SDK ends iteration silently both when our signal aborts the body read and
        // when the server closes the stream early; only we can tell these apart.
        if (signal.aborted) throw signal.reason;
        if (!stopped) throw events === 0 ? noEvents() : streamEndedEarly();
        return { usage: usageOf(inputTokens, outputTokens) };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        throw toProviderError(error);
      }
    });
  }

  private body(request: ModelRequest): MessageCreateParamsStreaming {
    const { system, messages } = toAnthropicConversation(request.messages);
    if (messages.length === 0) {
      // Nothing the API would accept (it requires a first user turn): the answer it would give, without asking.
      throw new ProviderError('provider_rejected', false, undefined, new Error('no user turn in the conversation'));
    }
    return {
      model: this.settings.model,
      max_tokens: this.settings.maxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
      ...(system !== undefined ? { system } : {}),
      messages,
      stream: true,
    };
  }
}

function toProviderError(error: unknown): ProviderError {
  const own = ownProviderError(error);
  if (own) return own;
  // Subclass of APIConnectionError: test it first.
  if (error instanceof APIConnectionTimeoutError) return new ProviderError('provider_timeout', true, undefined, error);
  if (error instanceof APIConnectionError) return new ProviderError('provider_unreachable', true, undefined, error);
  // Only thrown when the signal was aborted, which the caller has handled; a
  // defensive mapping, treated like any other connection that ended under us.
  if (error instanceof APIUserAbortError) return new ProviderError('provider_unreachable', true, undefined, error);
  if (error instanceof APIError) {
    const contextTooLong = typeof error.apiMessage === 'string' && CONTEXT_TOO_LONG_TEXT.test(error.apiMessage);
    if (error.status === undefined) {
      // An `event: error` inside a 200 stream (e.g. overloaded_error): classified by its type.
      const status = (error.type && Object.hasOwn(STATUS_OF_ERROR_TYPE, error.type) && STATUS_OF_ERROR_TYPE[error.type]) || 500;
      return providerErrorForStatus({ status, contextTooLong, retryAfterMs: undefined, cause: error });
    }
    return providerErrorForStatus({
      status: error.status,
      contextTooLong,
      retryAfterMs: parseRetryAfterMs(error.headers),
      cause: error,
    });
  }
  return providerErrorForStreamFailure(error);
}
