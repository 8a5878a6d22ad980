import 'reflect-metadata';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createApp } from '../../src/app.factory';
import { loadAppConfig } from '../../src/config/app-config';
import { EventStreams } from '../../src/events/event-streams';
import { reportReady, serveStats } from './ready';
import { seedApp } from './seed';

/**
 * The real application for the benchmarks, in its own process, listening on
 * an ephemeral loopback port, built by `createApp` exactly as `main.ts` builds
 * it (configuration from the environment: API_KEY, RUNTIME_STORE_URL,
 * MODEL_PROVIDER, …). Bench-only additions, none of them a route of the app:
 *
 * - BENCH_SEED (JSON) creates workers and transcripts in-process before it
 *   reports ready (seeding 10^6 items over HTTP would dominate the run);
 * - BENCH_APP_LOG=error keeps only error lines (default: the app's own
 *   levels, access log included, as `npm start` runs it);
 * - BENCH_STATS=1 samples the event-loop delay (monitorEventLoopDelay, 1 ms
 *   resolution) and peak RSS, and answers `stats` requests on the IPC
 *   channel: lag percentiles, process.cpuUsage(), RSS, heap, open event
 *   streams, open connections. A side channel: it adds nothing to the HTTP surface.
 *
 * It reports `{ port, workers, transcripts }` once listening (see ready.ts).
 */
async function main(): Promise<void> {
  const logLevels = process.env.BENCH_APP_LOG === 'error' ? { logLevels: ['error' as const] } : {};
  const app = await createApp(loadAppConfig(process.env), logLevels);
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as { port: number }).port;
  const { workers, transcripts } = await seedApp(app);

  if (process.env.BENCH_STATS === '1') {
    const streams = app.get(EventStreams);
    const lag = monitorEventLoopDelay({ resolution: 1 });
    lag.enable();
    let peakRss = process.memoryUsage.rss();
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 50);
    sampler.unref();
    const server = app.getHttpServer() as import('node:http').Server;
    serveStats(async ({ reset }) => {
      const connections = await new Promise<number>((resolve) => server.getConnections((err, n) => resolve(err ? -1 : n)));
      const rss = process.memoryUsage.rss();
      peakRss = Math.max(peakRss, rss);
      const out = {
        lag: { p50: lag.percentile(50) / 1e6, p99: lag.percentile(99) / 1e6, max: lag.max / 1e6, mean: lag.mean / 1e6, count: lag.count },
        cpu: process.cpuUsage(),
        rss,
        peakRss,
        heapUsed: process.memoryUsage().heapUsed,
        streams: streams.count,
        connections,
        at: Date.now(),
      };
      if (reset) {
        lag.reset();
        peakRss = rss;
      }
      return out;
    });
  }

  reportReady({ port, workers, transcripts });
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

main().catch((err) => {
  process.stderr.write(`app-server: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
