import { join } from 'node:path';
import { rmSync } from 'node:fs';
import type { EmbeddedRuntimeStore, StoredWorker } from '../src/runtimes/embedded/store/embedded-runtime.store';
import { MemoryEmbeddedRuntimeStore } from '../src/runtimes/embedded/store/memory-runtime.store';
import { PostgresEmbeddedRuntimeStore } from '../src/runtimes/embedded/store/postgres-runtime.store';
import { SqliteEmbeddedRuntimeStore } from '../src/runtimes/embedded/store/sqlite-runtime.store';
import { createPgSchema, PG_URL } from './support/stores';
import { makeTempDir } from './support/test-app';

/**
 * One contract, every adapter: memory and SQLite always, Postgres against a
 * real server (global-setup makes CI fail when there is none).
 * `open()` returns a new store instance on the same underlying storage, so
 * durable adapters can be checked for what survives a reopen.
 */
interface Adapter {
  name: string;
  durable: boolean;
  setup(): Promise<{ open: () => EmbeddedRuntimeStore; cleanup: () => Promise<void> }>;
}

const adapters: Adapter[] = [
  {
    name: 'memory',
    durable: false,
    setup: async () => {
      const store = new MemoryEmbeddedRuntimeStore('contract');
      return { open: () => store, cleanup: async () => undefined };
    },
  },
  {
    name: 'sqlite',
    durable: true,
    setup: async () => {
      const dir = makeTempDir('wb-store-');
      return { open: () => new SqliteEmbeddedRuntimeStore(join(dir, 'nested', 'store.sqlite3')), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  ...(PG_URL
    ? [
        {
          name: 'postgres',
          durable: true,
          setup: async () => {
            const { url, drop } = await createPgSchema();
            return { open: () => new PostgresEmbeddedRuntimeStore(url), cleanup: drop };
          },
        },
      ]
    : []),
];

let n = 0;
function worker(overrides: Partial<StoredWorker> = {}): StoredWorker {
  n++;
  return {
    workerId: `embedded-worker-contract-${process.pid}-${n}`,
    intent: { kind: 'ticket_role', ticket_id: 'T-1', role: 'coder' },
    role: 'coder',
    profileSelector: 'builtin:coder',
    requestedName: null,
    state: 'running',
    createdAtMs: 1_700_000_000_000 + n,
    lastSeenAtMs: 1_700_000_000_000 + n,
    ...overrides,
  };
}

describe.each(adapters.map((a) => [a.name, a] as [string, Adapter]))('EmbeddedRuntimeStore contract: %s', (_name, adapter) => {
  let store: EmbeddedRuntimeStore;
  let open: () => EmbeddedRuntimeStore;
  let cleanup: () => Promise<void>;
  const opened: EmbeddedRuntimeStore[] = [];

  async function reopen(): Promise<EmbeddedRuntimeStore> {
    const s = open();
    await s.init();
    opened.push(s);
    return s;
  }

  beforeAll(async () => {
    ({ open, cleanup } = await adapter.setup());
    store = await reopen();
  });
  afterAll(async () => {
    for (const s of new Set(opened)) await s.close();
    await cleanup();
  });

  it('pings', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('inserts, gets, lists in creation order and counts workers', async () => {
    const before = await store.countWorkers();
    const a = worker({ requestedName: 'wish', intent: { kind: 'workspace_companion' }, role: 'workspace_companion', profileSelector: 'runtime_default' });
    const b = worker();
    await store.insertWorker(a);
    await store.insertWorker(b);
    expect(await store.getWorker(a.workerId)).toEqual(a);
    expect(await store.getWorker('embedded-worker-missing')).toBeUndefined();
    expect(await store.countWorkers()).toBe(before + 2);
    const listed = await store.listWorkers(1000);
    expect(listed.slice(-2)).toEqual([a, b]);
    expect(await store.listWorkers(1)).toHaveLength(1);
    // (better-sqlite3's error class comes from another realm, so match the message, not the class)
    await expect(store.insertWorker(a)).rejects.toMatchObject({ message: expect.stringMatching(/UNIQUE|duplicate/i) });
  });

  it('appends atomically: 200 concurrent appends get sequences 0..199 and distinct event numbers', async () => {
    const w = worker();
    await store.insertWorker(w);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.appendTranscriptItem(w.workerId, { role: i % 3 ? 'user' : 'system', content: `c${i}` }, 1_800_000_000_000 + i)));
    expect(results.map((r) => r!.sequence).sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(new Set(results.map((r) => r!.eventNo)).size).toBe(200);
    const page = await store.readTranscript(w.workerId, 0, 200);
    expect(page!.total).toBe(200);
    expect(page!.items.map((i) => i.sequence)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // each item is the one its append was told about
    for (const r of results) expect(page!.items[r!.sequence].eventNo).toBe(r!.eventNo);
    expect(new Set(page!.items.map((i) => i.content)).size).toBe(200);
    expect((await store.getWorker(w.workerId))!.lastSeenAtMs).toBeGreaterThanOrEqual(1_800_000_000_000);
  });

  it('pages at the edges and reports unknown workers as undefined', async () => {
    const w = worker();
    await store.insertWorker(w);
    expect(await store.readTranscript(w.workerId, 0, 50)).toEqual({ total: 0, items: [] });
    for (let i = 0; i < 5; i++) await store.appendTranscriptItem(w.workerId, { role: 'user', content: `m${i}` }, 1);
    expect((await store.readTranscript(w.workerId, 3, 50))!.items.map((i) => i.content)).toEqual(['m3', 'm4']);
    expect(await store.readTranscript(w.workerId, 5, 50)).toEqual({ total: 5, items: [] });
    expect(await store.readTranscript(w.workerId, 9_000_000_000, 50)).toEqual({ total: 5, items: [] });
    expect(await store.readTranscript('embedded-worker-missing', 0, 1)).toBeUndefined();
    expect(await store.appendTranscriptItem('embedded-worker-missing', { role: 'user', content: 'x' }, 1)).toBeUndefined();
  });

  it('keeps unicode, control characters and large contents exactly', async () => {
    const w = worker();
    await store.insertWorker(w);
    const contents = ['日本語 😀 é\u0301', 'tab\there\nnewline\r\n\u0001\u007f', "quote ' \" \\ backslash", 'x'.repeat(262_144)];
    for (const content of contents) await store.appendTranscriptItem(w.workerId, { role: 'user', content }, 1);
    expect((await store.readTranscript(w.workerId, 0, 10))!.items.map((i) => i.content)).toEqual(contents);
  });

  if (adapter.durable) {
    it('keeps workers and transcripts across a reopen, and continues sequences with no gap or reuse', async () => {
      const w = worker();
      await store.insertWorker(w);
      for (let i = 0; i < 3; i++) await store.appendTranscriptItem(w.workerId, { role: 'user', content: `before ${i}` }, 1);
      const first = await store.readTranscript(w.workerId, 0, 50);
      const again = await reopen();
      expect(await again.getWorker(w.workerId)).toEqual({ ...w, lastSeenAtMs: 1 });
      expect(await again.readTranscript(w.workerId, 0, 50)).toEqual(first);
      expect(await again.appendTranscriptItem(w.workerId, { role: 'user', content: 'after' }, 2)).toEqual({ sequence: 3, eventNo: 4 });
    });

    it('runs migrations once: opening the same storage again is a no-op', async () => {
      const a = await reopen();
      const b = await reopen();
      await expect(Promise.all([a.countWorkers(), b.countWorkers()])).resolves.toEqual([await store.countWorkers(), await store.countWorkers()]);
    });
  }
});
