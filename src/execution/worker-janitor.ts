import { Logger } from '@nestjs/common';
import type { WorkerRuntime } from '../runtimes/embedded/worker-runtime';

/**
 * Periodic upkeep. Stops workers idle for WORKER_IDLE_STOP_MS (reason `idle`). Every instance
 * runs it; the stop itself re-checks idleness under the worker's row lock
 * and does nothing for a stopped worker, so a worker is stopped once, with
 * one event, however many instances notice it.
 */
export class WorkerJanitor {
  private readonly logger = new Logger(WorkerJanitor.name);
  private timer?: NodeJS.Timeout;
  private running = false;

  private purgeTimer?: NodeJS.Timeout;

  constructor(
    private readonly runtime: WorkerRuntime,
    private readonly idleStopMs: number | null,
    /** Removes idempotency records past their 24 h (bounded per call); the table does not grow forever. */
    private readonly purgeIdempotency: () => Promise<number>,
  ) {}

  start(): void {
    this.purgeTimer = setInterval(() => void this.purge(), 10 * 60_000);
    this.purgeTimer.unref();
    if (this.idleStopMs === null) return;
    const every = Math.min(30_000, Math.max(250, Math.floor(this.idleStopMs / 4)));
    this.timer = setInterval(() => void this.sweep(), every);
    this.timer.unref();
  }

  private async purge(): Promise<void> {
    try {
      const removed = await this.purgeIdempotency();
      if (removed > 0) this.logger.log(`removed ${removed} idempotency record(s) older than 24 h`);
    } catch (err) {
      this.logger.warn(`idempotency purge failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private async sweep(): Promise<void> {
    if (this.running || this.idleStopMs === null) return;
    this.running = true;
    try {
      const stopped = await this.runtime.stopIdleWorkers(this.idleStopMs);
      if (stopped > 0) this.logger.log(`stopped ${stopped} idle worker(s)`);
    } catch (err) {
      this.logger.error(`idle stop failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.purgeTimer);
  }
}
