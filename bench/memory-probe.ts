import { WorkerRuntime } from '../src/runtimes/embedded/worker-runtime';
import { SqliteBackendStore } from '../src/store/sqlite/sqlite-backend.store';

/**
 * Run with --expose-gc. Measures heap and RSS growth of the embedded runtime
 * (memory store: SQLite's in-memory database) per idle worker and per
 * transcript item, after full GCs.
 *
 * Workers are created in two equal batches, and the second batch's growth is
 * the marginal cost of a worker: the first batch also pays for growth that
 * happens once whatever the count (V8's young generation sizing up under the
 * allocation burst, the allocator's and SQLite's first pages; ~17 MB here),
 * which divided by the count made "per worker" depend on how many were made.
 */
declare const gc: () => void;

function settle(): { heap: number; rss: number } {
  for (let i = 0; i < 4; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

async function main(): Promise<void> {
  const workers = Number(process.env.BENCH_IDLE_WORKERS ?? 10_000);
  const items = Number(process.env.BENCH_ITEMS ?? 1_000_000);
  const itemBytes = 100;
  const intent = { intent: { kind: 'workspace_companion' as const }, acceptance: { kind: 'run_accepted' as const, expected_segments: 0 } };

  const memoryStore = async () => {
    const store = new SqliteBackendStore({ file: null, identity: 'memory:bench' });
    await store.init();
    return store;
  };
  const rt1 = new WorkerRuntime({ store: await memoryStore(), maxWorkers: 2 * workers + 10, executionEnabled: false, queueLimit: 32 });
  const before = settle();
  for (let i = 0; i < workers; i++) await rt1.createWorker(intent);
  const mid = settle();
  for (let i = 0; i < workers; i++) await rt1.createWorker(intent);
  const after = settle();

  const rt2 = new WorkerRuntime({ store: await memoryStore(), maxWorkers: 10, executionEnabled: false, queueLimit: 32 });
  const created = await rt2.createWorker(intent);
  if (created.outcome !== 'accepted') throw new Error('create failed');
  const id = created.worker.workerId;
  const beforeItems = settle();
  // Contents as the API receives them: flat strings fresh from JSON.parse (padStart alone may build cons-strings).
  for (let i = 0; i < items; i++) await rt2.acceptInput(id, { kind: 'user', content: JSON.parse(`"${`${i}`.padStart(itemBytes, 'x')}"`), onBusy: 'enqueue' });
  const afterItems = settle();

  process.stdout.write(
    `${JSON.stringify({
      workers,
      heapPerWorker: (after.heap - mid.heap) / workers,
      rssPerWorker: (after.rss - mid.rss) / workers,
      heapPerWorkerWhole: (after.heap - before.heap) / (2 * workers),
      rssPerWorkerWhole: (after.rss - before.rss) / (2 * workers),
      items,
      itemBytes,
      heapPerItem: (afterItems.heap - beforeItems.heap) / items,
      rssPerItem: (afterItems.rss - beforeItems.rss) / items,
      keep: [rt1.maxWorkers, rt2.maxWorkers].length,
    })}\n`,
  );
}

void main();
