import { HttpException, HttpStatus } from '@nestjs/common';
import type { Diagnostic } from '../dto/diagnostic.dto';

/** Stable error codes of SPEC §6; clients switch on these, never on messages. */
export type ApiErrorCode =
  | 'invalid_identifier'
  | 'validation_failed'
  | 'limit_too_large'
  | 'invalid_cursor'
  | 'unauthorized'
  | 'forbidden'
  | 'host_not_allowed'
  | 'rate_limited'
  | 'unknown_runtime'
  | 'unknown_worker'
  | 'unknown_host'
  | 'unknown_run'
  | 'unknown_key'
  | 'capability_unsupported'
  | 'rejected'
  | 'worker_stopped'
  | 'worker_busy'
  | 'worker_queue_full'
  | 'run_finished'
  | 'idempotency_key_reused'
  | 'idempotency_in_progress'
  | 'payload_too_large'
  | 'headers_too_large'
  | 'unsupported_media_type'
  | 'not_found'
  | 'method_not_allowed'
  | 'too_many_streams'
  | 'store_unavailable'
  | 'service_unavailable'
  | 'internal_error';

export interface ValidationDetail {
  path: string;
  message: string;
}

export interface ErrorBody {
  statusCode: number;
  error: ApiErrorCode;
  message: string;
  diagnostics: Diagnostic[];
  details?: ValidationDetail[];
}

/**
 * The only exception the API raises on purpose. Its body is built here, from
 * values the caller chose to make public; the global filter sends it as is.
 */
export class ApiError extends HttpException {
  readonly body: ErrorBody;

  /** Response headers that belong to the error (Retry-After, Allow, WWW-Authenticate). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: HttpStatus,
    code: ApiErrorCode,
    message: string,
    extra: { diagnostics?: Diagnostic[]; details?: ValidationDetail[]; headers?: Record<string, string> } = {},
  ) {
    const body: ErrorBody = { statusCode: status, error: code, message, diagnostics: extra.diagnostics ?? [] };
    if (extra.details) body.details = extra.details;
    super(body, status);
    this.body = body;
    this.headers = extra.headers ?? {};
  }

  static invalidIdentifier(param: string, value: string): ApiError {
    return new ApiError(HttpStatus.BAD_REQUEST, 'invalid_identifier', `${param} "${safeEcho(value)}" is not a valid identifier (expected ^[A-Za-z0-9_:-]{1,120}$)`);
  }

  static validationFailed(details: ValidationDetail[], message = 'Request validation failed'): ApiError {
    return new ApiError(HttpStatus.BAD_REQUEST, 'validation_failed', message, { details });
  }

  static unknownRuntime(): ApiError {
    return new ApiError(HttpStatus.NOT_FOUND, 'unknown_runtime', 'No runtime with this runtime_id is registered');
  }

  static unknownWorker(runtimeId: string): ApiError {
    return new ApiError(HttpStatus.NOT_FOUND, 'unknown_worker', `No worker with this worker_id exists in runtime ${runtimeId}`);
  }

  static unknownRun(): ApiError {
    return new ApiError(HttpStatus.NOT_FOUND, 'unknown_run', 'No run with this run_id exists for this worker');
  }

  static unknownHost(): ApiError {
    return new ApiError(HttpStatus.NOT_FOUND, 'unknown_host', 'No host with this host_id is known');
  }

  static capabilityUnsupported(runtimeId: string, capability: string): ApiError {
    return new ApiError(HttpStatus.NOT_IMPLEMENTED, 'capability_unsupported', `Runtime ${runtimeId} does not support ${capability}`);
  }

  static rejected(message: string, diagnostics: Diagnostic[]): ApiError {
    return new ApiError(HttpStatus.UNPROCESSABLE_ENTITY, 'rejected', message, { diagnostics });
  }
}

/**
 * Makes a client-supplied value safe to echo: at most 120 characters, and only
 * identifier characters (anything else becomes `?`), so no markup, control
 * character or path separator is ever reflected.
 */
export function safeEcho(value: string): string {
  return Array.from(value.slice(0, 120))
    .map((ch) => (/^[A-Za-z0-9_:-]$/.test(ch) ? ch : '?'))
    .join('');
}
