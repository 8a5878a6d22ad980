import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type FakeModelServer, openAiBaseUrl, startFakeOpenAiServer } from './support/fake-openai-server';
import { fullRecord, podsDir, writeRecord } from './support/local-fixtures';
import {
  expectEnvelope,
  expectErrorShape,
  expectHostShape,
  expectInputShape,
  expectRunShape,
  expectRuntimeShape,
  expectTranscriptShape,
  expectWorkerShape,
} from './support/shapes';
import { SseClient } from './support/sse-client';
import { STORE_FIXTURES, type StoreFixture } from './support/stores';
import { COMPANION, EMBEDDED, LOCAL, makeTempDir, startTestApp, type TestApp, ticketRole } from './support/test-app';

/**
 * Plants a unique canary in every internal value the backend knows — the
 * provider's base URL path and key, every error body the fake provider
 * sends, API keys, the store identity, the data dir and workspace root
 * paths, and every internal field of every local metadata record — then
 * drives every route, in success and in error, runs turns that complete and
 * fail, and asserts that no byte of any response (headers and body), stream
 * event or log line carries one. Exact key sets are checked on the way.
 */
describe.each(STORE_FIXTURES.map((f) => [f.name, f] as [string, StoreFixture]))('non-leaking projection (%s store)', (storeName, fixture) => {
  const run = randomBytes(6).toString('hex');
  const canary = (what: string) => `CANARY${what.toUpperCase().replace(/[^A-Z0-9]/g, '')}${run}`;
  const PID = '987654321';
  /** Never in a response, an event or a log line. */
  const secrets: string[] = [];
  /** Never in a response or an event (logs, for the operator, may name paths). */
  const internals: string[] = [];
  const plant = (what: string, kind: 'secret' | 'internal' = 'internal') => {
    const value = canary(what);
    (kind === 'secret' ? secrets : internals).push(value);
    return value;
  };

  let tmp: string;
  let t: TestApp;
  let fake: FakeModelServer;
  let dataDir: string;
  let root: string;
  let storeFile: string | undefined;
  let cleanupStore: () => Promise<void>;

  beforeAll(async () => {
    tmp = makeTempDir('wb-leak-');
    dataDir = join(tmp, plant('datadir'));
    root = join(tmp, plant('workspaceroot'));
    mkdirSync(dataDir, { recursive: true });
    mkdirSync(root, { recursive: true });
    const field = (name: string) => plant(`field${name}`, ['token', 'envapikey', 'endpoint'].includes(name) ? 'secret' : 'internal');
    writeRecord(dataDir, 'reviewer-beta', fullRecord(root, field));
    writeRecord(dataDir, 'idle', fullRecord(root, field, { worker_name: 'Idle', active: null }));
    writeRecord(dataDir, 'other-workspace', fullRecord(join(tmp, plant('otherroot')), field, { worker_name: plant('otherworkername') }));
    writeRecord(dataDir, 'broken', `{"worker_name": "${plant('brokenname')}", "token": "${plant('brokentoken', 'secret')}"`);
    writeRecord(dataDir, 'huge', JSON.stringify({ ...fullRecord(root, field), worker_name: plant('hugename'), pad: 'x'.repeat(3 << 20) }));
    writeRecord(dataDir, 'wrong-types', { worker_name: 7, workspace_root: root, socket_path: 12, token: { t: plant('nestedtoken', 'secret') } });
    writeFileSync(join(podsDir(dataDir), 'stray-file'), plant('strayfile'));
    fake = await startFakeOpenAiServer();
    // The store's identity (memory name, SQLite file path, Postgres application name) is a canary too.
    const store = await fixture.create({ canary: plant('storename') });
    cleanupStore = store.cleanup;
    if (storeName === 'sqlite') storeFile = store.env.RUNTIME_STORE_URL.slice('sqlite:'.length);
    t = await startTestApp({
      WORKSPACE_DATA_DIR: dataDir,
      WORKSPACE_ROOT: root,
      MODEL_PROVIDER: 'openai-compatible',
      MODEL_BASE_URL: openAiBaseUrl(fake, `/${plant('basepath', 'secret')}`),
      MODEL_NAME: 'leak-model',
      WORKER_PROVIDER_API_KEY: plant('providerkey', 'secret'),
      MODEL_TIMEOUT_MS: '1000',
      API_KEY: plant('adminkey', 'secret'),
      ...store.env,
    });
  });

  afterAll(async () => {
    await t.close();
    await fake.close();
    await cleanupStore();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** The one exchange that may carry a given secret (the answer that creates a key carries its secret). */
  const allowed = new Map<string, string>();

  function expectNoCanary(): void {
    expect(t.exchanges.length).toBeGreaterThan(0);
    for (const ex of t.exchanges) {
      const bytes = `${JSON.stringify(ex.headers)}\n${ex.text}`;
      for (const c of [...secrets, ...internals]) {
        if (bytes.includes(c) && allowed.get(c) !== `${ex.method} ${ex.path}`) throw new Error(`${ex.method} ${ex.path} (${ex.status}) leaked ${c}`);
      }
      if (bytes.includes(PID)) throw new Error(`${ex.method} ${ex.path} leaked the pid`);
      expect(bytes).not.toMatch(/\/tmp\/|ECONNREFUSED|at [A-Za-z.]+ \(/);
    }
    const logs = t.logs.join('\n');
    for (const c of secrets) if (logs.includes(c)) throw new Error(`a log line leaked ${c}`);
    for (const line of t.logs) expect(() => JSON.parse(line)).not.toThrow();
  }

  const settled = async (id: string, runId: string) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = (await t.get(`${EMBEDDED}/workers/${id}/runs/${runId}`)).body as any;
      if (!['queued', 'running'].includes(r.state)) return r;
      if (Date.now() > deadline) throw new Error('run did not end');
      await new Promise((res) => setTimeout(res, 30));
    }
  };

  it('drives every route, runs turns that complete and fail, and no response, event or log line carries a canary', async () => {
    const base = await t.listen();
    const badKey = { authorization: `Bearer ${plant('badkey', 'secret')}` };
    const everything = await SseClient.connect(t, base, '/api/events', { 'x-api-key': plant('apikeyheader', 'secret') });
    expectEnvelope((await t.get('/api/runtimes')).body, expectRuntimeShape);
    expectRuntimeShape((await t.get(EMBEDDED)).body);
    expectRuntimeShape((await t.get(LOCAL)).body);
    expectEnvelope((await t.get('/api/hosts')).body, expectHostShape);

    const created = await t.post(`${EMBEDDED}/workers`, { ...ticketRole('coder'), requested_worker_name: plant('requestedname') });
    expect(created.status).toBe(201);
    const workerId = (created.body as any).worker.worker_id;
    await t.post(`${EMBEDDED}/workers`, COMPANION);
    expectWorkerShape((await t.get(`${EMBEDDED}/workers/${workerId}`)).body);
    const stream = await SseClient.connect(t, base, `${EMBEDDED}/workers/${workerId}/events`);

    // A turn that completes, then turns that fail with canaries in every error body the provider sends.
    const ok = await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: 'hello' });
    expectInputShape(ok.body);
    expectRunShape(await settled(workerId, (ok.body as any).run.run_id));
    fake.enqueue(
      { kind: 'status', status: 500, message: plant('error500', 'secret') },
      { kind: 'status', status: 500, body: { error: { message: plant('error500b', 'secret'), type: 'server_error' } } },
      { kind: 'status', status: 500, message: plant('error500c', 'secret') },
      { kind: 'status', status: 401, message: plant('error401', 'secret') },
      { kind: 'context_too_long', extra: plant('errorcontext', 'secret') },
      { kind: 'status', status: 404, body: plant('errorrawbody', 'secret') },
      { kind: 'reply', chunks: ['partial '], end: 'stream_error', errorMessage: plant('streamerror', 'secret') },
      { kind: 'reply', chunks: [], end: 'malformed' },
    );
    for (let i = 0; i < 6; i++) {
      const r = await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: `fail ${i}` });
      const done = await settled(workerId, (r.body as any).run.run_id);
      expectRunShape(done);
      expect(done.state).toBe('failed');
    }
    // A slow turn, cancelled.
    fake.enqueue({ kind: 'reply', chunks: ['slow ', 'reply ', 'text'], chunkDelayMs: 300 });
    const slow = (await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: 'slow one' })).body as any;
    await new Promise((r) => setTimeout(r, 400));
    expectRunShape((await t.post(`${EMBEDDED}/workers/${workerId}/runs/${slow.run.run_id}/cancel`, {})).body);
    expectEnvelope((await t.get(`${EMBEDDED}/workers/${workerId}/runs`)).body, expectRunShape);
    expectTranscriptShape((await t.get(`${EMBEDDED}/workers/${workerId}/transcript?start=0&limit=50`)).body);
    const replay = await SseClient.connect(t, base, `${EMBEDDED}/workers/${workerId}/events?after=evt-0`);
    await replay.waitFor((c) => c.events.some((e) => e.event === 'run.cancelled'), 10_000);
    await stream.waitFor((c) => c.events.some((e) => e.event === 'run.cancelled'), 10_000);
    replay.close();
    stream.close();

    // API keys: a created key's secret is in its creation answer only.
    const key = await t.post('/api/keys', { name: 'leak test', scopes: ['read'] });
    expect(key.status).toBe(201);
    const createdSecret = (key.body as any).secret as string;
    secrets.push(createdSecret);
    allowed.set(createdSecret, 'POST /api/keys');
    expect(Object.keys(key.body as object).sort()).toEqual(['created_at', 'key_id', 'last_used_at', 'name', 'scopes', 'secret']);
    const keyId = (key.body as any).key_id;
    expect((await t.get('/api/runtimes', { authorization: `Bearer ${createdSecret}` })).status).toBe(200);
    expectErrorShape((await t.post(`${EMBEDDED}/workers`, COMPANION, { authorization: `Bearer ${createdSecret}` })).body, 403, 'forbidden');
    const keys = (await t.get('/api/keys')).body as any;
    for (const k of keys.items) expect(Object.keys(k).sort()).toEqual(['created_at', 'key_id', 'last_used_at', 'name', 'scopes']);
    expect((await t.get(`/api/keys/${keyId}`)).status).toBe(200);
    expect((await t.delete(`/api/keys/${keyId}`)).status).toBe(204);

    const all = await t.get('/api/workers');
    expectEnvelope(all.body, expectWorkerShape);
    const items = (all.body as any).items;
    const localIds = items.filter((w: any) => w.runtime_id === 'local-worker-runtime').map((w: any) => w.worker_id);
    expect(localIds).toHaveLength(3);
    for (const id of localIds) expectWorkerShape((await t.get(`${LOCAL}/workers/${id}`)).body);
    for (const host of ((await t.get('/api/hosts')).body as any).items) {
      expectEnvelope((await t.get(`/api/hosts/${host.host_id}/workers`)).body, expectWorkerShape);
    }
    await everything.waitFor((c) => c.events.some((e) => e.event === 'run.cancelled'), 10_000);
    everything.close();

    // Errors of every kind, on both runtimes.
    const errors = [
      await t.get('/api/runtimes', badKey),
      await t.get(`/api/runtimes?api_key=${canary('adminkey')}`, { authorization: '' }),
      await t.get('/api/runtimes/unknown-runtime'),
      await t.get(`${EMBEDDED}/workers/nobody`),
      await t.get(`${LOCAL}/workers/nobody`),
      await t.get('/api/hosts/nohost/workers'),
      await t.get(`${EMBEDDED}/workers/bad.id`),
      await t.get(`/api/runtimes/${encodeURIComponent(canary('echo'))}%2F..`),
      await t.get(`${EMBEDDED}/workers/${workerId}/transcript?limit=500`),
      await t.get(`${EMBEDDED}/workers/${workerId}/runs?cursor=${canary('cursor')}.AAAA`),
      await t.post(`${EMBEDDED}/workers`, { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'socket_ready' } }),
      await t.post(`${EMBEDDED}/workers`, { intent: { kind: 'nope' }, acceptance: { kind: 'run_accepted' } }),
      await t.post(`${LOCAL}/workers`, COMPANION),
      await t.post(`${LOCAL}/workers/${localIds[0]}/input`, { content: 'x' }),
      await t.get(`${LOCAL}/workers/${localIds[0]}/transcript`),
      await t.post(`${EMBEDDED}/workers/${workerId}/runs/${slow.run.run_id}/cancel`, { note: 'x' }),
      await t.raw('POST', `${EMBEDDED}/workers`, '{"intent":', 'application/json'),
      await t.raw('POST', `${EMBEDDED}/workers`, 'x', 'text/plain'),
      await t.raw('PUT', `${EMBEDDED}/workers`),
      await t.raw('POST', `${EMBEDDED}/workers/${workerId}/input`, JSON.stringify({ content: 'a'.repeat(1 << 20) }), 'application/json'),
      await t.get('/api/no-such-route'),
      await t.get('/api/runtimes', { host: `${canary('hostheader')}.example` }),
    ];
    for (const e of errors) {
      expect(e.status).toBeGreaterThanOrEqual(400);
      expectErrorShape(e.body, e.status, (e.body as any).error);
    }
    // Stop and delete, the OpenAPI document and health are responses too.
    expect((await t.post(`${EMBEDDED}/workers/${workerId}/stop`, { reason: 'done' })).status).toBe(200);
    expect((await t.delete(`${EMBEDDED}/workers/${workerId}`)).status).toBe(204);
    expect((await t.get('/docs-json')).status).toBe(200);
    expect((await t.get('/api/health')).body).toEqual({ status: 'ok', checks: { runtimes: 'up' } });

    expectNoCanary();
    // The operator still learns that runs failed, by code.
    const logs = t.logs.join('\n');
    expect(logs).toContain('provider_error');
    expect(logs).toContain('provider_auth_failed');
  });

  if (storeName === 'sqlite') {
    it('answers 503 store_unavailable, naming nothing, once the database file is gone; readiness turns false', async () => {
      const workerId = ((await t.post(`${EMBEDDED}/workers`, COMPANION)).body as any).worker.worker_id as string;
      const stored = ((await t.post('/api/keys', { name: 'outage', scopes: ['admin'] })).body as any).secret as string;
      unlinkSync(storeFile!);
      // Past the file check (500 ms) and the key cache (1 s): the stored key must be read again.
      await new Promise((r) => setTimeout(r, 1100));
      const res = await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: 'into the void' });
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body).toEqual({
        statusCode: 503,
        error: 'store_unavailable',
        message: 'The store cannot answer right now; retry shortly',
        diagnostics: [{ code: 'embedded_runtime_store_unavailable', severity: 'error', message: expect.any(String) }],
      });
      const ready = await t.get('/api/health/ready');
      expectErrorShape(ready.body, 503, 'service_unavailable');
      expect((await t.get('/api/health/live')).status).toBe(200);
      const list = await t.get('/api/workers');
      expect(list.status).toBe(200); // the local runtime still answers; the embedded one is a diagnostic
      expect((list.body as any).diagnostics.map((d: any) => d.code)).toContain('embedded_runtime_store_unavailable');
      // Where the store fails outside any runtime (checking a stored key, the keys routes, an
      // Idempotency-Key's record) the answer is the same 503, with no runtime's diagnostic.
      const outside = [
        await t.get('/api/runtimes', { authorization: `Bearer ${stored}` }),
        await t.get('/api/keys'),
        await t.post('/api/keys', { name: 'during', scopes: ['read'] }),
        await t.post(`${EMBEDDED}/workers`, COMPANION, { 'idempotency-key': 'outage-1' }),
        await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: 'x' }, { 'idempotency-key': 'outage-2' }),
      ];
      for (const res of outside) {
        expect({ path: res.path, status: res.status, retryAfter: res.headers['retry-after'] }).toEqual({ path: res.path, status: 503, retryAfter: '1' });
        expect(res.body).toEqual({ statusCode: 503, error: 'store_unavailable', message: 'The store cannot answer right now; retry shortly', diagnostics: [] });
      }
      expect(t.logs.join('\n')).toContain('store_unavailable: store unavailable: replaced');
      expectNoCanary();
    });
  }
});
