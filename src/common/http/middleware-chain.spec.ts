import express, { type RequestHandler } from 'express';
import type { AddressInfo } from 'node:net';
import { middlewareChain } from './middleware-chain';

async function serve(handler: RequestHandler): Promise<{ get: (path: string) => Promise<{ status: number; body: string }>; close: () => Promise<void> }> {
  const app = express();
  app.use(handler);
  app.get('/ok', (req, res) => res.json({ seen: (req as unknown as { seen: string[] }).seen }));
  app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(418).json({ error: err.message }));
  const server = await new Promise<import('node:http').Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    get: async (path) => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: r.status, body: await r.text() };
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const mark =
  (name: string): RequestHandler =>
  (req, _res, next) => {
    const r = req as unknown as { seen?: string[] };
    (r.seen ??= []).push(name);
    next();
  };

describe('middlewareChain', () => {
  it('runs the middlewares in order, then the routes', async () => {
    const s = await serve(middlewareChain([mark('a'), mark('b'), mark('c')]));
    try {
      expect(await s.get('/ok')).toEqual({ status: 200, body: '{"seen":["a","b","c"]}' });
    } finally {
      await s.close();
    }
  });

  it('stops at next(err), a synchronous throw or a rejected promise, and hands the error on', async () => {
    const failing: Record<string, RequestHandler> = {
      next: (_req, _res, next) => next(new Error('by next')),
      throw: () => {
        throw new Error('thrown');
      },
      reject: (async () => {
        throw new Error('rejected');
      }) as RequestHandler,
    };
    for (const [name, handler] of Object.entries(failing)) {
      const after = jest.fn<void, Parameters<RequestHandler>>((_req, _res, next) => next());
      const s = await serve(middlewareChain([mark('a'), handler, after as unknown as RequestHandler]));
      try {
        const r = await s.get('/ok');
        expect({ name, status: r.status }).toEqual({ name, status: 418 });
        expect(after).not.toHaveBeenCalled();
      } finally {
        await s.close();
      }
    }
  });

  it('lets a middleware answer without calling next', async () => {
    const s = await serve(middlewareChain([(_req, res) => void res.status(403).json({ error: 'no' }), mark('never')]));
    try {
      expect(await s.get('/ok')).toEqual({ status: 403, body: '{"error":"no"}' });
    } finally {
      await s.close();
    }
  });
});
