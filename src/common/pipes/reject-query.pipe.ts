import { Injectable, type PipeTransform } from '@nestjs/common';
import { ApiError } from '../errors/api-error';

/**
 * For routes that take no query parameters: any parameter is a
 * `400 validation_failed`, as SPEC §4 asks for unknown query parameters.
 * (A DTO class without properties cannot express this with class-validator.)
 */
@Injectable()
export class RejectQueryPipe implements PipeTransform<Record<string, unknown>, Record<string, never>> {
  transform(query: Record<string, unknown>): Record<string, never> {
    const keys = Object.keys(query ?? {});
    if (keys.length > 0) {
      throw ApiError.validationFailed(
        keys.slice(0, 32).map((k) => ({ path: 'query', message: 'this route takes no query parameters' })),
      );
    }
    return {};
  }
}
