import { StreamableFile } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyReply } from 'fastify';
import { hash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import fresh from 'fresh';
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
    if (body === undefined || body === null || body instanceof StreamableFile || !('request' in response)) return super.reply(response, body, statusCode);
    // StoredJson was serialised by this same rule before it was stored (idempotent replays): sent as is.
    const safe = body instanceof StoredJson ? body : serializeResponse(body);
    const reply = response;
    if (typeof safe !== 'object' || safe === null || reply.getHeader('content-type') !== undefined) return super.reply(response, safe, statusCode);
    const json = JSON.stringify(safe) as string | undefined;
    if (json === undefined) return super.reply(response, safe, statusCode); // a toJSON() that answers nothing
    if (statusCode !== undefined) reply.code(statusCode);
    return sendJson(reply, json);
  }
}

/**
 * Sends a JSON text with a weak ETag over its bytes, and answers a GET or
 * HEAD whose `If-None-Match` names it with a 304 and no body (unless the
 * request says `Cache-Control: no-cache`): the validators every JSON answer
 * of this API carries (SPEC §8), the same bytes Express's `res.json()` sent.
 */
export function sendJson(reply: FastifyReply, json: string): FastifyReply {
  const bytes = Buffer.from(json);
  const tag = weakETag(bytes);
  reply.header('ETag', tag);
  const { method, headers } = reply.request.raw;
  const status = reply.statusCode;
  if ((method === 'GET' || method === 'HEAD') && ((status >= 200 && status < 300) || status === 304) && headers['if-none-match'] !== undefined && fresh(headers, { etag: tag })) {
    reply.code(304);
    return reply.send();
  }
  reply.header('Content-Type', 'application/json; charset=utf-8');
  return reply.send(bytes);
}

/**
 * The `etag` package's weak tag (what Express sends): the length in hex and
 * the first 27 characters of the SHA-1 in base64. One-shot `crypto.hash`
 * rather than a Hash object per response (half the cost on a small answer).
 */
export function weakETag(bytes: Buffer): string {
  return bytes.length === 0 ? 'W/"0-2jmj7l5rSw0yVb/vlWAYkK/YBwk"' : `W/"${bytes.length.toString(16)}-${hash('sha1', bytes, 'base64').slice(0, 27)}"`;
}
