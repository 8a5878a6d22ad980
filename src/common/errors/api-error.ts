import { HttpException, HttpStatus } from '@nestjs/common';
import type { Diagnostic } from '../dto/diagnostic.dto';

/** Stable error codes (SPEC §6, §9–§13); clients switch on these, never on messages. */
export const API_ERROR_CODES = [
  'invalid_identifier',
  'validation_failed',
  'limit_too_large',
  'invalid_cursor',
  'unauthorized',
  'forbidden',
  'host_not_allowed',
  'rate_limited',
  'unknown_runtime',
  'unknown_worker',
  'unknown_host',
  'unknown_run',
  'unknown_key',
  'capability_unsupported',
  'rejected',
  'worker_stopped',
  'worker_busy',
  'worker_queue_full',
  'run_finished',
  'idempotency_key_reused',
  'idempotency_in_progress',
  'payload_too_large',
  'headers_too_large',
  'unsupported_media_type',
  'not_found',
  'method_not_allowed',
  'too_many_streams',
  'store_unavailable',
  'service_unavailable',
  'internal_error',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

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

/** Client-supplied text (a key, a query parameter name) is echoed at most this long (SPEC §13). */
export const ECHO_EXCERPT_LENGTH = 64;
/** Identifiers are echoed up to their full legal length (SPEC §5). */
const ID_ECHO_LENGTH = 120;
/** Longest validation message sent; messages are ours or class-validator's, with at most a property name in them. */
export const MAX_MESSAGE_LENGTH = 160;

/**
 * Makes a client-supplied value safe to echo: at most `maxLength` UTF-16 units
 * of it (120 by default: SPEC §5 for ids), and only identifier characters
 * (anything else, a lone surrogate included, becomes `?`), so no markup,
 * control character, escape sequence or path separator is ever reflected.
 * The input is cut before it is looked at, so a huge value costs nothing more.
 */
export function safeEcho(value: string, maxLength = ID_ECHO_LENGTH): string {
  return value.slice(0, maxLength).replace(/[^A-Za-z0-9_:-]/gu, '?');
}

/**
 * A short safe excerpt of a client-supplied name (a field or query parameter
 * name, which becomes a validation `path`): `safeEcho` cut to
 * ECHO_EXCERPT_LENGTH, with `…` when something was cut off.
 */
export function safeExcerpt(value: string, maxLength = ECHO_EXCERPT_LENGTH): string {
  const safe = safeEcho(value, maxLength);
  return value.length > maxLength ? `${safe}…` : safe;
}

// ANSI/VT escape sequences (CSI and OSC), removed whole so no `[31m` residue remains.
const ESCAPE_SEQUENCE = /\u001b(?:\[[0-?]*[ -/]*[@-~]?|\][^\u0007\u001b]*(?:\u0007|\u001b\\)?)?|\u009b[0-?]*[ -/]*[@-~]?/g;
// Control (Cc), format (Cf: bidi overrides, zero-width), separator (Zl, Zp), lone surrogates, markup and path separators.
const UNSAFE_IN_TEXT = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}<>&/\\]/gu;

/**
 * Makes a message that may carry client-supplied text safe to send: escape
 * sequences removed, control, format and separator characters, markup and
 * path separators shown as `?`, at most `maxLength` UTF-16 units (`…` when
 * cut). Spaces and punctuation stay, so our own messages read as written.
 */
export function safeText(text: string, maxLength = MAX_MESSAGE_LENGTH): string {
  // Cut first (with room for escape sequences that will be removed), so the cost is bounded whatever the input.
  const clean = text.slice(0, maxLength * 4).replace(ESCAPE_SEQUENCE, '').replace(UNSAFE_IN_TEXT, '?');
  if (clean.length <= maxLength && text.length <= maxLength * 4) return clean;
  const cut = clean.slice(0, maxLength - 1);
  // Do not leave half a surrogate pair at the end.
  return `${/[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut}…`;
}
