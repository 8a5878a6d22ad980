import { randomBytes } from 'node:crypto';
import { STORE_FULL } from '../runtimes/embedded/run-transitions';
import type { WorkerRuntime } from '../runtimes/embedded/worker-runtime';
import { type StoredItem, type StoredRun, type StoredWorker, type StoreNotice, StoreUnavailableError } from '../store/backend-store';
import { DeltaCoalescer } from './delta-coalescer';
import { callModel } from './model-call';
import { type ChatMessage, type ModelProvider, ProviderError } from './model-provider';
import { systemPromptFor } from './profiles';

export interface RunExecutorOptions {
  /** Runs executing at once in this process (EXECUTION_CONCURRENCY). */
  concurrency: number;
  /** How long a claimed run stays ours without renewal; renewed every third of it (RUN_LEASE_MS). */
  leaseMs: number;
  /** Characters of transcript the model sees, newest first (RUN_CONTEXT_MAX_CHARS). */
  contextMaxChars: number;
  /** At most one delta event per worker per interval (DELTA_COALESCE_MS). */
  deltaCoalesceMs: number;
  /** First chunk and every gap between chunks (MODEL_TIMEOUT_MS). */
  modelTimeoutMs: number;
  /** The whole run (RUN_MAX_MS). */
  runMaxMs: number;
  /** Longest reply kept (RUN_MAX_OUTPUT_CHARS): a server that never stops is cut off. */
  maxOutputChars: number;
  /** When no other process can be executing runs (SQLite, memory): running runs at start-up were this process's and are interrupted at once. */
  storeIsExclusive: boolean;
  log: { log(message: string): void; warn(message: string): void; error(message: string): void };
}

/** Why this process stopped a run it was executing (the abort reason of its signal). */
class RunStop {
  constructor(
    readonly why: 'ended-elsewhere' | 'too-long' | 'store-error' | 'shutdown',
    /** For `store-error`: what the store threw, for the operator log. */
    readonly cause?: unknown,
  ) {}
}

interface ActiveRun {
  run: StoredRun;
  worker: StoredWorker;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Executes queued runs against the model provider: claims them from the
 * store (each run goes to exactly one instance), holds a renewed lease while
 * it runs them, streams reply text into the run's log, and ends them. A run
 * ended elsewhere (cancel, stop or delete on any instance) arrives as a
 * notice and aborts the provider request here. Runs whose lease lapsed (an
 * instance died) are marked interrupted by whichever instance notices, and
 * their workers' queues go on.
 */
export class RunExecutor {
  /** This process's identity as a lease holder. */
  readonly owner = `exec-${randomBytes(8).toString('hex')}`;
  private readonly active = new Map<string, ActiveRun>();
  private pumping = false;
  private pumpAgain = false;
  private waitingForRoom = false;
  private stopping = false;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe?: () => void;

  constructor(
    private readonly runtime: WorkerRuntime,
    /** Null when no provider is configured: nothing is claimed, but crashed runs are still interrupted. */
    private readonly provider: ModelProvider | null,
    private readonly options: RunExecutorOptions,
  ) {}

  get activeRuns(): number {
    return this.active.size;
  }

  async start(): Promise<void> {
    if (this.options.storeIsExclusive) {
      try {
        const interrupted = await this.runtime.interruptRuns(null);
        if (interrupted > 0) this.options.log.warn(`${interrupted} run(s) were running when the backend last stopped: marked interrupted`);
      } catch (err) {
        // A store that cannot take even that (full to the last page, locked) must not keep the backend from
        // starting: those runs' leases have lapsed, so the sweep below ends them as soon as it can write.
        if (!(err instanceof StoreUnavailableError)) throw err;
        this.options.log.warn(`runs left running when the backend last stopped are not marked interrupted yet (store unavailable: ${err.reason}); the lease sweep retries`);
      }
    }
    this.unsubscribe = this.runtime.store.subscribe((notice) => this.onNotice(notice));
    const { leaseMs } = this.options;
    this.every(Math.max(100, Math.floor(leaseMs / 3)), () => this.renewLeases());
    this.every(Math.max(200, Math.floor(leaseMs / 2)), () => this.interruptLapsed());
    // A safety net under the doorbell: a missed notice delays a run by at most this.
    this.every(1000, () => this.pump());
    this.pump();
  }

  private every(ms: number, task: () => unknown): void {
    const timer = setInterval(() => {
      try {
        void Promise.resolve(task()).catch((err) => this.options.log.error(`run executor: ${describe(err)}`));
      } catch (err) {
        this.options.log.error(`run executor: ${describe(err)}`);
      }
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private onNotice(notice: StoreNotice): void {
    if (notice.type === 'runs-ready' || notice.type === 'resync') this.pump();
    else if (notice.type === 'run-cancelled') this.active.get(notice.runId)?.controller.abort(new RunStop('ended-elsewhere'));
  }

  /** Claims runs while there is capacity. Single flight; a call during a pump makes it go round again. */
  pump(): void {
    if (!this.provider || this.stopping) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      try {
        do {
          this.pumpAgain = false;
          while (this.active.size < this.options.concurrency && !this.stopping && this.storeHasRoom()) {
            const claimed = await this.runtime.claimNextRun(this.owner, this.options.leaseMs);
            if (!claimed) break;
            this.launch(claimed.worker, claimed.run);
          }
        } while (this.pumpAgain && !this.stopping);
      } catch (err) {
        this.options.log.error(`claiming runs failed: ${describe(err)}`);
      } finally {
        this.pumping = false;
      }
    })();
  }

  /**
   * A nearly full store would take the claim (a small write) but not the reply: the provider would
   * be paid for text that ends `store_full`. Queued runs wait instead; the pump's one-second timer
   * claims them once a delete has made room. Said once each way in the log.
   */
  private storeHasRoom(): boolean {
    const room = this.runtime.store.hasRoomForRuns();
    if (room === this.waitingForRoom) {
      this.waitingForRoom = !room;
      if (room) this.options.log.log('the store has room again: claiming queued runs');
      else this.options.log.warn('the store is nearly full: queued runs wait until deletes make room');
    }
    return room;
  }

  private launch(worker: StoredWorker, run: StoredRun): void {
    const controller = new AbortController();
    const entry: ActiveRun = { run, worker, controller, done: Promise.resolve() };
    this.active.set(run.runId, entry);
    entry.done = this.execute(entry)
      .catch((err) => this.options.log.error(`run ${run.runId} failed in the backend: ${describe(err)}`))
      .finally(() => {
        this.active.delete(run.runId);
        this.pump();
      });
  }

  private async execute({ run, worker, controller }: ActiveRun): Promise<void> {
    const stopWith = (why: RunStop['why'], cause?: unknown) => controller.abort(new RunStop(why, cause));
    const coalescer = new DeltaCoalescer(
      this.options.deltaCoalesceMs,
      (delta) => this.runtime.appendDelta(this.owner, run, delta),
      (why, error) => stopWith(why === 'lost' ? 'ended-elsewhere' : 'store-error', error),
      Date.now,
      // Another process holding SQLite's write lock for a moment (a backup) must not end the run; half a lease at most.
      { isTransient: (err) => err instanceof StoreUnavailableError && err.reason === 'busy', forMs: Math.floor(this.options.leaseMs / 2) },
    );
    let produced = 0;
    try {
      const messages = await this.conversation(worker, run);
      if (!messages) {
        await this.runtime.finishRun(this.owner, run, { state: 'failed', errorCode: 'context_too_long', usage: null });
        return;
      }
      const startedAt = run.startedAtMs ?? Date.now();
      const { usage } = await callModel(
        this.provider!,
        messages,
        (text) => {
          produced += text.length;
          if (produced > this.options.maxOutputChars) return stopWith('too-long');
          coalescer.push(text);
        },
        { signal: controller.signal, timeoutMs: this.options.modelTimeoutMs, deadlineAt: startedAt + this.options.runMaxMs, onRetry: (attempt, err) => this.options.log.warn(`run ${run.runId}: provider attempt ${attempt} failed (${err.code}); retrying`) },
      );
      await coalescer.flush();
      if (controller.signal.aborted) throw controller.signal.reason;
      await this.runtime.finishRun(this.owner, run, { state: 'completed', usage });
    } catch (err) {
      const reason = controller.signal.aborted ? controller.signal.reason : undefined;
      if (reason instanceof RunStop && reason.why === 'ended-elsewhere') {
        coalescer.stop(); // whoever ended it wrote the item from the stored deltas
        return;
      }
      // Keep what was produced: it becomes the truncated item.
      await coalescer.flush();
      if (reason instanceof RunStop && reason.why === 'shutdown') {
        await this.runtime.finishRun(this.owner, run, { state: 'interrupted' });
        return;
      }
      const errorCode =
        reason instanceof RunStop && reason.why === 'too-long'
          ? 'output_too_long'
          : reason instanceof RunStop && reason.why === 'store-error' && reason.cause instanceof StoreUnavailableError && reason.cause.reason === 'full'
            ? STORE_FULL
            : err instanceof ProviderError
              ? err.code
              : 'internal_error';
      // The provider's own text (its error body, its URL) is never logged: only the fixed code, and its HTTP status.
      // A run stopped because its deltas could not be stored: the store's error, not the stop, is the cause.
      if (errorCode === 'internal_error') this.options.log.error(`run ${run.runId} failed in the backend: ${describe(err instanceof RunStop ? (err.cause ?? `stopped (${err.why})`) : err)}`);
      else this.options.log.warn(`run ${run.runId} failed: ${errorCode}${httpStatusOf(err)}`);
      await this.runtime.finishRun(this.owner, run, { state: 'failed', errorCode, usage: null });
    }
  }

  /**
   * What the model sees: the profile's system prompt, then the transcript
   * tail that fits the budget, oldest first, ending with the run's own input.
   * Undefined when not even that input fits.
   */
  private async conversation(worker: StoredWorker, run: StoredRun): Promise<ChatMessage[] | undefined> {
    const system = systemPromptFor(worker.profileSelector);
    const items: StoredItem[] = await this.runtime.readContext(worker, run, Math.max(0, this.options.contextMaxChars - system.length));
    if (items.length === 0 || items[0].sequence !== run.inputSequence) return undefined;
    return [{ role: 'system', content: system }, ...items.reverse().map((i) => ({ role: i.role, content: i.content }))];
  }

  private async renewLeases(): Promise<void> {
    if (this.active.size === 0) return;
    // Only the runs asked about: a run launched while the renewal is in flight was not in the question.
    const asked = [...this.active.keys()];
    const held = new Set(await this.runtime.renewLeases(this.owner, asked, this.options.leaseMs));
    for (const runId of asked) {
      // Not ours any more (ended or taken over while we could not renew): stop without writing.
      if (!held.has(runId)) this.active.get(runId)?.controller.abort(new RunStop('ended-elsewhere'));
    }
  }

  private async interruptLapsed(): Promise<void> {
    const n = await this.runtime.interruptRuns(Date.now());
    if (n > 0) this.options.log.warn(`${n} run(s) lost their executor (lease expired): marked interrupted`);
  }

  /**
   * Stops claiming, lets running runs finish for up to `graceMs`, then
   * interrupts the rest (their partial text is kept) and stops the timers.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    const all = Promise.allSettled([...this.active.values()].map((a) => a.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const entry of this.active.values()) entry.controller.abort(new RunStop('shutdown'));
    await Promise.allSettled([...this.active.values()].map((a) => a.done));
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }
}

/** ` (HTTP 429)` when the provider's failure carried a status: enough for the operator, nothing of its text. */
function httpStatusOf(err: unknown): string {
  const status = (err as { cause?: { status?: unknown } })?.cause?.status;
  return typeof status === 'number' ? ` (HTTP ${status})` : '';
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
