import { createHook } from 'node:async_hooks';
import { getEventListeners } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { callModel, type CallModelOptions, type ModelCallResult } from '../src/execution/model-call';
import {
  PROVIDER_ERROR_MESSAGES,
  ProviderError,
  type ChatMessage,
  type ModelProvider,
  type ModelProviderSettings,
} from '../src/execution/model-provider';
import { createModelProvider } from '../src/execution/providers/create-model-provider';
import { MAX_PROVIDER_ERROR_BODY_BYTES, MAX_PROVIDER_EVENT_BYTES } from '../src/execution/providers/provider-fetch';
import { anthropicBaseUrl, anthropicDialect, startFakeAnthropicServer } from './support/fake-anthropic-server';
import { defaultReplyText, type FakeModelServer, type WireDialect } from './support/fake-model-server';
import { openAiBaseUrl, openAiDialect, startFakeOpenAiServer } from './support/fake-openai-server';

/**
 * The real SDK adapters, through callModel (SPEC §9's retry and timeout
 * policy), against real HTTP servers that speak each provider's wire format.
 * Nothing is mocked: the fakes sit at the network boundary.
 */

interface Flavour {
  kind: ModelProviderSettings['kind'];
  start(): Promise<FakeModelServer>;
  baseUrl(server: Pick<FakeModelServer, 'origin'>, prefix?: string): string;
  dialect: WireDialect;
  /** The path the adapter posts to, after the base URL. */
  path: string;
  /** What its servers send to keep a quiet stream open, which the SDK drops: never a chunk it reports. */
  keepAlive: string[];
}

const FLAVOURS: Flavour[] = [
  // OpenRouter's comment while the upstream model thinks.
  { kind: 'openai-compatible', start: startFakeOpenAiServer, baseUrl: openAiBaseUrl, dialect: openAiDialect, path: '/chat/completions', keepAlive: [': OPENROUTER PROCESSING\n\n'] },
  {
    kind: 'anthropic',
    start: startFakeAnthropicServer,
    baseUrl: anthropicBaseUrl,
    dialect: anthropicDialect,
    path: '/v1/messages',
    keepAlive: ['event: ping\ndata: {"type": "ping"}\n\n', ': keep-alive\n\n'],
  },
];

const SSE = { 'content-type': 'text/event-stream' };

const CONVERSATION: ChatMessage[] = [
  { role: 'system', content: 'You are a terse test assistant.' },
  { role: 'user', content: 'first question' },
  { role: 'assistant', content: 'first answer' },
  { role: 'user', content: 'second question' },
];

interface Outcome {
  pieces: string[];
  text: string;
  result?: ModelCallResult;
  error?: unknown;
  /** Date.now() when callModel settled. */
  settledAt: number;
}

/** The caller's signal must carry no listener once the call has settled. */
function expectNoAbortListeners(signal: AbortSignal): void {
  expect(getEventListeners(signal, 'abort')).toHaveLength(0);
}

function expectProviderError(error: unknown, code: ProviderError['code']): asserts error is ProviderError {
  expect(error).toBeInstanceOf(ProviderError);
  expect((error as ProviderError).code).toBe(code);
  expect((error as ProviderError).message).toBe(PROVIDER_ERROR_MESSAGES[code]);
}

/**
 * Records every timer that callModel (model-call.ts) creates from now on, so a
 * test can list those still pending: neither fired nor cleared. (HTTP
 * keep-alive timers of node:http and undici are not its business.)
 */
function trackCallModelTimers(): { pending(): number[]; created(): number; stop(): void } {
  const timers: Array<{ _idleTimeout: number; _destroyed: boolean }> = [];
  const hook = createHook({
    init(_id, type, _trigger, resource) {
      if (type !== 'Timeout') return;
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 50;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      if (stack.includes('model-call.ts')) timers.push(resource as never);
    },
  }).enable();
  return {
    pending: () => timers.filter((t) => !t._destroyed).map((t) => t._idleTimeout),
    created: () => timers.length,
    stop: () => hook.disable(),
  };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/**
 * A fake provider for the describe block this is called in: started before its
 * tests (handed to `use`), closed after them; after each test it must have
 * nothing open (the adapter finished or aborted every request), then is reset.
 */
function fakeServerPerBlock(start: () => Promise<FakeModelServer>, use: (server: FakeModelServer) => void): void {
  let server: FakeModelServer;
  beforeAll(async () => {
    server = await start();
    use(server);
  });
  afterAll(async () => {
    await server.close();
  });
  afterEach(async () => {
    await server.waitForIdle(2000);
    server.reset();
  });
}

describe.each(FLAVOURS)('model provider $kind through callModel', (flavour) => {
  let server!: FakeModelServer;
  fakeServerPerBlock(flavour.start, (s) => (server = s));

  function provider(overrides: Partial<ModelProviderSettings> = {}): ModelProvider {
    return createModelProvider({
      kind: flavour.kind,
      baseUrl: flavour.baseUrl(server),
      model: 'fake-model',
      apiKey: 'test-key',
      streamUsage: true,
      maxTokens: null,
      ...overrides,
    });
  }

  async function call(
    options: Partial<CallModelOptions> & { provider?: ModelProvider; messages?: ChatMessage[]; onText?: (t: string) => void } = {},
  ): Promise<Outcome> {
    const pieces: string[] = [];
    const signal = options.signal ?? new AbortController().signal;
    try {
      const result = await callModel(
        options.provider ?? provider(),
        options.messages ?? CONVERSATION,
        options.onText ?? ((t) => pieces.push(t)),
        {
          timeoutMs: 2000,
          deadlineAt: Date.now() + 30_000,
          initialBackoffMs: 20,
          ...options,
          signal,
        },
      );
      return { pieces, text: pieces.join(''), result, settledAt: Date.now() };
    } catch (error) {
      return { pieces, text: pieces.join(''), error, settledAt: Date.now() };
    } finally {
      expectNoAbortListeners(signal);
    }
  }

  describe('replies', () => {
    it('delivers the text chunks in order and their concatenation exactly', async () => {
      const chunks = ['Hel', 'lo, ', 'wörld', ' ✓', '\n', 'line "two"', ' {json:1}'];
      server.enqueue({ kind: 'reply', chunks, usage: { inputTokens: 11, outputTokens: 7 } });

      const outcome = await call();

      expect(outcome.error).toBeUndefined();
      expect(outcome.pieces).toEqual(chunks);
      expect(outcome.text).toBe(chunks.join(''));
      expect(outcome.result).toEqual({ usage: { inputTokens: 11, outputTokens: 7 }, attempts: 1 });
      expect(server.requests).toHaveLength(1);
    });

    it.each([
      ['negative and a string', { inputTokens: -5, outputTokens: 'x' }, null],
      ['beyond a safe integer and fractional', { inputTokens: 1e300, outputTokens: 1.5 }, null],
      ['an object and a boolean', { inputTokens: { a: 1 }, outputTokens: true }, null],
      ['a count and a numeric string', { inputTokens: 12, outputTokens: '7' }, { inputTokens: 12, outputTokens: 0 }],
      ['2^53 and a count', { inputTokens: 2 ** 53, outputTokens: 3 }, { inputTokens: 0, outputTokens: 3 }],
    ])('token counts that are not counts (%s) are dropped, the reply kept whole', async (_name, usage, expected) => {
      server.enqueue({ kind: 'reply', chunks: ['whole ', 'reply'], usage });
      const outcome = await call();
      expect(outcome.error).toBeUndefined();
      expect(outcome.text).toBe('whole reply');
      expect(outcome.result).toEqual({ usage: expected, attempts: 1 });
    });

    it('answers the last user message by default, so a reply can be traced to its input', async () => {
      const outcome = await call();
      expect(outcome.text).toBe(defaultReplyText('second question'));
      expect(outcome.pieces.length).toBeGreaterThan(3);
    });

    it('tolerates reasoning chunks and keeps them out of the reply', async () => {
      server.enqueue({ kind: 'reply', reasoning: ['Let me think', ' about it.'], chunks: ['ans', 'wer'] });
      const outcome = await call();
      expect(outcome.error).toBeUndefined();
      expect(outcome.text).toBe('answer');
    });

    it('tolerates a chunk of a kind it does not know', async () => {
      server.enqueue({ kind: 'reply', unknownChunk: true, chunks: ['still ', 'fine'] });
      const outcome = await call();
      expect(outcome.error).toBeUndefined();
      expect(outcome.text).toBe('still fine');
    });

    it('keeps waiting while non-text chunks keep coming, longer in total than timeoutMs', async () => {
      // 12 reasoning chunks 100 ms apart: 1.2 s without text, but never a gap near 750 ms.
      const reasoning = Array.from({ length: 12 }, (_, i) => `step ${i}. `);
      server.enqueue({ kind: 'reply', reasoning, chunks: ['done'], chunkDelayMs: 100 });
      const outcome = await call({ timeoutMs: 750, maxRetries: 0 });
      expect(outcome.error).toBeUndefined();
      expect(outcome.text).toBe('done');
    });

    it('the adapter itself leaves no abort listener on a request signal reused for many requests', async () => {
      // Straight to the adapter, without callModel's per-attempt signal in between.
      const controller = new AbortController();
      const adapter = provider();
      for (let i = 0; i < 12; i++) {
        const pieces: string[] = [];
        await adapter.stream(
          { messages: [{ role: 'user', content: `q${i}` }], signal: controller.signal },
          { text: (t) => pieces.push(t), activity: () => undefined },
        );
        expect(pieces.join('')).toBe(defaultReplyText(`q${i}`));
        expectNoAbortListeners(controller.signal);
      }
    });

    it('leaves no abort listener on a signal reused for many calls (the SDK leaks one per request)', async () => {
      const controller = new AbortController();
      const warnings: Error[] = [];
      const onWarning = (w: Error): number => warnings.push(w);
      process.on('warning', onWarning);
      try {
        for (let i = 0; i < 12; i++) {
          const outcome = await call({ signal: controller.signal, messages: [{ role: 'user', content: `question ${i}` }] });
          expect(outcome.text).toBe(defaultReplyText(`question ${i}`));
        }
      } finally {
        process.off('warning', onWarning);
      }
      expectNoAbortListeners(controller.signal);
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    });
  });

  describe('failures that are not retried', () => {
    it('401 → provider_auth_failed after one request', async () => {
      server.setDefault({ kind: 'status', status: 401, message: 'Incorrect API key provided' });
      const outcome = await call();
      expectProviderError(outcome.error, 'provider_auth_failed');
      expect(server.requests).toHaveLength(1);
    });

    it('403 → provider_auth_failed', async () => {
      server.setDefault({ kind: 'status', status: 403, message: 'forbidden' });
      expectProviderError((await call()).error, 'provider_auth_failed');
      expect(server.requests).toHaveLength(1);
    });

    it('400 saying the context is too long → context_too_long', async () => {
      server.setDefault({ kind: 'context_too_long' });
      expectProviderError((await call()).error, 'context_too_long');
      expect(server.requests).toHaveLength(1);
    });

    it('other 4xx → provider_rejected', async () => {
      server.setDefault({ kind: 'status', status: 404, message: 'model fake-model does not exist' });
      expectProviderError((await call()).error, 'provider_rejected');
      server.reset();
      server.setDefault({ kind: 'status', status: 400, message: 'temperature must be below 2' });
      expectProviderError((await call()).error, 'provider_rejected');
    });

    it('a connection dropped after text → provider_unreachable, the text kept, no retry', async () => {
      server.setDefault({ kind: 'reply', chunks: ['partial ', 'reply'], end: 'drop' });
      const outcome = await call();
      expectProviderError(outcome.error, 'provider_unreachable');
      expect(outcome.text).toBe('partial reply');
      expect(server.requests).toHaveLength(1);
    });

    it('a stream that ends cleanly without its end marker after text → provider_unreachable, no retry', async () => {
      server.setDefault({ kind: 'reply', chunks: ['cut ', 'short'], end: 'close' });
      const outcome = await call();
      expectProviderError(outcome.error, 'provider_unreachable');
      expect(outcome.text).toBe('cut short');
      expect(server.requests).toHaveLength(1);
    });

    it('malformed stream data → provider_bad_response, no retry', async () => {
      server.setDefault({ kind: 'reply', chunks: [], end: 'malformed' });
      const outcome = await call();
      expectProviderError(outcome.error, 'provider_bad_response');
      expect(server.requests).toHaveLength(1);
    });

    it('an error object inside the stream after text → provider_error, no retry', async () => {
      server.setDefault({ kind: 'reply', chunks: ['so far'], end: 'stream_error' });
      const outcome = await call();
      expectProviderError(outcome.error, 'provider_error');
      expect(outcome.text).toBe('so far');
      expect(server.requests).toHaveLength(1);
    });

    it('an error thrown by onText ends the call with that error, aborts the request, no retry', async () => {
      const boom = new Error('consumer failed');
      server.setDefault({ kind: 'reply', chunks: ['a', 'b', 'c'], chunkDelayMs: 200 });
      const outcome = await call({
        onText: () => {
          throw boom;
        },
      });
      expect(outcome.error).toBe(boom);
      await server.waitForClientClose(0, 1000);
      expect(server.requests).toHaveLength(1);
    });
  });

  describe('retries (before the first text only)', () => {
    it('429 with Retry-After is retried after that delay, then succeeds', async () => {
      server.enqueue({ kind: 'status', status: 429, message: 'Rate limit reached', headers: { 'retry-after': '1' } });
      const retries: Array<[number, string, number]> = [];
      const outcome = await call({ onRetry: (attempt, error, delayMs) => retries.push([attempt, error.code, delayMs]) });

      expect(outcome.error).toBeUndefined();
      expect(outcome.text).toBe(defaultReplyText('second question'));
      expect(outcome.result?.attempts).toBe(2);
      expect(retries).toEqual([[1, 'provider_rate_limited', 1000]]);
      const [first, second] = server.requests;
      expect(server.requests).toHaveLength(2);
      // Timers may fire a millisecond early against Date.now(): allow 10 ms of clock slack.
      expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(990);
    });

    it('a Retry-After longer than maxRetryAfterMs is not waited for: provider_rate_limited at once', async () => {
      server.setDefault({ kind: 'status', status: 429, message: 'slow down', headers: { 'retry-after': '2' } });
      const outcome = await call({ maxRetryAfterMs: 1000 });
      expectProviderError(outcome.error, 'provider_rate_limited');
      expect((outcome.error as ProviderError).retryAfterMs).toBe(2000);
      expect(server.requests).toHaveLength(1);
    });

    it('500 is retried: 3 failures → provider_error after exactly 3 requests', async () => {
      server.setDefault({ kind: 'status', status: 500, message: 'internal' });
      const outcome = await call();
      expectProviderError(outcome.error, 'provider_error');
      expect(server.requests).toHaveLength(3);
    });

    it('500 then a reply → the reply', async () => {
      server.enqueue({ kind: 'status', status: 503, message: 'unavailable' });
      const outcome = await call();
      expect(outcome.text).toBe(defaultReplyText('second question'));
      expect(outcome.result?.attempts).toBe(2);
    });

    it('a connection dropped before any text is retried', async () => {
      server.enqueue({ kind: 'reply', chunks: [], end: 'drop' });
      const outcome = await call();
      expect(outcome.error).toBeUndefined();
      expect(outcome.text).toBe(defaultReplyText('second question'));
      expect(server.requests).toHaveLength(2);
    });

    it('an unreachable server → provider_unreachable after 3 attempts', async () => {
      const port = await closedPort();
      const attempts: number[] = [];
      const outcome = await call({
        provider: provider({ baseUrl: flavour.baseUrl({ origin: `http://127.0.0.1:${port}` }) }),
        onRetry: (attempt) => attempts.push(attempt),
      });
      expectProviderError(outcome.error, 'provider_unreachable');
      expect(attempts).toEqual([1, 2]);
    });

    it('maxRetries bounds the retries', async () => {
      server.setDefault({ kind: 'status', status: 500, message: 'internal' });
      expectProviderError((await call({ maxRetries: 0 })).error, 'provider_error');
      expect(server.requests).toHaveLength(1);
    });
  });

  describe('hostile answers (provider-fetch.ts)', () => {
    /** A whole, valid streamed reply of the dialect carrying `texts`, as its frames. */
    function replyFrames(texts: string[]): string[] {
      const f = flavour.dialect.frames({ messages: [] }, { kind: 'reply' });
      const usage = { inputTokens: 1, outputTokens: texts.length };
      return [...f.start(usage), ...texts.map((t) => f.text(t)), ...f.end(usage)];
    }

    it(`an event longer than ${MAX_PROVIDER_EVENT_BYTES} bytes → provider_bad_response, no retry, the connection closed`, async () => {
      // One line that never ends, sent as fast as the socket takes it: the SDK alone would buffer and rescan it forever.
      const piece = 'B'.repeat(256 * 1024);
      server.setDefault({ kind: 'raw', status: 200, headers: SSE, writes: ['data: {"x":"'], repeat: { piece, times: 64 }, end: 'hang' });
      const outcome = await call({ timeoutMs: 10_000 });
      expectProviderError(outcome.error, 'provider_bad_response');
      expect(server.requests).toHaveLength(1);
      await server.waitForClientClose(0, 2000);
    });

    // The SDKs read on after the end marker until the server closes; one that never did failed a complete reply (attack round).
    it('a server that keeps the connection open after its end marker: the reply, complete, and the connection let go', async () => {
      server.setDefault({ kind: 'raw', status: 200, headers: SSE, writes: replyFrames(['all ', 'done']), end: 'hang' });
      const outcome = await call({ timeoutMs: 1000 });
      expect(outcome.error).toBeUndefined();
      expect(outcome.text).toBe('all done');
      await server.waitForClientClose(0, 1000);
    });

    it('keep-alive the SDK drops (comments, pings) is activity: quiet for longer than timeoutMs in all, the reply arrives', async () => {
      const f = flavour.dialect.frames({ messages: [] }, { kind: 'reply' });
      const usage = { inputTokens: 1, outputTokens: 1 };
      // 8 keep-alives 200 ms apart: 1.6 s without a chunk the SDK reports, against a 1 s timeout (5 × the gap).
      const quiet = Array.from({ length: 8 }, (_, i) => flavour.keepAlive[i % flavour.keepAlive.length]);
      server.setDefault({ kind: 'raw', status: 200, headers: SSE, writes: [...f.start(usage), ...quiet, f.text('after the wait'), ...f.end(usage)], gapMs: 200 });
      const outcome = await call({ timeoutMs: 1000, maxRetries: 0 });
      expect(outcome.error).toBeUndefined();
      expect(outcome.text).toBe('after the wait');
    });

    it('a long event sent in many small writes arrives whole, its text exact', async () => {
      const long = 'L'.repeat(200_000);
      const bytes = replyFrames(['head ', long, ' tail']).join('');
      const pieces = bytes.match(/[\s\S]{1,1000}/g)!;
      server.setDefault({ kind: 'raw', status: 200, headers: SSE, writes: pieces, gapMs: 0 });
      const outcome = await call({ timeoutMs: 10_000 });
      expect(outcome.error).toBeUndefined();
      expect(outcome.text).toBe(`head ${long} tail`);
    });

    it.each([301, 302, 307, 308])('a %i redirect is not followed: provider_bad_response, nothing sent to its target', async (status) => {
      const target = await flavour.start();
      try {
        server.setDefault({ kind: 'raw', status, headers: { location: `${flavour.baseUrl(target)}${flavour.path}` }, writes: ['moved'] });
        const outcome = await call();
        expectProviderError(outcome.error, 'provider_bad_response');
        expect(server.requests).toHaveLength(1);
        expect(target.requests).toHaveLength(0);
      } finally {
        await target.close();
      }
    });

    it(`an error answer is read only to ${MAX_PROVIDER_ERROR_BODY_BYTES} bytes: still classified, the rest never read`, async () => {
      // 8 MiB of error body per attempt; classified by its status (500 → provider_error, retried).
      server.setDefault({
        kind: 'raw',
        status: 500,
        headers: { 'content-type': 'application/json' },
        writes: ['{"error":{"message":"'],
        repeat: { piece: 'E'.repeat(64 * 1024), times: 128 },
      });
      const outcome = await call();
      expectProviderError(outcome.error, 'provider_error');
      expect(server.requests).toHaveLength(3);
      for (let i = 0; i < 3; i++) {
        const request = await server.waitForClientClose(i, 2000);
        expect(request.finishedAt).toBeNull();
      }
    });

    it('a 200 that holds no event of the protocol (an HTML page) → provider_bad_response, no retry', async () => {
      server.setDefault({ kind: 'raw', status: 200, headers: { 'content-type': 'text/html' }, writes: ['<html><body>Gateway says hello</body></html>\n'] });
      const outcome = await call();
      expectProviderError(outcome.error, 'provider_bad_response');
      expect(server.requests).toHaveLength(1);
    });

    it('a status no HTTP answer may carry (600) → provider_bad_response, no retry', async () => {
      server.setDefault({ kind: 'raw', status: 600, headers: { 'content-type': 'application/json' }, writes: ['{}'] });
      const outcome = await call();
      expectProviderError(outcome.error, 'provider_bad_response');
      expect(server.requests).toHaveLength(1);
    });

    it('a flood of empty events between two chunks costs what its bytes do: the reply arrives whole', async () => {
      const f = flavour.dialect.frames({ messages: [] }, { kind: 'reply' });
      const usage = { inputTokens: 1, outputTokens: 2 };
      // 4 MiB of blank lines after the first text chunk, in 64 KiB writes: two million empty events. Handed to
      // the SDK a read at a time, each read's events would cost it a copy of the rest of the read apiece.
      server.setDefault({
        kind: 'raw',
        status: 200,
        headers: SSE,
        writes: [...f.start(usage), f.text('before ')],
        repeat: { piece: '\n\n'.repeat(32 * 1024), times: 64 },
        then: [f.text('after'), ...f.end(usage)],
      });
      const outcome = await call({ timeoutMs: 20_000 });
      expect(outcome.error).toBeUndefined();
      expect(outcome.text).toBe('before after');
    });

    it('a chunk that is a JSON array → provider_bad_response, no retry', async () => {
      const frame = flavour.kind === 'anthropic' ? 'event: content_block_delta\ndata: [1,2,3]\n\n' : 'data: [1,2,3]\n\n';
      server.setDefault({ kind: 'raw', status: 200, headers: SSE, writes: [frame], end: 'hang' });
      const outcome = await call();
      expectProviderError(outcome.error, 'provider_bad_response');
      expect(server.requests).toHaveLength(1);
    });
  });

  describe('timeouts and the deadline', () => {
    it('a server that never answers → provider_timeout after timeoutMs, the request aborted', async () => {
      server.setDefault({ kind: 'hang' });
      const startedAt = Date.now();
      const deadlineAt = startedAt + 10_000;
      const outcome = await call({ timeoutMs: 300, maxRetries: 0, deadlineAt });
      expectProviderError(outcome.error, 'provider_timeout');
      // The watchdog ended it (a timeout worth retrying), not the deadline.
      expect(outcome.error.retryable).toBe(true);
      expect(outcome.settledAt - startedAt).toBeGreaterThanOrEqual(290);
      expect(outcome.settledAt).toBeLessThan(deadlineAt);
      expect(server.requests).toHaveLength(1);
      await server.waitForClientClose(0, 1000);
    });

    it('timeouts before any text are retried, each stalled request aborted', async () => {
      server.setDefault({ kind: 'hang' });
      const outcome = await call({ timeoutMs: 200 });
      expectProviderError(outcome.error, 'provider_timeout');
      expect(server.requests).toHaveLength(3);
      for (const i of [0, 1, 2]) await server.waitForClientClose(i, 1000);
    });

    it('a gap between chunks longer than timeoutMs → provider_timeout, text kept, no retry', async () => {
      server.setDefault({ kind: 'reply', chunks: ['quick ', 'then slow'], chunkDelayMs: 1000 });
      const outcome = await call({ timeoutMs: 300 });
      expectProviderError(outcome.error, 'provider_timeout');
      expect(outcome.text).toBe('quick ');
      expect(server.requests).toHaveLength(1);
      await server.waitForClientClose(0, 1000);
    });

    it('a first chunk later than timeoutMs → provider_timeout', async () => {
      server.enqueue({ kind: 'reply', chunks: ['late'], firstChunkDelayMs: 1000 });
      const outcome = await call({ timeoutMs: 300, maxRetries: 0 });
      expectProviderError(outcome.error, 'provider_timeout');
      await server.waitForClientClose(0, 1000);
    });

    it('the deadline ends a reply that keeps streaming → provider_timeout, not retried', async () => {
      // Never a gap near timeoutMs, but 40 chunks × 50 ms run past a 500 ms deadline.
      const chunks = Array.from({ length: 40 }, (_, i) => `${i} `);
      server.setDefault({ kind: 'reply', chunks, chunkDelayMs: 50 });
      const startedAt = Date.now();
      const outcome = await call({ timeoutMs: 2000, deadlineAt: startedAt + 500 });
      expectProviderError(outcome.error, 'provider_timeout');
      expect(outcome.error.retryable).toBe(false);
      expect(outcome.settledAt - startedAt).toBeGreaterThanOrEqual(490);
      expect(outcome.text.length).toBeGreaterThan(0);
      expect(server.requests).toHaveLength(1);
      await server.waitForClientClose(0, 1000);
    });

    it('the deadline ends a stalled first attempt without retrying it', async () => {
      server.setDefault({ kind: 'hang' });
      const startedAt = Date.now();
      const outcome = await call({ timeoutMs: 5000, deadlineAt: startedAt + 300 });
      expectProviderError(outcome.error, 'provider_timeout');
      expect(outcome.error.retryable).toBe(false);
      // The deadline ended it, not the watchdog.
      expect(outcome.settledAt - startedAt).toBeLessThan(5000);
      expect(server.requests).toHaveLength(1);
      await server.waitForClientClose(0, 1000);
    });

    it('a backoff that would pass the deadline fails now with the last error', async () => {
      server.setDefault({ kind: 'status', status: 429, message: 'slow down', headers: { 'retry-after': '5' } });
      const startedAt = Date.now();
      const outcome = await call({ deadlineAt: startedAt + 2000 });
      expectProviderError(outcome.error, 'provider_rate_limited');
      expect(server.requests).toHaveLength(1);
      // It did not sleep towards the deadline first.
      expect(outcome.settledAt).toBeLessThan(startedAt + 2000);
    });

    it('a deadline already passed → provider_timeout without a request', async () => {
      const outcome = await call({ deadlineAt: Date.now() - 1 });
      expectProviderError(outcome.error, 'provider_timeout');
      expect(server.requests).toHaveLength(0);
    });
  });

  describe("the caller's signal", () => {
    it('aborting while the provider has not answered rejects within 1 s with the reason and closes the socket', async () => {
      server.setDefault({ kind: 'hang' });
      const controller = new AbortController();
      const reason = new Error('run cancelled');
      const pending = call({ signal: controller.signal, timeoutMs: 30_000 });
      await server.waitForRequests(1, 2000);
      expect(server.inFlight()).toBe(1);
      const abortedAt = Date.now();
      controller.abort(reason);
      const outcome = await pending;
      expect(outcome.error).toBe(reason);
      expect(outcome.settledAt - abortedAt).toBeLessThan(1000);
      const request = await server.waitForClientClose(0, 1000);
      expect(request.clientClosedAt! - abortedAt).toBeLessThan(1000);
      expect(server.inFlight()).toBe(0);
      expectNoAbortListeners(controller.signal);
      expect(server.requests).toHaveLength(1);
    });

    it('aborting mid-reply rejects with the reason, keeps the text so far, and closes the socket', async () => {
      server.setDefault({ kind: 'reply', chunks: ['one ', 'two ', 'three'], chunkDelayMs: 5000 });
      const controller = new AbortController();
      const reason = new Error('run cancelled');
      let abortedAt = 0;
      const outcome = await call({
        signal: controller.signal,
        timeoutMs: 30_000,
        onText: () => {
          abortedAt = Date.now();
          controller.abort(reason);
        },
      });
      expect(outcome.error).toBe(reason);
      expect(outcome.settledAt - abortedAt).toBeLessThan(1000);
      await server.waitForClientClose(0, 1000);
      expect(server.requests).toHaveLength(1);
    });

    it('aborting during the backoff rejects within 1 s and sends no further request', async () => {
      server.setDefault({ kind: 'status', status: 500, message: 'internal' });
      const controller = new AbortController();
      const reason = new Error('run cancelled');
      let abortedAt = 0;
      const outcome = await call({
        signal: controller.signal,
        initialBackoffMs: 20_000,
        onRetry: () => {
          setTimeout(() => {
            abortedAt = Date.now();
            controller.abort(reason);
          }, 50);
        },
      });
      expect(outcome.error).toBe(reason);
      expect(outcome.settledAt - abortedAt).toBeLessThan(1000);
      expect(server.requests).toHaveLength(1);
    });

    it('aborting from onRetry, before the backoff starts, rejects at once', async () => {
      server.setDefault({ kind: 'status', status: 500, message: 'internal' });
      const controller = new AbortController();
      const reason = new Error('run cancelled');
      let abortedAt = 0;
      const outcome = await call({
        signal: controller.signal,
        initialBackoffMs: 20_000,
        onRetry: () => {
          abortedAt = Date.now();
          controller.abort(reason);
        },
      });
      expect(outcome.error).toBe(reason);
      expect(outcome.settledAt - abortedAt).toBeLessThan(1000);
      expect(server.requests).toHaveLength(1);
    });

    it('an already aborted signal rejects with its reason without a request', async () => {
      const controller = new AbortController();
      const reason = new Error('cancelled before start');
      controller.abort(reason);
      const outcome = await call({ signal: controller.signal });
      expect(outcome.error).toBe(reason);
      expect(server.requests).toHaveLength(0);
    });
  });

  describe('cleanup', () => {
    it('leaves no watchdog, deadline or backoff timer pending once a call has settled, however it ended', async () => {
      const timers = trackCallModelTimers();
      try {
        const far = (): number => Date.now() + 98_765;

        // Completed.
        expect((await call({ timeoutMs: 4321, deadlineAt: far() })).error).toBeUndefined();
        // Watchdog.
        server.setDefault({ kind: 'hang' });
        expectProviderError((await call({ timeoutMs: 300, maxRetries: 0, deadlineAt: far() })).error, 'provider_timeout');
        // Deadline.
        expectProviderError((await call({ timeoutMs: 4321, deadlineAt: Date.now() + 300 })).error, 'provider_timeout');
        // Retries exhausted.
        server.setDefault({ kind: 'status', status: 500, message: 'x' });
        expectProviderError((await call({ timeoutMs: 4321, deadlineAt: far() })).error, 'provider_error');
        // Cancelled while waiting for the provider, and while backing off.
        server.setDefault({ kind: 'hang' });
        const whileWaiting = new AbortController();
        const waiting = call({ signal: whileWaiting.signal, timeoutMs: 4321, deadlineAt: far() });
        await server.waitForRequests(server.requests.length + 1, 2000);
        whileWaiting.abort(new Error('cancel'));
        expect((await waiting).error).toEqual(new Error('cancel'));
        server.setDefault({ kind: 'status', status: 500, message: 'x' });
        const whileBackingOff = new AbortController();
        const backingOff = await call({
          signal: whileBackingOff.signal,
          timeoutMs: 4321,
          deadlineAt: far(),
          initialBackoffMs: 20_000,
          onRetry: () => void setImmediate(() => whileBackingOff.abort(new Error('cancel'))),
        });
        expect(backingOff.error).toEqual(new Error('cancel'));

        await server.waitForIdle(2000);
        expect(timers.pending()).toEqual([]);
        // It did see callModel's timers (the check is not vacuous).
        expect(timers.created()).toBeGreaterThan(6);
      } finally {
        timers.stop();
      }
    });
  });

  describe('what a ProviderError may carry', () => {
    const URL_CANARY = 'canary-url-5f1c2e';
    const KEY_CANARY = 'sk-canary-key-9d8e7f';
    const BODY_CANARY = 'canary-body-3a4b5c';

    const failures: Array<[string, () => void]> = [
      ['401', () => server.setDefault({ kind: 'status', status: 401, message: `bad key ${KEY_CANARY} ${BODY_CANARY}` })],
      ['403', () => server.setDefault({ kind: 'status', status: 403, message: `no access ${BODY_CANARY}` })],
      ['429', () => server.setDefault({ kind: 'status', status: 429, message: `limit ${BODY_CANARY}`, headers: { 'retry-after': '0' } })],
      ['500', () => server.setDefault({ kind: 'status', status: 500, message: `boom ${BODY_CANARY}` })],
      ['400 context', () => server.setDefault({ kind: 'context_too_long', extra: ` ${BODY_CANARY}` })],
      ['400 other', () => server.setDefault({ kind: 'status', status: 400, message: `invalid ${BODY_CANARY}` })],
      ['404 non-JSON body', () => server.setDefault({ kind: 'status', status: 404, body: `<html>${BODY_CANARY}</html>` })],
      ['in-stream error', () => server.setDefault({ kind: 'reply', chunks: ['x'], end: 'stream_error', errorMessage: BODY_CANARY })],
      ['malformed data', () => server.setDefault({ kind: 'reply', chunks: [BODY_CANARY], end: 'malformed' })],
      ['dropped connection', () => server.setDefault({ kind: 'reply', chunks: [BODY_CANARY], end: 'drop' })],
    ];

    it.each(failures)('%s: no canary from the URL, the key or the body in message, code or JSON', async (_name, arrange) => {
      arrange();
      const outcome = await call({
        provider: provider({ baseUrl: flavour.baseUrl(server, `/${URL_CANARY}`), apiKey: KEY_CANARY }),
        onText: () => undefined,
      });
      const error = outcome.error as ProviderError;
      expect(error).toBeInstanceOf(ProviderError);
      expect(error.message).toBe(PROVIDER_ERROR_MESSAGES[error.code]);

      // The canaries did travel: through the URL and the credential header to the server…
      const sent = server.requests[0];
      expect(sent.path).toContain(URL_CANARY);
      expect(JSON.stringify(sent.headers)).toContain(KEY_CANARY);

      // …but none comes back in what may leave the process.
      const { cause: _cause, ...withoutCause } = error;
      const visible = [error.message, error.code, String(error), error.stack ?? '', JSON.stringify(withoutCause)].join('\n');
      for (const canary of [URL_CANARY, KEY_CANARY, BODY_CANARY]) expect(visible).not.toContain(canary);
    });
  });
});

describe('openai-compatible request shape', () => {
  let server!: FakeModelServer;
  fakeServerPerBlock(startFakeOpenAiServer, (s) => (server = s));

  function settings(overrides: Partial<ModelProviderSettings> = {}): ModelProviderSettings {
    return {
      kind: 'openai-compatible',
      baseUrl: openAiBaseUrl(server, '/some/prefix'),
      model: 'llama3.2',
      apiKey: 'test-key',
      streamUsage: true,
      maxTokens: null,
      ...overrides,
    };
  }

  async function run(s: ModelProviderSettings): Promise<ModelCallResult> {
    return callModel(createModelProvider(s), CONVERSATION, () => undefined, {
      signal: new AbortController().signal,
      timeoutMs: 2000,
      deadlineAt: Date.now() + 10_000,
    });
  }

  it('posts the conversation as is, streamed, with include_usage, under the base URL prefix', async () => {
    await run(settings());
    const [request] = server.requests;
    expect(request.path).toBe('/some/prefix/v1/chat/completions');
    expect(request.headers.authorization).toBe('Bearer test-key');
    expect(request.body).toEqual({
      model: 'llama3.2',
      messages: CONVERSATION,
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('MODEL_STREAM_USAGE off: no stream_options, no usage, the reply still complete', async () => {
    const result = await run(settings({ streamUsage: false }));
    expect(server.requests[0].body).not.toHaveProperty('stream_options');
    expect(result.usage).toBeNull();
  });

  it('sends max_tokens only when MODEL_MAX_TOKENS is set', async () => {
    await run(settings({ maxTokens: 321 }));
    expect(server.requests[0].body.max_tokens).toBe(321);
  });

  it('without an API key (Ollama) sends a placeholder, never an environment key', async () => {
    const saved = process.env.OPENAI_API_KEY;
    process.env.OPENAI_API_KEY = 'sk-from-the-environment';
    try {
      await run(settings({ apiKey: null }));
    } finally {
      if (saved === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = saved;
    }
    expect(server.requests[0].headers.authorization).toBe('Bearer no-api-key-configured');
  });

  it.each(['reasoning', 'reasoning_content'] as const)('tolerates reasoning in delta.%s', async (field) => {
    server.enqueue({ kind: 'reply', reasoning: ['hmm'], reasoningField: field, chunks: ['ok'] });
    const pieces: string[] = [];
    await callModel(createModelProvider(settings()), CONVERSATION, (t) => pieces.push(t), {
      signal: new AbortController().signal,
      timeoutMs: 2000,
      deadlineAt: Date.now() + 10_000,
    });
    expect(pieces.join('')).toBe('ok');
  });
});

describe('openai-compatible stream events', () => {
  let server!: FakeModelServer;
  fakeServerPerBlock(startFakeOpenAiServer, (s) => (server = s));

  async function call(): Promise<Outcome> {
    const pieces: string[] = [];
    const provider = createModelProvider({ kind: 'openai-compatible', baseUrl: openAiBaseUrl(server), model: 'm', apiKey: 'k', streamUsage: false, maxTokens: null });
    try {
      const result = await callModel(provider, CONVERSATION, (t) => pieces.push(t), { signal: new AbortController().signal, timeoutMs: 2000, deadlineAt: Date.now() + 10_000 });
      return { pieces, text: pieces.join(''), result, settledAt: Date.now() };
    } catch (error) {
      return { pieces, text: pieces.join(''), error, settledAt: Date.now() };
    }
  }

  const chunk = (choices: unknown[]) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices })}\n\n`;

  // The SDK prints an unparseable `thread.*` event with console.error, whatever its logLevel: provider text, line by line, past the redacting logger.
  // The SDK keeps an event's last name: a thread.* name after another one must be refused too (a review).
  it.each([
    ['alone', ''],
    ['after another name', 'event: message\n'],
  ])('an Assistants event (event: thread.*, %s) → provider_bad_response, and the SDK prints nothing', async (_label, before) => {
    const canary = 'canary-thread-7c2d91';
    const forged = `{"level":"error","msg":"forged ${canary}"}`;
    server.setDefault({
      kind: 'raw',
      status: 200,
      headers: SSE,
      writes: [chunk([{ index: 0, delta: { role: 'assistant' }, finish_reason: null }]), `${before}event: thread.run.${canary}\ndata: {not json ${canary}\ndata: ${forged}\n\n`],
      end: 'hang',
    });
    const printed = (['log', 'info', 'warn', 'error', 'debug'] as const).map((level) => jest.spyOn(console, level).mockImplementation(() => undefined));
    try {
      const outcome = await call();
      expectProviderError(outcome.error, 'provider_bad_response');
      for (const spy of printed) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of printed) spy.mockRestore();
    }
  });

  it('several choices, in any order: the reply is the one with index 0', async () => {
    const both = (a: object, b: object, finish: string | null) => [
      { index: 1, delta: b, finish_reason: finish },
      { index: 0, delta: a, finish_reason: finish },
    ];
    server.setDefault({
      kind: 'raw',
      status: 200,
      headers: SSE,
      writes: [chunk(both({ content: 'A1 ' }, { content: 'B1 ' }, null)), chunk(both({ content: 'A2' }, { content: 'B2' }, null)), chunk(both({}, {}, 'stop')), 'data: [DONE]\n\n'],
    });
    const outcome = await call();
    expect(outcome.error).toBeUndefined();
    expect(outcome.text).toBe('A1 A2');
  });
});

describe('anthropic stream errors', () => {
  let server!: FakeModelServer;
  fakeServerPerBlock(startFakeAnthropicServer, (s) => (server = s));

  // Looked up in a plain object, `constructor` or `toString` found its prototype's function instead of no status.
  it.each(['constructor', 'toString', 'a_type_added_later'])('an in-stream error of an unknown type (%s) is a provider_error, retried', async (type) => {
    server.setDefault({ kind: 'reply', chunks: [], end: 'stream_error', errorType: type });
    const provider = createModelProvider({ kind: 'anthropic', baseUrl: anthropicBaseUrl(server), model: 'm', apiKey: 'k', streamUsage: true, maxTokens: null });
    const error = await callModel(provider, CONVERSATION, () => undefined, {
      signal: new AbortController().signal,
      timeoutMs: 2000,
      deadlineAt: Date.now() + 10_000,
      initialBackoffMs: 20,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expectProviderError(error, 'provider_error');
    expect(server.requests).toHaveLength(3);
  });
});

describe('anthropic request shape', () => {
  let server!: FakeModelServer;
  fakeServerPerBlock(startFakeAnthropicServer, (s) => (server = s));

  function settings(overrides: Partial<ModelProviderSettings> = {}): ModelProviderSettings {
    return {
      kind: 'anthropic',
      baseUrl: anthropicBaseUrl(server, '/some/prefix'),
      model: 'claude-test',
      apiKey: 'test-key',
      streamUsage: true,
      maxTokens: null,
      ...overrides,
    };
  }

  async function run(s: ModelProviderSettings, messages: ChatMessage[] = CONVERSATION): Promise<ModelCallResult> {
    return callModel(createModelProvider(s), messages, () => undefined, {
      signal: new AbortController().signal,
      timeoutMs: 2000,
      deadlineAt: Date.now() + 10_000,
      initialBackoffMs: 20,
    });
  }

  it('posts the system prompt in `system`, alternating turns, max_tokens 4096 by default', async () => {
    const result = await run(settings(), [
      { role: 'system', content: 'Be brief.' },
      { role: 'assistant', content: 'a greeting nobody asked for' },
      { role: 'user', content: 'u1' },
      { role: 'user', content: 'u2' },
      { role: 'system', content: 'The user is in a hurry.' },
      { role: 'assistant', content: 'a1' },
      { role: 'user', content: 'u3' },
    ]);
    const [request] = server.requests;
    expect(request.path).toBe('/some/prefix/v1/messages');
    // SDK 1.x sends the API key as a bearer token (0.x used x-api-key).
    expect(request.headers.authorization).toBe('Bearer test-key');
    expect(request.headers['anthropic-version']).toBeDefined();
    expect(request.body).toEqual({
      model: 'claude-test',
      max_tokens: 4096,
      system: 'Be brief.',
      messages: [
        { role: 'user', content: 'u1\n\nu2\n\n[system note]\nThe user is in a hurry.' },
        { role: 'assistant', content: 'a1' },
        { role: 'user', content: 'u3' },
      ],
      stream: true,
    });
    expect(result.usage?.inputTokens).toBeGreaterThan(0);
  });

  it('MODEL_MAX_TOKENS sets max_tokens', async () => {
    await run(settings({ maxTokens: 77 }));
    expect(server.requests[0].body.max_tokens).toBe(77);
  });

  it('without an API key sends a placeholder, never an environment key', async () => {
    const saved = process.env.ANTHROPIC_API_KEY;
    process.env.ANTHROPIC_API_KEY = 'sk-ant-from-the-environment';
    try {
      await run(settings({ apiKey: null }));
    } finally {
      if (saved === undefined) delete process.env.ANTHROPIC_API_KEY;
      else process.env.ANTHROPIC_API_KEY = saved;
    }
    expect(server.requests[0].headers.authorization).toBe('Bearer no-api-key-configured');
  });

  it('an overloaded_error event before any text is retried like a 529', async () => {
    server.enqueue({ kind: 'reply', chunks: [], end: 'stream_error', errorType: 'overloaded_error' });
    const result = await run(settings());
    expect(result.attempts).toBe(2);
  });

  it('a conversation with no user turn is provider_rejected without a request', async () => {
    await expect(run(settings(), [{ role: 'system', content: 'only a prompt' }])).rejects.toMatchObject({
      code: 'provider_rejected',
    });
    expect(server.requests).toHaveLength(0);
  });
});
