import { StreamableFile } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyReply } from 'fastify';
import type { ServerResponse } from 'node:http';
import { sendJson } from './send-json';
import { serializeResponse } from './serialize-response';
import { StoredJson } from './stored-json';

/**
 * The fail-closed net behind the explicit mappers: every handler result is
 * re-serialised from its DTO class's allow-list on its way out, and a plain
 * object or an unknown class becomes a generic 500 instead of going out.
 *
 * Done where Nest hands a handler's result to Fastify rather than in a
 * global interceptor: an interceptor puts every request through rxjs
 * (observables built and subscribed per request), which cost ~15% of a
 * cheap GET's throughput in the profile (issue 16); `reply` is one call.
 * Error bodies do not pass here: the exception filter writes them itself,
 * through {@link sendJson} too.
 */
export class AllowListFastifyAdapter extends FastifyAdapter {
  override reply(response: ServerResponse | FastifyReply, body: unknown, statusCode?: number): FastifyReply {
    if (body === undefined || body === null || body instanceof StreamableFile) return super.reply(response, body, statusCode);
    // StoredJson was serialised by this same rule before it was stored (idempotent replays): sent as is.
    const safe = body instanceof StoredJson ? body : serializeResponse(body);
    // Nest hands Node's own response where it has no FastifyReply: the base class wraps it (the body is already safe).
    if (!('request' in response) || typeof safe !== 'object' || safe === null || response.getHeader('content-type') !== undefined) return super.reply(response, safe, statusCode);
    const json = JSON.stringify(safe) as string | undefined;
    if (json === undefined) return super.reply(response, safe, statusCode); // a toJSON() that answers nothing
    if (statusCode !== undefined) response.code(statusCode);
    return sendJson(response, json);
  }
}
