import { ProviderError } from '../model-provider';

/**
 * Classification shared by the adapters: both SDKs surface HTTP failures as a
 * status plus the provider's error body, and a broken stream as whatever
 * undici or JSON.parse threw. Every ProviderError built here carries the
 * original only as `cause`; its message is the code's fixed text.
 */

/** What an adapter learned from the provider's error body (never copied into the ProviderError's message). */
export interface HttpFailure {
  status: number;
  /** The body says the conversation does not fit the model's context. */
  contextTooLong: boolean;
  retryAfterMs: number | undefined;
  cause: unknown;
}

/** SPEC §9's table from an HTTP status to a failure code. */
export function providerErrorForStatus({ status, contextTooLong, retryAfterMs, cause }: HttpFailure): ProviderError {
  if (status === 401 || status === 403) return new ProviderError('provider_auth_failed', false, undefined, cause);
  if (status === 429) return new ProviderError('provider_rate_limited', true, retryAfterMs, cause);
  // 413: the request body itself is over the provider's (or a proxy's) size limit: for a
  // chat request that means the conversation, and no retry can change it.
  if ((status === 400 && contextTooLong) || status === 413) {
    return new ProviderError('context_too_long', false, undefined, cause);
  }
  if (status >= 500) return new ProviderError('provider_error', true, retryAfterMs, cause);
  if (status >= 400) return new ProviderError('provider_rejected', false, undefined, cause);
  // A non-error status reported as an error (1xx/3xx the SDK could not follow): not a usable answer.
  return new ProviderError('provider_bad_response', false, undefined, cause);
}

/**
 * Retry-After as milliseconds from `now`: `retry-after-ms` (sent by OpenAI and
 * Anthropic), else `retry-after` in seconds or as an HTTP date. Undefined when
 * absent or unreadable; never negative.
 */
export function parseRetryAfterMs(
  headers: { get(name: string): string | null } | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  const millis = headers.get('retry-after-ms')?.trim();
  if (millis && /^\d+(\.\d+)?$/.test(millis)) return Math.ceil(Number(millis));
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  // An HTTP date names its day and month; Date.parse would also take '-5' as the year -5.
  if (!/[A-Za-z]/.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Error codes of a socket that failed or closed under us (Node's net layer and undici). */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * True when `error` (or anything in its `cause` chain) is a broken connection.
 * While a body is being read, undici reports a socket closed by the peer as
 * `TypeError: terminated` caused by `SocketError { code: 'UND_ERR_SOCKET' }`;
 * neither SDK wraps errors thrown mid-stream, so this is what reaches us.
 */
export function isConnectionFailure(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    const { code, message, name } = e as { code?: unknown; message?: unknown; name?: unknown };
    if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
    if (name === 'TypeError' && (message === 'terminated' || message === 'fetch failed')) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A ProviderError already made by us: `error` itself, or the cause of an SDK
 * error wrapping one (providerFetch's, thrown inside the SDK's fetch, reaches
 * us as a connection error). Undefined for anything else.
 */
export function ownProviderError(error: unknown): ProviderError | undefined {
  if (error instanceof ProviderError) return error;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause instanceof ProviderError ? cause : undefined;
}

/** The stream ended cleanly but before the protocol's end marker: the connection was cut short. */
export function streamEndedEarly(): ProviderError {
  return new ProviderError('provider_unreachable', true, undefined, new Error('stream ended before its end marker'));
}

/**
 * A 200 whose body ended cleanly without a single event of the protocol (an
 * HTML page, a proxy's error text): a server answering something else, not a
 * connection cut short. Not retried, unlike streamEndedEarly.
 */
export function noEvents(): ProviderError {
  return new ProviderError('provider_bad_response', false, undefined, new Error('the answer held no event of the protocol'));
}

/** A chunk that parsed as JSON but is not what the protocol sends. */
export function badChunk(what: string): ProviderError {
  return new ProviderError('provider_bad_response', false, undefined, new Error(`unexpected chunk: ${what}`));
}

/**
 * What remains once the SDK-specific classes are handled: a mid-stream
 * connection failure, unparseable data (JSON.parse's SyntaxError, which both
 * SDKs rethrow as is), or something else the stream did that we cannot use.
 */
export function providerErrorForStreamFailure(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  if (isConnectionFailure(error)) return new ProviderError('provider_unreachable', true, undefined, error);
  return new ProviderError('provider_bad_response', false, undefined, error);
}
