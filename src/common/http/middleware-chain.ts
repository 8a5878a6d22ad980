import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../../auth/api-keys.service';

/**
 * A request as the pipeline sees it: Node's own, with what the stages add.
 * The stages run on Node's request and response (not on a framework's
 * wrappers), in one Fastify `onRequest` hook (app.factory.ts): after the
 * router has matched, before any body is read or any handler runs.
 */
export interface PipelineRequest extends IncomingMessage {
  /** The path the router matches (`routedPathOf`, request-target.middleware.ts): what the stages decide on. Set before the first stage. */
  path: string;
  /** The route the router matched (`/api/keys/:key_id`), undefined when none did: auth decides on it first. */
  route?: string;
  /** Set by requestIdMiddleware. */
  id?: string;
  /** Set by authMiddleware for /api routes. */
  auth?: Principal;
  /** Set by jsonBodyMiddleware on POST: the parsed JSON object, `{}` when there was no body. */
  body?: unknown;
}

/** The pipeline's view of a framework request (a FastifyRequest's `raw`): what the stages set on it, typed. */
export function pipelineRequestOf(request: { raw: IncomingMessage }): PipelineRequest {
  return request.raw as PipelineRequest;
}

export type NextFunction = (err?: unknown) => void;

/**
 * One stage: calls `next()` to go on, `next(err)` to answer with that error,
 * or ends `res` itself, synchronously (the hook checks as soon as the chain
 * returns; a stage that answered later would leave the request hanging).
 */
export type Middleware = (req: PipelineRequest, res: ServerResponse, next: NextFunction) => unknown;

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

/** Runs `stage` for the requests `applies` picks; the others go straight on. */
export function only(applies: (req: PipelineRequest) => boolean, stage: Middleware): Middleware {
  return (req, res, next) => (applies(req) ? stage(req, res, next) : next());
}
