import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import { map, type Observable } from 'rxjs';
import { serializeResponse } from './serialize-response';
import { StoredJson } from './stored-json';

/**
 * The global fail-closed net behind the explicit mappers: every handler result
 * is re-serialised from its DTO class's allow-list, and a plain object or an
 * unknown class becomes a generic 500 instead of going out. It replaces
 * `ClassSerializerInterceptor` (excludeAll), which gave the same guarantee but
 * cost most of the CPU of `GET /api/workers` (measured; see BENCHMARKS.md).
 */
@Injectable()
export class AllowListSerializerInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    // StoredJson was serialised by this same rule before it was stored: sent as is.
    return next.handle().pipe(map((body) => (body === undefined || body instanceof StoredJson ? body : serializeResponse(body))));
  }
}
