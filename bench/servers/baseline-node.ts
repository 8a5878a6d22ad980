import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

/** The limit for Node: a bare node:http server answering precomputed bytes. */
const body = readFileSync(process.env.BENCH_BODY_FILE!);
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
