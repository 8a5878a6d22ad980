import Fastify from 'fastify';
import { productHandlers } from './product-handlers';
import { reportReady } from './ready';

/**
 * The ceiling of the per-route comparison (issue 16): the product's own
 * handlers (product-handlers.ts) on a bare Fastify 5 app, the app's own
 * HTTP layer, without the pipeline. Same JSON bytes as the app. Reports
 * `{ port, workers, transcripts }` like app-server.ts (its own ids).
 */
async function main(): Promise<void> {
  const { app, handlers, workers, transcripts } = await productHandlers();
  const http = Fastify({ bodyLimit: 1024 * 1024 });
  for (const h of handlers) {
    http.route({
      method: h.method,
      url: h.path,
      handler: async (req, reply) => {
        const body = await h.run(req.params as Record<string, string>, req.query as Record<string, unknown>, req.body);
        return reply.code(h.status).type('application/json; charset=utf-8').send(JSON.stringify(body));
      },
    });
  }
  await http.listen({ port: 0, host: '127.0.0.1' });
  reportReady({ port: (http.server.address() as { port: number }).port, workers, transcripts });
  process.on('SIGTERM', () => void http.close().then(() => app.close()).then(() => process.exit(0)));
}

main().catch((err) => {
  process.stderr.write(`handlers-fastify: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
