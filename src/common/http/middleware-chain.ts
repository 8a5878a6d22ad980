import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * Runs Express middlewares in order as one router layer. Each layer of
 * Express's router costs a path match and a dispatch per request, whether
 * the middleware acts or not; the request pipeline's stages are always
 * mounted at `/` and in a fixed order, so one layer does (issue 16: the
 * router's layer walk was ~10% of a cheap GET). Same contract as Express:
 * `next(err)` skips to the error handling, a synchronous throw is an error.
 */
export function middlewareChain(handlers: readonly RequestHandler[]): RequestHandler {
  return (req: Request, res: Response, done: NextFunction) => {
    let index = 0;
    const next = (err?: unknown): void => {
      if (err !== undefined && err !== null) return done(err);
      const handler = handlers[index++];
      if (!handler) return done();
      try {
        const result = handler(req, res, next) as unknown;
        // Express 5 takes a rejected promise from a middleware as next(err).
        if (result instanceof Promise) result.catch(done);
      } catch (thrown) {
        done(thrown);
      }
    };
    next();
  };
}
