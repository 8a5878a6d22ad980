import { ChildServer } from './support/child-server';
import { type FakeModelServer, openAiBaseUrl, startFakeOpenAiServer } from './support/fake-openai-server';
import { STORE_FIXTURES, type StoreFixture } from './support/stores';
import { makeTempDir } from './support/test-app';

/**
 * kill -9 during a stream of inputs: every input acknowledged with 202 must be
 * in the transcript after a restart, at the sequence it was given, and
 * nothing half-written may appear. Runs the built server (`npm test` builds
 * first) in a child process: the bundle `npm start` serves.
 */
const durable = STORE_FIXTURES.filter((f) => f.durable).map((f) => [f.name, f] as [string, StoreFixture]);

const W = '/api/runtimes/embedded-worker-runtime/workers';

describe.each(durable)('crash recovery (%s store, kill -9)', (_name, fixture) => {
  let cleanup: () => Promise<void>;
  let server: ChildServer;

  beforeAll(async () => {
    const store = await fixture.create();
    cleanup = store.cleanup;
    server = new ChildServer({ WORKSPACE_DATA_DIR: makeTempDir('wb-crash-'), RUNTIME_STORE_URL: store.env.RUNTIME_STORE_URL });
  });
  afterAll(async () => {
    await server.kill9();
    await cleanup();
  });

  it('loses no acknowledged input and leaves no half-written item, over three kills', async () => {
    await server.start();
    const created: any = await (await server.post(W, { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted' } })).json();
    const workerId: string = created.worker.worker_id;
    const acked = new Map<string, number>(); // content → sequence
    const sent = new Set<string>();
    let expectedNext = 0;

    for (let round = 0; round < 3; round++) {
      let stop = false;
      const sender = async (id: number) => {
        for (let i = 0; !stop; i++) {
          const content = `r${round}-s${id}-i${i}-${'x'.repeat(i % 7 === 0 ? 5000 : 20)}`;
          sent.add(content);
          try {
            const res = await server.post(`${W}/${workerId}/input`, { content });
            if (res.status === 202) acked.set(content, ((await res.json()) as any).transcript_sequence);
          } catch {
            return; // the server is gone
          }
        }
      };
      const senders = Array.from({ length: 12 }, (_, id) => sender(id));
      await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 400)));
      await server.kill9();
      stop = true;
      await Promise.all(senders);

      await server.start();
      const items: Array<{ sequence: number; role: string; content: string }> = [];
      for (let start = 0; ; start += 200) {
        const page: any = await server.json(`${W}/${workerId}/transcript?start=${start}&limit=200`);
        items.push(...page.items);
        if (page.next_start === undefined) break;
      }
      // contiguous, each item whole (exactly a content that was sent), none twice
      expect(items.map((i) => i.sequence)).toEqual(Array.from({ length: items.length }, (_, i) => i));
      for (const item of items) expect(sent.has(item.content)).toBe(true);
      expect(new Set(items.map((i) => i.content)).size).toBe(items.length);
      // every acknowledged input is there, where it was acknowledged
      for (const [content, sequence] of acked) expect(items[sequence]?.content).toBe(content);
      expect(items.length).toBeGreaterThanOrEqual(acked.size);
      expect(items.length).toBeGreaterThan(expectedNext); // the round did write something
      expectedNext = items.length;
      // the sequence continues after the crash, with no gap or reuse
      const next: any = await (await server.post(`${W}/${workerId}/input`, { content: `after-crash-${round}` })).json();
      sent.add(`after-crash-${round}`);
      expect(next.transcript_sequence).toBe(expectedNext);
      acked.set(`after-crash-${round}`, next.transcript_sequence);
      expectedNext++;
    }
    console.log(`crash-recovery (${_name}): ${acked.size} acknowledged inputs checked over 3 kill -9 rounds, ${sent.size} sent`);
  });
});

/**
 * kill -9 during a run (SPEC §9): after the restart the run that was running
 * is `interrupted` (run_interrupted, its streamed text kept as a truncated
 * reply) and the run queued behind it completes.
 */
describe.each(durable)('a run killed mid-turn (%s store, kill -9)', (_name, fixture) => {
  let fake: FakeModelServer;
  let server: ChildServer;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    fake = await startFakeOpenAiServer();
    const store = await fixture.create();
    cleanup = store.cleanup;
    server = new ChildServer({
      WORKSPACE_DATA_DIR: makeTempDir('wb-crash-run-'),
      RUNTIME_STORE_URL: store.env.RUNTIME_STORE_URL,
      MODEL_PROVIDER: 'openai-compatible',
      MODEL_BASE_URL: openAiBaseUrl(fake),
      MODEL_NAME: 'm',
      DELTA_COALESCE_MS: '20',
      RUN_LEASE_MS: '2000',
    });
  });
  afterAll(async () => {
    await server.kill9();
    await fake.close();
    await cleanup();
  });

  it('marks the running run interrupted after the restart and completes the queued one', async () => {
    await server.start();
    const id = (await server.postJson(W, { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted' } })).worker.worker_id;
    fake.enqueue({ kind: 'reply', chunks: ['partial ', 'answer ', 'that ', 'never ', 'ends'], chunkDelayMs: 400 });
    const first = (await server.postJson(`${W}/${id}/input`, { content: 'long one' })).run;
    const second = (await server.postJson(`${W}/${id}/input`, { content: 'queued one' })).run;
    const deadline = Date.now() + 10_000;
    while (fake.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 1000)); // a few deltas are stored
    await server.kill9();
    await server.start();
    const wait = async (runId: string, state: string) => {
      const until = Date.now() + 20_000;
      for (;;) {
        const run = await server.json(`${W}/${id}/runs/${runId}`);
        if (run.state === state) return run;
        if (Date.now() > until) throw new Error(`run ${runId} is ${run.state}, not ${state}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const interrupted = await wait(first.run_id, 'interrupted');
    expect(interrupted.error).toEqual({ code: 'run_interrupted', message: expect.any(String) });
    await wait(second.run_id, 'completed');
    const items = (await server.json(`${W}/${id}/transcript`)).items;
    const partial = items.find((i: any) => i.run_id === first.run_id);
    expect(partial).toMatchObject({ role: 'assistant', truncated: true });
    expect(partial.content.startsWith('partial ')).toBe(true);
    expect(items.find((i: any) => i.run_id === second.run_id)).toMatchObject({ truncated: false, content: 'Echo: queued one' });
  }, 60_000);
});
