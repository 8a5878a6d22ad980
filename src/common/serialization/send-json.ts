import type { FastifyReply } from 'fastify';
import { hash } from 'node:crypto';
import fresh from 'fresh';

/**
 * Sends a JSON text with a weak ETag over its bytes, and answers a GET or
 * HEAD whose `If-None-Match` names it with a 304 and no body (unless the
 * request says `Cache-Control: no-cache`): the validators every JSON answer
 * of this API carries (SPEC §8), the same bytes Express's `res.json()` sent.
 * Used for every JSON answer: the adapter's (allow-list-fastify.adapter.ts)
 * and the exception filter's.
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
