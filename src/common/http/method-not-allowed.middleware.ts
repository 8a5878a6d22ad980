import type { Middleware } from './middleware-chain';
import { ApiError } from '../errors/api-error';

interface RouteShape {
  pattern: RegExp;
  methods: Set<string>;
}

/**
 * SPEC §10: a known path with another method is `405 method_not_allowed` with
 * `Allow` (the router alone would answer 404). The routes come from the OpenAPI
 * document, which lists every route the app serves.
 */
export function methodNotAllowedMiddleware(paths: Record<string, Record<string, unknown>>): Middleware {
  const routes: RouteShape[] = Object.entries(paths).map(([template, operations]) => {
    const methods = new Set(Object.keys(operations).map((m) => m.toUpperCase()));
    if (methods.has('GET')) methods.add('HEAD');
    return { pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}/?$`), methods };
  });
  return (req, res, next) => {
    // The router matched a route for this method and path: the method is served here. Only a request it
    // did not match needs the table (a scan of every path, the stage's whole cost on a matched GET).
    if (req.route !== undefined) return next();
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) return next();
    const route = routes.find((r) => r.pattern.test(req.path));
    if (!route || route.methods.has(req.method ?? '')) return next();
    const allow = [...route.methods].join(', ');
    res.setHeader('Connection', 'close');
    next(new ApiError(405, 'method_not_allowed', `This route answers ${allow}`, { headers: { Allow: allow } }));
  };
}
