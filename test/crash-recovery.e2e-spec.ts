import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { STORE_FIXTURES, type StoreFixture } from './support/stores';
import { makeTempDir } from './support/test-app';

/**
 * kill -9 during a stream of inputs: every input acknowledged with 202 must be
 * in the transcript after a restart, at the sequence it was given, and
 * nothing half-written may appear. Runs the built server (`npm test` builds
 * first) in a child process, exactly as `npm start` does.
 */
const MAIN = join(__dirname, '..', 'dist', 'src', 'main.js');
const durable = STORE_FIXTURES.filter((f) => f.durable).map((f) => [f.name, f] as [string, StoreFixture]);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function waitReady(base: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/api/health`)).status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server did not become ready');
}

describe.each(durable)('crash recovery (%s store, kill -9)', (_name, fixture) => {
  let env: Record<string, string>;
  let cleanup: () => Promise<void>;
  let child: ChildProcess | undefined;
  let base: string;

  async function startServer(): Promise<void> {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [MAIN], { env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: 'ignore' });
    await waitReady(base, child);
  }

  function kill9(): Promise<void> {
    return new Promise((resolve) => {
      child!.once('exit', () => resolve());
      child!.kill('SIGKILL');
    });
  }

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error('dist/src/main.js is missing: run `npm run build` (npm test does it first)');
    const store = await fixture.create();
    cleanup = store.cleanup;
    env = { ...store.env, WORKSPACE_DATA_DIR: makeTempDir('wb-crash-'), RUNTIME_STORE_URL: store.env.RUNTIME_STORE_URL };
  });
  afterAll(async () => {
    if (child && child.exitCode === null) await kill9();
    await cleanup();
  });

  it('loses no acknowledged input and leaves no half-written item, over three kills', async () => {
    await startServer();
    const created: any = await (
      await fetch(`${base}/api/runtimes/embedded-worker-runtime/workers`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted' } }),
      })
    ).json();
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
            const res = await fetch(`${base}/api/runtimes/embedded-worker-runtime/workers/${workerId}/input`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ content }),
            });
            if (res.status === 202) acked.set(content, ((await res.json()) as any).transcript_sequence);
          } catch {
            return; // the server is gone
          }
        }
      };
      const senders = Array.from({ length: 12 }, (_, id) => sender(id));
      await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 400)));
      await kill9();
      stop = true;
      await Promise.all(senders);

      await startServer();
      const items: Array<{ sequence: number; role: string; content: string }> = [];
      for (let start = 0; ; start += 200) {
        const page: any = await (await fetch(`${base}/api/runtimes/embedded-worker-runtime/workers/${workerId}/transcript?start=${start}&limit=200`)).json();
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
      const next: any = await (
        await fetch(`${base}/api/runtimes/embedded-worker-runtime/workers/${workerId}/input`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ content: `after-crash-${round}` }),
        })
      ).json();
      sent.add(`after-crash-${round}`);
      expect(next.transcript_sequence).toBe(expectedNext);
      acked.set(`after-crash-${round}`, next.transcript_sequence);
      expectedNext++;
    }
    console.log(`crash-recovery (${_name}): ${acked.size} acknowledged inputs checked over 3 kill -9 rounds, ${sent.size} sent`);
  });
});
