/** Keys whose bucket is tracked at once; past it, buckets that are full again are dropped first. */
export const MAX_TRACKED_KEYS = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * SPEC §11's per-key rate limit, as a token bucket per key: `perMinute`
 * requests may come at once, and the budget refills continuously at
 * `perMinute` per minute. O(1) time and memory per key and per request.
 *
 * Replaces @nestjs/throttler's in-memory storage, which keeps one timestamp
 * per request inside the window and filters the whole list on every
 * request: at a limit of 100,000 per minute that is a 100,000-entry array
 * per key scanned per request (it was the largest single cost of a cheap GET
 * under load, and memory grew with the limit). Per instance: several
 * instances each allow the full budget (README).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    this.perMs = perMinute / 60_000;
  }

  take(key: string): RateDecision {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= MAX_TRACKED_KEYS) this.evict(now);
      bucket = { tokens: this.perMinute, at: now };
      this.buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * this.perMs);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000)) };
  }

  /** How many keys are tracked (for tests of the bound). */
  get size(): number {
    return this.buckets.size;
  }

  private evict(now: number): void {
    // A bucket that has refilled is indistinguishable from a new one: dropping it changes nothing.
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.at) * this.perMs >= this.perMinute) this.buckets.delete(key);
    }
    // Still full of busy keys (more distinct keys than the bound, all spending): drop the oldest half.
    if (this.buckets.size >= MAX_TRACKED_KEYS) {
      let n = this.buckets.size >> 1;
      for (const key of this.buckets.keys()) {
        if (n-- <= 0) break;
        this.buckets.delete(key);
      }
    }
  }
}
