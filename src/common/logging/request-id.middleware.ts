import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A client's `X-Request-Id` is kept only if it matches this; otherwise one is generated. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const REQUEST_ID_HEADER = 'x-request-id';

/** The id `req` already has (`req.id`, set by {@link requestIdMiddleware}), else a valid `X-Request-Id`, else a new UUID. */
export function resolveRequestId(req: IncomingMessage): string {
  const current = (req as { id?: unknown }).id;
  if ((typeof current === 'string' || typeof current === 'number') && REQUEST_ID_PATTERN.test(String(current))) return String(current);
  const header = req.headers[REQUEST_ID_HEADER];
  if (typeof header === 'string' && REQUEST_ID_PATTERN.test(header)) return header;
  return randomUUID();
}

/**
 * Gives every request an id: `req.id` and the `X-Request-Id` response
 * header. Mount it first, before the access log, so both use the same id.
 */
export function requestIdMiddleware(): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (req, res, next) => {
    const id = resolveRequestId(req);
    (req as { id?: unknown }).id = id;
    res.setHeader('X-Request-Id', id);
    next();
  };
}
