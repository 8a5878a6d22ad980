import { Injectable, type PipeTransform } from '@nestjs/common';
import { ApiError, safeExcerpt } from '../errors/api-error';
import { MAX_DETAILS } from './validation';

export const NO_QUERY_MESSAGE = 'this route takes no query parameters';

/**
 * For routes that take no query parameters: any parameter is a
 * `400 validation_failed`, as SPEC §4 asks for unknown query parameters.
 * (A DTO class without properties cannot express this with class-validator.)
 * Each detail names a parameter by a short safe excerpt, at most MAX_DETAILS
 * of them (Node's query parser stops at 1,000 parameters).
 */
@Injectable()
export class RejectQueryPipe implements PipeTransform<Record<string, unknown>, Record<string, never>> {
  transform(query: Record<string, unknown>): Record<string, never> {
    if (query === null || typeof query !== 'object') return {};
    const keys = Object.keys(query);
    if (keys.length > 0) {
      throw ApiError.validationFailed(keys.slice(0, MAX_DETAILS).map((key) => ({ path: safeExcerpt(key), message: NO_QUERY_MESSAGE })));
    }
    return {};
  }
}
