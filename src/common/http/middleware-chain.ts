import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../../auth/api-keys.service';

/**
 * A request as the pipeline sees it: Node's own, with what the stages add.
 * The stages run on Node's request and response (not on a framework's
 * wrappers), in one Fastify `onRequest` hook (app.factory.ts), before
 * routing and before any body is read.
 */
export interface PipelineRequest extends IncomingMessage {
  /** The URL's path, without the query: what the stages match on. Set before the first stage. */
  path: string;
  /** Set by requestIdMiddleware. */
  id?: string;
  /** Set by authMiddleware for /api routes. */
  auth?: Principal;
  /** Set by jsonBodyMiddleware on POST: the parsed JSON object, `{}` when there was no body. */
  body?: unknown;
}

export type NextFunction = (err?: unknown) => void;

/** One stage: calls `next()` to go on, `next(err)` to answer with that error, or ends `res` itself. */
export type Middleware = (req: PipelineRequest, res: ServerResponse, next: NextFunction) => unknown;

/** The path of a request target (`/a/b?c` → `/a/b`); `*` and absolute forms pass as they are. */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

/**
 * Runs the stages in order as one. Same contract as Connect's: `next(err)`
 * skips the remaining stages and goes to `done(err)`, a synchronous throw
 * or a rejected promise is an error, and a stage that answers itself does
 * not call `next` at all.
 */
export function middlewareChain(handlers: readonly Middleware[]): Middleware {
  return (req, res, done) => {
    let index = 0;
    const next = (err?: unknown): void => {
      if (err !== undefined && err !== null) return done(err);
      const handler = handlers[index++];
      if (!handler) return done();
      try {
        const result = handler(req, res, next);
        if (result instanceof Promise) result.catch(done);
      } catch (thrown) {
        done(thrown);
      }
    };
    next();
  };
}
