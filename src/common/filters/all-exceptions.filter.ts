import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { RuntimeSourceError } from '../../runtimes/runtime-source.errors';
import { ApiError, type ApiErrorCode, type ErrorBody } from '../errors/api-error';

/** Codes and fixed messages for HttpExceptions that Nest itself raises. */
const FRAMEWORK_ERRORS: Record<number, { code: ApiErrorCode; message: string }> = {
  400: { code: 'validation_failed', message: 'Request validation failed' },
  404: { code: 'not_found', message: 'No route matches this method and path' },
  405: { code: 'method_not_allowed', message: 'Method not allowed on this route' },
  413: { code: 'payload_too_large', message: 'Request body exceeds 1 MiB' },
  415: { code: 'unsupported_media_type', message: 'Request body must be application/json' },
};

/**
 * One error shape for every non-2xx response (SPEC §6). ApiErrors are sent as
 * built; other HttpExceptions get a fixed message by status (their own text
 * may echo framework internals); everything else is a generic 500 whose cause
 * goes to the operator log only.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('ExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const body = this.toBody(exception);
    if (response.headersSent) {
      // A streaming response already started: the only safe thing is to end it.
      response.end();
      return;
    }
    response.status(body.statusCode).json(body);
  }

  toBody(exception: unknown): ErrorBody {
    if (exception instanceof ApiError) return exception.body;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const known = FRAMEWORK_ERRORS[status];
      if (known) return { statusCode: status, error: known.code, message: known.message, diagnostics: [] };
      if (status < 500) return { statusCode: status, error: 'validation_failed', message: 'Request was not accepted', diagnostics: [] };
    }
    if (exception instanceof RuntimeSourceError) {
      // The cause may name paths or hosts: operator log only. The client gets the source's generic diagnostic.
      this.logger.error(`${exception.diagnostic.code}: ${describe(exception.cause)}`);
      return { ...GENERIC_500, diagnostics: [{ ...exception.diagnostic }] };
    }
    const detail = describe(exception);
    // The app logger (RedactingLogger) strips secrets from this line.
    this.logger.error(detail);
    return { ...GENERIC_500, diagnostics: [] };
  }
}

const GENERIC_500 = { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, error: 'internal_error', message: 'Internal server error' } as const;

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
