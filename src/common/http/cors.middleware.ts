import vary from 'vary';
import type { Middleware } from './middleware-chain';
import { ApiError } from '../errors/api-error';

/** Request headers a browser client may send (SPEC §11). */
export const CORS_ALLOWED_HEADERS = 'Authorization, Content-Type, Last-Event-ID, Idempotency-Key, X-Request-Id';
/** Response headers a browser client may read. */
export const CORS_EXPOSED_HEADERS = 'Location, Retry-After, X-Request-Id, WWW-Authenticate, Allow, Idempotency-Replayed';
const CORS_METHODS = 'GET, POST, DELETE';

/**
 * CORS for an allow-list of origins (CORS_ORIGINS, default none): only those
 * get `Access-Control-Allow-Origin` (their own origin, never `*`), and their
 * preflights are answered 204 with the methods and headers a console needs.
 * A preflight from any other origin gets `403 forbidden` and no grant. Keys
 * travel in the Authorization header, so no credentials mode is needed.
 */
export function corsMiddleware(origins: readonly string[]): Middleware {
  const allowed = new Set(origins);
  return (req, res, next) => {
    if (allowed.size > 0) vary(res, 'Origin');
    const origin = req.headers.origin;
    const granted = origin !== undefined && allowed.has(origin);
    if (granted) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Expose-Headers', CORS_EXPOSED_HEADERS);
    }
    const preflight = req.method === 'OPTIONS' && origin !== undefined && req.headers['access-control-request-method'] !== undefined;
    if (!preflight) return next();
    if (!granted) return next(new ApiError(403, 'forbidden', 'This origin may not call this API (see CORS_ORIGINS)'));
    res.setHeader('Access-Control-Allow-Methods', CORS_METHODS);
    res.setHeader('Access-Control-Allow-Headers', CORS_ALLOWED_HEADERS);
    res.setHeader('Access-Control-Max-Age', '600');
    res.statusCode = 204;
    res.end();
  };
}
