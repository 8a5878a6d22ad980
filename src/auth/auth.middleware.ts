import { isApiPath } from '../common/http/api-path';
import type { Middleware } from '../common/http/middleware-chain';
import { isRepeatedHeader } from '../common/http/raw-headers';
import { ApiError } from '../common/errors/api-error';
import type { ApiKeys, Principal } from './api-keys.service';
import { ANONYMOUS_KEY_ID, BEARER_TOKEN_CHARACTERS, MAX_BEARER_TOKEN_LENGTH, type Scope, SCOPES } from './auth.constants';
import type { RateLimiter } from './rate-limiter';


/**
 * What anyone may call: the health routes, and everything outside /api (the
 * explorer). Decided on the matched route when there is one; a path under
 * /api that matches no route (`/api`, `/api/health/x`) needs a key too, so
 * an anonymous client learns nothing of it and no body is read for it.
 */
function isPublic(route: string | undefined, path: string): boolean {
  if (route !== undefined) return !isApiPath(route) || route === '/api/health' || route.startsWith('/api/health/');
  return !isApiPath(path);
}

/** SPEC §11: read for GET, write for create/input/cancel/stop, admin for delete and keys. */
export function scopeFor(method: string, path: string): Scope {
  if (path === '/api/keys' || path.startsWith('/api/keys/')) return 'admin';
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return 'read';
  if (method === 'DELETE') return 'admin';
  return 'write';
}

/** Each scope includes the ones below it: an admin key can read and write. */
const grants = (principal: Principal, needed: Scope) => principal.scopes.some((s) => SCOPES.indexOf(s) >= SCOPES.indexOf(needed));

const BEARER = new RegExp(`^Bearer +([${BEARER_TOKEN_CHARACTERS}]{1,${MAX_BEARER_TOKEN_LENGTH}})$`, 'i');

function unauthorized(message: string): ApiError {
  return new ApiError(401, 'unauthorized', message, { headers: { 'WWW-Authenticate': 'Bearer realm="workspace-backend"', Connection: 'close' } });
}

/**
 * Authentication, rate limit and scope, in SPEC §11's order (401, 429, 403),
 * before the body is read. The key is taken from the Authorization header
 * only: one in a query string is never looked at.
 */
export function authMiddleware(keys: ApiKeys, options: { disabled: boolean; rateLimit: { limiter: RateLimiter; perMinute: number } | null }): Middleware {
  return (req, res, next) => {
    if (isPublic(req.route, req.path)) return next();
    if (options.disabled) {
      req.auth = { keyId: ANONYMOUS_KEY_ID, scopes: ['admin'] };
      return next();
    }
    // Two keys would leave which one acts to the order Node reads them in (it keeps the first).
    if (isRepeatedHeader(req.rawHeaders, 'authorization')) return next(unauthorized('Send one Authorization header'));
    const match = BEARER.exec(req.headers.authorization ?? '');
    if (!match) return next(unauthorized('A valid API key is required: Authorization: Bearer <key>'));
    keys
      .authenticate(match[1])
      .then((principal) => {
        if (!principal) return next(unauthorized('The API key is not valid'));
        if (options.rateLimit) {
          const decision = options.rateLimit.limiter.take(principal.keyId);
          if (!decision.allowed) {
            res.setHeader('Connection', 'close');
            const { perMinute } = options.rateLimit;
            return next(new ApiError(429, 'rate_limited', `This key may make ${perMinute} requests per minute`, { headers: { 'Retry-After': String(decision.retryAfterSeconds) } }));
          }
        }
        // By the matched route when there is one (where the request goes, however it is spelled), else the router's path.
        const needed = scopeFor(req.method ?? '', req.route ?? req.path);
        if (!grants(principal, needed)) {
          res.setHeader('Connection', 'close');
          return next(new ApiError(403, 'forbidden', `This key lacks the ${needed} scope`));
        }
        req.auth = principal;
        next();
      })
      .catch(next);
  };
}
