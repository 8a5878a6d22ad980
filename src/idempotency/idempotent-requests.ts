import { Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { pipelineRequestOf } from '../common/http/middleware-chain';
import { ApiError } from '../common/errors/api-error';
import { serializeResponse } from '../common/serialization/serialize-response';
import { StoredJson } from '../common/serialization/stored-json';
import { StoreUnavailableError } from '../store/backend-store';
import { IDEMPOTENCY_KEY_PATTERN } from './idempotency.constants';
import { Idempotency } from './idempotency.service';

/**
 * `Idempotency-Key` on the routes that use it (create, input), called by
 * the handler itself: so it runs after the path ids, the query and the
 * body were validated, and SPEC §11's order holds (a bad request is a 400
 * whatever key it carries; only a valid request takes a key, and a
 * different body under a used key is a 422). As an interceptor it ran
 * before the pipes. The answer stored is the serialised DTO (the same bytes
 * the client got) and a replay is sent as is, with `Idempotency-Replayed`.
 */
@Injectable()
export class IdempotentRequests {
  private readonly logger = new Logger(IdempotentRequests.name);

  constructor(@Inject(Idempotency) private readonly idempotency: Idempotency) {}

  async run<T>(req: FastifyRequest, res: FastifyReply, status: number, work: () => Promise<T>): Promise<T | StoredJson> {
    const key = req.headers['idempotency-key'];
    if (key === undefined) return work();
    if (typeof key !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(key)) {
      throw ApiError.validationFailed([{ path: 'Idempotency-Key', message: 'must be 1 to 128 characters of A-Z a-z 0-9 _ . : -' }]);
    }
    const raw = pipelineRequestOf(req);
    const params = req.params as Record<string, unknown>;
    const scope = this.idempotency.scopeOf(raw.auth?.keyId ?? '', req.method, canonicalPath(req.routeOptions.url ?? raw.path, params), key);
    // A record belongs to the worker of its path (an input's), and is deleted with it. A create's
    // belongs to none: a retry of a create whose worker was deleted since still replays the
    // first answer (a 201 naming a worker that now answers 404) instead of creating another.
    const workerId = typeof params.worker_id === 'string' ? params.worker_id : null;
    const start = await this.idempotency.start(scope, req.body, workerId);
    if (start.kind === 'replay') {
      res.code(start.status);
      if (start.location) res.header('Location', start.location);
      res.header('Idempotency-Replayed', 'true');
      return new StoredJson(start.body);
    }
    let result: T;
    try {
      result = await work();
    } catch (err) {
      await this.idempotency.abandon(scope, start.token).catch(() => undefined);
      throw err;
    }
    // The DTO's wire form, once: stored for replays and sent now.
    const body = serializeResponse(result);
    const location = res.getHeader('Location');
    try {
      await this.idempotency.complete(scope, start.token, { status, body, location: typeof location === 'string' ? location : null });
    } catch (err) {
      // The work is committed: the client gets its answer, never a 503 for something that happened.
      // The record stays in progress, so a retry waits (409) and only acts again once it is stale.
      this.logger.warn(`the answer to an idempotent ${req.method} was sent but not stored for replays (${err instanceof StoreUnavailableError ? `store unavailable: ${err.reason}` : 'store error'})`);
    }
    return new StoredJson(body);
  }
}

/**
 * The route with its (decoded) parameters in place: one spelling per
 * resource, whatever the client sent (`…/workers/`, an escaped character in
 * an id), so that a retry under the same key is a replay and never a second
 * side effect. For the usual spelling it is the request path itself.
 */
export function canonicalPath(route: string, params: Record<string, unknown>): string {
  return route.replace(/:([A-Za-z0-9_]+)/g, (whole, name: string) => (typeof params[name] === 'string' ? (params[name] as string) : whole));
}
