import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import type { Response } from 'express';
import { map, type Observable } from 'rxjs';
import { serializeResponse } from './serialize-response';
import { SerializedJson } from './serialized-json';

/**
 * The global fail-closed net behind the explicit mappers: every handler result
 * is re-serialised from its DTO class's allow-list, and a plain object or an
 * unknown class becomes a generic 500 instead of going out. It replaces
 * `ClassSerializerInterceptor` (excludeAll), which gave the same guarantee but
 * cost most of the CPU of `GET /api/workers` (measured; see BENCHMARKS.md).
 */
@Injectable()
export class AllowListSerializerInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      map((body) => {
        if (body === undefined) return body;
        if (body instanceof SerializedJson) {
          // Serialised by serializeResponse already. With the ETag set, Express skips hashing the body again.
          context.switchToHttp().getResponse<Response>().setHeader('ETag', body.etag);
          return body.text;
        }
        return serializeResponse(body);
      }),
    );
  }
}
