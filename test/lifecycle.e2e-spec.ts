import { ENV_KEY_ID } from '../src/auth/auth.constants';
import { Idempotency } from '../src/idempotency/idempotency.service';
import { BackendStore } from '../src/store/backend-store';
import { writeRecord } from './support/local-fixtures';
import { expectErrorShape } from './support/shapes';
import { SseClient } from './support/sse-client';
import { STORE_FIXTURES, type StoreFixture } from './support/stores';
import { COMPANION, createEmbeddedWorker, EMBEDDED, startTestApp, type TestApp } from './support/test-app';

/**
 * SPEC §10 on every store: stop and delete, capacity under concurrency,
 * cursors that survive inserts and deletes, idempotent writes (also across
 * a restart), and idle stop.
 */
describe.each(STORE_FIXTURES.map((f) => [f.name, f] as [string, StoreFixture]))('worker lifecycle, paging and idempotency (%s store)', (storeName, fixture) => {
  let env: Record<string, string>;
  let cleanup: () => Promise<void>;
  let t: TestApp;

  beforeAll(async () => {
    const store = await fixture.create();
    env = { ...store.env, EMBEDDED_MAX_WORKERS: '1000' };
    cleanup = store.cleanup;
    t = await startTestApp(env);
  });
  afterAll(async () => {
    await t.close();
    await cleanup();
  });

  const input = (id: string, content: string, headers: Record<string, string> = {}) => t.post(`${EMBEDDED}/workers/${id}/input`, { content }, headers);

  it('stops a worker (idempotent), refuses its input with 409 and keeps its transcript; a stopped worker still deletes', async () => {
    const id = await createEmbeddedWorker(t);
    await input(id, 'before');
    const stopped = await t.post(`${EMBEDDED}/workers/${id}/stop`, { reason: 'done for today' });
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ state: 'stopped', status: 'stopped', activity: 'stopped', capabilities: { can_accept_input: false } });
    expect((await t.raw('POST', `${EMBEDDED}/workers/${id}/stop`)).status).toBe(200); // empty body
    expectErrorShape((await input(id, 'after')).body, 409, 'worker_stopped');
    expect(((await t.get(`${EMBEDDED}/workers/${id}/transcript`)).body as any).items.map((i: any) => i.content)).toEqual(['before']);
    expectErrorShape((await t.post(`${EMBEDDED}/workers/${id}/stop`, { reason: 'x'.repeat(201) })).body, 400, 'validation_failed');
    expect((await t.delete(`${EMBEDDED}/workers/${id}`)).status).toBe(204);
  });

  it('deletes a worker with its transcript, runs, events and idempotency records (checked in the store), then answers 404 everywhere', async () => {
    const id = await createEmbeddedWorker(t);
    for (let i = 0; i < 3; i++) await input(id, `m${i}`, { 'idempotency-key': `del-${storeName}-${i}` });
    const store = t.app.get(BackendStore);
    const pk = (await store.read((q) => q.getWorker(id)))!.pk;
    const scopeOf = (i: number) => t.app.get(Idempotency).scopeOf(ENV_KEY_ID, 'POST', `${EMBEDDED}/workers/${id}/input`, `del-${storeName}-${i}`);
    expect(await store.read((q) => q.getIdempotency(scopeOf(0)))).toMatchObject({ state: 'completed', workerId: id });
    const stream = await SseClient.connect(t, await t.listen(), `${EMBEDDED}/workers/${id}/events`);
    expect((await t.delete(`${EMBEDDED}/workers/${id}`)).status).toBe(204);
    await stream.waitFor((c) => c.ended, 5000);
    expect(stream.events.filter((e) => e.event !== 'heartbeat').map((e) => e.event)).toEqual(['worker.deleted']);
    const left = await store.read(async (q) => ({
      worker: await q.getWorker(id),
      items: await q.readItems(pk, 0, 100, 1 << 20),
      events: await q.readWorkerEvents(pk, -1, { maxEvents: 100, maxBytes: 1 << 20 }),
    }));
    expect(left.worker).toBeUndefined();
    expect(left.items).toEqual([]);
    expect(left.events.map((e) => e.kind)).toEqual(['worker.deleted']); // the tombstone streams and /api/events learn from
    // The records were stored under the admin (env) key's scope for this path.
    const scopes = [0, 1, 2].map((i) => t.app.get(Idempotency).scopeOf(ENV_KEY_ID, 'POST', `${EMBEDDED}/workers/${id}/input`, `del-${storeName}-${i}`));
    expect(scopes).toHaveLength(3);
    for (const scope of scopes) expect(await store.read((q) => q.getIdempotency(scope))).toBeUndefined();
    for (const path of ['', '/transcript', '/events']) expectErrorShape((await t.get(`${EMBEDDED}/workers/${id}${path}`)).body, 404, 'unknown_worker');
    expectErrorShape((await input(id, 'x')).body, 404, 'unknown_worker');
    expectErrorShape((await t.post(`${EMBEDDED}/workers/${id}/stop`, {})).body, 404, 'unknown_worker');
    expectErrorShape((await t.delete(`${EMBEDDED}/workers/${id}`)).body, 404, 'unknown_worker');
  });

  it("a create's key outlives the worker it created: a retry after the delete replays the first 201 and creates nothing", async () => {
    const key = { 'idempotency-key': `create-then-delete-${storeName}` };
    const first = await t.post(`${EMBEDDED}/workers`, COMPANION, key);
    expect(first.status).toBe(201);
    const id = (first.body as any).worker.worker_id;
    expect((await t.delete(`${EMBEDDED}/workers/${id}`)).status).toBe(204);
    const workersBefore = await t.app.get(BackendStore).read((q) => q.listWorkers(0, 1000));
    const again = await t.post(`${EMBEDDED}/workers`, COMPANION, key);
    expect(again.status).toBe(201);
    expect(again.headers['idempotency-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(again.headers.location).toBe(first.headers.location);
    expect(await t.app.get(BackendStore).read((q) => q.listWorkers(0, 1000))).toEqual(workersBefore);
    expectErrorShape((await t.get(`${EMBEDDED}/workers/${id}`)).body, 404, 'unknown_worker'); // the replay names a worker that is gone
  });

  it('never exceeds max_workers under 20 concurrent creates, and counts only workers that are not stopped', async () => {
    const capped = await startTestApp({ ...env, EMBEDDED_MAX_WORKERS: String(await liveCount(t) + 5) });
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => capped.post(`${EMBEDDED}/workers`, COMPANION)));
      const created = results.filter((r) => r.status === 201);
      expect(created).toHaveLength(5);
      for (const r of results.filter((r) => r.status !== 201)) {
        expectErrorShape(r.body, 422, 'rejected');
        expect((r.body as any).diagnostics.map((d: any) => d.code)).toContain('embedded_worker_limit_reached');
      }
      await capped.post(`${EMBEDDED}/workers/${(created[0].body as any).worker.worker_id}/stop`, {});
      expect((await capped.post(`${EMBEDDED}/workers`, COMPANION)).status).toBe(201);
      expect((await capped.post(`${EMBEDDED}/workers`, COMPANION)).status).toBe(422);
      for (const r of created) await capped.delete(`${EMBEDDED}/workers/${(r.body as any).worker.worker_id}`);
    } finally {
      await capped.close();
    }
  });

  it('pages with cursors while workers are added and deleted: every survivor exactly once, oldest first', async () => {
    const before = new Set(await allWorkerIds(t));
    const ours: string[] = [];
    for (let i = 0; i < 12; i++) ours.push(await createEmbeddedWorker(t));
    const seen: string[] = [];
    const deleted = new Set<string>();
    let cursor: string | null = null;
    let page = 0;
    do {
      const res = await t.get(`${EMBEDDED}/workers?limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      seen.push(...(res.body as any).items.map((w: any) => w.worker_id));
      cursor = (res.body as any).next_cursor;
      // A cursor of this route for another runtime is not a cursor of that list.
      if (page === 0) expectErrorShape((await t.get(`/api/runtimes/local-worker-runtime/workers?cursor=${encodeURIComponent(cursor!)}`)).body, 400, 'invalid_cursor');
      // Between pages: delete one not yet seen and one already seen, add one.
      if (page === 0) {
        for (const id of [ours[9], ours[0]]) {
          await t.delete(`${EMBEDDED}/workers/${id}`);
          deleted.add(id);
        }
        ours.push(await createEmbeddedWorker(t));
      }
      page++;
    } while (cursor);
    const mine = seen.filter((id) => !before.has(id));
    const survivors = ours.filter((id) => !deleted.has(id));
    expect(mine.filter((id) => !deleted.has(id))).toEqual(survivors); // in creation order, each once
    expect(new Set(seen).size).toBe(seen.length);
    expectErrorShape((await t.get(`${EMBEDDED}/workers?cursor=${encodeURIComponent(`${cursor ?? 'eyJyIjowfQ'}.x${'A'.repeat(20)}`)}`)).body, 400, 'invalid_cursor');
    expectErrorShape((await t.get(`${EMBEDDED}/workers?cursor=${'a'.repeat(600)}`)).body, 400, 'invalid_cursor');
  });

  it('replays an idempotent create and input (same status, body, Location) and acts once; another body is 422', async () => {
    const key = { 'idempotency-key': `create-${storeName}-1` };
    const first = await t.post(`${EMBEDDED}/workers`, COMPANION, key);
    const again = await t.post(`${EMBEDDED}/workers`, COMPANION, key);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.location).toBe(first.headers.location);
    expect(again.headers['idempotency-replayed']).toBe('true');
    const id = (first.body as any).worker.worker_id;
    const conflict = await t.post(`${EMBEDDED}/workers`, { ...COMPANION, requested_worker_name: 'other' }, key);
    expectErrorShape(conflict.body, 422, 'idempotency_key_reused');
    // SPEC §11's order: an invalid request is a 400 whatever key it carries, a used one included.
    expectErrorShape((await t.post(`${EMBEDDED}/workers`, { ...COMPANION, requested_worker_name: 'x'.repeat(10_000) }, key)).body, 400, 'validation_failed');
    expectErrorShape((await t.post(`${EMBEDDED}/workers`, { ...COMPANION, unknown_field: 1 }, key)).body, 400, 'validation_failed');
    // Scoped to the path: the same key on input is another request.
    const a = await input(id, 'once', key);
    const b = await input(id, 'once', key);
    expect(b.body).toEqual(a.body);
    expect(((await t.get(`${EMBEDDED}/workers/${id}/transcript`)).body as any).total_items).toBe(1);
    // Errors are not stored: after a 400, the same key acts again.
    expectErrorShape((await input(id, '', { 'idempotency-key': `bad-${storeName}` })).body, 400, 'validation_failed');
    expect((await input(id, 'now valid', { 'idempotency-key': `bad-${storeName}` })).status).toBe(202);
    expectErrorShape((await input(id, 'x', { 'idempotency-key': 'has space' })).body, 400, 'validation_failed');
    // Scoped to the API key: another key's identical request acts.
    const other = (await t.post('/api/keys', { name: 'second client', scopes: ['write'] })).body as any;
    expect((await input(id, 'once', { ...key, authorization: `Bearer ${other.secret}` })).body).not.toEqual(a.body);
  });

  it('lets exactly one of 10 concurrent duplicates act; the others replay its answer', async () => {
    const id = await createEmbeddedWorker(t);
    const key = { 'idempotency-key': `concurrent-${storeName}` };
    const answers = await Promise.all(Array.from({ length: 10 }, () => input(id, 'exactly once', key)));
    expect(answers.every((a) => a.status === 202)).toBe(true);
    expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
    expect(((await t.get(`${EMBEDDED}/workers/${id}/transcript`)).body as any).total_items).toBe(1);
  });

  if (fixture.durable) {
    it('keeps idempotency records across a restart', async () => {
      const id = await createEmbeddedWorker(t);
      const key = { 'idempotency-key': `restart-${storeName}` };
      const first = await input(id, 'before restart', key);
      await t.close();
      t = await startTestApp({ ...env, API_KEY: t.adminKey });
      const replay = await input(id, 'before restart', key);
      expect(replay.status).toBe(202);
      expect(replay.body).toEqual(first.body);
      expect(((await t.get(`${EMBEDDED}/workers/${id}/transcript`)).body as any).total_items).toBe(1);
    });
  }
});

describe('listing every runtime, and idle stop', () => {
  it('pages /api/workers through every runtime: local workers are reached when the embedded runtime holds more than a page', async () => {
    const t = await startTestApp({ RUNTIME_STORE_URL: 'memory:' });
    try {
      for (let i = 0; i < 5; i++) writeRecord(t.config.dataDir, `local-${i}`, { worker_name: `Local ${i}`, workspace_root: t.config.workspaceRoot });
      for (let i = 0; i < 7; i++) await createEmbeddedWorker(t);
      const seen: any[] = [];
      let cursor: string | null = null;
      do {
        const res = (await t.get(`/api/workers?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).body as any;
        expect(res.items.length).toBeLessThanOrEqual(3);
        seen.push(...res.items);
        cursor = res.next_cursor;
      } while (cursor);
      expect(seen.map((w) => w.runtime_id)).toEqual([...Array(7).fill('embedded-worker-runtime'), ...Array(5).fill('local-worker-runtime')]);
      expect(seen.filter((w) => w.runtime_id === 'local-worker-runtime').map((w) => w.label)).toEqual(['Local 0', 'Local 1', 'Local 2', 'Local 3', 'Local 4']);
    } finally {
      await t.close();
    }
  });

  it('stops workers idle for WORKER_IDLE_STOP_MS with reason idle, once', async () => {
    const t = await startTestApp({ RUNTIME_STORE_URL: 'memory:', WORKER_IDLE_STOP_MS: '1000' });
    try {
      const base = await t.listen();
      const idle = await createEmbeddedWorker(t);
      const stream = await SseClient.connect(t, base, `${EMBEDDED}/workers/${idle}/events`);
      const deadline = Date.now() + 5000;
      while (((await t.get(`${EMBEDDED}/workers/${idle}`)).body as any).state !== 'stopped') {
        if (Date.now() > deadline) throw new Error('not stopped');
        await new Promise((r) => setTimeout(r, 100));
      }
      await stream.waitFor((c) => c.events.some((e) => e.event === 'worker.state_changed'));
      await new Promise((r) => setTimeout(r, 600));
      expect(stream.events.filter((e) => e.event === 'worker.state_changed').map((e) => e.data.reason)).toEqual(['idle']);
      stream.close();
    } finally {
      await t.close();
    }
  });
});

async function liveCount(t: TestApp): Promise<number> {
  const ids = await allWorkerIds(t);
  let live = 0;
  for (const id of ids) if (((await t.get(`${EMBEDDED}/workers/${id}`)).body as any).state !== 'stopped') live++;
  return live;
}

async function allWorkerIds(t: TestApp): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const res = (await t.get(`${EMBEDDED}/workers?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).body as any;
    ids.push(...res.items.map((w: any) => w.worker_id));
    cursor = res.next_cursor;
  } while (cursor);
  return ids;
}
