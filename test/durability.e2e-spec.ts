import { STORE_FIXTURES, type StoreFixture } from './support/stores';
import { createEmbeddedWorker, EMBEDDED, startTestApp, type TestApp, ticketRole } from './support/test-app';

const durable = STORE_FIXTURES.filter((f) => f.durable).map((f) => [f.name, f] as [string, StoreFixture]);

async function allPages(t: TestApp, workerId: string, pageSize = 7): Promise<unknown[]> {
  const pages: unknown[] = [];
  for (let start = 0; ; start += pageSize) {
    const body = (await t.get(`${EMBEDDED}/workers/${workerId}/transcript?start=${start}&limit=${pageSize}`)).body as any;
    pages.push(body);
    if (body.next_start === undefined) return pages;
  }
}

describe.each(durable)('durable embedded runtime (%s)', (_name, fixture) => {
  let env: Record<string, string>;
  let cleanup: () => Promise<void>;
  const apps: TestApp[] = [];
  const start = async () => {
    const t = await startTestApp(env);
    apps.push(t);
    return t;
  };

  beforeAll(async () => {
    ({ env, cleanup } = await fixture.create());
  });
  afterAll(async () => {
    for (const t of apps) await t.app.close().catch(() => undefined);
    await cleanup();
  });

  it('keeps workers and transcripts across a restart; sequences continue with no gap or reuse', async () => {
    const first = await start();
    const workerId = await createEmbeddedWorker(first, ticketRole('reviewer'));
    const companion = await createEmbeddedWorker(first);
    for (let i = 0; i < 20; i++) await first.post(`${EMBEDDED}/workers/${workerId}/input`, { kind: i % 4 ? 'user' : 'system', content: `message ${i} 日本語` });
    const detailBefore = (await first.get(`${EMBEDDED}/workers/${workerId}`)).body;
    const pagesBefore = await allPages(first, workerId);
    const listBefore = ((await first.get(`${EMBEDDED}/workers`)).body as any).items.map((w: any) => w.worker_id);
    await first.app.close();

    const second = await start();
    expect((await second.get(`${EMBEDDED}/workers/${workerId}`)).body).toEqual(detailBefore);
    expect(await allPages(second, workerId)).toEqual(pagesBefore);
    expect(((await second.get(`${EMBEDDED}/workers`)).body as any).items.map((w: any) => w.worker_id)).toEqual(listBefore);
    expect(listBefore).toEqual(expect.arrayContaining([workerId, companion]));
    const next = await second.post(`${EMBEDDED}/workers/${workerId}/input`, { content: 'after restart' });
    expect(next.body).toMatchObject({ transcript_sequence: 20, event_id: 'evt-21' });
    // the summary says nothing about memory once state is durable
    expect(((await second.get(EMBEDDED)).body as any).diagnostics.map((d: any) => d.code)).not.toContain('embedded_memory_store');
    await second.app.close();
  });
});

const pg = STORE_FIXTURES.find((f) => f.name === 'postgres');
// Defined only where Postgres answers; global-setup fails CI runs without it.
if (pg) describe('two backend instances on one Postgres', () => {
  let a: TestApp;
  let b: TestApp;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const store = await pg!.create();
    cleanup = store.cleanup;
    [a, b] = await Promise.all([startTestApp(store.env), startTestApp(store.env)]);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await cleanup();
  });

  it("see each other's workers and transcripts, and never hand out a sequence twice", async () => {
    const workerId = await createEmbeddedWorker(a);
    expect((await b.get(`${EMBEDDED}/workers/${workerId}`)).status).toBe(200);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).post(`${EMBEDDED}/workers/${workerId}/input`, { content: `from ${i % 2 ? 'a' : 'b'} ${i}` })));
    expect(results.every((r) => r.status === 202)).toBe(true);
    expect(results.map((r) => (r.body as any).transcript_sequence).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(await allPages(a, workerId, 40)).toEqual(await allPages(b, workerId, 40));
    const fromB = await createEmbeddedWorker(b);
    expect(((await a.get(`${EMBEDDED}/workers?limit=200`)).body as any).items.map((w: any) => w.worker_id)).toEqual(expect.arrayContaining([workerId, fromB]));
  });
});
