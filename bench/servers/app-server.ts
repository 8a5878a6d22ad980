import 'reflect-metadata';
import { createApp } from '../../src/app.factory';
import { loadAppConfig } from '../../src/config/app-config';
import { WorkerRuntime } from '../../src/runtimes/embedded/worker-runtime';

/**
 * The real application for the benchmarks, in its own process, listening on
 * an ephemeral loopback port. BENCH_SEED (JSON) creates workers and
 * transcripts in-process before it reports ready (seeding 10^6 items over
 * HTTP would dominate the run); it prints one JSON line: port and ids.
 */
interface Seed {
  workers?: number;
  transcripts?: number[];
  contentBytes?: number;
}

async function main(): Promise<void> {
  const seed: Seed = JSON.parse(process.env.BENCH_SEED ?? '{}');
  const app = await createApp(loadAppConfig(process.env), { logLevels: ['error'] });
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as { port: number }).port;
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
    for (let i = 0; i < length; i++) await runtime.acceptInput(id, { kind: 'user', content: `${i}`.padStart(bytes, 'x'), onBusy: 'enqueue' });
    transcripts[String(length)] = id;
  }
  process.stdout.write(`${JSON.stringify({ port, workers, transcripts })}\n`);
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

void main();
