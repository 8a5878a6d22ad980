import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { ApiError, type ApiErrorCode, type ValidationDetail } from '../errors/api-error';

/** At most this many validation details are returned (hostile bodies can produce thousands). */
const MAX_DETAILS = 32;

/** Context key a constraint can set to replace `validation_failed` with its own code. */
export const ERROR_CODE_CONTEXT = 'errorCode';

interface Leaf {
  path: string;
  message: string;
  code?: string;
}

function flatten(errors: readonly ValidationError[], parent: string, out: Leaf[]): void {
  for (const error of errors) {
    if (out.length >= MAX_DETAILS) return;
    const path = parent ? `${parent}.${error.property}` : error.property;
    for (const [name, message] of Object.entries(error.constraints ?? {})) {
      const code = (error.contexts?.[name] as Record<string, unknown> | undefined)?.[ERROR_CODE_CONTEXT];
      out.push({ path, message, code: typeof code === 'string' ? code : undefined });
    }
    if (error.children?.length) flatten(error.children, path, out);
  }
}

const SPECIFIC_MESSAGES: Record<string, string> = {
  limit_too_large: 'limit exceeds the maximum for this route',
  invalid_cursor: 'cursor is not a cursor this list issued',
};

/** Builds the API error for a failed validation; exported for unit tests. */
export function validationErrorToApiError(errors: ValidationError[]): ApiError {
  const leaves: Leaf[] = [];
  flatten(errors, '', leaves);
  const details: ValidationDetail[] = leaves.map(({ path, message }) => ({ path, message }));
  const code = leaves[0]?.code;
  if (code !== undefined && leaves.every((l) => l.code === code)) {
    // Every failure carries the same specific code (limit_too_large, invalid_cursor): use it.
    return new ApiError(400, code as ApiErrorCode, SPECIFIC_MESSAGES[code] ?? 'Request validation failed', { details });
  }
  return ApiError.validationFailed(details);
}

/**
 * The global ValidationPipe: unknown fields are errors (not silently dropped),
 * values are transformed into DTO instances, and nothing of the rejected value
 * is echoed back (class-validator messages name properties and constraints).
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    stopAtFirstError: false,
    exceptionFactory: validationErrorToApiError,
  });
}
