/**
 * Collects reply text and writes it at most once per `intervalMs` (SPEC §9:
 * DELTA_COALESCE_MS), so a model streaming one token per chunk costs one
 * store write and one event per interval, not per token. Writes never
 * overlap and keep their order; text that arrives during a write goes into
 * the next one. The concatenation of everything written is exactly the text
 * pushed (until a write reports the run is no longer ours).
 */
export class DeltaCoalescer {
  private buffer = '';
  private timer?: NodeJS.Timeout;
  private writing?: Promise<void>;
  private lastWriteAt = 0;
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    /** Writes one delta; false when the run is no longer ours (nothing more is written). */
    private readonly write: (delta: string) => Promise<boolean>,
    /** Called once when writing stops for good: `lost` (the run is no longer ours) or `error` (the store failed, with its error). */
    private readonly onStopped: (why: 'lost' | 'error', error?: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  push(text: string): void {
    if (this.stopped || text.length === 0) return;
    this.buffer += text;
    this.schedule();
  }

  /** Writes whatever is buffered now and resolves when every write has finished. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.writing || (this.buffer.length > 0 && !this.stopped)) {
      if (this.writing) await this.writing;
      else await this.writeNow();
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
    const wait = Math.max(0, this.lastWriteAt + this.intervalMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeNow();
    }, wait);
  }

  private writeNow(): Promise<void> {
    if (this.stopped || this.buffer.length === 0) return Promise.resolve();
    const delta = this.buffer;
    this.buffer = '';
    this.lastWriteAt = this.now();
    this.writing = this.write(delta)
      .then((ok) => {
        if (!ok) {
          this.stop();
          this.onStopped('lost');
        }
      })
      .catch((err: unknown) => {
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
