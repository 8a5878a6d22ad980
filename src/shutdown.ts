import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import { drainHttpServer } from './common/http/http-server';
import { EventStreams } from './events/event-streams';
import { RunExecutor } from './execution/run-executor';
import { ShutdownState } from './health/shutdown-state';

/** At most this long for the streams' final events to be written out, within the grace. */
const STREAM_FLUSH_MS = 1000;

/**
 * SIGTERM (SPEC §13). One grace, `graceMs` from the signal, for requests and
 * runs alike:
 * 1. readiness turns false, and the listener closes: new connections are
 *    refused from here on;
 * 2. the executor stops claiming runs; running ones may finish within the
 *    grace, then are interrupted (their text kept);
 * 3. every event stream gets `stream.closing` and ends (new ones are 503);
 * 4. requests in flight finish — their writes are committed and answered in
 *    full, each with `Connection: close` — and idle connections close; at
 *    the end of the grace the remaining connections are destroyed;
 * 5. the app closes (its shutdown hooks find the runs already settled) and
 *    the store closes last.
 */
export async function shutdownGracefully(app: INestApplication, graceMs: number): Promise<void> {
  app.get(ShutdownState).shuttingDown = true;
  const server = app.getHttpServer() as Server;
  const drained = drainHttpServer(server, graceMs);
  const runsSettled = app.get(RunExecutor).stop(graceMs);
  await app.get(EventStreams).closeAll(Math.min(STREAM_FLUSH_MS, graceMs));
  await Promise.all([drained, runsSettled]);
  await app.close();
}
