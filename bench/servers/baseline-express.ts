import express from 'express';
import { readFileSync } from 'node:fs';
import { reportReady } from './ready';

/**
 * The framework floor: a bare Express 5 app answering, at the app's own
 * paths, the bytes the app answered there (captured by the runner just
 * before). BENCH_ROUTES_FILE is JSON: `[{ method, path, status, body }]`
 * (body in base64). GET routes send the bytes; POST routes parse the body
 * with `express.json()` first, then send theirs (e.g. a 202).
 */
interface Route {
  method: 'GET' | 'POST';
  path: string;
  status: number;
  body: string;
}

const routes: Route[] = JSON.parse(readFileSync(process.env.BENCH_ROUTES_FILE!, 'utf8'));
const app = express();
for (const route of routes) {
  const bytes = Buffer.from(route.body, 'base64');
  const send = (_req: express.Request, res: express.Response) => {
    res.status(route.status).type('application/json').send(bytes);
  };
  if (route.method === 'GET') app.get(route.path, send);
  else app.post(route.path, express.json({ limit: '1mb' }), send);
}
const server = app.listen(0, '127.0.0.1', () => reportReady({ port: (server.address() as { port: number }).port }));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
