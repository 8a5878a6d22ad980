import { type ArgumentMetadata, ValidationPipe, type ValidationError } from '@nestjs/common';
import * as classTransformer from 'class-transformer';
import * as classValidator from 'class-validator';
import { ApiError, type ApiErrorCode, safeExcerpt, safeText, type ValidationDetail } from '../errors/api-error';
import { compiledCheckFor } from './compiled-validation';
import { boundMessage, checkValueBounds } from '../validation/input-bounds';
import { findUnknownFields, knownShapeOf } from '../validation/known-keys';

/** At most this many validation details are returned (hostile bodies can produce thousands). */
export const MAX_DETAILS = 32;

/** Context key a constraint can set to replace `validation_failed` with its own code. */
export const ERROR_CODE_CONTEXT = 'errorCode';

export const UNKNOWN_FIELD_MESSAGE = 'unknown field';
export const UNKNOWN_QUERY_PARAMETER_MESSAGE = 'unknown query parameter';
export const QUERY_VALUE_MESSAGE = 'query parameter must be given once, as a single value';

/** class-validator's constraint names whose message names an unknown (client-chosen) property. */
const WHITELIST_CONSTRAINT = 'whitelistValidation';

interface Leaf {
  path: string;
  message: string;
  code?: string;
}

function flatten(errors: readonly ValidationError[], parent: string, out: Leaf[]): void {
  for (const error of errors) {
    if (out.length >= MAX_DETAILS) return;
    // A segment is a DTO property, an array index or, for an unknown field, the client's key: always cut short and made safe.
    const segment = safeExcerpt(String(error.property));
    const path = parent ? `${parent}.${segment}` : segment;
    for (const [name, message] of reportedFailures(error.constraints)) {
      if (out.length >= MAX_DETAILS) return;
      const code = (error.contexts?.[name] as Record<string, unknown> | undefined)?.[ERROR_CODE_CONTEXT];
      // The whitelist message repeats the key as sent; the path already names it, made safe.
      const text = name === WHITELIST_CONSTRAINT ? UNKNOWN_FIELD_MESSAGE : safeText(message);
      out.push({ path, message: text, code: typeof code === 'string' ? code : undefined });
    }
    if (error.children?.length) flatten(error.children, path, out);
  }
}

/** class-validator's type checks: a value of the wrong type fails them and every range check after them. */
const TYPE_CONSTRAINTS: ReadonlySet<string> = new Set(['isInt', 'isNumber', 'isString', 'isBoolean', 'isArray', 'isObject']);

/**
 * The failures of one property worth saying: that it is missing, if it is;
 * else its type check, if that failed; else all. The checks after presume
 * what came before: `limit=-5` (not a whole number here: only digits are)
 * would also say "must not be greater than 200", and a missing `intent`
 * "must be an object".
 */
function reportedFailures(constraints: Record<string, string> | undefined): Array<[string, string]> {
  const all = Object.entries(constraints ?? {});
  const missing = all.filter(([name]) => name === 'isDefined');
  if (missing.length > 0) return missing;
  const typeFailures = all.filter(([name]) => TYPE_CONSTRAINTS.has(name));
  return typeFailures.length > 0 ? typeFailures : all;
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
 * What is checked before class-transformer and class-validator run, for a
 * body or query object bound to a DTO class (`@Body() dto: X`,
 * `@Query() q: Y`): the input bounds (size and shape, forbidden keys), then
 * the own-key allow-list of the DTO and its nested DTOs, and for a query that
 * every known parameter came once, as a plain string (not repeated, not
 * `a[b]=` nested). Returns the error to throw, or null.
 *
 * Exported so that a pipe or handler other than the global one can apply the
 * same checks (e.g. a route that validates by hand).
 */
export function precheckInput(value: unknown, metadata: ArgumentMetadata): ApiError | null {
  const { type, metatype, data } = metadata;
  if ((type !== 'body' && type !== 'query') || data !== undefined || typeof metatype !== 'function') return null;
  const shape = knownShapeOf(metatype);
  if (!shape) return null;
  // No value at all is Nest's to handle (it validates an empty object). A body that is not an object is
  // refused by the body middleware already; refused here too, so the pipe holds without it.
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    return ApiError.validationFailed([{ path: type, message: type === 'body' ? boundMessage('not_object', 'body') : 'query must be a set of parameters' }]);
  }
  const violation = checkValueBounds(value);
  if (violation) return ApiError.validationFailed([{ path: type, message: boundMessage(violation, type) }]);
  const unknownMessage = type === 'query' ? UNKNOWN_QUERY_PARAMETER_MESSAGE : UNKNOWN_FIELD_MESSAGE;
  const details: ValidationDetail[] = findUnknownFields(value, metatype, MAX_DETAILS).map((path) => ({ path, message: unknownMessage }));
  if (type === 'query') {
    for (const key of Object.keys(value)) {
      if (details.length >= MAX_DETAILS) break;
      const v = (value as Record<string, unknown>)[key];
      if (shape.fields.has(key) && typeof v !== 'string') details.push({ path: safeExcerpt(key), message: QUERY_VALUE_MESSAGE });
    }
  }
  return details.length > 0 ? ApiError.validationFailed(details) : null;
}

/**
 * Nest's ValidationPipe with `precheckInput` in front: the work done on a
 * request is bounded before class-transformer (quadratic in the number of
 * keys of an object) gets the value, and unknown fields are found by an
 * own-key allow-list rather than by class-validator's whitelist alone.
 * Valid input is then answered by the compiled check of the same
 * decorators (compiled-validation.ts); the rest takes Nest's full path.
 */
export class BoundedValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const refused = precheckInput(value, metadata);
    if (refused) throw refused;
    // The compiled check of the same decorators answers valid input in one loop; anything else takes the full path.
    const { type, metatype, data } = metadata;
    if ((type === 'query' || type === 'body') && data === undefined && typeof metatype === 'function' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const entity = compiledCheckFor(metatype)?.(value);
      if (entity) return entity;
    }
    return super.transform(value, metadata);
  }
}

/**
 * The global ValidationPipe: unknown fields are errors (not silently dropped),
 * values are transformed into DTO instances, and nothing of the rejected value
 * is echoed back (class-validator messages name properties and constraints;
 * paths and messages are cut short and made safe).
 */
export function createValidationPipe(): ValidationPipe {
  return new BoundedValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    stopAtFirstError: false,
    exceptionFactory: validationErrorToApiError,
    // The packages the DTOs' decorators registered their metadata with, handed over rather than
    // import()ed by name: the pipe reads the very class-transformer storage the @Type decorators
    // wrote (one module instance, see scripts/build.mjs), whatever the bundle's layout.
    validatorPackage: classValidator,
    transformerPackage: classTransformer,
  });
}
