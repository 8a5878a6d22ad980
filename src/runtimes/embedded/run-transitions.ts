import type { ItemRole, NewEvent, StoredEvent, StoredItem, StoredRun, StoredWorker, StoreTx } from '../../store/backend-store';

/*
 * The state changes every path shares (an executor finishing a run, a cancel
 * from any instance, a stop, a delete, a lease that lapsed), written once and
 * always run inside the caller's transaction with the worker row locked.
 */

/** How a run ended. Usage is kept whatever the outcome, when the provider reported it. */
export type RunOutcome =
  | { state: 'completed'; usage: RunUsage | null }
  | { state: 'failed'; errorCode: string; usage: RunUsage | null }
  | { state: 'cancelled' }
  | { state: 'interrupted' };

export interface RunUsage {
  inputTokens: number;
  outputTokens: number;
}

/** The error code of a run interrupted by the death of the instance executing it (SPEC §9). */
export const RUN_INTERRUPTED = 'run_interrupted';
/** A run whose reply the store had no room for: its next delta, or its copy into the transcript (run-errors.ts). */
export const STORE_FULL = 'store_full';

/** What `run.*` events carry: the run as it was at that moment. */
export function runSnapshot(run: StoredRun): Record<string, unknown> {
  return {
    run_id: run.runId,
    state: run.state,
    input_sequence: run.inputSequence,
    output_sequence: run.outputSequence,
    created_at_ms: run.createdAtMs,
    started_at_ms: run.startedAtMs,
    ended_at_ms: run.endedAtMs,
    input_tokens: run.inputTokens,
    output_tokens: run.outputTokens,
    error_code: run.errorCode,
  };
}

/** Inverse of `runSnapshot`, for events read back from the log. */
export function runFromSnapshot(data: Record<string, unknown>): Omit<StoredRun, 'pk' | 'workerPk' | 'queueKey' | 'startedEventNo' | 'leaseOwner' | 'leaseExpiresAtMs'> {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    runId: String(data.run_id),
    state: data.state as StoredRun['state'],
    inputSequence: Number(data.input_sequence),
    outputSequence: n(data.output_sequence),
    createdAtMs: Number(data.created_at_ms),
    startedAtMs: n(data.started_at_ms),
    endedAtMs: n(data.ended_at_ms),
    inputTokens: n(data.input_tokens),
    outputTokens: n(data.output_tokens),
    errorCode: data.error_code === null || data.error_code === undefined ? null : String(data.error_code),
  };
}

/**
 * Appends a transcript item and the event that publishes it. The item
 * records that event's number, so it is taken before either is written.
 */
export async function appendItem(
  tx: StoreTx,
  worker: StoredWorker,
  item: { role: ItemRole; content: string; runId: string | null; truncated: boolean; anchorSequence?: number },
  event: Omit<NewEvent, 'itemSequence'>,
  atMs: number,
): Promise<{ item: StoredItem; event: StoredEvent }> {
  const sequence = worker.transcriptLength++;
  const stored: StoredItem = {
    sequence,
    role: item.role,
    content: item.content,
    eventNo: worker.nextEventNo,
    runId: item.runId,
    truncated: item.truncated,
    anchorSequence: item.anchorSequence ?? sequence,
    createdAtMs: atMs,
  };
  await tx.insertItem(worker.pk, stored);
  return { item: stored, event: tx.appendEvent(worker, { ...event, itemSequence: sequence }, atMs) };
}

/**
 * Ends a queued or running run. The reply is rebuilt from the run's stored
 * deltas, so whoever ends it (its executor, or a cancel on another instance)
 * writes the same text, and the deltas a client saw always concatenate to
 * the item: a completed run always gets its item; any other outcome keeps
 * what was produced as a `truncated` item. Frees the worker for its next
 * run. The caller saves nothing: this saves the run and the worker.
 */
export async function endRun(tx: StoreTx, worker: StoredWorker, run: StoredRun, outcome: RunOutcome, atMs: number, keepOutput = true): Promise<void> {
  const wasRunning = run.state === 'running';
  // Without the copy (a full store, see WorkerRuntime.writeEndingRuns; a delete) the reply stays in the run's
  // message.delta events only; a run that completed then failed to keep its reply.
  if (!keepOutput && outcome.state === 'completed') outcome = { state: 'failed', errorCode: STORE_FULL, usage: outcome.usage };
  if (wasRunning && keepOutput) {
    const content = await tx.runOutput(worker.pk, run);
    if (outcome.state === 'completed' || content.length > 0) {
      const { item } = await appendItem(
        tx,
        worker,
        { role: 'assistant', content, runId: run.runId, truncated: outcome.state !== 'completed', anchorSequence: run.inputSequence },
        { kind: 'message.completed', runId: run.runId },
        atMs,
      );
      run.outputSequence = item.sequence;
    }
  } else if (run.state === 'queued') {
    worker.queuedRuns--;
  }
  run.state = outcome.state;
  run.endedAtMs = atMs;
  run.errorCode = outcome.state === 'failed' ? outcome.errorCode : outcome.state === 'interrupted' ? RUN_INTERRUPTED : null;
  if ('usage' in outcome && outcome.usage) {
    run.inputTokens = outcome.usage.inputTokens;
    run.outputTokens = outcome.usage.outputTokens;
  }
  run.leaseOwner = null;
  run.leaseExpiresAtMs = null;
  await tx.saveRun(run);
  tx.appendEvent(worker, { kind: `run.${outcome.state}`, runId: run.runId, data: runSnapshot(run) }, atMs);
  if (worker.currentRunId === run.runId) worker.currentRunId = null;
  worker.lastActivityAtMs = atMs;
  worker.lastSeenAtMs = atMs;
  await tx.saveWorker(worker);
  // Whoever executes it must stop; the next queued run may start.
  if (wasRunning) tx.notify({ type: 'run-cancelled', runId: run.runId });
  if (worker.state === 'running' && worker.currentRunId === null && worker.queuedRuns > 0) tx.notify({ type: 'runs-ready' });
}

/** Cancels the running run and every queued one (stop, delete). */
export async function cancelAllRuns(tx: StoreTx, worker: StoredWorker, atMs: number, keepOutput = true): Promise<void> {
  if (worker.currentRunId !== null) {
    const running = await tx.getRun(worker.currentRunId);
    if (running && running.state === 'running') await endRun(tx, worker, running, { state: 'cancelled' }, atMs, keepOutput);
    else worker.currentRunId = null;
  }
  for (const run of await tx.queuedRuns(worker.pk)) await endRun(tx, worker, run, { state: 'cancelled' }, atMs, keepOutput);
  worker.queuedRuns = 0;
}
