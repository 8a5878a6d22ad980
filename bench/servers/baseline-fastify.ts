import Fastify from 'fastify';
import { readFileSync } from 'node:fs';
import { reportReady } from './ready';

/**
 * The same twin as baseline-express.ts on a bare Fastify 5 app: at the app's
 * own paths, the bytes the app answered there (BENCH_ROUTES_FILE, same
 * format). It measures the HTTP layer itself: Express's cost per request
 * against another framework's, on the same bytes (issue 16).
 */
interface Route {
  method: 'GET' | 'POST';
  path: string;
  status: number;
  body: string;
}

async function main(): Promise<void> {
  const routes: Route[] = JSON.parse(readFileSync(process.env.BENCH_ROUTES_FILE!, 'utf8'));
  const http = Fastify({ bodyLimit: 1024 * 1024 });
  for (const route of routes) {
    const bytes = Buffer.from(route.body, 'base64');
    http.route({ method: route.method, url: route.path, handler: (_req, reply) => reply.code(route.status).type('application/json; charset=utf-8').send(bytes) });
  }
  await http.listen({ port: 0, host: '127.0.0.1' });
  reportReady({ port: (http.server.address() as { port: number }).port });
  process.on('SIGTERM', () => void http.close().then(() => process.exit(0)));
}

main().catch((err) => {
  process.stderr.write(`baseline-fastify: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
