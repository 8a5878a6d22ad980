import { StreamableFile } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { Response } from 'express';
import { serializeResponse } from './serialize-response';
import { StoredJson } from './stored-json';

/**
 * The fail-closed net behind the explicit mappers: every handler result is
 * re-serialised from its DTO class's allow-list on its way out, and a plain
 * object or an unknown class becomes a generic 500 instead of going out.
 *
 * Done where Nest hands a handler's result to Express rather than in a
 * global interceptor: an interceptor puts every request through rxjs
 * (observables built and subscribed per request), which cost ~15% of a
 * cheap GET's throughput in the profile (issue 16); `reply` is one call.
 * Error bodies do not pass here: the exception filter writes them itself.
 */
export class AllowListExpressAdapter extends ExpressAdapter {
  override reply(response: unknown, body: unknown, statusCode?: number): unknown {
    if (body === undefined || body === null || body instanceof StreamableFile) return super.reply(response, body, statusCode);
    // StoredJson was serialised by this same rule before it was stored (idempotent replays): sent as is.
    const safe = body instanceof StoredJson ? body : serializeResponse(body);
    const res = response as Response;
    if (typeof safe !== 'object' || safe === null || res.getHeader('content-type') !== undefined) return super.reply(response, safe, statusCode);
    // What Express's res.json() ends up sending (same bytes, same headers, ETag included), without
    // its setCharset pass, which parses and re-formats the Content-Type it has just set, per request.
    const json = JSON.stringify(safe) as string | undefined;
    if (json === undefined) return super.reply(response, safe, statusCode); // a toJSON() that answers nothing
    if (statusCode !== undefined) res.status(statusCode);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    return res.send(Buffer.from(json));
  }
}
