import { Injectable, type PipeTransform } from '@nestjs/common';
import { ApiError } from '../errors/api-error';

/** OpenAPI schema of a body that must be empty or `{}`. */
export const EMPTY_BODY_SCHEMA = { type: 'object' as const, properties: {}, additionalProperties: false };

/** Its request example (the only valid non-empty body). */
export const EMPTY_BODY_EXAMPLES = { empty: { summary: 'An empty object (or send no body)', value: {} } };

/**
 * For routes whose body must be empty or `{}` (cancel): any field is a
 * `400 validation_failed`. (A DTO class without properties cannot express
 * this with class-validator: `forbidUnknownValues` refuses even `{}`.)
 */
@Injectable()
export class RejectBodyPipe implements PipeTransform<unknown, Record<string, never>> {
  transform(body: unknown): Record<string, never> {
    const keys = body !== null && typeof body === 'object' ? Object.keys(body) : [];
    if (keys.length > 0) throw ApiError.validationFailed([{ path: 'body', message: 'this route takes an empty body or {}' }]);
    return {};
  }
}
