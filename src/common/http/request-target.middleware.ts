import { safeDecodeURI } from 'find-my-way/lib/url-sanitizer';
import { ApiError } from '../errors/api-error';
import type { Middleware } from './middleware-chain';

/** The path given to a target the router cannot route (absolute-form, undecodable, with a fragment): it matches no check. */
export const UNROUTABLE_PATH = '';

/**
 * The path the router matches for a request target, or UNROUTABLE_PATH when
 * the target is not one the stages may decide on. A check keyed on a path
 * must see exactly what routing sees, or `/%61pi/keys` (the router decodes
 * it to `/api/keys`), `http://x/api/keys` (it strips the authority) or
 * `/api/keys#` would pass `/api/…` checks and still reach the route. So it
 * is the router's own sanitiser (find-my-way's; one copy, shared with
 * Fastify: a unit test checks it): the path before `?`, percent-decoded but
 * for reserved characters. `;` is not a delimiter, as for the router
 * (its `useSemicolonDelimiter` is off, see app.factory.ts). An absolute-form,
 * undecodable or fragment-carrying target is refused with a 400
 * ({@link refuseUnroutableTargets}); `*` (OPTIONS *) stays `*`.
 */
export function routedPathOf(url: string): string {
  if (url === '*') return url;
  if (url.charCodeAt(0) !== 47) return UNROUTABLE_PATH; // not origin-form: absolute-form, or nonsense
  // A fragment never belongs in a request target; the router would hand what follows `#` to the handler as the query.
  if (url.includes('#')) return UNROUTABLE_PATH;
  try {
    return safeDecodeURI(url, false).path;
  } catch {
    return UNROUTABLE_PATH;
  }
}

/** `400 validation_failed` for a target the router cannot route; mounted after the host check. */
export function refuseUnroutableTargets(): Middleware {
  return (req, _res, next) => {
    if (req.path !== UNROUTABLE_PATH) return next();
    next(new ApiError(400, 'validation_failed', 'The request target must be a path (origin-form) with valid percent-encoding'));
  };
}
