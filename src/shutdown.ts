import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import { EventStreams } from './events/event-streams';
import { ShutdownState } from './health/shutdown-state';

/**
 * SIGTERM (SPEC §13): readiness turns false and no new connection is
 * accepted; every event stream gets `stream.closing` and ends; requests in
 * flight finish (their writes are committed and answered), bounded by
 * `graceMs`, after which the remaining connections are closed; then the app
 * closes: running runs get the same grace to finish (else they are marked
 * interrupted, their text kept), and the store closes last.
 */
export async function shutdownGracefully(app: INestApplication, graceMs: number): Promise<void> {
  app.get(ShutdownState).shuttingDown = true;
  const server = app.getHttpServer() as Server;
  const drained = new Promise<void>((resolve) => server.close(() => resolve()));
  await app.get(EventStreams).closeAll();
  // Idle keep-alive connections would hold close() open until their timeout.
  server.closeIdleConnections();
  const idleSweep = setInterval(() => server.closeIdleConnections(), 100);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  clearInterval(idleSweep);
  server.closeAllConnections();
  await app.close();
}
