import { Logger } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error';
import { EmbeddedWorkerRuntime } from './embedded/embedded-worker-runtime';
import { EmbeddedRuntimeSource } from './embedded/embedded-runtime.source';
import { MemoryEmbeddedRuntimeStore } from './embedded/store/memory-runtime.store';
import { RegistryService } from './registry.service';
import type { RuntimeSource, WorkerSummary } from './runtime-source';

function embeddedSource() {
  const runtime = new EmbeddedWorkerRuntime({ store: new MemoryEmbeddedRuntimeStore('unit'), maxWorkers: 3, provider: { name: 'p', credential: null } });
  return new EmbeddedRuntimeSource(runtime, 'ws');
}

/** A read-only source with one worker, like the local source but without disk. */
function readOnlySource(runtimeId: string, workerIds: string[] = []): RuntimeSource {
  const src = embeddedSource();
  const caps = { ...src.capabilities(), can_spawn_worker: false, can_accept_input: false, can_read_bounded_transcript: false };
  const worker = (id: string) => ({ worker_id: id, runtime_id: runtimeId }) as WorkerSummary;
  return {
    runtimeId,
    capabilities: () => caps,
    summary: async () => ({ ...(await src.summary()), runtime_id: runtimeId, host_ids: [`host-of-${runtimeId}`] }),
    listHosts: async () => ({ items: [], diagnostics: [] }),
    listWorkers: async ({ limit }) => ({ items: workerIds.slice(0, limit).map(worker), diagnostics: [] }),
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

describe('RegistryService', () => {
  beforeAll(() => Logger.overrideLogger(false)); // failures are logged on purpose here
  it('refuses duplicate or malformed runtime ids at construction', () => {
    expect(() => new RegistryService([readOnlySource('a'), readOnlySource('a')])).toThrow(/twice/);
    expect(() => new RegistryService([readOnlySource('a/b')])).toThrow(/not a valid identifier/);
  });

  it('routes by runtime id and never finds a worker under another runtime', async () => {
    const embedded = embeddedSource();
    const registry = new RegistryService([embedded, readOnlySource('other', ['w-1'])]);
    const spawn = await registry.spawnWorker('embedded-worker-runtime', { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: 0 } });
    const id = spawn.worker!.worker_id;
    await expect(registry.getWorker('embedded-worker-runtime', id)).resolves.toMatchObject({ worker_id: id });
    expect(await codeOf(registry.getWorker('other', id))).toBe('unknown_worker');
    expect(await codeOf(registry.getWorker('embedded-worker-runtime', 'w-1'))).toBe('unknown_worker');
    expect(await codeOf(registry.getWorker('missing', id))).toBe('unknown_runtime');
  });

  it('checks capability before the worker: 501 for a read-only source even for unknown workers', async () => {
    const registry = new RegistryService([readOnlySource('ro', ['w-1'])]);
    expect(await codeOf(registry.acceptInput('ro', 'nobody', { kind: 'user', content: 'x' }))).toBe('capability_unsupported');
    expect(await codeOf(registry.readTranscript('ro', 'w-1', { start: 0, limit: 1 }))).toBe('capability_unsupported');
    expect(await codeOf(registry.spawnWorker('ro', { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: 0 } }))).toBe(
      'capability_unsupported',
    );
  });

  it('maps a refused spawn to 422 rejected with its diagnostics', async () => {
    const registry = new RegistryService([embeddedSource()]);
    const spawn = registry.spawnWorker('embedded-worker-runtime', { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'socket_ready' } });
    await expect(spawn).rejects.toMatchObject({ body: { statusCode: 422, error: 'rejected', diagnostics: [expect.objectContaining({ code: 'embedded_socket_ready_unsupported' })] } });
  });

  it('aggregates worker lists in registration order, bounded by the limit', async () => {
    const registry = new RegistryService([readOnlySource('a', ['a1', 'a2']), readOnlySource('b', ['b1', 'b2', 'b3'])]);
    expect((await registry.listWorkers(3)).items.map((w) => w.worker_id)).toEqual(['a1', 'a2', 'b1']);
    expect((await registry.listWorkers(200)).items).toHaveLength(5);
  });

  it('isolates a failing source in aggregate lists and bounds diagnostics to 16', async () => {
    const failing: RuntimeSource = { ...readOnlySource('bad'), listWorkers: async () => Promise.reject(new Error('/secret/path')) };
    const noisy: RuntimeSource = {
      ...readOnlySource('noisy', ['n1']),
      listWorkers: async () => ({ items: [], diagnostics: Array.from({ length: 40 }, (_, i) => ({ code: `d${i}`, severity: 'info' as const, message: 'm' })) }),
    };
    const registry = new RegistryService([failing, noisy, readOnlySource('ok', ['o1'])]);
    const result = await registry.listWorkers(10);
    expect(result.items.map((w) => w.worker_id)).toEqual(['o1']);
    expect(result.diagnostics).toHaveLength(16);
    expect(result.diagnostics[0]).toEqual({ code: 'runtime_unavailable', severity: 'error', message: 'Runtime bad could not be read' });
    expect(result.diagnostics[15].code).toBe('diagnostics_truncated');
    expect(JSON.stringify(result)).not.toContain('/secret/path');
  });

  it('finds the owner of a host id, and unknown_host otherwise', async () => {
    const registry = new RegistryService([readOnlySource('a', ['a1']), readOnlySource('b', ['b1'])]);
    expect((await registry.listHostWorkers('host-of-b', 10)).items.map((w) => w.worker_id)).toEqual(['b1']);
    expect(await codeOf(registry.listHostWorkers('host-of-nobody', 10))).toBe('unknown_host');
  });

  it('gives a list version only when every source can tell (never caching what cannot be invalidated)', async () => {
    const embedded = embeddedSource();
    expect(await new RegistryService([embedded]).workersVersion()).toBe('embedded-worker-runtime=0');
    expect(await new RegistryService([embedded, readOnlySource('no-version')]).workersVersion()).toBeUndefined();
    const failing: RuntimeSource = { ...readOnlySource('v'), listVersion: () => Promise.reject(new Error('x')) };
    expect(await new RegistryService([failing]).workersVersion()).toBeUndefined();
  });
});
