import { StreamableFile } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
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
    // StoredJson was serialised by this same rule before it was stored (idempotent replays): sent as is.
    const safe = body === undefined || body === null || body instanceof StoredJson || body instanceof StreamableFile ? body : serializeResponse(body);
    return super.reply(response, safe, statusCode);
  }
}
