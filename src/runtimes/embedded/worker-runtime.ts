import { randomBytes } from 'node:crypto';
import { diagnostic, type Diagnostic } from '../../common/dto/diagnostic.dto';
import { type StoredItem, type StoredPageItem, type StoredRun, type StoredWorker, type StoredWorkerSummary, type StoreTx, type WorkerRole, type BackendStore, StoreUnavailableError } from '../../store/backend-store';
import type { OnBusy, SpawnAcceptance, WorkerIntent } from '../runtime-source';
import { OperationRefusedError } from '../runtime-source.errors';
import { TRANSCRIPT_PAGE_MAX_CHARS } from '../runtimes.constants';
import { appendItem, cancelAllRuns, endRun, RUN_INTERRUPTED, type RunOutcome, runSnapshot } from './run-transitions';

export interface WorkerRuntimeOptions {
  store: BackendStore;
  /** Workers that are not stopped, at most (EMBEDDED_MAX_WORKERS). */
  maxWorkers: number;
  /** Whether a model provider is configured: without one, inputs start no run. */
  executionEnabled: boolean;
  /** Queued runs per worker, the running one not counted (RUN_QUEUE_LIMIT). */
  queueLimit: number;
  now?: () => number;
}

export interface CreateWorkerSpec {
  intent: WorkerIntent;
  requestedWorkerName?: string;
  acceptance: SpawnAcceptance;
}

export type CreateWorkerResult =
  | { outcome: 'accepted'; worker: StoredWorker; evidence: Array<{ kind: string; detail: string }>; diagnostics: Diagnostic[] }
  | { outcome: 'rejected'; diagnostics: Diagnostic[] };

export interface AcceptedInput {
  worker: StoredWorker;
  item: StoredItem;
  run: StoredRun | null;
}

/** 128 random bits, hex: unguessable (SPEC §5 asks for at least 96) and identifier-safe. */
function randomId(prefix: string): string {
  return `${prefix}-${randomBytes(16).toString('hex')}`;
}

export const newWorkerId = () => randomId('embedded-worker');
export const newRunId = () => randomId('run');

/** Profile fallback (SPEC §4): built-in per ticket role, else the runtime default. */
export function resolveProfileSelector(intent: WorkerIntent): { role: WorkerRole; profileSelector: string } {
  switch (intent.kind) {
    case 'ticket_role':
      return { role: intent.role, profileSelector: `builtin:${intent.role}` };
    case 'workspace_companion':
      return { role: 'workspace_companion', profileSelector: 'runtime_default' };
    case 'workspace_orchestrator':
      return { role: 'workspace_orchestrator', profileSelector: 'runtime_default' };
  }
}

/**
 * The in-process worker runtime the backend creates at start-up and owns:
 * workers, their transcripts, their runs and their event logs. It has no
 * transport; the registry reaches it through EmbeddedSource. Every change is
 * one store transaction with the worker's row locked, so capacity, queue
 * order and event numbering hold across any number of instances sharing the
 * store. It never calls a model: RunExecutor claims runs from it.
 */
export class WorkerRuntime {
  readonly store: BackendStore;
  private readonly now: () => number;

  constructor(private readonly options: WorkerRuntimeOptions) {
    this.store = options.store;
    this.now = options.now ?? Date.now;
  }

  get maxWorkers(): number {
    return this.options.maxWorkers;
  }

  get executionEnabled(): boolean {
    return this.options.executionEnabled;
  }

  // ---- workers -----------------------------------------------------------

  async createWorker(spec: CreateWorkerSpec): Promise<CreateWorkerResult> {
    const diagnostics: Diagnostic[] = [];
    if (spec.requestedWorkerName !== undefined) {
      diagnostics.push(diagnostic('embedded_worker_name_ignored', 'info', 'requested_worker_name is a display wish; the runtime allocated its own worker id'));
    }
    if (spec.acceptance.kind === 'socket_ready') {
      diagnostics.push(diagnostic('embedded_socket_ready_unsupported', 'error', 'The embedded runtime has no socket; use acceptance kind run_accepted'));
      return { outcome: 'rejected', diagnostics };
    }
    const { role, profileSelector } = resolveProfileSelector(spec.intent);
    const worker = await this.store.write(async (tx) => {
      // The live-worker counter row is the lock: creates and stops on every instance serialise on it.
      const live = await tx.lockLiveWorkerCount();
      if (live >= this.options.maxWorkers) return undefined;
      const at = this.now();
      const created = await tx.insertWorker(
        newWorkerState({ workerId: newWorkerId(), intent: spec.intent, role, profileSelector, requestedName: spec.requestedWorkerName ?? null, atMs: at }),
      );
      await tx.setLiveWorkerCount(live + 1);
      tx.appendEvent(created, { kind: 'worker.created', data: { role, profile_selector: profileSelector, created_at_ms: at } }, at);
      await tx.saveWorker(created);
      return created;
    });
    if (!worker) {
      diagnostics.push(diagnostic('embedded_worker_limit_reached', 'error', `The embedded runtime holds its maximum of ${this.options.maxWorkers} workers that are not stopped`));
      return { outcome: 'rejected', diagnostics };
    }
    const evidence = [
      {
        kind: 'run_accepted',
        detail: `worker registered in the embedded runtime with profile ${profileSelector}; expected_segments ${spec.acceptance.expected_segments}`,
      },
    ];
    return { outcome: 'accepted', worker, evidence, diagnostics };
  }

  getWorker(workerId: string): Promise<StoredWorker | undefined> {
    return this.store.read((q) => q.getWorker(workerId));
  }

  /** Oldest first, after `afterPk`; one more than asked tells whether another page exists. */
  async listWorkers(afterPk: number, limit: number): Promise<{ workers: StoredWorkerSummary[]; more: boolean }> {
    const rows = await this.store.read((q) => q.listWorkers(afterPk, limit + 1));
    return { workers: rows.slice(0, limit), more: rows.length > limit };
  }

  /**
   * Stops a worker: its running run and queued runs are cancelled, and it
   * takes no more input. Idempotent: stopping a stopped worker changes
   * nothing and emits nothing.
   */
  async stopWorker(workerId: string, reason: string | null): Promise<StoredWorker | undefined> {
    return (await this.stop(workerId, reason))?.worker;
  }

  /** `changed` says whether this call stopped it (only one of several racing calls does). */
  private stop(workerId: string, reason: string | null, onlyIfIdleBefore?: number): Promise<{ worker: StoredWorker; changed: boolean } | undefined> {
    return this.writeEndingRuns(async (tx, keepOutput) => {
      const worker = await tx.lockWorker(workerId);
      if (!worker) return undefined;
      if (worker.state === 'stopped') return { worker, changed: false };
      // An idle stop re-checks idleness under the lock: an input or run since the sweep read it wins.
      if (onlyIfIdleBefore !== undefined && (worker.currentRunId !== null || worker.queuedRuns > 0 || worker.lastActivityAtMs >= onlyIfIdleBefore)) {
        return { worker, changed: false };
      }
      const at = this.now();
      await cancelAllRuns(tx, worker, at, keepOutput);
      worker.state = 'stopped';
      worker.stopReason = reason;
      worker.lastSeenAtMs = at;
      tx.appendEvent(worker, { kind: 'worker.state_changed', data: { state: 'stopped', reason } }, at);
      await tx.saveWorker(worker);
      await tx.setLiveWorkerCount((await tx.lockLiveWorkerCount()) - 1);
      return { worker, changed: true };
    });
  }

  /**
   * Stops the worker, then removes it with its transcript, runs, events and
   * idempotency records. One tombstone event (`worker.deleted`) stays in the
   * log so that open streams and `/api/events` readers learn of it.
   */
  deleteWorker(workerId: string): Promise<boolean> {
    return this.store.write(async (tx) => {
      const worker = await tx.lockWorker(workerId);
      if (!worker) return false;
      const at = this.now();
      // No reply copies: they would be deleted below, and on a full store they would keep the delete from freeing room.
      await cancelAllRuns(tx, worker, at, false);
      if (worker.state !== 'stopped') await tx.setLiveWorkerCount((await tx.lockLiveWorkerCount()) - 1);
      // The cancels' events go with the worker, uncommitted, and give their numbers back to the tombstone.
      await tx.deleteWorker(worker);
      tx.appendEvent(worker, { kind: 'worker.deleted', data: { worker_id: worker.workerId } }, at);
      return true;
    });
  }

  /**
   * Workers idle (no run, no queued run, no input) since before
   * `now - idleMs` are stopped with reason `idle`. Safe on every instance at
   * once: each worker is stopped by exactly one call. Returns how many this
   * call stopped.
   */
  async stopIdleWorkers(idleMs: number, batch = 100): Promise<number> {
    const cutoff = this.now() - idleMs;
    const candidates = await this.store.read((q) => q.idleWorkers(cutoff, batch));
    let stopped = 0;
    for (const candidate of candidates) {
      if ((await this.stop(candidate.workerId, 'idle', cutoff))?.changed) stopped++;
    }
    return stopped;
  }

  // ---- input and transcript ----------------------------------------------

  /**
   * Records the input; a `user` input to a worker that can execute also
   * queues a run (SPEC §9). Refusals (stopped, busy with `reject`, full queue)
   * record nothing. Undefined when the worker does not exist.
   */
  acceptInput(workerId: string, input: { kind: 'user' | 'system'; content: string; onBusy: OnBusy }): Promise<AcceptedInput | undefined> {
    return this.store.write(async (tx) => {
      const worker = await tx.lockWorker(workerId);
      if (!worker) return undefined;
      if (worker.state === 'stopped') throw new OperationRefusedError('worker_stopped');
      const startsRun = this.options.executionEnabled && input.kind === 'user';
      if (startsRun) {
        const busy = worker.currentRunId !== null || worker.queuedRuns > 0;
        if (busy && input.onBusy === 'reject') throw new OperationRefusedError('worker_busy');
        if (worker.queuedRuns >= this.options.queueLimit) throw new OperationRefusedError('worker_queue_full', 1);
      }
      const at = this.now();
      // The interrupted run ends first, so its truncated reply sits before the input that interrupted it.
      if (startsRun && input.onBusy === 'interrupt' && worker.currentRunId !== null) {
        const running = await tx.getRun(worker.currentRunId);
        if (running && running.state === 'running') await endRun(tx, worker, running, { state: 'cancelled' }, at);
      }
      const { item } = await appendItem(tx, worker, { role: input.kind, content: input.content, runId: null, truncated: false }, { kind: 'worker.input_accepted' }, at);
      let run: StoredRun | null = null;
      if (startsRun) {
        // `interrupt` runs next, ahead of runs already queued; the others queue behind them.
        const queueKey = input.onBusy === 'interrupt' ? worker.queueFront-- : worker.queueBack++;
        run = await tx.insertRun({
          runId: newRunId(),
          workerPk: worker.pk,
          state: 'queued',
          queueKey,
          inputSequence: item.sequence,
          outputSequence: null,
          createdAtMs: at,
          startedAtMs: null,
          endedAtMs: null,
          inputTokens: null,
          outputTokens: null,
          errorCode: null,
          startedEventNo: null,
          leaseOwner: null,
          leaseExpiresAtMs: null,
        });
        worker.queuedRuns++;
        tx.appendEvent(worker, { kind: 'run.queued', runId: run.runId, data: runSnapshot(run) }, at);
        tx.notify({ type: 'runs-ready' });
      }
      worker.lastSeenAtMs = at;
      worker.lastActivityAtMs = at;
      await tx.saveWorker(worker);
      return { worker, item, run };
    });
  }

  /**
   * Items `[start, start + limit)`, no more than fit `maxChars` of content
   * (at least one), and the transcript's length; undefined for an unknown worker.
   */
  async readTranscript(
    workerId: string,
    start: number,
    limit: number,
    maxChars = TRANSCRIPT_PAGE_MAX_CHARS,
  ): Promise<{ total: number; items: StoredPageItem[] } | undefined> {
    return this.store.read(async (q) => {
      const head = await q.getTranscriptHead(workerId);
      if (!head) return undefined;
      const items = await q.readItems(head.pk, start, limit, maxChars);
      // Items appended after the worker row was read may be in the page: the length is at least what was read.
      const total = Math.max(head.transcriptLength, items.length > 0 ? items[items.length - 1].sequence + 1 : 0);
      return { total, items };
    });
  }

  // ---- runs (API side) ---------------------------------------------------

  /** Newest first, before `beforePk`. Undefined for an unknown worker. */
  async listRuns(workerId: string, beforePk: number, limit: number): Promise<{ worker: StoredWorker; runs: StoredRun[]; more: boolean } | undefined> {
    return this.store.read(async (q) => {
      const worker = await q.getWorker(workerId);
      if (!worker) return undefined;
      const runs = await q.listRuns(worker.pk, beforePk, limit + 1);
      return { worker, runs: runs.slice(0, limit), more: runs.length > limit };
    });
  }

  /** Undefined: unknown worker; null: the worker has no such run. */
  async getRun(workerId: string, runId: string): Promise<StoredRun | null | undefined> {
    return this.store.read(async (q) => {
      const worker = await q.getWorker(workerId);
      if (!worker) return undefined;
      const run = await q.getRun(runId);
      return run && run.workerPk === worker.pk ? run : null;
    });
  }

  /**
   * Cancels a queued or running run (the executor, on whatever instance,
   * is told to abort its provider request). Idempotent for a cancelled run;
   * a run that ended otherwise is `run_finished`.
   */
  cancelRun(workerId: string, runId: string): Promise<StoredRun | null | undefined> {
    return this.writeEndingRuns(async (tx, keepOutput) => {
      const worker = await tx.lockWorker(workerId);
      if (!worker) return undefined;
      const run = await tx.getRun(runId);
      if (!run || run.workerPk !== worker.pk) return null;
      if (run.state === 'cancelled') return run;
      if (run.state !== 'queued' && run.state !== 'running') throw new OperationRefusedError('run_finished');
      await endRun(tx, worker, run, { state: 'cancelled' }, this.now(), keepOutput);
      return run;
    });
  }

  // ---- runs (executor side) ----------------------------------------------

  /**
   * Claims the next run of some idle worker for `owner` with a lease: the
   * worker row lock (SKIP LOCKED on Postgres) makes each run go to exactly
   * one instance, and a worker's runs start one at a time, in queue order.
   */
  claimNextRun(owner: string, leaseMs: number): Promise<{ worker: StoredWorker; run: StoredRun } | undefined> {
    return this.store.write(async (tx) => {
      const worker = await tx.lockRunnableWorker();
      if (!worker) return undefined;
      const run = worker.state === 'running' && worker.currentRunId === null ? await tx.nextQueuedRun(worker.pk) : undefined;
      if (!run) {
        // Counters out of step with the runs table: repair rather than claim forever.
        worker.queuedRuns = 0;
        await tx.saveWorker(worker);
        return undefined;
      }
      const at = this.now();
      run.state = 'running';
      run.startedAtMs = at;
      run.leaseOwner = owner;
      run.leaseExpiresAtMs = at + leaseMs;
      run.startedEventNo = worker.nextEventNo;
      tx.appendEvent(worker, { kind: 'run.started', runId: run.runId, data: runSnapshot(run) }, at);
      await tx.saveRun(run);
      worker.currentRunId = run.runId;
      worker.queuedRuns--;
      worker.lastSeenAtMs = at;
      await tx.saveWorker(worker);
      return { worker, run };
    });
  }

  /** The conversation the run's model call sees (newest first), read in O(context). */
  readContext(worker: StoredWorker, run: StoredRun, maxChars: number): Promise<StoredItem[]> {
    return this.store.read((q) => q.readContext(worker.pk, run.inputSequence, maxChars));
  }

  /**
   * Appends reply text to the run's log. False when the run is no longer
   * this owner's to write (cancelled, interrupted, lease lost): the executor
   * then stops, and the text is dropped, so stored deltas stay exactly the
   * text of the item whoever ended the run wrote.
   */
  appendDelta(owner: string, run: StoredRun, delta: string): Promise<boolean> {
    return this.store.write(async (tx) => {
      const worker = await tx.lockWorkerByPk(run.workerPk);
      const current = worker && (await tx.getRun(run.runId));
      if (!worker || !current || current.state !== 'running' || current.leaseOwner !== owner) return false;
      const at = this.now();
      tx.appendEvent(worker, { kind: 'message.delta', runId: run.runId, data: { delta } }, at);
      worker.lastSeenAtMs = at;
      await tx.saveWorker(worker);
      return true;
    });
  }

  /**
   * A write that ends runs, made again without the replies' copies into the
   * transcript when the store is full: the copy is the one part of ending a
   * run that needs room in proportion to the reply, and without this a full
   * store kept runs `running` for good (no cancel, stop, lease expiry or
   * restart could end them). The replies stay in their message.delta events.
   */
  private writeEndingRuns<T>(work: (tx: StoreTx, keepOutput: boolean) => Promise<T>): Promise<T> {
    return this.store.write((tx) => work(tx, true)).catch((err: unknown) => {
      if (!(err instanceof StoreUnavailableError) || err.reason !== 'full') throw err;
      return this.store.write((tx) => work(tx, false));
    });
  }

  /** Ends the owner's run; false when it was no longer the owner's (someone else ended it). */
  finishRun(owner: string, run: StoredRun, outcome: RunOutcome): Promise<boolean> {
    return this.writeEndingRuns(async (tx, keepOutput) => {
      const worker = await tx.lockWorkerByPk(run.workerPk);
      const current = worker && (await tx.getRun(run.runId));
      if (!worker || !current || current.state !== 'running' || current.leaseOwner !== owner) return false;
      await endRun(tx, worker, current, outcome, this.now(), keepOutput);
      return true;
    });
  }

  /** Extends the owner's leases; returns the run ids it still holds. */
  renewLeases(owner: string, runIds: string[], leaseMs: number): Promise<string[]> {
    return this.store.write((tx) => tx.renewLeases(owner, runIds, this.now() + leaseMs));
  }

  /**
   * Marks `interrupted` the runs whose executor is gone: with a time, those
   * whose lease lapsed before it (another instance died); with null, every
   * running run (start-up of a store no other process shares).
   */
  async interruptRuns(expiredBeforeMs: number | null, batch = 100): Promise<number> {
    const candidates = await this.store.read((q) => q.runningRuns(expiredBeforeMs, batch));
    let interrupted = 0;
    for (const candidate of candidates) {
      const done = await this.writeEndingRuns(async (tx, keepOutput) => {
        const worker = await tx.lockWorkerByPk(candidate.workerPk);
        const run = worker && (await tx.getRun(candidate.runId));
        if (!worker || !run || run.state !== 'running') return false;
        if (expiredBeforeMs !== null && (run.leaseExpiresAtMs ?? 0) >= expiredBeforeMs) return false; // renewed meanwhile
        await endRun(tx, worker, run, { state: 'interrupted' }, this.now(), keepOutput);
        return true;
      });
      if (done) interrupted++;
    }
    return interrupted;
  }
}

export { RUN_INTERRUPTED };

/**
 * A worker as it is created: running, nothing queued or running, an empty
 * transcript, no event yet. The `worker.created` event's projection starts
 * from this too (embedded.source.ts).
 */
export function newWorkerState(w: {
  workerId: string;
  intent: StoredWorker['intent'];
  role: StoredWorker['role'];
  profileSelector: string;
  requestedName: string | null;
  atMs: number;
}): Omit<StoredWorker, 'pk'> {
  return {
    workerId: w.workerId,
    intent: w.intent,
    role: w.role,
    profileSelector: w.profileSelector,
    requestedName: w.requestedName,
    state: 'running',
    stopReason: null,
    createdAtMs: w.atMs,
    lastSeenAtMs: w.atMs,
    lastActivityAtMs: w.atMs,
    transcriptLength: 0,
    nextEventNo: 0,
    currentRunId: null,
    queuedRuns: 0,
    queueFront: 0,
    queueBack: 1,
  };
}
