import { PROVIDER_ERROR_MESSAGES, ProviderError } from '../model-provider';
import { isConnectionFailure, parseRetryAfterMs, providerErrorForStatus, providerErrorForStreamFailure } from './provider-failure';

const headers = (entries: Record<string, string>) => new Headers(entries);

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2026-11-26T12:00:00Z');

  it('reads seconds', () => {
    expect(parseRetryAfterMs(headers({ 'retry-after': '7' }), now)).toBe(7000);
    expect(parseRetryAfterMs(headers({ 'retry-after': '0.5' }), now)).toBe(500);
    expect(parseRetryAfterMs(headers({ 'retry-after': '0' }), now)).toBe(0);
  });

  it('reads an HTTP date relative to now, never negative', () => {
    expect(parseRetryAfterMs(headers({ 'retry-after': 'Thu, 26 Nov 2026 12:00:30 GMT' }), now)).toBe(30_000);
    expect(parseRetryAfterMs(headers({ 'retry-after': 'Thu, 26 Nov 2026 11:59:00 GMT' }), now)).toBe(0);
  });

  it('prefers retry-after-ms', () => {
    expect(parseRetryAfterMs(headers({ 'retry-after-ms': '1234', 'retry-after': '9' }), now)).toBe(1234);
  });

  it('is undefined when absent or unreadable', () => {
    expect(parseRetryAfterMs(undefined, now)).toBeUndefined();
    expect(parseRetryAfterMs(headers({}), now)).toBeUndefined();
    expect(parseRetryAfterMs(headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(parseRetryAfterMs(headers({ 'retry-after': '-5' }), now)).toBeUndefined();
  });
});

describe('providerErrorForStatus', () => {
  const of = (status: number, contextTooLong = false) =>
    providerErrorForStatus({ status, contextTooLong, retryAfterMs: 3000, cause: new Error(`body ${status}`) });

  it.each([
    [401, false, 'provider_auth_failed', false],
    [403, false, 'provider_auth_failed', false],
    [429, false, 'provider_rate_limited', true],
    [400, true, 'context_too_long', false],
    [413, false, 'context_too_long', false],
    [400, false, 'provider_rejected', false],
    [404, false, 'provider_rejected', false],
    [422, false, 'provider_rejected', false],
    [500, false, 'provider_error', true],
    [503, false, 'provider_error', true],
    [529, false, 'provider_error', true],
  ] as const)('%i (context too long: %s) → %s, retryable %s', (status, contextTooLong, code, retryable) => {
    const error = of(status, contextTooLong);
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(retryable);
    expect(error.message).toBe(PROVIDER_ERROR_MESSAGES[code]);
    expect((error.cause as Error).message).toBe(`body ${status}`);
  });

  it('carries Retry-After on 429 and 5xx only', () => {
    expect(of(429).retryAfterMs).toBe(3000);
    expect(of(503).retryAfterMs).toBe(3000);
    expect(of(400).retryAfterMs).toBeUndefined();
  });
});

describe('stream failures', () => {
  it('recognises a connection cut mid-body as undici reports it', () => {
    const socketError = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    const terminated = new TypeError('terminated', { cause: socketError });
    expect(isConnectionFailure(terminated)).toBe(true);
    expect(providerErrorForStreamFailure(terminated)).toMatchObject({ code: 'provider_unreachable', retryable: true });
  });

  it('recognises errno-style socket errors anywhere in the cause chain', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(isConnectionFailure(new Error('wrapped', { cause: reset }))).toBe(true);
  });

  it('treats unparseable data and anything else as provider_bad_response, not retried', () => {
    let syntaxError: unknown;
    try {
      JSON.parse('{nope');
    } catch (error) {
      syntaxError = error;
    }
    expect(providerErrorForStreamFailure(syntaxError)).toMatchObject({ code: 'provider_bad_response', retryable: false });
    expect(providerErrorForStreamFailure(new TypeError('x is undefined'))).toMatchObject({ code: 'provider_bad_response' });
  });

  it('passes a ProviderError through', () => {
    const error = new ProviderError('provider_timeout', true);
    expect(providerErrorForStreamFailure(error)).toBe(error);
  });
});
