import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { reportReady } from './ready';

/** The limit for Node: a bare node:http server answering precomputed bytes (BENCH_BODY_FILE) on any path. */
const body = readFileSync(process.env.BENCH_BODY_FILE!);
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => reportReady({ port: (server.address() as { port: number }).port }));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
