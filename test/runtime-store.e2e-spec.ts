import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { EventLog, type LogSink } from '../src/runtimes/embedded/event-log';
import { WorkerRuntime } from '../src/runtimes/embedded/worker-runtime';
import { PostgresBackendStore } from '../src/store/postgres/postgres-backend.store';
import { POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS } from '../src/store/sql/schema';
import { SqliteBackendStore } from '../src/store/sqlite/sqlite-backend.store';
import type { StoredEvent, BackendStore } from '../src/store/backend-store';
import { createPgSchema, PG_URL } from './support/stores';
import { makeTempDir } from './support/test-app';

/**
 * One contract, every adapter: memory and SQLite always, Postgres against a
 * real server (global-setup makes CI fail when there is none). The domain
 * (WorkerRuntime, EventLog) runs on top, as in the app: what is checked is
 * what the store guarantees to it.
 */
interface Adapter {
  name: 'memory' | 'sqlite' | 'postgres';
  durable: boolean;
  /** `open()` returns a new, initialised store on the same storage (a fresh one for memory). */
  setup(): Promise<{ open: () => Promise<BackendStore>; url?: string; file?: string; cleanup: () => Promise<void> }>;
}

const silent = { warn: () => undefined, error: () => undefined };

/** Waits until `done()` holds, at most 5 s; the assertions that follow say what was missing. */
async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

const adapters: Adapter[] = [
  {
    name: 'memory',
    durable: false,
    setup: async () => ({
      open: async () => {
        const s = new SqliteBackendStore({ file: null, identity: 'memory:contract' });
        await s.init();
        return s;
      },
      cleanup: async () => undefined,
    }),
  },
  {
    name: 'sqlite',
    durable: true,
    setup: async () => {
      const dir = makeTempDir('wb-store-');
      const file = join(dir, 'nested', 'store.sqlite3');
      return {
        file,
        open: async () => {
          const s = new SqliteBackendStore({ file, identity: file });
          await s.init();
          return s;
        },
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  ...(PG_URL
    ? [
        {
          name: 'postgres' as const,
          durable: true,
          setup: async () => {
            const { url, drop } = await createPgSchema();
            return {
              url,
              open: async () => {
                const s = new PostgresBackendStore({ url, poolMax: 10, connectTimeoutMs: 5000, queryTimeoutMs: 10_000, startupTimeoutMs: 5000, idleInTransactionTimeoutMs: 3000, log: silent });
                await s.init();
                return s;
              },
              cleanup: drop,
            };
          },
        },
      ]
    : []),
];

const COMPANION = { intent: { kind: 'workspace_companion' as const }, acceptance: { kind: 'run_accepted' as const, expected_segments: 0 } };

function runtimeOn(store: BackendStore, overrides: Partial<ConstructorParameters<typeof WorkerRuntime>[0]> = {}): WorkerRuntime {
  return new WorkerRuntime({ store, maxWorkers: 1000, executionEnabled: true, queueLimit: 32, ...overrides });
}

async function createWorker(rt: WorkerRuntime): Promise<string> {
  const r = await rt.createWorker(COMPANION);
  if (r.outcome !== 'accepted') throw new Error('not accepted');
  return r.worker.workerId;
}

/** Reads a worker's whole log, page by page, as a stream would. */
async function wholeLog(store: BackendStore, workerPk: number, limits = { maxEvents: 64, maxBytes: 1 << 20 }): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  let after = -1;
  for (;;) {
    const page = await store.read((q) => q.readWorkerEvents(workerPk, after, limits));
    if (page.length === 0) return out;
    out.push(...page);
    after = page[page.length - 1].eventNo;
  }
}

describe.each(adapters.map((a) => [a.name, a] as const))('worker store contract (%s)', (_name, adapter) => {
  let store: BackendStore;
  let open: () => Promise<BackendStore>;
  let cleanup: () => Promise<void>;
  let rt: WorkerRuntime;

  beforeEach(async () => {
    const setup = await adapter.setup();
    open = setup.open;
    cleanup = setup.cleanup;
    store = await open();
    rt = runtimeOn(store);
  });
  afterEach(async () => {
    await store.close();
    await cleanup();
  });

  it('creates, reads and pages workers oldest first; unknown ids are undefined', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await createWorker(rt));
    const first = await rt.listWorkers(0, 2);
    expect(first.workers.map((w) => w.workerId)).toEqual(ids.slice(0, 2));
    expect(first.more).toBe(true);
    const rest = await rt.listWorkers(first.workers[1].pk, 10);
    expect(rest.workers.map((w) => w.workerId)).toEqual(ids.slice(2));
    expect(rest.more).toBe(false);
    expect(await rt.getWorker('embedded-worker-nobody')).toBeUndefined();
    const w = (await rt.getWorker(ids[0]))!;
    expect(w).toMatchObject({ state: 'running', role: 'workspace_companion', profileSelector: 'runtime_default', nextEventNo: 1, transcriptLength: 0 });
    expect(Object.keys(w).sort()).toEqual(
      ['createdAtMs', 'currentRunId', 'intent', 'lastActivityAtMs', 'lastSeenAtMs', 'nextEventNo', 'pk', 'profileSelector', 'queueBack', 'queueFront', 'queuedRuns', 'requestedName', 'role', 'state', 'stopReason', 'transcriptLength', 'workerId'],
    );
    // A list reads a worker's summary only (StoredWorkerSummary): the same values, none of the rest.
    expect(first.workers[0]).toStrictEqual({
      pk: w.pk,
      workerId: ids[0],
      role: w.role,
      profileSelector: w.profileSelector,
      state: w.state,
      createdAtMs: w.createdAtMs,
      lastSeenAtMs: w.lastSeenAtMs,
      currentRunId: null,
      queuedRuns: 0,
    });
  });

  it('appends 200 concurrent inputs with unique, gap-free sequences and event numbers', async () => {
    const rtNoExec = runtimeOn(store, { executionEnabled: false });
    const id = await createWorker(rtNoExec);
    const accepted = await Promise.all(Array.from({ length: 200 }, (_, i) => rtNoExec.acceptInput(id, { kind: 'user', content: `c${i}`, onBusy: 'enqueue' })));
    expect(accepted.map((a) => a!.item.sequence).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    const worker = (await rt.getWorker(id))!;
    const log = await wholeLog(store, worker.pk, { maxEvents: 7, maxBytes: 1 << 20 });
    expect(log.map((e) => e.eventNo)).toEqual(Array.from({ length: 201 }, (_, i) => i));
    expect(log[0].kind).toBe('worker.created');
    // Every input event carries its item, and the item records that event.
    const contentBySequence = new Map(accepted.map((a) => [a!.item.sequence, a!.item.content]));
    for (const e of log.slice(1)) {
      expect(e.kind).toBe('worker.input_accepted');
      expect(e.item!.eventNo).toBe(e.eventNo);
      expect(e.item!.content).toBe(contentBySequence.get(e.item!.sequence));
    }
    const page = await rt.readTranscript(id, 198, 50);
    expect(page!.total).toBe(200);
    expect(page!.items.map((i) => i.sequence)).toEqual([198, 199]);
    // A page reads its worker's key and length only (StoredTranscriptHead), none of the rest.
    expect(await store.read((q) => q.getTranscriptHead(id))).toStrictEqual({ pk: worker.pk, transcriptLength: 200 });
    expect(await store.read((q) => q.getTranscriptHead('embedded-worker-nobody'))).toBeUndefined();
  });

  it('bounds an event page by bytes, always returning at least one event', async () => {
    const rtNoExec = runtimeOn(store, { executionEnabled: false });
    const id = await createWorker(rtNoExec);
    const big = 'x'.repeat(100_000);
    for (let i = 0; i < 5; i++) await rtNoExec.acceptInput(id, { kind: 'user', content: big, onBusy: 'enqueue' });
    const pk = (await rt.getWorker(id))!.pk;
    const page = await store.read((q) => q.readWorkerEvents(pk, 0, { maxEvents: 64, maxBytes: 250_000 }));
    expect(page.map((e) => e.eventNo)).toEqual([1, 2, 3]); // 0 and 100k and 200k bytes before them fit; the 4th starts past the budget
    const one = await store.read((q) => q.readWorkerEvents(pk, 0, { maxEvents: 64, maxBytes: 1 }));
    expect(one).toHaveLength(1);
  });

  it('bounds a transcript page by content: it stops before the item that would pass the budget, holds one item however long, and paging reaches every item once', async () => {
    const rtNoExec = runtimeOn(store, { executionEnabled: false });
    const id = await createWorker(rtNoExec);
    // Lengths in UTF-16 units, as content_length counts them (the emoji is 2).
    const contents = ['a'.repeat(100), 'b'.repeat(200), 'c'.repeat(300), 'd'.repeat(5000), '', '🌍'.repeat(25), 'e'.repeat(550), 'f'];
    for (const content of contents) await rtNoExec.acceptInput(id, { kind: 'system', content, onBusy: 'enqueue' });
    const sequences = async (start: number, limit: number, maxChars: number) => (await rt.readTranscript(id, start, limit, maxChars))!.items.map((i) => i.sequence);
    expect(await sequences(0, 10, 600)).toEqual([0, 1, 2]); // 100 + 200 + 300 = 600 fits exactly; 5000 more would not
    expect(await sequences(0, 10, 599)).toEqual([0, 1]);
    expect(await sequences(3, 10, 600)).toEqual([3]); // alone over the budget: still the page's one item
    expect(await sequences(4, 10, 600)).toEqual([4, 5, 6]); // 0 + 50 + 550
    expect(await sequences(0, 2, 600)).toEqual([0, 1]); // the limit still applies first
    expect(await sequences(0, 10, 1 << 20)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(await sequences(8, 10, 600)).toEqual([]);
    // Paging by the page's own end, as next_start does, reaches each item exactly once, in order.
    const seen: number[] = [];
    for (let start = 0, pages = 0; start < contents.length && pages < 20; pages++) {
      const page = await sequences(start, 3, 600);
      expect(page.length).toBeGreaterThan(0);
      seen.push(...page);
      start = page[page.length - 1] + 1;
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('a transcript page gives back each content exactly as appended, whatever characters it holds', async () => {
    // SQLite's pages travel as one JSON text (SqlDialect.rowsAsJson): quotes, escapes, control and line-separator characters, astral ones.
    const rtNoExec = runtimeOn(store, { executionEnabled: false });
    const id = await createWorker(rtNoExec);
    const contents = ['"quoted" \\back\\slash\\ \\u0041', 'tab\there\r\nnew\nline \u0001\u001f\u007f', '\u2028\u2029 é 中文 🌍 \uFFFD </script>', '[1,2]', 'null', '   '];
    for (const content of contents) await rtNoExec.acceptInput(id, { kind: 'user', content, onBusy: 'enqueue' });
    const page = (await rt.readTranscript(id, 0, 10))!;
    expect(page.items.map((i) => i.content)).toEqual(contents);
    expect(page.items.map((i) => [i.sequence, i.role, i.runId, i.truncated])).toEqual(contents.map((_, n) => [n, 'user', null, false]));
  });

  it('runs: FIFO claims, one at a time per worker, deltas become the item, and the global log is in commit order', async () => {
    const id = await createWorker(rt);
    const a = await rt.acceptInput(id, { kind: 'user', content: 'first', onBusy: 'enqueue' });
    const b = await rt.acceptInput(id, { kind: 'user', content: 'second', onBusy: 'enqueue' });
    expect(a!.run!.state).toBe('queued');
    const claimed = (await rt.claimNextRun('owner-1', 60_000))!;
    expect(claimed.run.runId).toBe(a!.run!.runId);
    expect(await rt.claimNextRun('owner-2', 60_000)).toBeUndefined(); // the worker is busy: its next run waits
    expect(await rt.appendDelta('owner-1', claimed.run, 'Hel')).toBe(true);
    expect(await rt.appendDelta('owner-1', claimed.run, 'lo')).toBe(true);
    expect(await rt.appendDelta('owner-2', claimed.run, 'intruder')).toBe(false);
    expect(await rt.finishRun('owner-1', claimed.run, { state: 'completed', usage: { inputTokens: 3, outputTokens: 2 } })).toBe(true);
    const next = (await rt.claimNextRun('owner-2', 60_000))!;
    expect(next.run.runId).toBe(b!.run!.runId);
    const done = (await rt.getRun(id, a!.run!.runId))!;
    expect(done).toMatchObject({ state: 'completed', inputTokens: 3, outputTokens: 2, outputSequence: 2, errorCode: null });
    const transcript = (await rt.readTranscript(id, 0, 10))!;
    expect(transcript.items).toEqual([
      { sequence: 0, role: 'user', content: 'first', eventNo: a!.item.eventNo, runId: null, truncated: false },
      { sequence: 1, role: 'user', content: 'second', eventNo: b!.item.eventNo, runId: null, truncated: false },
      { sequence: 2, role: 'assistant', content: 'Hello', eventNo: expect.any(Number), runId: a!.run!.runId, truncated: false },
    ]);
    // The second run's context: the first exchange, then its own input (its reply anchored at its input).
    const context = await rt.readContext(next.worker, next.run, 1000);
    expect(context.map((i) => i.content).reverse()).toEqual(['first', 'Hello', 'second']);
    const kinds = (await wholeLog(store, next.worker.pk)).map((e) => e.kind);
    expect(kinds).toEqual([
      'worker.created',
      'worker.input_accepted',
      'run.queued',
      'worker.input_accepted',
      'run.queued',
      'run.started',
      'message.delta',
      'message.delta',
      'message.completed',
      'run.completed',
      'run.started',
    ]);
    const all: StoredEvent[] = [];
    for (let after = 0; ; ) {
      const page = await store.read((q) => q.readAllEvents(after, { maxEvents: 4, maxBytes: 1 << 20 }));
      if (page.length === 0) break;
      all.push(...page);
      after = page[page.length - 1].globalSeq;
    }
    expect(all.map((e) => e.globalSeq)).toEqual(all.map((_, i) => i + 1));
    expect(all.map((e) => e.kind)).toEqual(kinds);
    expect(await store.read((q) => q.lastGlobalSeq())).toBe(all.length);
  });

  it('context: newest first within the budget, read in O(context), and a queued-later input is not shown', async () => {
    const id = await createWorker(rt);
    for (let i = 0; i < 300; i++) await rt.acceptInput(id, { kind: 'system', content: `note ${i}`.padEnd(100, '.'), onBusy: 'enqueue' });
    const a = await rt.acceptInput(id, { kind: 'user', content: 'question', onBusy: 'enqueue' });
    await rt.acceptInput(id, { kind: 'user', content: 'later question', onBusy: 'enqueue' });
    const claimed = (await rt.claimNextRun('o', 60_000))!;
    expect(claimed.run.runId).toBe(a!.run!.runId);
    const context = await rt.readContext(claimed.worker, claimed.run, 1000);
    expect(context[0].content).toBe('question');
    expect(context.map((i) => i.content)).not.toContain('later question');
    expect(context.reduce((n, i) => n + i.content.length, 0)).toBeLessThanOrEqual(1000);
    expect(context).toHaveLength(1 + Math.floor((1000 - 'question'.length) / 100));
    expect(context[1].content.startsWith('note 299')).toBe(true);
  });

  it('on_busy: reject refuses and records nothing; interrupt cancels the running run and goes first; the queue is bounded', async () => {
    const small = runtimeOn(store, { queueLimit: 2 });
    const id = await createWorker(small);
    const first = await small.acceptInput(id, { kind: 'user', content: 'one', onBusy: 'enqueue' });
    const claimed = (await small.claimNextRun('o', 60_000))!;
    await small.appendDelta('o', claimed.run, 'partial');
    await expect(small.acceptInput(id, { kind: 'user', content: 'nope', onBusy: 'reject' })).rejects.toMatchObject({ code: 'worker_busy' });
    await small.acceptInput(id, { kind: 'user', content: 'two', onBusy: 'enqueue' });
    const urgent = await small.acceptInput(id, { kind: 'user', content: 'urgent', onBusy: 'interrupt' });
    await expect(small.acceptInput(id, { kind: 'user', content: 'three', onBusy: 'enqueue' })).rejects.toMatchObject({ code: 'worker_queue_full' });
    expect((await small.getRun(id, first!.run!.runId))!.state).toBe('cancelled');
    expect(await small.finishRun('o', claimed.run, { state: 'completed', usage: null })).toBe(false); // someone else ended it
    const next = (await small.claimNextRun('o', 60_000))!;
    expect(next.run.runId).toBe(urgent!.run!.runId);
    const transcript = (await small.readTranscript(id, 0, 10))!;
    expect(transcript.items.map((i) => [i.role, i.content, i.truncated])).toEqual([
      ['user', 'one', false],
      ['user', 'two', false],
      ['assistant', 'partial', true],
      ['user', 'urgent', false],
    ]);
    expect(transcript.items.map((i) => i.content)).not.toContain('nope');
  });

  it('cancel: queued and running runs, idempotent, run_finished for ended ones, unknown runs are null', async () => {
    const id = await createWorker(rt);
    const a = await rt.acceptInput(id, { kind: 'user', content: 'a', onBusy: 'enqueue' });
    const b = await rt.acceptInput(id, { kind: 'user', content: 'b', onBusy: 'enqueue' });
    expect((await rt.cancelRun(id, b!.run!.runId))!.state).toBe('cancelled');
    expect((await rt.cancelRun(id, b!.run!.runId))!.state).toBe('cancelled');
    const claimed = (await rt.claimNextRun('o', 60_000))!;
    expect(claimed.run.runId).toBe(a!.run!.runId);
    expect(await rt.claimNextRun('o', 60_000)).toBeUndefined();
    await rt.finishRun('o', claimed.run, { state: 'failed', errorCode: 'provider_error', usage: null });
    await expect(rt.cancelRun(id, a!.run!.runId)).rejects.toMatchObject({ code: 'run_finished' });
    expect(await rt.cancelRun(id, 'run-nope')).toBeNull();
    expect(await rt.cancelRun('embedded-worker-nobody', a!.run!.runId)).toBeUndefined();
    const other = await createWorker(rt);
    expect(await rt.cancelRun(other, a!.run!.runId)).toBeNull(); // a run is found only under its own worker
    const worker = (await rt.getWorker(id))!;
    expect(worker).toMatchObject({ queuedRuns: 0, currentRunId: null });
  });

  it('stop cancels the running and queued runs once; delete removes every row but the tombstone', async () => {
    const id = await createWorker(rt);
    await rt.acceptInput(id, { kind: 'user', content: 'a', onBusy: 'enqueue' });
    await rt.acceptInput(id, { kind: 'user', content: 'b', onBusy: 'enqueue' });
    const claimed = (await rt.claimNextRun('o', 60_000))!;
    await rt.appendDelta('o', claimed.run, 'half');
    const stopped = (await rt.stopWorker(id, 'done'))!;
    expect(stopped).toMatchObject({ state: 'stopped', stopReason: 'done', currentRunId: null, queuedRuns: 0 });
    const again = (await rt.stopWorker(id, 'other'))!;
    expect(again.stopReason).toBe('done');
    await expect(rt.acceptInput(id, { kind: 'user', content: 'c', onBusy: 'enqueue' })).rejects.toMatchObject({ code: 'worker_stopped' });
    const log = await wholeLog(store, stopped.pk);
    expect(log.filter((e) => e.kind === 'worker.state_changed')).toHaveLength(1);
    expect(log.filter((e) => e.kind === 'run.cancelled')).toHaveLength(2);
    expect((await rt.readTranscript(id, 0, 10))!.items.map((i) => i.content)).toEqual(['a', 'b', 'half']);

    expect(await rt.deleteWorker(id)).toBe(true);
    expect(await rt.deleteWorker(id)).toBe(false);
    expect(await rt.getWorker(id)).toBeUndefined();
    expect(await rt.readTranscript(id, 0, 10)).toBeUndefined();
    const rows = await store.read(async (q) => ({
      items: await q.readItems(stopped.pk, 0, 100, 1 << 20),
      runs: await q.listRuns(stopped.pk, Number.MAX_SAFE_INTEGER, 100),
      events: await q.readWorkerEvents(stopped.pk, -1, { maxEvents: 100, maxBytes: 1 << 20 }),
    }));
    expect(rows.items).toEqual([]);
    expect(rows.runs).toEqual([]);
    expect(rows.events.map((e) => [e.kind, e.workerId])).toEqual([['worker.deleted', id]]);
  });

  it('capacity counts workers that are not stopped, atomically under 20 concurrent creates', async () => {
    const capped = runtimeOn(store, { maxWorkers: 5 });
    const results = await Promise.all(Array.from({ length: 20 }, () => capped.createWorker(COMPANION)));
    const accepted = results.filter((r) => r.outcome === 'accepted');
    expect(accepted).toHaveLength(5);
    expect(results.filter((r) => r.outcome === 'rejected').every((r) => r.diagnostics.some((d) => d.code === 'embedded_worker_limit_reached'))).toBe(true);
    const first = accepted[0] as Extract<(typeof results)[number], { outcome: 'accepted' }>;
    await capped.stopWorker(first.worker.workerId, null);
    expect((await capped.createWorker(COMPANION)).outcome).toBe('accepted');
    expect((await capped.createWorker(COMPANION)).outcome).toBe('rejected');
  });

  it('leases: renewed runs stay, lapsed ones are interrupted (with their text) and the queue goes on', async () => {
    const id = await createWorker(rt);
    await rt.acceptInput(id, { kind: 'user', content: 'a', onBusy: 'enqueue' });
    const b = await rt.acceptInput(id, { kind: 'user', content: 'b', onBusy: 'enqueue' });
    const claimed = (await rt.claimNextRun('dead-instance', 50))!;
    await rt.appendDelta('dead-instance', claimed.run, 'partial answer');
    expect(await rt.renewLeases('someone-else', [claimed.run.runId], 60_000)).toEqual([]);
    await new Promise((r) => setTimeout(r, 80));
    expect(await rt.interruptRuns(Date.now())).toBe(1);
    const run = (await rt.getRun(id, claimed.run.runId))!;
    expect(run).toMatchObject({ state: 'interrupted', errorCode: 'run_interrupted' });
    expect((await rt.claimNextRun('survivor', 60_000))!.run.runId).toBe(b!.run!.runId);
    expect((await rt.readTranscript(id, 0, 10))!.items.map((i) => [i.content, i.truncated])).toContainEqual(['partial answer', true]);
  });

  it('idle workers are stopped once with reason idle', async () => {
    const idle = await createWorker(rt);
    const busy = await createWorker(rt);
    await rt.acceptInput(busy, { kind: 'user', content: 'x', onBusy: 'enqueue' });
    await new Promise((r) => setTimeout(r, 30));
    const [a, b] = await Promise.all([rt.stopIdleWorkers(10), rt.stopIdleWorkers(10)]);
    expect(a + b).toBe(1);
    expect((await rt.getWorker(idle))!).toMatchObject({ state: 'stopped', stopReason: 'idle' });
    expect((await rt.getWorker(busy))!.state).toBe('running');
  });

  it('keeps settings, API keys and idempotency records', async () => {
    expect(await store.write((tx) => tx.initSetting('s', 'first'))).toBe('first');
    expect(await store.write((tx) => tx.initSetting('s', 'second'))).toBe('first');
    await store.write((tx) => tx.upsertApiKey({ keyId: 'k1', name: 'ci', scopes: ['read', 'write'], secretHash: 'ab', createdAtMs: 1, lastUsedAtMs: null, revokedAtMs: null }));
    expect(await store.read((q) => q.getApiKey('k1'))).toMatchObject({ name: 'ci', scopes: ['read', 'write'] });
    await store.write((tx) => tx.putIdempotency({ scopeKey: 'x', fingerprint: 'f', state: 'in_progress', owner: 'o', workerId: null, status: null, body: null, location: null, createdAtMs: 1, updatedAtMs: 1 }));
    const locked = await store.write((tx) => tx.lockIdempotency('x'));
    expect(locked).toMatchObject({ fingerprint: 'f', state: 'in_progress' });
    expect(await store.write((tx) => tx.purgeIdempotency(2, 10))).toBe(1);
    expect(await store.read((q) => q.getIdempotency('x'))).toBeUndefined();
  });

  it('a follower gets replay then live events, each once, with bounded pages', async () => {
    const log = new EventLog(store, { maxEvents: 3, maxBytes: 1 << 20 });
    const rtNoExec = runtimeOn(store, { executionEnabled: false });
    const id = await createWorker(rtNoExec);
    for (let i = 0; i < 10; i++) await rtNoExec.acceptInput(id, { kind: 'user', content: `r${i}`, onBusy: 'enqueue' });
    const got: number[] = [];
    const sink: LogSink = { deliver: (e) => (got.push(e.eventNo), true), ready: async () => undefined, end: () => undefined, closed: false };
    const pk = (await rt.getWorker(id))!.pk;
    const sub = await log.followWorker(pk, 4, sink);
    const live = Array.from({ length: 10 }, (_, i) => rtNoExec.acceptInput(id, { kind: 'user', content: `l${i}`, onBusy: 'enqueue' }));
    await Promise.all(live);
    await until(() => got.length >= 16);
    expect(got).toEqual(Array.from({ length: 16 }, (_, i) => i + 5));
    sub.close();
    log.close();
    expect(log.openFeeds).toBe(0);
  });

  it('live deltas go to caught-up followers in windows, each once and in order; a follower that joins mid-window skips what it read itself', async () => {
    const windowMs = 300;
    const log = new EventLog(store, { maxEvents: 3, maxBytes: 1 << 20 }, undefined, { ms: windowMs, mayWait: (e) => e.kind === 'message.delta' });
    const rtNoExec = runtimeOn(store, { executionEnabled: false });
    const id = await createWorker(rtNoExec);
    const pk = (await rt.getWorker(id))!.pk;
    const delta = () =>
      store.write(async (tx) => {
        const w = (await tx.lockWorkerByPk(pk))!;
        tx.appendEvent(w, { kind: 'message.delta', data: { delta: 'x' } }, Date.now());
        await tx.saveWorker(w);
      });
    const input = () => rtNoExec.acceptInput(id, { kind: 'user', content: 'in', onBusy: 'enqueue' });
    // A takes batches; B also delivers one by one while it catches up.
    const a: number[][] = [];
    const b: number[] = [];
    const batchSink = (into: (nos: number[]) => void): LogSink => ({
      deliver: (e) => (into([e.eventNo]), true),
      deliverBatch: (es) => (into(es.map((e) => e.eventNo)), true),
      ready: async () => undefined,
      end: () => undefined,
      closed: false,
    });
    const subA = await log.followWorker(pk, undefined, batchSink((nos) => a.push(nos)));
    await new Promise((r) => setTimeout(r, 50)); // A has read the (empty) rest of the log and is live

    await delta(); // after a quiet spell: at once
    await until(() => a.length === 1);
    await delta();
    await delta(); // within the window: they wait
    expect(a).toEqual([[1]]);
    await input(); // an event that may not wait takes the waiting ones with it
    await until(() => a.length === 2);
    expect(a).toEqual([[1], [2, 3, 4]]);

    await delta();
    await delta(); // 5 and 6 wait for the window
    const subB = await log.followWorker(pk, 4, batchSink((nos) => b.push(...nos)));
    await until(() => b.length === 2); // B read 5 and 6 from the log itself, then joined
    await until(() => a.length === 3); // the window ends: 5 and 6 go out
    await input();
    await until(() => a.length === 4 && b.length >= 3);
    await new Promise((r) => setTimeout(r, 50));
    expect(a).toEqual([[1], [2, 3, 4], [5, 6], [7]]);
    expect(b).toEqual([5, 6, 7]);
    subA.close();
    subB.close();
    log.close();
    expect(log.openFeeds).toBe(0);
  });

  it('a stream whose delivery throws is ended; the other streams still get the window', async () => {
    const errors: unknown[] = [];
    const log = new EventLog(store, { maxEvents: 3, maxBytes: 1 << 20 }, (err) => errors.push(err), { ms: 300, mayWait: (e) => e.kind === 'message.delta' });
    const rtNoExec = runtimeOn(store, { executionEnabled: false });
    const id = await createWorker(rtNoExec);
    const pk = (await rt.getWorker(id))!.pk;
    let ended = 0;
    const got: number[] = [];
    const throwing: LogSink = {
      deliver: () => true,
      deliverBatch: () => {
        throw new Error('sink failed');
      },
      ready: async () => undefined,
      end: () => void ended++,
      closed: false,
    };
    const fine: LogSink = { deliver: (e) => (got.push(e.eventNo), true), deliverBatch: (es) => (got.push(...es.map((e) => e.eventNo)), true), ready: async () => undefined, end: () => undefined, closed: false };
    const subA = await log.followWorker(pk, undefined, throwing);
    const subB = await log.followWorker(pk, undefined, fine);
    await new Promise((r) => setTimeout(r, 50)); // both are live, the throwing one first
    await rtNoExec.acceptInput(id, { kind: 'user', content: 'in', onBusy: 'enqueue' });
    await until(() => got.length >= 1);
    expect(got).toEqual([1]);
    expect(ended).toBe(1);
    expect(errors).toHaveLength(1);
    subB.close();
    subA.close();
    log.close();
    expect(log.openFeeds).toBe(0);
  });

  if (adapter.durable) {
    it('survives a reopen with workers, items, runs and events intact', async () => {
      const id = await createWorker(rt);
      const a = await rt.acceptInput(id, { kind: 'user', content: 'héllo 🌍', onBusy: 'enqueue' });
      await store.close();
      store = await open();
      rt = runtimeOn(store);
      expect((await rt.getRun(id, a!.run!.runId))!.state).toBe('queued');
      expect((await rt.readTranscript(id, 0, 5))!.items[0].content).toBe('héllo 🌍');
      expect((await rt.acceptInput(id, { kind: 'user', content: 'again', onBusy: 'enqueue' }))!.item.eventNo).toBe(3);
    });
  }
});

/**
 * A database written by v0 (schema v2: workers and transcript items) is
 * migrated in place: its workers, items and event numbers carry on.
 */
describe('migration from the v0 schema', () => {
  const seedV2 = (exec: (sql: string) => Promise<unknown> | unknown) => async (migrations: typeof SQLITE_MIGRATIONS) => {
    for (const m of migrations.filter((m) => m.version <= 2)) await exec(m.sql);
    await exec(`INSERT INTO wb_workers (worker_id, intent_json, role, profile_selector, requested_name, state, created_at_ms, last_seen_at_ms, transcript_length, next_event_no)
                VALUES ('embedded-worker-old', '{"kind":"workspace_companion"}', 'workspace_companion', 'runtime_default', NULL, 'running', 1000, 2000, 2, 3)`);
    await exec(`INSERT INTO wb_transcript_items (worker_id, sequence, role, content, event_no, created_at_ms) VALUES
                ('embedded-worker-old', 0, 'user', 'old one', 1, 1500), ('embedded-worker-old', 1, 'system', 'old two', 2, 1600)`);
  };

  async function checkMigrated(store: BackendStore): Promise<void> {
    const rt = runtimeOn(store, { executionEnabled: false });
    const w = (await rt.getWorker('embedded-worker-old'))!;
    expect(w).toMatchObject({ state: 'running', transcriptLength: 2, nextEventNo: 3, createdAtMs: 1000 });
    expect((await rt.readTranscript('embedded-worker-old', 0, 10))!.items.map((i) => [i.sequence, i.role, i.content, i.eventNo])).toEqual([
      [0, 'user', 'old one', 1],
      [1, 'system', 'old two', 2],
    ]);
    expect((await wholeLog(store, w.pk)).map((e) => [e.eventNo, e.kind])).toEqual([
      [0, 'worker.created'],
      [1, 'worker.input_accepted'],
      [2, 'worker.input_accepted'],
    ]);
    const next = await rt.acceptInput('embedded-worker-old', { kind: 'user', content: 'new', onBusy: 'enqueue' });
    expect(next!.item).toMatchObject({ sequence: 2, eventNo: 3 });
    expect((await rt.createWorker(COMPANION)).outcome).toBe('accepted');
    expect(await store.read((q) => q.lastGlobalSeq())).toBe(5);
  }

  it('on SQLite', async () => {
    const dir = makeTempDir('wb-migrate-');
    const file = join(dir, 'v0.sqlite3');
    const db = new Database(file);
    db.exec('CREATE TABLE wb_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    await seedV2((sql) => db.exec(sql))(SQLITE_MIGRATIONS);
    db.exec(`INSERT INTO wb_schema_migrations VALUES (1, 'v1', 'x'), (2, 'v2', 'x')`);
    db.close();
    const store = new SqliteBackendStore({ file, identity: file });
    await store.init();
    try {
      await checkMigrated(store);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Defined only where a Postgres server answers (global-setup fails the run under CI without one).
  if (PG_URL) it('on Postgres', async () => {
    const { url, drop } = await createPgSchema();
    const client = new Client({ connectionString: url });
    await client.connect();
    await client.query('CREATE TABLE wb_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    await seedV2((sql) => client.query(sql))(POSTGRES_MIGRATIONS);
    await client.query(`INSERT INTO wb_schema_migrations (version, name) VALUES (1, 'v1'), (2, 'v2')`);
    await client.end();
    const store = new PostgresBackendStore({ url, poolMax: 4, connectTimeoutMs: 5000, queryTimeoutMs: 10_000, startupTimeoutMs: 5000, idleInTransactionTimeoutMs: 3000, log: silent });
    await store.init();
    try {
      await checkMigrated(store);
    } finally {
      await store.close();
      await drop();
    }
  });
});
