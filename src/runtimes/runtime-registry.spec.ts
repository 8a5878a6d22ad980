import { Logger } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error';
import { CursorCodec } from '../common/paging/cursor-codec';
import { SqliteBackendStore } from '../store/sqlite/sqlite-backend.store';
import { EmbeddedSource } from './embedded/embedded.source';
import { EventLog } from './embedded/event-log';
import { WorkerRuntime } from './embedded/worker-runtime';
import { RuntimeRegistry } from './runtime-registry';
import type { RuntimeSource, WorkerRecord } from './runtime-source';

const codec = new CursorCodec(Buffer.alloc(32, 7));
const stores: SqliteBackendStore[] = [];

async function embeddedSource(): Promise<EmbeddedSource> {
  const store = new SqliteBackendStore({ file: null, identity: 'memory:unit' });
  await store.init();
  stores.push(store);
  const runtime = new WorkerRuntime({ store, maxWorkers: 3, executionEnabled: false, queueLimit: 32 });
  return new EmbeddedSource(runtime, new EventLog(store, { maxEvents: 8, maxBytes: 65536 }), 'ws');
}

/** A read-only source with fixed workers, like the local source but without disk. Positions are indexes. */
async function readOnlySource(runtimeId: string, workerIds: string[] = []): Promise<RuntimeSource> {
  const src = await embeddedSource();
  const caps = { ...src.capabilities(), canSpawnWorker: false, canAcceptInput: false, canReadBoundedTranscript: false };
  const worker = (id: string) => ({ workerId: id, runtimeId }) as WorkerRecord;
  return {
    runtimeId,
    capabilities: () => caps,
    summary: async () => ({ ...(await src.summary()), runtimeId, hostIds: [`host-of-${runtimeId}`] }),
    listHosts: async () => ({ items: [], diagnostics: [] }),
    listWorkers: async ({ limit, after }) => {
      const start = after === undefined ? 0 : Number(after);
      const items = workerIds.slice(start, start + limit).map(worker);
      return { items, diagnostics: [], next: start + items.length < workerIds.length ? String(start + items.length) : null };
    },
    getWorker: async (id) => (workerIds.includes(id) ? worker(id) : undefined),
  };
}

const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof ApiError ? err.body.error : 'not-an-api-error';
  }
};

const registryOf = (sources: RuntimeSource[]) => new RuntimeRegistry(sources, codec);

describe('RuntimeRegistry', () => {
  beforeAll(() => Logger.overrideLogger(false)); // failures are logged on purpose here
  afterAll(async () => {
    for (const s of stores) await s.close();
  });

  it('refuses duplicate or malformed runtime ids at construction', async () => {
    const a = await readOnlySource('a');
    expect(() => registryOf([a, a])).toThrow(/twice/);
    const bad = await readOnlySource('a/b');
    expect(() => registryOf([bad])).toThrow(/not a valid identifier/);
  });

  it('routes by runtime id and never finds a worker under another runtime', async () => {
    const registry = registryOf([await embeddedSource(), await readOnlySource('other', ['w-1'])]);
    const spawn = await registry.spawnWorker('embedded-worker-runtime', { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: 0 } });
    const id = spawn.worker!.workerId;
    await expect(registry.getWorker('embedded-worker-runtime', id)).resolves.toMatchObject({ workerId: id });
    expect(await codeOf(registry.getWorker('other', id))).toBe('unknown_worker');
    expect(await codeOf(registry.getWorker('embedded-worker-runtime', 'w-1'))).toBe('unknown_worker');
    expect(await codeOf(registry.getWorker('missing', id))).toBe('unknown_runtime');
  });

  it('checks capability before the worker: 501 for a read-only source even for unknown workers', async () => {
    const registry = registryOf([await readOnlySource('ro', ['w-1'])]);
    expect(await codeOf(registry.acceptInput('ro', 'nobody', { kind: 'user', content: 'x', onBusy: 'enqueue' }))).toBe('capability_unsupported');
    expect(await codeOf(registry.readTranscript('ro', 'w-1', { start: 0, limit: 1 }))).toBe('capability_unsupported');
    expect(await codeOf(registry.spawnWorker('ro', { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: 0 } }))).toBe('capability_unsupported');
  });

  it('maps a refused spawn to 422 rejected with its diagnostics', async () => {
    const registry = registryOf([await embeddedSource()]);
    const spawn = registry.spawnWorker('embedded-worker-runtime', { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'socket_ready' } });
    await expect(spawn).rejects.toMatchObject({ body: { statusCode: 422, error: 'rejected', diagnostics: [expect.objectContaining({ code: 'embedded_socket_ready_unsupported' })] } });
  });

  it('pages /api/workers through every runtime in registration order, across runtime boundaries', async () => {
    const registry = registryOf([await readOnlySource('a', ['a1', 'a2']), await readOnlySource('b', ['b1', 'b2', 'b3'])]);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await registry.listWorkers({ limit: 2, cursor });
      seen.push(...page.items.map((w) => w.workerId));
      cursor = page.next ?? undefined;
      pages++;
    } while (cursor);
    expect(seen).toEqual(['a1', 'a2', 'b1', 'b2', 'b3']);
    expect(pages).toBe(3);
    expect((await registry.listWorkers({ limit: 200 })).items).toHaveLength(5);
  });

  it('asks each runtime at most once per /api/workers page: a short page with a cursor ends the page there', async () => {
    // Like the local source over entries without records: every call does one bounded
    // scan and answers at most one worker, with a position to go on from.
    const workerIds = ['s1', 's2', 's3', 's4', 's5'];
    const sparse = await readOnlySource('sparse', workerIds);
    let calls = 0;
    const counted: RuntimeSource = {
      ...sparse,
      listWorkers: async (page) => {
        calls++;
        return sparse.listWorkers({ ...page, limit: 1 });
      },
    };
    const registry = registryOf([await readOnlySource('a', ['a1']), counted, await readOnlySource('c', ['c1'])]);
    const first = await registry.listWorkers({ limit: 200 });
    expect(first.items.map((w) => w.workerId)).toEqual(['a1', 's1']);
    expect(first.next).toEqual(expect.any(String));
    expect(calls).toBe(1);
    const seen = [...first.items.map((w) => w.workerId)];
    let cursor = first.next ?? undefined;
    let pages = 1;
    while (cursor) {
      calls = 0;
      const page = await registry.listWorkers({ limit: 200, cursor });
      expect(calls).toBeLessThanOrEqual(1);
      seen.push(...page.items.map((w) => w.workerId));
      cursor = page.next ?? undefined;
      pages++;
    }
    // Every worker once, in order; the sparse runtime's last page (next: null) lets the page go on to c.
    expect(seen).toEqual(['a1', ...workerIds, 'c1']);
    expect(pages).toBe(5);
  });

  it('refuses cursors that were edited, forged or issued by another list', async () => {
    const registry = registryOf([await readOnlySource('a', ['a1', 'a2', 'a3'])]);
    const next = (await registry.listWorkers({ limit: 1 })).next!;
    const [body, mac] = next.split('.');
    const edited = `${Buffer.from(JSON.stringify({ r: 0, a: '2' })).toString('base64url')}.${mac}`;
    expect(await codeOf(registry.listWorkers({ limit: 1, cursor: edited }))).toBe('invalid_cursor');
    expect(await codeOf(registry.listWorkers({ limit: 1, cursor: `${body}.AAAAAAAAAAAAAAAAAAAAAA` }))).toBe('invalid_cursor');
    expect(await codeOf(registry.listRuntimes({ limit: 1, cursor: next }))).toBe('invalid_cursor');
    expect(await codeOf(registry.listWorkers({ limit: 1, cursor: next }))).toBe('ok');
    // The cursor is checked before the runtime: 400 wins over 404 (SPEC §6).
    expect(await codeOf(registry.listRuntimeWorkers('missing', { limit: 1, cursor: next }))).toBe('invalid_cursor');
  });

  it('isolates a failing source in aggregate lists and bounds diagnostics to 16', async () => {
    const failing: RuntimeSource = { ...(await readOnlySource('bad')), listWorkers: async () => Promise.reject(new Error('/secret/path')) };
    const noisy: RuntimeSource = {
      ...(await readOnlySource('noisy', ['n1'])),
      listWorkers: async () => ({ items: [], next: null, diagnostics: Array.from({ length: 40 }, (_, i) => ({ code: `d${i}`, severity: 'info' as const, message: 'm' })) }),
    };
    const registry = registryOf([failing, noisy, await readOnlySource('ok', ['o1'])]);
    const result = await registry.listWorkers({ limit: 10 });
    expect(result.items.map((w) => w.workerId)).toEqual(['o1']);
    expect(result.diagnostics).toHaveLength(16);
    expect(result.diagnostics[0]).toEqual({ code: 'runtime_unavailable', severity: 'error', message: 'Runtime bad could not be read' });
    expect(result.diagnostics[15].code).toBe('diagnostics_truncated');
    expect(JSON.stringify(result)).not.toContain('/secret/path');
  });

  it('finds the owner of a host id, and unknown_host otherwise', async () => {
    const registry = registryOf([await readOnlySource('a', ['a1']), await readOnlySource('b', ['b1'])]);
    expect((await registry.listHostWorkers('host-of-b', { limit: 10 })).items.map((w) => w.workerId)).toEqual(['b1']);
    expect(await codeOf(registry.listHostWorkers('host-of-nobody', { limit: 10 }))).toBe('unknown_host');
  });
});
