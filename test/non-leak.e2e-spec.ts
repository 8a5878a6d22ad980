import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MetadataScanner } from '../src/runtimes/local/metadata-scanner';
import { EmbeddedRuntimeStore } from '../src/runtimes/embedded/store/embedded-runtime.store';
import { STORE_FIXTURES, type StoreFixture } from './support/stores';
import { fullRecord, podsDir, writeRecord } from './support/local-fixtures';
import { SseClient } from './support/sse-client';
import { expectEnvelope, expectErrorShape, expectHostShape, expectRuntimeShape, expectTranscriptShape, expectWorkerShape } from './support/shapes';
import { COMPANION, EMBEDDED, LOCAL, makeTempDir, startTestApp, type TestApp, ticketRole } from './support/test-app';

/**
 * Plants a unique canary in every internal value the backend knows — the
 * provider credential, the store identity, the data dir and workspace root
 * paths, and every internal field of every local metadata record — then
 * drives every route, in success and in error, and asserts that no byte of
 * any response (status line aside: bodies and headers) contains a canary.
 */
describe.each(STORE_FIXTURES.map((f) => [f.name, f] as [string, StoreFixture]))('non-leaking projection (%s store)', (_name, fixture) => {
  const run = randomBytes(6).toString('hex');
  const canary = (what: string) => `CANARY${what.toUpperCase().replace(/[^A-Z0-9]/g, '')}${run}`;
  const PID = '987654321';
  const canaries: string[] = [];
  const plant = (what: string) => {
    const value = canary(what);
    canaries.push(value);
    return value;
  };

  let base: string;
  let t: TestApp;
  let dataDir: string;
  let root: string;
  let cleanupStore: () => Promise<void>;

  beforeAll(async () => {
    base = makeTempDir('wb-leak-');
    dataDir = join(base, plant('datadir'));
    root = join(base, plant('workspaceroot'));
    mkdirSync(dataDir, { recursive: true });
    mkdirSync(root, { recursive: true });
    const secret = (field: string) => plant(`field${field}`);
    writeRecord(dataDir, 'reviewer-beta', fullRecord(root, secret));
    writeRecord(dataDir, 'idle', fullRecord(root, secret, { worker_name: 'Idle', active: null }));
    writeRecord(dataDir, 'other-workspace', fullRecord(join(base, plant('otherroot')), secret, { worker_name: plant('otherworkername') }));
    writeRecord(dataDir, 'broken', `{"worker_name": "${plant('brokenname')}", "token": "${plant('brokentoken')}"`);
    writeRecord(dataDir, 'huge', JSON.stringify({ ...fullRecord(root, secret), worker_name: plant('hugename'), pad: 'x'.repeat(3 << 20) }));
    writeRecord(dataDir, 'wrong-types', { worker_name: 7, workspace_root: root, socket_path: 12, token: { t: plant('nestedtoken') } });
    writeFileSync(join(podsDir(dataDir), 'stray-file'), plant('strayfile'));
    // The store's identity (memory name, SQLite file path, Postgres password) is a canary too.
    const store = await fixture.create({ canary: plant('storename') });
    cleanupStore = store.cleanup;
    t = await startTestApp({
      WORKSPACE_DATA_DIR: dataDir,
      WORKSPACE_ROOT: root,
      WORKER_PROVIDER_API_KEY: plant('providerkey'),
      ...store.env,
    });
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await t.close();
    await cleanupStore();
    rmSync(base, { recursive: true, force: true });
  });

  function expectNoCanary(): void {
    expect(t.exchanges.length).toBeGreaterThan(0);
    for (const ex of t.exchanges) {
      const bytes = `${JSON.stringify(ex.headers)}\n${ex.text}`;
      for (const c of canaries) {
        if (bytes.includes(c)) throw new Error(`${ex.method} ${ex.path} (${ex.status}) leaked ${c}`);
      }
      if (bytes.includes(PID)) throw new Error(`${ex.method} ${ex.path} leaked the pid`);
      expect(bytes).not.toMatch(/\/tmp\/|127\.0\.0\.1:45678|ANTHROPIC|at [A-Za-z.]+ \(/);
    }
  }

  it('drives every route, success and error, and no response carries a canary', async () => {
    const hdr = { authorization: `Bearer ${plant('authheader')}`, 'x-api-key': plant('apikeyheader') };
    // Event streams are responses too: watch everything while the routes are driven.
    const base = await t.listen();
    const everything = await SseClient.connect(t, base, '/api/events', hdr);
    expectEnvelope((await t.get('/api/runtimes', hdr)).body, expectRuntimeShape);
    expectRuntimeShape((await t.get(EMBEDDED)).body);
    expectRuntimeShape((await t.get(LOCAL)).body);
    expectEnvelope((await t.get('/api/hosts')).body, expectHostShape);

    const created = await t.post(`${EMBEDDED}/workers`, { ...ticketRole('coder'), requested_worker_name: 'display wish' }, hdr);
    expect(created.status).toBe(201);
    const workerId = (created.body as any).worker.worker_id;
    await t.post(`${EMBEDDED}/workers`, COMPANION);
    expectWorkerShape((await t.get(`${EMBEDDED}/workers/${workerId}`)).body);
    expect((await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: 'hello' }, hdr)).status).toBe(202);
    expectTranscriptShape((await t.get(`${EMBEDDED}/workers/${workerId}/transcript?start=0&limit=10`)).body);
    const replay = await SseClient.connect(t, base, `${EMBEDDED}/workers/${workerId}/events?after=evt-0`);
    await replay.waitFor((c) => c.events.length >= 1);
    await everything.waitFor((c) => c.events.length >= 3);
    replay.close();
    everything.close();

    const all = await t.get('/api/workers');
    expectEnvelope(all.body, expectWorkerShape);
    const items = (all.body as any).items;
    expect(items.map((w: any) => w.runtime_id)).toEqual(expect.arrayContaining(['embedded-worker-runtime', 'local-worker-runtime']));
    const localIds = items.filter((w: any) => w.runtime_id === 'local-worker-runtime').map((w: any) => w.worker_id);
    expect(localIds).toHaveLength(3);
    for (const id of localIds) expectWorkerShape((await t.get(`${LOCAL}/workers/${id}`)).body);
    expectEnvelope((await t.get(`${LOCAL}/workers`)).body, expectWorkerShape);
    for (const host of ((await t.get('/api/hosts')).body as any).items) {
      expectEnvelope((await t.get(`/api/hosts/${host.host_id}/workers`)).body, expectWorkerShape);
    }

    // errors of every kind, on both runtimes
    const errors = [
      await t.get('/api/runtimes/unknown-runtime'),
      await t.get(`${EMBEDDED}/workers/nobody`),
      await t.get(`${LOCAL}/workers/nobody`),
      await t.get('/api/hosts/nohost/workers'),
      await t.get(`${EMBEDDED}/workers/bad.id`),
      await t.get(`/api/runtimes/${encodeURIComponent(canary('echo'))}%2F..`),
      await t.get(`${EMBEDDED}/workers/${workerId}/transcript?limit=500`),
      await t.get(`${EMBEDDED}/workers/${workerId}/transcript?start=-1`),
      await t.post(`${EMBEDDED}/workers`, { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'socket_ready' } }),
      await t.post(`${EMBEDDED}/workers`, { intent: { kind: 'nope' }, acceptance: { kind: 'run_accepted' } }),
      await t.post(`${LOCAL}/workers`, COMPANION),
      await t.post(`${LOCAL}/workers/${localIds[0]}/input`, { content: 'x' }),
      await t.get(`${LOCAL}/workers/${localIds[0]}/transcript`),
      await t.raw('POST', `${EMBEDDED}/workers`, '{"intent":', 'application/json'),
      await t.raw('POST', `${EMBEDDED}/workers`, 'x', 'text/plain'),
      await t.raw('POST', `${EMBEDDED}/workers/${workerId}/input`, JSON.stringify({ content: 'a'.repeat(1 << 20) }), 'application/json'),
      await t.get('/api/no-such-route'),
    ];
    for (const e of errors) {
      expect(e.status).toBeGreaterThanOrEqual(400);
      expectErrorShape(e.body, e.status, (e.body as any).error);
    }
    // the OpenAPI document and the health check are responses too
    expect((await t.get('/docs-json')).status).toBe(200);
    expect((await t.get('/api/health')).body).toEqual({ status: 'ok', checks: { embedded_runtime_store: 'up' } });

    expectNoCanary();
    // Echoed client values are made safe: the canary id was cut at the first unsafe character.
    // Logs never carry credentials or request headers (paths are allowed there).
    const logs = t.logs.join('\n');
    for (const secret of [canary('providerkey'), canary('authheader'), canary('apikeyheader'), canary('fieldtoken'), canary('fieldenvapikey')]) {
      expect(logs).not.toContain(secret);
    }
  });

  it('turns a source failure whose message names paths and secrets into a generic 500, and a diagnostic in aggregate lists', async () => {
    const internal = `EACCES: permission denied, open '${dataDir}/pods/x/metadata.json' key=${canary('providerkey')}`;
    const spy = jest.spyOn(MetadataScanner.prototype, 'scan').mockRejectedValue(new Error(internal));
    try {
      const direct = await t.get(`${LOCAL}/workers`);
      expect(direct.status).toBe(500);
      expect(direct.body).toEqual({ statusCode: 500, error: 'internal_error', message: 'Internal server error', diagnostics: [] });
      const aggregate = await t.get('/api/workers');
      expect(aggregate.status).toBe(200);
      expect((aggregate.body as any).diagnostics).toContainEqual({
        code: 'runtime_unavailable',
        severity: 'error',
        message: 'Runtime local-worker-runtime could not be read',
      });
      expectNoCanary();
      const logs = t.logs.join('\n');
      expect(logs).toContain('permission denied'); // the operator still learns the cause …
      expect(logs).not.toContain(canary('providerkey')); // … but never the credential
    } finally {
      spy.mockRestore();
    }
  });

  it('reports an unreachable store as 503 on /api/health and a diagnostic in lists, naming nothing', async () => {
    const store = t.app.get(EmbeddedRuntimeStore);
    const failure = new Error(`connect ECONNREFUSED ${canary('storename')} password=${canary('providerkey')}`);
    const spies = [jest.spyOn(store, 'ping').mockRejectedValue(failure), jest.spyOn(store, 'listWorkers').mockRejectedValue(failure)];
    try {
      const health = await t.get('/api/health');
      expect(health.status).toBe(503);
      expect(health.body).toEqual({
        statusCode: 503,
        error: 'service_unavailable',
        message: 'The backend is not ready',
        diagnostics: [{ code: 'embedded_runtime_store_error', severity: 'error', message: expect.any(String) }],
      });
      // A list of unchanged state may come from the serialised-list cache while the store is down
      // (health says it is down); a list that must be built shows the store error.
      const all = await t.get('/api/workers?limit=123');
      expect(all.status).toBe(200);
      expect((all.body as any).diagnostics.map((d: any) => d.code)).toContain('embedded_runtime_store_error');
      expectNoCanary();
      expect(t.logs.join('\n')).not.toContain(canary('providerkey'));
    } finally {
      spies.forEach((s) => s.mockRestore());
    }
  });

  it('turns a store failure into a generic 500 that names nothing', async () => {
    const workerId = (((await t.post(`${EMBEDDED}/workers`, COMPANION)).body as any).worker.worker_id) as string;
    const spy = jest
      .spyOn(t.app.get(EmbeddedRuntimeStore), 'appendTranscriptItem')
      .mockRejectedValue(new Error(`store ${canary('storename')} failed with token=${canary('providerkey')}`));
    try {
      const res = await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: 'x' });
      expect(res.status).toBe(500);
      expect(res.body).toEqual({
        statusCode: 500,
        error: 'internal_error',
        message: 'Internal server error',
        diagnostics: [{ code: 'embedded_runtime_store_error', severity: 'error', message: expect.any(String) }],
      });
      expectNoCanary();
      expect(t.logs.join('\n')).not.toContain(canary('providerkey'));
    } finally {
      spy.mockRestore();
    }
  });
});
