import type { Middleware } from './middleware-chain';
import { ApiError } from '../errors/api-error';
import { once } from '../memo/once';

interface RouteShape {
  pattern: RegExp;
  methods: Set<string>;
}

/**
 * SPEC §10: a known path with another method is `405 method_not_allowed` with
 * `Allow` (the router alone would answer 404). The routes come from the OpenAPI
 * document's paths, which list every route the app serves; they are asked for
 * when the first request the router did not match arrives (the document is
 * built lazily, see openapi.ts).
 */
export function methodNotAllowedMiddleware(pathsOf: () => Record<string, Record<string, unknown>>): Middleware {
  // Compiled once, at the first request that needs them (pathsOf remembers the document, this the patterns).
  const routesOf = once((): RouteShape[] =>
    Object.entries(pathsOf()).map(([template, operations]) => {
      const methods = new Set(Object.keys(operations).map((m) => m.toUpperCase()));
      if (methods.has('GET')) methods.add('HEAD');
      return { pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}/?$`), methods };
    }),
  );
  return (req, res, next) => {
    // The router matched a route for this method and path: the method is served here. Only a request it
    // did not match needs the table (a scan of every path, the stage's whole cost on a matched GET).
    if (req.route !== undefined) return next();
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) return next();
    const route = routesOf().find((r) => r.pattern.test(req.path));
    if (!route || route.methods.has(req.method ?? '')) return next();
    const allow = [...route.methods].join(', ');
    res.setHeader('Connection', 'close');
    next(new ApiError(405, 'method_not_allowed', `This route answers ${allow}`, { headers: { Allow: allow } }));
  };
}
