import type { INestApplication } from '@nestjs/common';
import { WorkerRuntime } from '../../src/runtimes/embedded/worker-runtime';

/** BENCH_SEED: what a bench server creates in-process before it reports ready (seeding 10^6 items over HTTP would dominate the run). */
interface Seed {
  workers?: number;
  transcripts?: number[];
  contentBytes?: number;
}

/**
 * Creates BENCH_SEED's `workers` idle embedded workers, then one worker per transcript length holding that many
 * user inputs; returns their ids.
 */
export async function seedApp(app: INestApplication): Promise<{ workers: string[]; transcripts: Record<string, string> }> {
  const seed: Seed = JSON.parse(process.env.BENCH_SEED ?? '{}');
  const runtime = app.get(WorkerRuntime);
  const intent = { intent: { kind: 'workspace_companion' as const }, acceptance: { kind: 'run_accepted' as const, expected_segments: 0 } };
  const create = async () => {
    const r = await runtime.createWorker(intent);
    if (r.outcome !== 'accepted') throw new Error('seed create failed');
    return r.worker.workerId;
  };
  const workers: string[] = [];
  for (let i = 0; i < (seed.workers ?? 0); i++) workers.push(await create());
  const transcripts: Record<string, string> = {};
  const bytes = seed.contentBytes ?? 100;
  for (const length of seed.transcripts ?? []) {
    const id = await create();
    // 64 inputs in flight: the store's group commit batches them (one SQLite commit per turn); order within the transcript is not asserted.
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(Number(process.env.BENCH_SEED_CONCURRENCY ?? 64), length) }, async () => {
        for (let i = next++; i < length; i = next++) await runtime.acceptInput(id, { kind: 'user', content: `${i}`.padStart(bytes, 'x'), onBusy: 'enqueue' });
      }),
    );
    transcripts[String(length)] = id;
  }
  return { workers, transcripts };
}
