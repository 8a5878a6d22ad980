import type { Diagnostic } from '../common/dto/diagnostic.dto';

/**
 * A source failed for a reason it can name generically (its store is down,
 * say). The diagnostic is public; the cause is for the operator log only.
 * Single-runtime routes turn it into a 500 carrying the diagnostic (503 when
 * `unavailable`: the store cannot answer now and a retry may work); aggregate
 * lists show the diagnostic in place of the source's items.
 */
export class RuntimeSourceError extends Error {
  constructor(
    readonly diagnostic: Diagnostic,
    override readonly cause: unknown,
    readonly unavailable = false,
  ) {
    super(diagnostic.message);
    this.name = 'RuntimeSourceError';
  }
}

/** Why a valid operation was refused by the worker's current state (SPEC §9, §10). */
export type RefusalCode = 'worker_stopped' | 'worker_busy' | 'worker_queue_full' | 'run_finished';

/** The operation is valid but the worker's state refuses it: 409, or 429 for a full queue. */
export class OperationRefusedError extends Error {
  constructor(
    readonly code: RefusalCode,
    /** For `worker_queue_full`: when a retry may succeed. */
    readonly retryAfterSeconds?: number,
  ) {
    super(code);
    this.name = 'OperationRefusedError';
  }
}
