import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiProperty, ApiPropertyOptional, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { API_ERROR_CODES, type ApiErrorCode } from '../errors/api-error';
import { DiagnosticDto } from './diagnostic.dto';
import { headerRef, RESPONSE_HEADERS, type ResponseHeaderName } from './response-headers';

export class ValidationDetailDto {
  @ApiProperty({ description: 'Dotted path of the offending field, or `body` / `query`', example: 'content' })
  path: string;

  @ApiProperty({ example: 'content must be 1 to 262144 characters and not only whitespace' })
  message: string;
}

/** The one error body (SPEC §6). Written by AllExceptionsFilter, documented here; each response shows its own example. */
export class ErrorResponseDto {
  @ApiProperty({ type: 'integer', minimum: 400, maximum: 599 })
  statusCode: number;

  @ApiProperty({ description: 'Stable snake_case error code', enum: [...API_ERROR_CODES] })
  error: string;

  @ApiProperty({ description: 'For people; never quotes a path, a secret or a cause' })
  message: string;

  @ApiProperty({ type: [DiagnosticDto] })
  diagnostics: DiagnosticDto[];

  @ApiPropertyOptional({ type: [ValidationDetailDto], description: 'Present on validation errors' })
  details?: ValidationDetailDto[];
}

/** Every error code: its status and an example message (what the filter would send). */
export const ERROR_CODES: Record<ApiErrorCode, { status: number; example: string }> = {
  invalid_identifier: { status: 400, example: 'worker_id "a?b" is not a valid identifier (expected ^[A-Za-z0-9_:-]{1,120}$)' },
  validation_failed: { status: 400, example: 'Request validation failed' },
  limit_too_large: { status: 400, example: 'limit exceeds the maximum for this route' },
  invalid_cursor: { status: 400, example: 'cursor is not a cursor this list issued' },
  unauthorized: { status: 401, example: 'A valid API key is required: Authorization: Bearer <key>' },
  forbidden: { status: 403, example: 'This key lacks the write scope' },
  host_not_allowed: { status: 403, example: 'This server does not answer to this host name (see ALLOWED_HOSTS)' },
  unknown_runtime: { status: 404, example: 'No runtime with this runtime_id is registered' },
  unknown_worker: { status: 404, example: 'No worker with this worker_id exists in runtime embedded-worker-runtime' },
  unknown_host: { status: 404, example: 'No host with this host_id is known' },
  unknown_run: { status: 404, example: 'No run with this run_id exists for this worker' },
  unknown_key: { status: 404, example: 'No API key with this key_id exists' },
  not_found: { status: 404, example: 'No route matches this method and path' },
  method_not_allowed: { status: 405, example: 'This route answers GET, HEAD' },
  worker_stopped: { status: 409, example: 'The worker is stopped and takes no input' },
  worker_busy: { status: 409, example: 'The worker is busy (on_busy: reject); nothing was recorded' },
  run_finished: { status: 409, example: 'The run has already finished' },
  idempotency_in_progress: { status: 409, example: 'A request with this Idempotency-Key is still being processed; retry shortly' },
  payload_too_large: { status: 413, example: 'Request body exceeds 1 MiB' },
  unsupported_media_type: { status: 415, example: 'Request body must be application/json' },
  rejected: { status: 422, example: 'The runtime refused to create the worker' },
  idempotency_key_reused: { status: 422, example: 'This Idempotency-Key was used with another request body' },
  worker_queue_full: { status: 429, example: 'The worker holds its maximum of queued runs; nothing was recorded' },
  rate_limited: { status: 429, example: 'This key may make 600 requests per minute' },
  too_many_streams: { status: 429, example: 'This worker has its maximum of open event streams; retry later' },
  headers_too_large: { status: 431, example: 'Request headers are too large' },
  internal_error: { status: 500, example: 'Internal server error' },
  capability_unsupported: { status: 501, example: 'Runtime local-worker-runtime does not support accepting input' },
  store_unavailable: { status: 503, example: 'The store cannot answer right now; retry shortly' },
  service_unavailable: { status: 503, example: 'The backend is not ready' },
};

/** Headers that come with some error statuses (every code of the status sends them). */
const ERROR_HEADERS: Record<number, ResponseHeaderName[]> = {
  401: ['WWW-Authenticate'],
  405: ['Allow'],
  429: ['Retry-After'],
  503: ['Retry-After'],
};

/** Details a validation error of this code shows in its example (openapi.ts fits `validation_failed`'s to each route). */
const EXAMPLE_DETAILS: Partial<Record<ApiErrorCode, ValidationDetailDto[]>> = {
  validation_failed: [{ path: 'colour', message: 'unknown field' }],
  limit_too_large: [{ path: 'limit', message: 'limit must not be greater than 200' }],
  invalid_cursor: [{ path: 'cursor', message: 'cursor must be a next_cursor value' }],
};

/** Diagnostics an error of this code carries in its example. */
const EXAMPLE_DIAGNOSTICS: Partial<Record<ApiErrorCode, DiagnosticDto[]>> = {
  rejected: [{ code: 'embedded_socket_ready_unsupported', severity: 'error', message: 'The embedded runtime has no socket; use acceptance kind run_accepted' }],
  store_unavailable: [{ code: 'embedded_runtime_store_unavailable', severity: 'error', message: 'The embedded runtime store cannot answer right now; retry shortly' }],
};

/** The example body of one error code, as AllExceptionsFilter would send it. */
export function errorExample(code: ApiErrorCode): ErrorResponseDto {
  const details = EXAMPLE_DETAILS[code];
  return {
    statusCode: ERROR_CODES[code].status,
    error: code,
    message: ERROR_CODES[code].example,
    diagnostics: EXAMPLE_DIAGNOSTICS[code] ?? [],
    ...(details ? { details } : {}),
  };
}

/** The response object for one status and the codes a route can give with it: each code's own example. */
export function errorResponse(status: number, codes: readonly ApiErrorCode[] = codesOf(status)) {
  for (const code of codes) if (ERROR_CODES[code].status !== status) throw new Error(`${code} is a ${ERROR_CODES[code].status}, not a ${status}`);
  const examples = Object.fromEntries(codes.map((code) => [code, { summary: code, value: errorExample(code) }]));
  const headers: Record<string, object> = Object.fromEntries((ERROR_HEADERS[status] ?? []).map((name) => [name, headerRef(name)]));
  // Only this code of the 409s asks the client to come back: the header is not on every 409.
  if (codes.includes('idempotency_in_progress')) headers['Retry-After'] = { ...RESPONSE_HEADERS['Retry-After'], required: false, description: 'With idempotency_in_progress: seconds to wait before retrying' };
  return {
    description: codes.map((c) => `\`${c}\``).join(', '),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    content: { 'application/json': { schema: { $ref: getSchemaPath(ErrorResponseDto) }, examples } },
  };
}

function codesOf(status: number): ApiErrorCode[] {
  return (Object.keys(ERROR_CODES) as ApiErrorCode[]).filter((c) => ERROR_CODES[c].status === status);
}

/**
 * Documents the errors a route can give, by code: one response per status,
 * describing exactly those codes, each with its own example. `internal_error`
 * is always possible. (Auth's 401/403/429/503 are added to every secured
 * operation by openapi.ts.)
 */
export function ApiErrors(...codes: ApiErrorCode[]): MethodDecorator & ClassDecorator {
  const byStatus = new Map<number, ApiErrorCode[]>();
  for (const code of new Set<ApiErrorCode>([...codes, 'internal_error'])) {
    const status = ERROR_CODES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return applyDecorators(
    ApiExtraModels(ErrorResponseDto),
    ...[...byStatus].map(([status, list]) => ApiResponse({ status, ...(errorResponse(status, list) as object) })),
  );
}
