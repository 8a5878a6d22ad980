import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Middleware, middlewareChain, type PipelineRequest } from './middleware-chain';
import { routedPathOf } from './request-target.middleware';

/** A plain Node server running the chain, then a route answering what the stages saw; errors are 418. */
async function serve(chain: Middleware): Promise<{ get: (path: string) => Promise<{ status: number; body: string }>; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const r = req as PipelineRequest;
    r.path = routedPathOf(req.url ?? '/');
    chain(r, res, (err) => {
      res.setHeader('content-type', 'application/json');
      if (err) {
        res.statusCode = 418;
        return void res.end(JSON.stringify({ error: (err as Error).message }));
      }
      res.end(JSON.stringify({ seen: (req as unknown as { seen: string[] }).seen }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
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
  (name: string): Middleware =>
  (req, _res, next) => {
    const r = req as unknown as { seen?: string[] };
    (r.seen ??= []).push(name);
    next();
  };

describe('middlewareChain', () => {
  it('runs the middlewares in order, then what follows', async () => {
    const s = await serve(middlewareChain([mark('a'), mark('b'), mark('c')]));
    try {
      expect(await s.get('/ok')).toEqual({ status: 200, body: '{"seen":["a","b","c"]}' });
    } finally {
      await s.close();
    }
  });

  it('stops at next(err), a synchronous throw or a rejected promise, and hands the error on', async () => {
    const failing: Record<string, Middleware> = {
      next: (_req, _res, next) => next(new Error('by next')),
      throw: () => {
        throw new Error('thrown');
      },
      reject: async () => {
        throw new Error('rejected');
      },
    };
    for (const [name, handler] of Object.entries(failing)) {
      const after = jest.fn<void, Parameters<Middleware>>((_req, _res, next) => next());
      const s = await serve(middlewareChain([mark('a'), handler, after]));
      try {
        const r = await s.get('/ok');
        expect({ name, status: r.status, body: r.body }).toEqual({ name, status: 418, body: JSON.stringify({ error: (name === 'next' ? 'by next' : name === 'throw' ? 'thrown' : 'rejected') }) });
        expect(after).not.toHaveBeenCalled();
      } finally {
        await s.close();
      }
    }
  });

  it('lets a middleware answer without calling next', async () => {
    const s = await serve(
      middlewareChain([
        (_req, res) => {
          res.statusCode = 403;
          res.end('{"error":"no"}');
        },
        mark('never'),
      ]),
    );
    try {
      expect(await s.get('/ok')).toEqual({ status: 403, body: '{"error":"no"}' });
    } finally {
      await s.close();
    }
  });
});
