import { MAX_TRACKED_KEYS, RateLimiter } from './rate-limiter';

describe('RateLimiter (token bucket per key)', () => {
  it('allows perMinute at once, then refuses with the seconds until the next token', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter(60, () => now); // one token a second
    for (let i = 0; i < 60; i++) expect(limiter.take('k')).toEqual({ allowed: true });
    expect(limiter.take('k')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    now += 999;
    expect(limiter.take('k').allowed).toBe(false);
    now += 1;
    expect(limiter.take('k')).toEqual({ allowed: true });
    expect(limiter.take('k').allowed).toBe(false);
  });

  it('refills continuously up to the budget, never past it', () => {
    let now = 0;
    const limiter = new RateLimiter(6, () => now); // one token every 10 s
    for (let i = 0; i < 6; i++) limiter.take('k');
    const refused = limiter.take('k');
    expect(refused).toEqual({ allowed: false, retryAfterSeconds: 10 });
    now += 3_600_000; // an hour idle: still only 6
    for (let i = 0; i < 6; i++) expect(limiter.take('k').allowed).toBe(true);
    expect(limiter.take('k').allowed).toBe(false);
  });

  it('keeps one budget per key', () => {
    const limiter = new RateLimiter(1, () => 0);
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
    expect(limiter.take('b').allowed).toBe(true);
  });

  it('tracks at most MAX_TRACKED_KEYS keys, dropping refilled buckets first', () => {
    let now = 0;
    const limiter = new RateLimiter(10, () => now); // a spent bucket refills in 60 s, one with 9 tokens in 6 s
    for (let i = 0; i < 10; i++) limiter.take('busy');
    for (let i = 0; i < MAX_TRACKED_KEYS + 2_000; i++) {
      limiter.take(`k${i}`);
      if (i % 100 === 0) expect(limiter.size).toBeLessThanOrEqual(MAX_TRACKED_KEYS);
      now += 1;
    }
    expect(limiter.size).toBeLessThanOrEqual(MAX_TRACKED_KEYS);
    // 12 s later 'busy' has refilled 2 tokens; had it been dropped, it would start again with 10.
    expect(limiter.take('busy').allowed).toBe(true);
    expect(limiter.take('busy').allowed).toBe(true);
    expect(limiter.take('busy').allowed).toBe(false);
  });

  it('costs the same per request whatever the limit (no per-hit state)', () => {
    const limiter = new RateLimiter(100_000, () => 0);
    for (let i = 0; i < 100_000; i++) limiter.take('k');
    // One bucket: two numbers, whatever was spent.
    expect(limiter.size).toBe(1);
    expect(limiter.take('k')).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });
});
