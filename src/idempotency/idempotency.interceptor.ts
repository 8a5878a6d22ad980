import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants';
import type { Request, Response } from 'express';
import { from, type Observable, switchMap } from 'rxjs';
import type { AuthenticatedRequest } from '../auth/auth.middleware';
import { ApiError } from '../common/errors/api-error';
import { StoredJson } from '../common/serialization/stored-json';
import { serializeResponse } from '../common/serialization/serialize-response';
import { Idempotency } from './idempotency.service';

export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * `Idempotency-Key` on the routes that use it (create, input). Runs after
 * the pipes, so only valid requests take a key; the answer stored is the
 * serialised DTO (the same bytes the client got) and a replay is sent as is.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(@Inject(Idempotency) private readonly idempotency: Idempotency) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const req = http.getRequest<Request & AuthenticatedRequest>();
    const res = http.getResponse<Response>();
    const key = req.headers['idempotency-key'];
    if (key === undefined) return next.handle();
    if (typeof key !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(key)) {
      throw ApiError.validationFailed([{ path: 'Idempotency-Key', message: 'must be 1 to 128 characters of A-Z a-z 0-9 _ . : -' }]);
    }
    const scope = this.idempotency.scopeOf(req.auth?.keyId ?? '', req.method, req.path, key);
    const workerId = typeof req.params.worker_id === 'string' ? req.params.worker_id : null;
    return from(this.idempotency.start(scope, req.body, workerId)).pipe(
      switchMap((start) => {
        if (start.kind === 'replay') {
          res.status(start.status);
          if (start.location) res.setHeader('Location', start.location);
          res.setHeader('Idempotency-Replayed', 'true');
          return from([new StoredJson(start.body)]);
        }
        // The route's own status (@HttpCode): Nest sets it only when it replies, after this.
        const status: number = Reflect.getMetadata(HTTP_CODE_METADATA, context.getHandler()) ?? 200;
        return from(this.act(scope, start.token, next, res, status));
      }),
    );
  }

  private async act(scope: string, token: string, next: CallHandler, res: Response, status: number): Promise<unknown> {
    let result: unknown;
    try {
      result = await new Promise((resolve, reject) => next.handle().subscribe({ next: resolve, error: reject }));
    } catch (err) {
      await this.idempotency.abandon(scope, token).catch(() => undefined);
      throw err;
    }
    // The DTO's wire form, once: stored for replays and sent now.
    const body = serializeResponse(result);
    const location = res.getHeader('Location');
    const worker = (body as { worker?: { worker_id?: unknown }; worker_id?: unknown }) ?? {};
    const workerId = typeof worker.worker?.worker_id === 'string' ? worker.worker.worker_id : typeof worker.worker_id === 'string' ? worker.worker_id : null;
    await this.idempotency.complete(scope, token, { status, body, location: typeof location === 'string' ? location : null, workerId });
    return new StoredJson(body);
  }
}
