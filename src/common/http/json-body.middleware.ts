import bodyParser from 'body-parser';
import { isUtf8 } from 'node:buffer';
import typeIs from 'type-is';
import { continueIfAwaited } from './http-server';
import type { Middleware } from './middleware-chain';
import { ApiError } from '../errors/api-error';
import { boundMessage, checkValueBounds, INPUT_BOUNDS, type InputBounds, scanJsonBounds, type BoundViolation } from '../validation/input-bounds';

export const MAX_BODY_BYTES = 1024 * 1024;
/** Deeper bodies are refused before validation: no DTO nests this deep, and deep input can exhaust the stack. */
export const MAX_BODY_DEPTH = INPUT_BOUNDS.maxDepth;

/** The methods whose body is read; any other method's body is never looked at (app.factory.ts drops its Content-Type). */
export const METHODS_WITH_BODY: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);
const JSON_TYPE = ['application/json'];

/**
 * Checks a parsed body against the input bounds and the forbidden keys
 * (`__proto__`, `constructor`, `prototype`): the refusal's message, or null.
 * Iterative, so a hostile body cannot overflow the stack while being checked.
 */
export function checkBodyShape(value: unknown, bounds: InputBounds = INPUT_BOUNDS): string | null {
  const violation = checkValueBounds(value, bounds);
  return violation ? boundMessage(violation, 'body', bounds) : null;
}

/** Thrown from body-parser's `verify` hook; body-parser passes it on with our `type`. */
class BodyRefusal extends Error {
  constructor(
    readonly type: 'charset.unsupported' | 'entity.bounds.exceeded' | 'entity.utf8.invalid',
    readonly violation?: BoundViolation,
  ) {
    super(type);
  }
}

/**
 * Runs on the raw bytes, after the size limit and before JSON.parse: only
 * UTF-8 is read (RFC 8259 §8.1; the bounds scan relies on it), and a body
 * past the input bounds is refused without being parsed, because parsing
 * alone can take longer than the whole request may (SPEC §13).
 */
export function verifyBodyBytes(_req: unknown, _res: unknown, bytes: Buffer, encoding: string | null): void {
  if (encoding !== null && encoding !== 'utf-8' && encoding !== 'utf8') throw new BodyRefusal('charset.unsupported');
  // The decoder would turn invalid bytes into U+FFFD without a word: a body whose escape `\ud800` is a 400 must not pass as raw bytes.
  if (!isUtf8(bytes)) throw new BodyRefusal('entity.utf8.invalid');
  const violation = scanJsonBounds(bytes);
  if (violation) throw new BodyRefusal('entity.bounds.exceeded', violation);
}

/**
 * Replaces Nest's default body parser (the app is created with
 * `bodyParser: false`) and Fastify's own parsers (removed in
 * app.factory.ts), so that SPEC §6's first rules hold on every route:
 * a body over 1 MiB is 413 before parsing (by Content-Length, or as soon as the
 * stream passes the limit), a non-empty body that is not application/json
 * (or declares a charset other than UTF-8) is 415 (an empty one is `{}`),
 * so is a Content-Encoding other than gzip, deflate and br (those are
 * inflated, the 1 MiB counted after inflating),
 * bytes that are not valid UTF-8 are a 400, and invalid JSON is a 400 that
 * does not quote the parser's message. The body's shape is bounded twice: on the raw bytes
 * before JSON.parse (`verifyBodyBytes`), and on the parsed value
 * (`checkBodyShape`, which also refuses the forbidden keys).
 */
export function jsonBodyMiddleware(): Middleware {
  // Not strict: `null`, `1` or `"x"` is valid JSON, refused below as "must be a JSON object" rather than called invalid JSON.
  const parse = bodyParser.json({ limit: MAX_BODY_BYTES, strict: false, type: () => true, verify: verifyBodyBytes });
  return (req, res, next) => {
    if (!METHODS_WITH_BODY.has(req.method ?? '')) return next();
    const declared = Number(req.headers['content-length'] ?? 0);
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
      return next(new ApiError(413, 'payload_too_large', 'Request body exceeds 1 MiB'));
    }
    // No body at all (no Content-Length or 0, no Transfer-Encoding) and no other content type is `{}`:
    // stop and cancel take an empty body (SPEC §9); routes that need fields answer 400 for it.
    const contentType = req.headers['content-type'];
    // typeIs(req, …) answers false for a request without a body, so the header alone is matched here.
    if (req.headers['transfer-encoding'] === undefined && declared === 0 && (contentType === undefined || typeIs.is(contentType, JSON_TYPE))) {
      req.body = {};
      return next();
    }
    if (!typeIs(req, JSON_TYPE)) {
      return next(new ApiError(415, 'unsupported_media_type', 'Request body must be application/json'));
    }
    // Everything but the body is checked by now: a client holding its body back for a 100 may send it.
    continueIfAwaited(res);
    parse(req, res, (err?: unknown) => {
      if (err) return next(toBodyError(err));
      if (req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
        return next(ApiError.validationFailed([{ path: 'body', message: boundMessage('not_object', 'body') }]));
      }
      const problem = checkBodyShape(req.body);
      if (problem) return next(ApiError.validationFailed([{ path: 'body', message: problem }]));
      next();
    });
  };
}

function toBodyError(err: unknown): ApiError {
  if (err instanceof BodyRefusal && err.violation) {
    return ApiError.validationFailed([{ path: 'body', message: boundMessage(err.violation, 'body') }]);
  }
  const type = (err as { type?: unknown }).type;
  switch (type) {
    case 'entity.too.large':
      return new ApiError(413, 'payload_too_large', 'Request body exceeds 1 MiB');
    case 'charset.unsupported':
      return new ApiError(415, 'unsupported_media_type', 'Request body must be UTF-8 application/json');
    case 'encoding.unsupported':
      return new ApiError(415, 'unsupported_media_type', 'Content-Encoding must be identity, gzip, deflate or br');
    case 'entity.utf8.invalid':
      return ApiError.validationFailed([{ path: 'body', message: 'body is not valid UTF-8' }], 'Request body is not valid UTF-8');
    case 'entity.parse.failed':
      return ApiError.validationFailed([{ path: 'body', message: 'body is not valid JSON' }], 'Request body is not valid JSON');
    default:
      return ApiError.validationFailed([{ path: 'body', message: 'body could not be read' }], 'Request body could not be read');
  }
}
