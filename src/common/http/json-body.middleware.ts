import type { NextFunction, Request, RequestHandler, Response } from 'express';
import express from 'express';
import { ApiError } from '../errors/api-error';

export const MAX_BODY_BYTES = 1024 * 1024;
/** Deeper bodies are refused before validation: no DTO nests this deep, and deep input can exhaust the stack. */
export const MAX_BODY_DEPTH = 16;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/** Iterative, so a hostile body cannot overflow the stack while being checked. */
export function checkBodyShape(value: unknown): string | null {
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 1 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > MAX_BODY_DEPTH) return `body nests deeper than ${MAX_BODY_DEPTH} levels`;
    if (Array.isArray(v)) {
      for (const item of v) stack.push({ v: item, depth: depth + 1 });
    } else {
      for (const key of Object.keys(v)) {
        if (FORBIDDEN_KEYS.has(key)) return 'body contains a forbidden property name';
        stack.push({ v: (v as Record<string, unknown>)[key], depth: depth + 1 });
      }
    }
  }
  return null;
}

/**
 * Replaces Nest's default body parser (the app is created with
 * `bodyParser: false`) so that SPEC §6's first rules hold on every route:
 * a body over 1 MiB is 413 before parsing (by Content-Length, or as soon as the
 * stream passes the limit), a request whose body is not application/json is
 * 415, and invalid JSON is a 400 that does not quote the parser's message.
 */
export function jsonBodyMiddleware(): RequestHandler {
  const parse = express.json({ limit: MAX_BODY_BYTES, strict: true, type: () => true });
  return (req: Request, res: Response, next: NextFunction) => {
    if (!METHODS_WITH_BODY.has(req.method)) return next();
    const declared = Number(req.headers['content-length'] ?? 0);
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
      return next(new ApiError(413, 'payload_too_large', 'Request body exceeds 1 MiB'));
    }
    if (!req.is('application/json')) {
      return next(new ApiError(415, 'unsupported_media_type', 'Request body must be application/json'));
    }
    parse(req, res, (err?: unknown) => {
      if (err) return next(toBodyError(err));
      if (req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
        return next(ApiError.validationFailed([{ path: 'body', message: 'body must be a JSON object' }]));
      }
      const problem = checkBodyShape(req.body);
      if (problem) return next(ApiError.validationFailed([{ path: 'body', message: problem }]));
      next();
    });
  };
}

function toBodyError(err: unknown): ApiError {
  const type = (err as { type?: unknown }).type;
  switch (type) {
    case 'entity.too.large':
      return new ApiError(413, 'payload_too_large', 'Request body exceeds 1 MiB');
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return new ApiError(415, 'unsupported_media_type', 'Request body must be UTF-8 application/json');
    case 'entity.parse.failed':
      return ApiError.validationFailed([{ path: 'body', message: 'body is not valid JSON' }], 'Request body is not valid JSON');
    default:
      return ApiError.validationFailed([{ path: 'body', message: 'body could not be read' }], 'Request body could not be read');
  }
}
