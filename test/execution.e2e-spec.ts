import { unlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { systemPromptFor } from '../src/execution/profiles';
import { anthropicBaseUrl, startFakeAnthropicServer } from './support/fake-anthropic-server';
import { defaultReplyText, type FakeModelServer, openAiBaseUrl, startFakeOpenAiServer } from './support/fake-openai-server';
import { expectErrorShape, expectInputShape, expectRunShape } from './support/shapes';
import { SseClient, type SseEvent } from './support/sse-client';
import { COMPANION, createEmbeddedWorker, EMBEDDED, makeTempDir, startTestApp, type TestApp, ticketRole } from './support/test-app';

/**
 * Workers run turns (SPEC §9), end to end over HTTP and SSE, against fake
 * model servers that speak each provider's wire format over real HTTP: the
 * real SDKs talk to them. Runs on the memory store (the contract suite runs
 * the same transitions on SQLite and Postgres).
 */

const workerPath = (id: string) => `${EMBEDDED}/workers/${id}`;

async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function workerEvents(c: SseClient): SseEvent[] {
  return c.events.filter((e) => e.event !== 'heartbeat');
}

describe.each([
  ['openai-compatible', startFakeOpenAiServer, openAiBaseUrl],
  ['anthropic', startFakeAnthropicServer, anthropicBaseUrl],
] as const)('execution with the %s provider', (provider, startFake, baseUrlOf) => {
  let fake: FakeModelServer;
  let t: TestApp;
  let base: string;
  const clients: SseClient[] = [];

  beforeAll(async () => {
    fake = await startFake();
    t = await startTestApp({
      RUNTIME_STORE_URL: 'memory:',
      MODEL_PROVIDER: provider,
      MODEL_BASE_URL: baseUrlOf(fake, '/prefix'),
      MODEL_NAME: 'test-model',
      WORKER_PROVIDER_API_KEY: 'sk-test-key',
      MODEL_TIMEOUT_MS: '1500',
      DELTA_COALESCE_MS: '20',
      RUN_QUEUE_LIMIT: '3',
      RUN_CONTEXT_MAX_CHARS: '20000',
    });
    base = await t.listen();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    fake.reset();
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  const connect = async (path: string, headers: Record<string, string> = {}) => {
    const c = await SseClient.connect(t, base, path, headers);
    clients.push(c);
    return c;
  };
  const send = (id: string, content: string, extra: Record<string, unknown> = {}) => t.post(`${workerPath(id)}/input`, { content, ...extra });
  const run = async (id: string, runId: string) => (await t.get(`${workerPath(id)}/runs/${runId}`)).body as any;
  const settled = (id: string, runId: string) =>
    waitFor(async () => {
      const r = await run(id, runId);
      return ['completed', 'failed', 'cancelled', 'interrupted'].includes(r.state) ? r : undefined;
    }, 15_000, `run ${runId} to end`);
  const transcript = async (id: string) => ((await t.get(`${workerPath(id)}/transcript?limit=200`)).body as any).items as any[];

  it("completes a run whose provider reports token counts that are not counts, with usage null (a stored object failed the run)", async () => {
    const id = await createEmbeddedWorker(t);
    fake.enqueue({ kind: 'reply', chunks: ['fine'], usage: { inputTokens: { a: 1 }, outputTokens: true } });
    const accepted = await send(id, 'count this');
    const done = await settled(id, (accepted.body as any).run.run_id);
    expectRunShape(done);
    expect(done).toMatchObject({ state: 'completed', usage: null, error: null });
    expect((await transcript(id)).map((i) => [i.role, i.content, i.truncated])).toEqual([
      ['user', 'count this', false],
      ['assistant', 'fine', false],
    ]);
  });

  it('says it can execute, and a turn streams its events in order; the deltas concatenate to the stored reply', async () => {
    expect(((await t.get(EMBEDDED)).body as any).capabilities.can_execute).toBe(true);
    const id = await createEmbeddedWorker(t, ticketRole('coder'));
    const worker = (await t.get(workerPath(id))).body as any;
    expect(worker).toMatchObject({ activity: 'idle', current_run_id: null, capabilities: { can_execute: true, can_cancel_run: true } });
    const stream = await connect(`${workerPath(id)}/events`);
    fake.enqueue({ kind: 'reply', chunks: ['Hel', 'lo ', 'wor', 'ld', '!'], chunkDelayMs: 30, usage: { inputTokens: 11, outputTokens: 5 } });
    const accepted = await send(id, 'say hello');
    expect(accepted.status).toBe(202);
    expectInputShape(accepted.body);
    const acceptedRun = (accepted.body as any).run;
    expect(acceptedRun).toMatchObject({ state: 'queued', input_sequence: 0, output_sequence: null, usage: null, error: null, worker_id: id });
    expect(acceptedRun.run_id).toMatch(/^run-[0-9a-f]{32}$/);

    const done = await settled(id, acceptedRun.run_id);
    expectRunShape(done);
    expect(done).toMatchObject({ state: 'completed', output_sequence: 1, usage: { input_tokens: 11, output_tokens: 5 }, error: null });
    await stream.waitFor((c) => workerEvents(c).some((e) => e.event === 'run.completed'));
    const events = workerEvents(stream);
    const kinds = events.map((e) => e.event);
    expect(kinds[0]).toBe('worker.input_accepted');
    expect(kinds.slice(1, 3)).toEqual(['run.queued', 'run.started']);
    expect(kinds.slice(-2)).toEqual(['message.completed', 'run.completed']);
    expect(kinds.slice(3, -2).every((k) => k === 'message.delta')).toBe(true);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => `evt-${i + 1}`));
    const deltas = events.filter((e) => e.event === 'message.delta').map((e) => e.data.delta).join('');
    const completed = events.find((e) => e.event === 'message.completed')!.data;
    expect(deltas).toBe('Hello world!');
    expect(completed.item).toEqual({ sequence: 1, role: 'assistant', content: 'Hello world!', event_id: completed.event_id, run_id: acceptedRun.run_id, truncated: false });
    expect((await transcript(id)).map((i) => [i.role, i.content])).toEqual([
      ['user', 'say hello'],
      ['assistant', 'Hello world!'],
    ]);
    // The model saw the coder profile's prompt and the input; the key went to the provider only.
    const request = fake.requests[0];
    expect(request.path.startsWith('/prefix/v1/')).toBe(true);
    expect(JSON.stringify(request.body)).toContain(systemPromptFor('builtin:coder').slice(0, 60));
    expect(JSON.stringify(request.body.messages)).toContain('say hello');
    expect(request.body.model).toBe('test-model');
    expect(request.body.stream).toBe(true);
    const listed = (await t.get(`${workerPath(id)}/runs`)).body as any;
    expect(listed.items.map((r: any) => r.run_id)).toEqual([acceptedRun.run_id]);
    expect((await t.get(workerPath(id))).body).toMatchObject({ activity: 'idle', current_run_id: null });
  });

  it('streams and stores the same reply when the model sends U+0000, lone surrogates or a pair split between chunks', async () => {
    const id = await createEmbeddedWorker(t, ticketRole('coder'));
    const stream = await connect(`${workerPath(id)}/events`);
    fake.enqueue({ kind: 'reply', chunks: ['a\u0000b', ' x\ud83d', '\ude00y ', 'lone\udc00', 'z\ud800'] });
    const runId = ((await send(id, 'odd text')).body as any).run.run_id;
    expect(await settled(id, runId)).toMatchObject({ state: 'completed' });
    await stream.waitFor((c) => workerEvents(c).some((e) => e.event === 'run.completed'));
    const expected = 'a\ufffdb x😀y lone\ufffdz\ufffd';
    const live = workerEvents(stream);
    expect(live.filter((e) => e.event === 'message.delta').map((e) => e.data.delta).join('')).toBe(expected);
    expect(live.find((e) => e.event === 'message.completed')!.data.item.content).toBe(expected);
    expect((await transcript(id)).map((i) => i.content)).toEqual(['odd text', expected]);
    // A replay from the start carries the same text as the live stream did.
    const replay = await connect(`${workerPath(id)}/events?after=evt-1`);
    await replay.waitFor((c) => workerEvents(c).some((e) => e.event === 'run.completed'));
    expect(workerEvents(replay).filter((e) => e.event === 'message.delta').map((e) => e.data.delta).join('')).toBe(expected);
  });

  it('resumes in the middle of a run with Last-Event-ID and gets the rest exactly once', async () => {
    const id = await createEmbeddedWorker(t);
    fake.enqueue({ kind: 'reply', chunks: ['one ', 'two ', 'three ', 'four ', 'five ', 'six'], chunkDelayMs: 80 });
    const first = await connect(`${workerPath(id)}/events`);
    const r = (await send(id, 'count')).body as any;
    await first.waitFor((c) => workerEvents(c).filter((e) => e.event === 'message.delta').length >= 2);
    const seen = workerEvents(first);
    const lastId = seen[seen.length - 1].id!;
    first.close();
    const resumed = await connect(`${workerPath(id)}/events`, { 'last-event-id': lastId });
    await resumed.waitFor((c) => workerEvents(c).some((e) => e.event === 'run.completed'));
    const rest = workerEvents(resumed);
    const all = [...seen, ...rest];
    expect(all.map((e) => e.id)).toEqual(all.map((_, i) => `evt-${i + 1}`)); // no gap, no duplicate
    const deltas = all.filter((e) => e.event === 'message.delta' && e.data.run_id === r.run.run_id).map((e) => e.data.delta).join('');
    expect(deltas).toBe('one two three four five six');
    expect(rest.find((e) => e.event === 'message.completed')!.data.item.content).toBe(deltas);
  });

  it('runs a worker\'s inputs one at a time, in order, each seeing the earlier replies', async () => {
    const id = await createEmbeddedWorker(t);
    fake.setDefault({ kind: 'reply', chunkDelayMs: 20 });
    const runs = [];
    for (const content of ['one', 'two', 'three']) runs.push((await send(id, content)).body as any);
    for (const r of runs) await settled(id, r.run.run_id);
    expect(fake.requests).toHaveLength(3);
    for (let i = 1; i < 3; i++) expect(fake.requests[i].receivedAt).toBeGreaterThanOrEqual(fake.requests[i - 1].finishedAt!);
    // The third request: the whole conversation, in conversation order, and nothing queued after it.
    const messages = JSON.stringify(fake.requests[2].body.messages);
    const order = ['one', defaultReplyText('one'), 'two', defaultReplyText('two'), 'three'].map((s) => messages.indexOf(JSON.stringify(s).slice(1, -1)));
    expect(order.every((p, i) => p >= 0 && (i === 0 || p > order[i - 1]))).toBe(true);
    // The transcript is append order: inputs in the order sent, replies in the order run, each after its
    // input. (Where the replies fall among later inputs depends on timing: the first reply may be written
    // before the third input arrives, on a loaded machine.)
    const items = (await transcript(id)).map((i) => i.content as string);
    expect(items.filter((c) => !c.startsWith('Echo'))).toEqual(['one', 'two', 'three']);
    expect(items.filter((c) => c.startsWith('Echo'))).toEqual([defaultReplyText('one'), defaultReplyText('two'), defaultReplyText('three')]);
    for (const input of ['one', 'two', 'three']) expect(items.indexOf(defaultReplyText(input))).toBeGreaterThan(items.indexOf(input));
  });

  it('on_busy reject answers 409 worker_busy and records nothing; a full queue is 429 with Retry-After', async () => {
    const id = await createEmbeddedWorker(t);
    fake.setDefault({ kind: 'reply', chunks: ['slow'], firstChunkDelayMs: 800 });
    const first = (await send(id, 'first')).body as any;
    await fake.waitForRequests(1, 5000);
    const rejected = await send(id, 'second', { on_busy: 'reject' });
    expectErrorShape(rejected.body, 409, 'worker_busy');
    for (let i = 0; i < 3; i++) expect((await send(id, `queued ${i}`)).status).toBe(202);
    const full = await send(id, 'too many');
    expectErrorShape(full.body, 429, 'worker_queue_full');
    expect(full.headers['retry-after']).toBe('1');
    expect((await transcript(id)).map((i) => i.content)).toEqual(['first', 'queued 0', 'queued 1', 'queued 2']);
    await t.post(`${workerPath(id)}/stop`, {});
    expect((await run(id, first.run.run_id)).state).toBe('cancelled');
  });

  it('on_busy interrupt cancels the running run (its text kept, truncated) and runs next, ahead of the queue', async () => {
    const id = await createEmbeddedWorker(t);
    fake.enqueue({ kind: 'reply', chunks: ['partial ', 'text ', 'never'], chunkDelayMs: 400 });
    const first = (await send(id, 'long task')).body as any;
    const queued = (await send(id, 'queued task')).body as any;
    await waitFor(() => fake.requests.length >= 1 || undefined);
    await new Promise((r) => setTimeout(r, 600)); // at least one delta stored
    const urgent = (await send(id, 'urgent', { on_busy: 'interrupt' })).body as any;
    expect((await settled(id, first.run.run_id)).state).toBe('cancelled');
    await settled(id, urgent.run.run_id);
    await settled(id, queued.run.run_id);
    const items = await transcript(id);
    const truncated = items.find((i) => i.run_id === first.run.run_id)!;
    expect(truncated).toMatchObject({ role: 'assistant', truncated: true });
    expect(truncated.content.startsWith('partial ')).toBe(true);
    const order = fake.requests.map((r) => JSON.stringify(r.body.messages));
    expect(order[1]).toContain('urgent');
    expect(order[2]).toContain('queued task');
    expect(fake.requests[0].clientClosedAt).not.toBeNull();
  });

  it('delete during a run: the worker stream ends on worker.deleted numbered right after the last event it sent, no gap', async () => {
    const id = await createEmbeddedWorker(t);
    const stream = await connect(`${workerPath(id)}/events`);
    fake.enqueue({ kind: 'reply', chunks: ['one ', 'two ', 'three ', 'four ', 'five'], chunkDelayMs: 300 });
    await send(id, 'go');
    await stream.waitFor((c) => workerEvents(c).some((e) => e.event === 'message.delta'));
    expect((await t.delete(workerPath(id))).status).toBe(204);
    await stream.waitFor((c) => c.ended, 5000);
    const events = workerEvents(stream);
    expect(events.at(-1)!.event).toBe('worker.deleted');
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => `evt-${i + 1}`));
  });

  it('cancel aborts the provider request within 1 s, keeps the partial text and is idempotent; a finished run is 409 run_finished', async () => {
    const id = await createEmbeddedWorker(t);
    fake.enqueue({ kind: 'reply', chunks: ['some ', 'partial ', 'reply ', 'that ', 'goes ', 'on'], chunkDelayMs: 300 });
    const r = (await send(id, 'go')).body as any;
    await waitFor(() => fake.requests.length >= 1 || undefined);
    await new Promise((res) => setTimeout(res, 700));
    const cancelledAt = Date.now();
    const cancelled = await t.post(`${workerPath(id)}/runs/${r.run.run_id}/cancel`, {});
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ state: 'cancelled', error: null });
    const closedAt = await waitFor(() => fake.requests[0].clientClosedAt ?? undefined, 2000, 'the provider to see the socket close');
    expect(closedAt - cancelledAt).toBeLessThan(1000);
    const again = await t.raw('POST', `${workerPath(id)}/runs/${r.run.run_id}/cancel`);
    expect(again.status).toBe(200); // empty body, no content type: allowed for cancel
    const item = (await transcript(id)).find((i) => i.run_id === r.run.run_id)!;
    expect(item.truncated).toBe(true);
    expect(item.content.startsWith('some ')).toBe(true);
    expect((await run(id, r.run.run_id)).output_sequence).toBe(item.sequence);

    const done = (await send(id, 'quick')).body as any;
    await settled(id, done.run.run_id);
    expectErrorShape((await t.post(`${workerPath(id)}/runs/${done.run.run_id}/cancel`, {})).body, 409, 'run_finished');
    expectErrorShape((await t.post(`${workerPath(id)}/runs/run-nope/cancel`, {})).body, 404, 'unknown_run');
    expectErrorShape((await t.get(`${workerPath(id)}/runs/run-nope`)).body, 404, 'unknown_run');
    expectErrorShape((await t.post(`${workerPath(id)}/runs/${done.run.run_id}/cancel`, { reason: 'x' })).body, 400, 'validation_failed');
  });

  it.each([
    ['401', { kind: 'status', status: 401 }, 'provider_auth_failed', 1],
    ['403', { kind: 'status', status: 403 }, 'provider_auth_failed', 1],
    ['404 (other 4xx)', { kind: 'status', status: 404 }, 'provider_rejected', 1],
    ['400 context length', { kind: 'context_too_long' }, 'context_too_long', 1],
    ['500, three times', { kind: 'status', status: 500 }, 'provider_error', 3],
    ['malformed stream', { kind: 'reply', chunks: [], end: 'malformed' }, 'provider_bad_response', 1],
    ['no answer', { kind: 'hang' }, 'provider_timeout', 3],
  ] as const)('ends the run failed with the fixed code on %s', async (_what, behaviour, code, requests) => {
    const id = await createEmbeddedWorker(t);
    fake.setDefault(behaviour as any);
    const r = (await send(id, 'hi')).body as any;
    const done = await settled(id, r.run.run_id);
    expect(done.state).toBe('failed');
    expect(done.error.code).toBe(code);
    expect(typeof done.error.message).toBe('string');
    expect(fake.requests).toHaveLength(requests);
  }, 30_000);

  it('retries 429 after its Retry-After and 500 before the first token, never after it', async () => {
    const id = await createEmbeddedWorker(t);
    fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '1' } }, { kind: 'status', status: 500 }, { kind: 'reply', chunks: ['ok'] });
    const r = (await send(id, 'retry me')).body as any;
    const done = await settled(id, r.run.run_id);
    expect(done.state).toBe('completed');
    expect(fake.requests).toHaveLength(3);
    expect(fake.requests[1].receivedAt - fake.requests[0].receivedAt).toBeGreaterThanOrEqual(950);

    fake.reset();
    fake.enqueue({ kind: 'reply', chunks: ['first ', 'words'], chunkDelayMs: 50, end: 'drop' });
    const dropped = (await send(id, 'drop after text')).body as any;
    const failed = await settled(id, dropped.run.run_id);
    expect(failed).toMatchObject({ state: 'failed', error: { code: 'provider_unreachable' } });
    expect(fake.requests).toHaveLength(1);
    expect((await transcript(id)).find((i) => i.run_id === dropped.run.run_id)).toMatchObject({ truncated: true, content: 'first words' });
  }, 30_000);

  it('stop cancels the running run and the queue; input to a stopped worker is 409; the transcript stays readable', async () => {
    const id = await createEmbeddedWorker(t);
    fake.setDefault({ kind: 'reply', chunks: ['a', 'b', 'c'], chunkDelayMs: 400 });
    const a = (await send(id, 'a')).body as any;
    const b = (await send(id, 'b')).body as any;
    await waitFor(() => fake.requests.length >= 1 || undefined);
    const stream = await connect(`${workerPath(id)}/events`);
    const stopped = await t.post(`${workerPath(id)}/stop`, { reason: 'enough' });
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ state: 'stopped', status: 'stopped', activity: 'stopped', current_run_id: null, capabilities: { can_accept_input: false } });
    expect((await run(id, a.run.run_id)).state).toBe('cancelled');
    expect((await run(id, b.run.run_id)).state).toBe('cancelled');
    await waitFor(() => fake.requests[0].clientClosedAt ?? undefined, 2000);
    expectErrorShape((await send(id, 'more')).body, 409, 'worker_stopped');
    expect((await t.post(`${workerPath(id)}/stop`, {})).status).toBe(200);
    await stream.waitFor((c) => workerEvents(c).some((e) => e.event === 'worker.state_changed'));
    expect(workerEvents(stream).filter((e) => e.event === 'worker.state_changed').map((e) => e.data)).toEqual([
      expect.objectContaining({ state: 'stopped', status: 'stopped', reason: 'enough' }),
    ]);
    expect((await transcript(id)).map((i) => i.content).slice(0, 2)).toEqual(['a', 'b']);
  });

  it('system inputs are context only; the context is the newest tail that fits RUN_CONTEXT_MAX_CHARS', async () => {
    const id = await createEmbeddedWorker(t);
    for (let i = 0; i < 30; i++) expect(((await send(id, `note ${i} `.padEnd(1000, '.'), { kind: 'system' })).body as any).run).toBeNull();
    expect(fake.requests).toHaveLength(0);
    const r = (await send(id, 'question')).body as any;
    await settled(id, r.run.run_id);
    const sent = JSON.stringify(fake.requests[0].body);
    expect(sent).toContain('note 29 ');
    expect(sent).not.toContain('note 5 ');
    expect(sent.length).toBeLessThan(20_000 + systemPromptFor('runtime_default').length + 2000);
  });

  it('fails context_too_long without calling the model when the input alone does not fit', async () => {
    const id = await createEmbeddedWorker(t);
    const r = (await send(id, 'x'.repeat(25_000))).body as any;
    expect((await settled(id, r.run.run_id)).error.code).toBe('context_too_long');
    expect(fake.requests).toHaveLength(0);
  });
});

describe('execution without a provider, and with one that cannot be reached', () => {
  it('records inputs, starts no run, and says so', async () => {
    const t = await startTestApp({ RUNTIME_STORE_URL: 'memory:' });
    try {
      const id = await createEmbeddedWorker(t, COMPANION);
      const r = await t.post(`${workerPath(id)}/input`, { content: 'hello' });
      expect(r.body).toMatchObject({ run: null, diagnostics: [expect.objectContaining({ code: 'execution_unavailable' })] });
      expect(((await t.get(workerPath(id))).body as any).activity).toBe('unavailable');
      expectErrorShape((await t.get(`${workerPath(id)}/runs`)).body, 501, 'capability_unsupported');
      await t.post(`${workerPath(id)}/stop`, {});
      expect(((await t.get(workerPath(id))).body as any).activity).toBe('stopped'); // stopped wins over unavailable
    } finally {
      await t.close();
    }
  });

  it('ends runs provider_unreachable after its retries when nothing listens at the base URL', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const t = await startTestApp({
      RUNTIME_STORE_URL: 'memory:',
      MODEL_PROVIDER: 'openai-compatible',
      MODEL_BASE_URL: `http://127.0.0.1:${port}/v1`,
      MODEL_NAME: 'm',
      MODEL_TIMEOUT_MS: '1000',
    });
    try {
      const id = await createEmbeddedWorker(t);
      const r = (await t.post(`${workerPath(id)}/input`, { content: 'anyone?' })).body as any;
      const done = await waitFor(async () => {
        const run = (await t.get(`${workerPath(id)}/runs/${r.run.run_id}`)).body as any;
        return run.state === 'failed' ? run : undefined;
      }, 20_000);
      expect(done.error.code).toBe('provider_unreachable');
    } finally {
      await t.close();
    }
  }, 30_000);
});

describe('a run whose deltas cannot be stored', () => {
  it('is logged with the store’s error, not the stop that carried it', async () => {
    const fake = await startFakeOpenAiServer();
    const dir = makeTempDir('wb-exec-store-');
    const t = await startTestApp({
      RUNTIME_STORE_URL: `sqlite:${join(dir, 'runs.sqlite3')}`,
      WORKSPACE_DATA_DIR: dir,
      MODEL_PROVIDER: 'openai-compatible',
      MODEL_BASE_URL: openAiBaseUrl(fake, '/v1'),
      MODEL_NAME: 'test-model',
      WORKER_PROVIDER_API_KEY: 'sk-test-key',
      DELTA_COALESCE_MS: '20',
    });
    try {
      const id = await createEmbeddedWorker(t);
      fake.enqueue({ kind: 'reply', chunks: Array.from({ length: 100 }, (_, i) => `c${i} `), chunkDelayMs: 50 });
      const runId = ((await t.post(`${workerPath(id)}/input`, { content: 'go' })).body as any).run.run_id as string;
      await waitFor(async () => ((await t.get(`${workerPath(id)}/runs/${runId}`)).body as any).state === 'running', 10_000, 'the run to start');
      // The store's file is gone: from the next check on, every write (the next delta's too) is refused.
      unlinkSync(join(dir, 'runs.sqlite3'));
      const line = await waitFor(() => t.logs.find((l) => l.includes(`run ${runId} failed in the backend`)), 10_000, 'the run to fail');
      expect(line).toContain('store unavailable');
      expect(t.logs.join('\n')).not.toContain('[object Object]');
    } finally {
      await t.close();
      await fake.close();
    }
  }, 30_000);
});
