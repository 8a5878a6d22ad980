import express from 'express';
import { readFileSync } from 'node:fs';

/** The framework floor: a bare Express 5 app answering the same precomputed bytes. */
const body = readFileSync(process.env.BENCH_BODY_FILE!);
const app = express();
app.get('/api/workers', (_req, res) => {
  res.type('application/json').send(body);
});
const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
