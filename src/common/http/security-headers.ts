import type { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * helmet's headers on every response (nosniff, no framing, no referrer …),
 * with a Content-Security-Policy the OpenAPI explorer works under: Swagger
 * UI loads its own scripts and styles from /docs, uses inline styles and
 * data: images, and calls the API on the same origin. Nothing else may be
 * loaded, and no site may frame any page.
 */
export function securityHeaders(): RequestHandler {
  return helmet({
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
    // The API is called cross-origin by allowed consoles (CORS decides who reads it).
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    frameguard: { action: 'deny' },
    // Local HTTP by default: HSTS would pin browsers to https for localhost.
    strictTransportSecurity: false,
  });
}
