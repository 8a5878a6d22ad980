import { FakeModelServer, sseFrame, type StreamFrames, type WireDialect } from './fake-model-server';

export * from './fake-model-server';

/**
 * A real HTTP server speaking the Anthropic Messages API with streaming:
 * `POST <any prefix>/v1/messages` → `event: <type>\ndata: <json>\n\n` frames
 * in the real order: message_start, content_block_start, ping,
 * content_block_delta (text_delta) …, content_block_stop, message_delta
 * (usage.output_tokens, stop_reason), message_stop. Reasoning comes as a
 * thinking block before the text block. Errors carry Anthropic's body shape
 * `{ type: 'error', error: { type, message }, request_id }`.
 */
export function startFakeAnthropicServer(): Promise<FakeModelServer> {
  return FakeModelServer.start(anthropicDialect);
}

/** The base URL a client is configured with: `<origin><prefix>` (the SDK adds `/v1/messages`). */
export function anthropicBaseUrl(server: Pick<FakeModelServer, 'origin'>, prefix = ''): string {
  return `${server.origin}${prefix}`;
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

let requestCounter = 0;

function errorEnvelope(type: string, message: string): object {
  return { type: 'error', error: { type, message }, request_id: `req_fake${++requestCounter}` };
}

export const anthropicDialect: WireDialect = {
  serves: (method, path) => method === 'POST' && path.endsWith('/v1/messages'),

  responseHeaders: () => ({ 'request-id': `req_fake${++requestCounter}` }),

  errorBody: (status, message) => errorEnvelope(ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'), message),

  contextTooLongBody: (extra) => errorEnvelope('invalid_request_error', `prompt is too long: 210371 tokens > 200000 maximum${extra}`),

  frames(body: any): StreamFrames {
    const model = typeof body?.model === 'string' ? body.model : 'fake-model';
    const event = (data: { type: string }): string => sseFrame(data, data.type);
    let index = 0;
    let thinkingOpen = false;
    let textOpen = false;
    // The API sends one ping right after the first content block opens.
    let pinged = false;
    const ping = (): string[] => (pinged ? [] : ((pinged = true), [event({ type: 'ping' })]));
    const openText = (): string[] => {
      const frames: string[] = [];
      if (thinkingOpen) {
        frames.push(event({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: 'ZmFrZQ==' } } as any));
        frames.push(event({ type: 'content_block_stop', index } as any));
        thinkingOpen = false;
        index++;
      }
      if (!textOpen) {
        frames.push(event({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } } as any), ...ping());
        textOpen = true;
      }
      return frames;
    };
    return {
      start: ({ inputTokens }) => [
        event({
          type: 'message_start',
          message: {
            id: `msg_fake${++requestCounter}`,
            type: 'message',
            role: 'assistant',
            model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: inputTokens, output_tokens: 1 },
          },
        } as any),
      ],
      reasoning: (text) => {
        const frames: string[] = [];
        if (!thinkingOpen) {
          frames.push(
            event({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } } as any),
            ...ping(),
          );
          thinkingOpen = true;
        }
        frames.push(event({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: text } } as any));
        return frames;
      },
      unknown: () => sseFrame({ type: 'future_event', detail: { kind: 'not yet invented' } }, 'future_event'),
      // The text block opens with the first text piece.
      text: (text) =>
        [...(textOpen ? [] : openText()), event({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } } as any)].join(''),
      end: ({ outputTokens }) => [
        ...(textOpen ? [] : openText()),
        event({ type: 'content_block_stop', index } as any),
        event({
          type: 'message_delta',
          delta: { stop_reason: 'end_turn', stop_sequence: null },
          usage: { output_tokens: outputTokens },
        } as any),
        event({ type: 'message_stop' }),
      ],
      streamError: (message, type) => sseFrame(errorEnvelope(type ?? 'overloaded_error', message ?? 'Overloaded'), 'error'),
      malformed: () => 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"unterminated\n\n',
    };
  },
};
