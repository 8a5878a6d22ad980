import express, { type Request, type Response } from 'express';
import { productHandlers } from './product-handlers';
import { reportReady } from './ready';

/**
 * The product's own handlers (product-handlers.ts) on a bare Express 5 app:
 * the HTTP-layer comparison in routes.ts (what the route's work costs on
 * Express, which the app ran on until issue 16). Reports
 * `{ port, workers, transcripts }` like app-server.ts (its own ids).
 */
async function main(): Promise<void> {
  const { app, handlers, workers, transcripts } = await productHandlers();
  const http = express();
  http.set('case sensitive routing', true);
  for (const h of handlers) {
    const handle = (req: Request, res: Response) => {
      h.run(req.params as Record<string, string>, req.query as Record<string, unknown>, req.body).then(
        (body) => res.status(h.status).json(body),
        () => res.status(500).end(),
      );
    };
    if (h.method === 'GET') http.get(h.path, handle);
    else http.post(h.path, express.json({ limit: '1mb' }), handle);
  }
  const server = http.listen(0, '127.0.0.1', () => reportReady({ port: (server.address() as { port: number }).port, workers, transcripts }));
  process.on('SIGTERM', () => server.close(() => void app.close().then(() => process.exit(0))));
}

main().catch((err) => {
  process.stderr.write(`handlers-express: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
