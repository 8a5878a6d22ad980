import helmet from 'helmet';
import type { Middleware } from './middleware-chain';

/**
 * The security headers of an API answer (JSON, never rendered as a page):
 * OWASP's REST set. No script, style or frame may come from a JSON body
 * opened in a browser tab, and no site may frame it. helmet's other headers
 * (cross-origin opener policy, DNS prefetch, download options, XSS auditor,
 * agent clusters …) govern HTML documents; an API answer does not carry
 * them: each header is bytes and header-handling work on every answer
 * (they were ~10% of a cheap GET's CPU, issue 16).
 * Also sent by the answers Node writes itself (http-server.ts).
 */
export const API_SECURITY_HEADERS: ReadonlyArray<[string, string]> = [
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['Referrer-Policy', 'no-referrer'],
  // The API is called cross-origin by allowed consoles (CORS decides who reads it).
  ['Cross-Origin-Resource-Policy', 'cross-origin'],
];

/** The OpenAPI explorer's page, assets and documents: the only answers of this server a browser renders. */
function isExplorerPath(path: string): boolean {
  return path === '/docs' || path.startsWith('/docs/') || path === '/docs-json' || path === '/docs-yaml';
}

/**
 * On the OpenAPI explorer and its assets, helmet's full set, with a
 * Content-Security-Policy the explorer works under: Swagger UI loads its own
 * scripts and styles from /docs, uses inline styles and data: images, and
 * calls the API on the same origin. Everywhere else API_SECURITY_HEADERS: on
 * /api, and on the JSON 404s and 400s outside it (`/`, `/favicon.ico`, a
 * target the router cannot decode), which are no pages either. Nothing else
 * may be loaded, and no site may frame any answer.
 */
export function securityHeaders(): Middleware {
  const explorer = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    frameguard: { action: 'deny' },
    // Local HTTP by default: HSTS would pin browsers to https for localhost.
    strictTransportSecurity: false,
  });
  return (req, res, next) => {
    if (isExplorerPath(req.path)) return explorer(req, res, next);
    for (const [name, value] of API_SECURITY_HEADERS) res.setHeader(name, value);
    next();
  };
}
