import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import {
  ModelProvider,
  ProviderError,
  type ModelProviderSettings,
  type ModelRequest,
  type ModelUsage,
  type StreamSink,
  usageOf,
} from '../model-provider';
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

const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';

/**
 * The SDK will not build a client without a credential, and without one given
 * here it would read OPENAI_API_KEY from the environment (a key we were not
 * configured with). Local servers (Ollama, llama.cpp, LM Studio, vLLM without
 * --api-key) ignore the Authorization header, so a visible placeholder is
 * harmless; a server that does want a key answers 401 → provider_auth_failed.
 */
const NO_API_KEY_PLACEHOLDER = 'no-api-key-configured';

/** How OpenAI-compatible servers say the prompt does not fit (OpenAI, vLLM, llama.cpp, LM Studio wordings). */
const CONTEXT_TOO_LONG_TEXT = /maximum context length|context[ _-]?(length|window|size)|prompt is too long|too many tokens/i;

const OPENAI_STREAM_RULES: StreamEventRules = {
  // The SDK's own test for the end (`sse.data.startsWith('[DONE]')`): its data is the data lines joined, so the first one's start.
  isLast: (event) => sseFieldValues(event, 'data')[0]?.startsWith('[DONE]') === true,
  // Assistants API events: never in a chat completion, and the SDK prints them to the console when they do not parse.
  // Any of the event's names, not only the last one the SDK keeps: a refusal too many is harmless.
  isRefused: (event) => sseFieldValues(event, 'event').some((name) => name.startsWith('thread.')),
};

/**
 * One adapter for every server speaking OpenAI chat completions with
 * streaming: OpenAI, Ollama, vLLM, llama.cpp server, LM Studio.
 */
export class OpenAiCompatibleProvider extends ModelProvider {
  readonly name = 'openai-compatible';
  private readonly client: OpenAI;

  constructor(private readonly settings: ModelProviderSettings) {
    super();
    this.client = new OpenAI({
      apiKey: settings.apiKey ?? NO_API_KEY_PLACEHOLDER,
      // Pinned, so OPENAI_BASE_URL in the environment cannot send our key elsewhere.
      baseURL: settings.baseUrl ?? OPENAI_DEFAULT_BASE_URL,
      // Never sent to third-party servers from stray OPENAI_ORG_ID / OPENAI_PROJECT_ID.
      organization: null,
      project: null,
      // Retry policy lives once in callModel (SPEC §9); the SDK's would multiply it.
      maxRetries: 0,
      // The SDK logs unparseable chunks and (with OPENAI_LOG) URLs and bodies straight to
      // the console, past our redacting logger; failures reach the operator log as `cause`.
      // (One console call ignores it: see OPENAI_STREAM_RULES.)
      logLevel: 'off',
      // No redirects, whole events of bounded size, bounded error bodies (provider-fetch.ts).
      fetch: providerFetch({ rules: OPENAI_STREAM_RULES }),
    });
  }

  async stream(request: ModelRequest, sink: StreamSink): Promise<{ usage: ModelUsage | null }> {
    return withLinkedAbortSignal(request.signal, async (signal) => {
      try {
        const stream = await this.client.chat.completions.create(this.body(request), { signal, maxRetries: 0, fetchOptions: watchedRequest(() => sink.activity()) });
        let finished = false;
        let chunks = 0;
        let usage: ModelUsage | null = null;
        for await (const chunk of stream) {
          chunks++;
          const text = readChunk(chunk);
          if (text) sink.text(text);
          else sink.activity();
          if (replyChoice(chunk)?.finish_reason) finished = true;
          if (chunk.usage) usage = usageOf(chunk.usage.prompt_tokens, chunk.usage.completion_tokens) ?? usage;
        }
        // The SDK ends iteration silently both when our signal aborts the body read and
        // when the server closes the stream early; only we can tell these apart.
        if (signal.aborted) throw signal.reason;
        // The SDK swallows `data: [DONE]`, so the end marker we can see is the choice's
        // finish_reason, which every compatible server sends on the last content chunk.
        if (!finished) throw chunks === 0 ? noEvents() : streamEndedEarly();
        return { usage };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        throw toProviderError(error);
      }
    });
  }

  private body(request: ModelRequest): ChatCompletionCreateParamsStreaming {
    return {
      model: this.settings.model,
      messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
      stream: true,
      // Some servers reject stream_options (MODEL_STREAM_USAGE=false leaves it out).
      ...(this.settings.streamUsage ? { stream_options: { include_usage: true } } : {}),
      ...(this.settings.maxTokens != null ? { max_tokens: this.settings.maxTokens } : {}),
    };
  }
}

/**
 * The reply text a chunk carries, from `choices[0].delta.content`. Reasoning
 * (`delta.reasoning` from Ollama/OpenRouter, `delta.reasoning_content` from
 * DeepSeek/vLLM/llama.cpp) is deliberately not read: it is activity, never
 * reply text. The final usage chunk has `choices: []`.
 */
function readChunk(chunk: ChatCompletionChunk): string {
  if (typeof chunk !== 'object' || chunk === null || Array.isArray(chunk)) throw badChunk('not an object');
  // Every chunk carries `choices` (the final usage chunk an empty one): anything else is not this protocol.
  if (!Array.isArray(chunk.choices)) throw badChunk('choices is not a list');
  const content = replyChoice(chunk)?.delta?.content;
  if (content === undefined || content === null) return '';
  if (typeof content !== 'string') throw badChunk('delta.content is not text');
  return content;
}

/**
 * The reply's choice: the one with `index` 0 (we never ask for more than one,
 * but a server may send several, in any order), or the only one a server
 * that leaves out `index` sends.
 */
function replyChoice(chunk: ChatCompletionChunk): ChatCompletionChunk.Choice | undefined {
  const choices = chunk.choices;
  if (!Array.isArray(choices)) return undefined;
  return choices.find((c) => c?.index === 0) ?? (choices.length === 1 && choices[0]?.index === undefined ? choices[0] : undefined);
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
    const body = (error.error ?? {}) as { message?: unknown; type?: unknown; code?: unknown };
    const contextTooLong =
      body.code === 'context_length_exceeded' ||
      body.type === 'exceed_context_size_error' ||
      (typeof body.message === 'string' && CONTEXT_TOO_LONG_TEXT.test(body.message));
    if (error.status === undefined) {
      // `data: {"error": …}` inside a 200 stream (the SDK throws it with no status).
      // vLLM puts the HTTP status it means in `code`; otherwise the server failed mid-answer.
      const status = typeof body.code === 'number' && body.code >= 400 && body.code < 600 ? body.code : 500;
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
