import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { RuntimeSourceError } from '../../runtimes/runtime-source.errors';
import { StoreUnavailableError } from '../../store/backend-store';
import { ApiError, type ApiErrorCode, type ErrorBody } from '../errors/api-error';
import { sendJson } from '../serialization/send-json';

/** Codes and fixed messages for HttpExceptions raised outside our code (Nest, Fastify, guards). */
const FRAMEWORK_ERRORS: Record<number, { code: ApiErrorCode; message: string }> = {
  400: { code: 'validation_failed', message: 'Request validation failed' },
  401: { code: 'unauthorized', message: 'A valid API key is required (Authorization: Bearer <key>)' },
  // Our own 403s (scope, origin) are ApiErrors with their reason; this one comes from the framework (a static file path it refuses).
  403: { code: 'forbidden', message: 'This request is not allowed' },
  404: { code: 'not_found', message: 'No route matches this method and path' },
  405: { code: 'method_not_allowed', message: 'Method not allowed on this route' },
  413: { code: 'payload_too_large', message: 'Request body exceeds 1 MiB' },
  415: { code: 'unsupported_media_type', message: 'Request body must be application/json' },
  429: { code: 'rate_limited', message: 'Too many requests; retry later' },
  431: { code: 'headers_too_large', message: 'Request headers are too large' },
  503: { code: 'service_unavailable', message: 'The service cannot answer right now; retry later' },
};

export const GENERIC_500 = { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, error: 'internal_error', message: 'Internal server error' } as const;

const STORE_UNAVAILABLE_503 = { statusCode: HttpStatus.SERVICE_UNAVAILABLE, error: 'store_unavailable', message: 'The store cannot answer right now; retry shortly' } as const;

/**
 * One error shape for every non-2xx response (SPEC §6). ApiErrors are sent as
 * built, with their headers (Retry-After, Allow, WWW-Authenticate); other
 * HttpExceptions get a fixed code and message by status (their own text may
 * echo framework internals); a source or a store that cannot answer now is
 * a 503 `store_unavailable`; everything else is a generic 500 whose cause goes to
 * the operator log only.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('ExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    this.answer(host.switchToHttp().getResponse<FastifyReply>(), exception);
  }

  /** Answers `exception` on `reply`; also used for the errors the router raises before Nest sees the request (app.factory.ts). */
  answer(reply: FastifyReply, exception: unknown): void {
    const { body, headers } = this.toResponse(exception);
    if (reply.sent || reply.raw.headersSent) {
      // A streaming response already started: the only safe thing is to end it.
      if (!reply.raw.writableEnded) reply.raw.end();
      return;
    }
    for (const [name, value] of Object.entries(headers)) reply.header(name, value);
    reply.code(body.statusCode);
    sendJson(reply, JSON.stringify(body));
  }

  toResponse(exception: unknown): { body: ErrorBody; headers: Record<string, string> } {
    if (exception instanceof ApiError) return { body: exception.body, headers: exception.headers };
    const status = frameworkStatusOf(exception);
    if (status !== undefined) {
      const known = FRAMEWORK_ERRORS[status] ?? (status < 500 ? FRAMEWORK_ERRORS[400] : undefined);
      if (known) return { body: { statusCode: status, error: known.code, message: known.message, diagnostics: [] }, headers: {} };
    }
    if (exception instanceof RuntimeSourceError) {
      // The cause may name paths or hosts: operator log only. The client gets the source's generic diagnostic.
      this.logger.error(`${exception.diagnostic.code}: ${describe(exception.cause)}`);
      if (exception.unavailable) return { body: { ...STORE_UNAVAILABLE_503, diagnostics: [{ ...exception.diagnostic }] }, headers: { 'Retry-After': '1' } };
      return { body: { ...GENERIC_500, diagnostics: [{ ...exception.diagnostic }] }, headers: {} };
    }
    if (exception instanceof StoreUnavailableError) {
      // The store failed outside any runtime (the key check, the keys routes, an Idempotency-Key's
      // record): the same 503, with no runtime to name. Known and transient, so one line without a
      // stack: an outage would otherwise print one per request.
      this.logger.error(`store_unavailable: ${exception.message}${exception.cause instanceof Error ? ` (${exception.cause.message})` : ''}`);
      return { body: { ...STORE_UNAVAILABLE_503, diagnostics: [] }, headers: { 'Retry-After': '1' } };
    }
    // The app logger redacts secrets from this line.
    this.logger.error(describe(exception));
    return { body: { ...GENERIC_500, diagnostics: [] }, headers: {} };
  }
}

/**
 * The status of an error the framework raised about the request: Nest's
 * HttpExceptions, and Fastify's own 4xx (`FST_ERR_…`, with `statusCode`: a
 * malformed URL, an over-long path parameter …). Their own messages may
 * quote internals, so only the status is used.
 */
function frameworkStatusOf(exception: unknown): number | undefined {
  if (exception instanceof HttpException) return exception.getStatus();
  const { code, statusCode } = (exception ?? {}) as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'string' && code.startsWith('FST_') && typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) return statusCode;
  return undefined;
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
