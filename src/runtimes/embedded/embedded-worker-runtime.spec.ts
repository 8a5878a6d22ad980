import { EmbeddedWorkerRuntime, resolveProfileSelector } from './embedded-worker-runtime';
import { MemoryEmbeddedRuntimeStore } from './store/memory-runtime.store';

const runAccepted = { kind: 'run_accepted' as const, expected_segments: 0 };

function runtime(maxWorkers = 100) {
  return new EmbeddedWorkerRuntime({ store: new MemoryEmbeddedRuntimeStore('unit'), maxWorkers, provider: { name: 'p', credential: 'secret-credential' } });
}

describe('EmbeddedWorkerRuntime', () => {
  it('resolves the profile fallback', () => {
    expect(resolveProfileSelector({ kind: 'ticket_role', ticket_id: 'T', role: 'reviewer' })).toEqual({ role: 'reviewer', profileSelector: 'builtin:reviewer' });
    expect(resolveProfileSelector({ kind: 'workspace_companion' })).toEqual({ role: 'workspace_companion', profileSelector: 'runtime_default' });
    expect(resolveProfileSelector({ kind: 'workspace_orchestrator' })).toEqual({ role: 'workspace_orchestrator', profileSelector: 'runtime_default' });
  });

  it('rejects socket_ready without creating anything', async () => {
    const rt = runtime();
    const result = await rt.createWorker({ intent: { kind: 'workspace_companion' }, acceptance: { kind: 'socket_ready' } });
    expect(result.outcome).toBe('rejected');
    expect(await rt.countWorkers()).toBe(0);
  });

  it('refuses to create past maxWorkers, even when creates race', async () => {
    const rt = runtime(5);
    const results = await Promise.all(Array.from({ length: 12 }, () => rt.createWorker({ intent: { kind: 'workspace_companion' }, acceptance: runAccepted })));
    expect(results.filter((r) => r.outcome === 'accepted')).toHaveLength(5);
    expect(results.filter((r) => r.outcome === 'rejected').every((r) => r.diagnostics.some((d) => d.code === 'embedded_worker_limit_reached'))).toBe(true);
    expect(await rt.countWorkers()).toBe(5);
  });

  it('appends inputs with consecutive sequences and event ids, and pages in O(limit)', async () => {
    const rt = runtime();
    const created = await rt.createWorker({ intent: { kind: 'workspace_companion' }, acceptance: runAccepted });
    if (created.outcome !== 'accepted') throw new Error('not accepted');
    const id = created.worker.workerId;
    const receipts = await Promise.all(Array.from({ length: 1000 }, (_, i) => rt.sendInput(id, { kind: i % 2 ? 'system' : 'user', content: `c${i}` })));
    expect(receipts.map((r) => r!.sequence)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(receipts[0]!.eventId).toBe('evt-1');
    const page = await rt.readTranscript(id, 998, 50);
    expect(page).toEqual({
      total: 1000,
      items: [
        { sequence: 998, role: 'user', content: 'c998', eventNo: 999 },
        { sequence: 999, role: 'system', content: 'c999', eventNo: 1000 },
      ],
    });
    expect(await rt.sendInput('nobody', { kind: 'user', content: 'x' })).toBeUndefined();
    expect(await rt.readTranscript('nobody', 0, 1)).toBeUndefined();
  });

  it('never puts the provider credential in what it returns or describes', async () => {
    const rt = runtime();
    const created = await rt.createWorker({ intent: { kind: 'workspace_companion' }, acceptance: runAccepted });
    expect(JSON.stringify(created)).not.toContain('secret-credential');
    expect(rt.describeProvider()).toBe('p (credential configured)');
  });
});
