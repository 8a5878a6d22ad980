import { HttpException, HttpStatus } from '@nestjs/common';
import type { Diagnostic } from '../dto/diagnostic.dto';

/** Stable error codes of SPEC §6; clients switch on these, never on messages. */
export type ApiErrorCode =
  | 'invalid_identifier'
  | 'validation_failed'
  | 'limit_too_large'
  | 'unknown_runtime'
  | 'unknown_worker'
  | 'unknown_host'
  | 'capability_unsupported'
  | 'rejected'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'not_found'
  | 'method_not_allowed'
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

  constructor(status: HttpStatus, code: ApiErrorCode, message: string, extra: { diagnostics?: Diagnostic[]; details?: ValidationDetail[] } = {}) {
    const body: ErrorBody = { statusCode: status, error: code, message, diagnostics: extra.diagnostics ?? [] };
    if (extra.details) body.details = extra.details;
    super(body, status);
    this.body = body;
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
