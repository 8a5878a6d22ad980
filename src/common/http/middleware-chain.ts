import { safeDecodeURI } from 'find-my-way/lib/url-sanitizer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../../auth/api-keys.service';

/**
 * A request as the pipeline sees it: Node's own, with what the stages add.
 * The stages run on Node's request and response (not on a framework's
 * wrappers), in one Fastify `onRequest` hook (app.factory.ts), before
 * routing and before any body is read.
 */
export interface PipelineRequest extends IncomingMessage {
  /** The path the router matches (see {@link routedPathOf}): what the stages decide on. Set before the first stage. */
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

export type NextFunction = (err?: unknown) => void;

/** One stage: calls `next()` to go on, `next(err)` to answer with that error, or ends `res` itself. */
export type Middleware = (req: PipelineRequest, res: ServerResponse, next: NextFunction) => unknown;

/**
 * The path the router matches for a request target, or null when the
 * target is not one the stages may decide on: a check keyed on a path must
 * see exactly what routing sees, or `/%61pi/keys` (the router decodes it to
 * `/api/keys`), `http://x/api/keys` (it strips the authority) or
 * `/api/keys#` would pass `/api/…` checks and still reach the route. So it
 * is the router's own sanitiser (find-my-way's, the version Fastify uses):
 * the path before `?` or `#`, percent-decoded but for reserved characters.
 * An absolute-form, undecodable or fragment-carrying target is null and is
 * refused (400). `;` is not a delimiter, as for the router (its
 * `useSemicolonDelimiter` is left off in app.factory.ts);
 * `*` (OPTIONS *) stays `*`.
 */
export function routedPathOf(url: string): string | null {
  if (url === '*') return url;
  if (url.charCodeAt(0) !== 47) return null; // not origin-form: absolute-form, or nonsense
  // A fragment never belongs in a request target; the router would hand what follows `#` to the handler as the query.
  if (url.includes('#')) return null;
  try {
    return safeDecodeURI(url, false).path;
  } catch {
    return null;
  }
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
