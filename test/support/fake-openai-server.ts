import { FakeModelServer, sseFrame, type ReplyBehaviour, type StreamFrames, type WireDialect } from './fake-model-server';

export * from './fake-model-server';

/**
 * A real HTTP server speaking OpenAI chat completions with streaming, as
 * OpenAI (and Ollama, vLLM, llama.cpp, LM Studio) send it:
 * `POST <any prefix>/chat/completions` → `text/event-stream` of
 * `data: {chat.completion.chunk}` frames, a usage chunk with `choices: []`
 * when `stream_options.include_usage` was asked for, then `data: [DONE]`.
 * Errors carry OpenAI's body shape `{ error: { message, type, param, code } }`.
 */
export function startFakeOpenAiServer(): Promise<FakeModelServer> {
  return FakeModelServer.start(openAiDialect);
}

/** The base URL a client is configured with: `<origin><prefix>/v1`. */
export function openAiBaseUrl(server: Pick<FakeModelServer, 'origin'>, prefix = ''): string {
  return `${server.origin}${prefix}/v1`;
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  403: 'invalid_request_error',
  404: 'invalid_request_error',
  429: 'rate_limit_exceeded',
};

const ERROR_CODES: Record<number, string | null> = {
  401: 'invalid_api_key',
  404: 'model_not_found',
  429: 'rate_limit_exceeded',
};

let requestCounter = 0;

export const openAiDialect: WireDialect = {
  serves: (method, path) => method === 'POST' && path.endsWith('/chat/completions'),

  responseHeaders: () => ({ 'x-request-id': `req_fake_${++requestCounter}` }),

  errorBody: (status, message) => ({
    error: { message, type: ERROR_TYPES[status] ?? 'server_error', param: null, code: ERROR_CODES[status] ?? null },
  }),

  contextTooLongBody: (extra) => ({
    error: {
      message: `This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages.${extra}`,
      type: 'invalid_request_error',
      param: 'messages',
      code: 'context_length_exceeded',
    },
  }),

  frames(body: any, behaviour: ReplyBehaviour): StreamFrames {
    const id = `chatcmpl-fake${++requestCounter}`;
    const model = typeof body?.model === 'string' ? body.model : 'fake-model';
    const includeUsage = body?.stream_options?.include_usage === true;
    const chunk = (choices: unknown[], extra: object = {}): string =>
      sseFrame({
        id,
        object: 'chat.completion.chunk',
        created: 1_780_000_000,
        model,
        system_fingerprint: 'fp_fake',
        choices,
        // With include_usage, every chunk carries `usage: null` until the last one.
        ...(includeUsage ? { usage: null } : {}),
        ...extra,
      });
    const choice = (delta: object, finishReason: string | null = null) => ({
      index: 0,
      delta,
      logprobs: null,
      finish_reason: finishReason,
    });
    return {
      start: () => [chunk([choice({ role: 'assistant', content: '', refusal: null })])],
      reasoning: (text) => [chunk([choice({ content: null, [behaviour.reasoningField ?? 'reasoning_content']: text })])],
      text: (text) => chunk([choice({ content: text })]),
      unknown: () => chunk([choice({ future_field: { kind: 'not yet invented' } })], { future_top_level: true }),
      end: ({ inputTokens, outputTokens }) => [
        chunk([choice({}, 'stop')]),
        ...(includeUsage
          ? [
              chunk([], {
                usage: {
                  prompt_tokens: inputTokens,
                  completion_tokens: outputTokens,
                  total_tokens: typeof inputTokens === 'number' && typeof outputTokens === 'number' ? inputTokens + outputTokens : null,
                },
              }),
            ]
          : []),
        'data: [DONE]\n\n',
      ],
      streamError: (message, type) =>
        sseFrame({ error: { message: message ?? 'The server had an error while processing your request.', type: type ?? 'server_error', param: null, code: null } }),
      malformed: () => `data: {"id":"${id}","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"unterminated\n\n`,
    };
  },
};
