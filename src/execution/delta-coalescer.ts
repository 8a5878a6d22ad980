/**
 * Collects reply text and writes it at most once per `intervalMs` (SPEC §9:
 * DELTA_COALESCE_MS), so a model streaming one token per chunk costs one
 * store write and one event per interval, not per token. Writes never
 * overlap and keep their order; text that arrives during a write goes into
 * the next one. The concatenation of everything written is exactly the text
 * pushed (until a write reports the run is no longer ours). A write that
 * fails transiently (`retry.isTransient`: another process holding SQLite's
 * write lock past the busy timeout) is made again, first, text and order
 * kept, at most every RETRY_DELAY_MS for `retry.forMs` from the first
 * failure; past that, or on any other error, writing stops.
 */
export class DeltaCoalescer {
  private buffer = '';
  private timer?: NodeJS.Timeout;
  private writing?: Promise<void>;
  private lastWriteAt = 0;
  private stopped = false;
  /** When the writes began failing transiently; undefined while they succeed. */
  private failingSince?: number;

  constructor(
    private readonly intervalMs: number,
    /** Writes one delta; false when the run is no longer ours (nothing more is written). */
    private readonly write: (delta: string) => Promise<boolean>,
    /** Called once when writing stops for good: `lost` (the run is no longer ours) or `error` (the store failed, with its error). */
    private readonly onStopped: (why: 'lost' | 'error', error?: unknown) => void,
    private readonly now: () => number = Date.now,
    private readonly retry: { isTransient: (err: unknown) => boolean; forMs: number } = NO_RETRY,
  ) {}

  push(text: string): void {
    if (this.stopped || text.length === 0) return;
    this.buffer += text;
    this.schedule();
  }

  /** Writes whatever is buffered now and resolves when every write has finished. */
  async flush(): Promise<void> {
    let waited = false;
    while (this.writing || (this.buffer.length > 0 && !this.stopped)) {
      clearTimeout(this.timer);
      this.timer = undefined;
      if (this.writing) {
        await this.writing;
      } else if (this.failingSince !== undefined && !waited) {
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
        waited = true;
      } else {
        waited = false;
        await this.writeNow();
      }
    }
  }

  /** Drops what is buffered and writes nothing more. */
  stop(): void {
    this.stopped = true;
    this.buffer = '';
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.timer || this.writing) return;
    const wait = Math.max(0, this.lastWriteAt + (this.failingSince === undefined ? this.intervalMs : Math.max(this.intervalMs, RETRY_DELAY_MS)) - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeNow();
    }, wait);
  }

  private writeNow(): Promise<void> {
    if (this.writing) return this.writing; // a timer and flush() may both ask
    if (this.stopped || this.buffer.length === 0) return Promise.resolve();
    const delta = this.buffer;
    this.buffer = '';
    this.lastWriteAt = this.now();
    this.writing = this.write(delta)
      .then((ok) => {
        this.failingSince = undefined;
        if (!ok) {
          this.stop();
          this.onStopped('lost');
        }
      })
      .catch((err: unknown) => {
        const at = this.now();
        this.failingSince ??= at;
        if (!this.stopped && this.retry.isTransient(err) && at - this.failingSince < this.retry.forMs) {
          this.buffer = delta + this.buffer; // again, first
          return;
        }
        this.stop();
        this.onStopped('error', err);
      })
      .finally(() => {
        this.writing = undefined;
        if (this.buffer.length > 0 && !this.stopped) this.schedule();
      });
    return this.writing;
  }
}

/** Between two attempts of a write that failed transiently (each may hold the thread for SQLite's busy timeout). */
const RETRY_DELAY_MS = 100;
const NO_RETRY = { isTransient: () => false, forMs: 0 };
