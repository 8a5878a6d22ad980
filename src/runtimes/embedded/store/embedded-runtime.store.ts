import type { TicketRole, WorkerIntent } from '../../runtime-source';

export type EmbeddedWorkerState = 'running' | 'stopped' | 'cancelled';

/** A worker as the embedded runtime keeps it. Internal: never sent as is. */
export interface StoredWorker {
  workerId: string;
  intent: WorkerIntent;
  role: TicketRole | 'workspace_companion' | 'workspace_orchestrator';
  /** `builtin:<role>` or `runtime_default`. */
  profileSelector: string;
  /** The display wish from the create request; kept for the operator, never an id. */
  requestedName: string | null;
  state: EmbeddedWorkerState;
  createdAtMs: number;
  lastSeenAtMs: number;
}

export interface StoredTranscriptItem {
  sequence: number;
  role: 'user' | 'system';
  content: string;
  eventNo: number;
}

export interface AppendedItem {
  sequence: number;
  eventNo: number;
}

/**
 * Port for the embedded runtime's state (abstract class so it can be the DI
 * token). Adapters must make `appendTranscriptItem` atomic per worker: two
 * concurrent appends never get the same sequence, and none is lost.
 */
export abstract class EmbeddedRuntimeStore {
  /** Internal identity (a name, a file, a URL without its password): operator logs only, never a secret. */
  abstract readonly identity: string;
  abstract readonly kind: 'memory' | 'sqlite' | 'postgres';
  /** Whether state survives a restart of the backend. */
  abstract readonly durable: boolean;
  /**
   * Whether appends complete (their promises resolve) in the order they were
   * called. If not, the runtime serialises appends per worker itself so that
   * events are published in event-number order.
   */
  abstract readonly appendsInCallOrder: boolean;
  /**
   * Whether other processes may change the state (several backends on one
   * database). If so, nothing in this process can tell when its view is stale,
   * so nothing is cached on top of it.
   */
  abstract readonly sharedAcrossProcesses: boolean;

  /** Opens the store and runs pending migrations (versioned, idempotent). */
  abstract init(): Promise<void>;
  /** Resolves when the store answers; rejects otherwise (health check). */
  abstract ping(): Promise<void>;

  abstract insertWorker(worker: StoredWorker): Promise<void>;
  abstract getWorker(workerId: string): Promise<StoredWorker | undefined>;
  /** Oldest first. */
  abstract listWorkers(limit: number): Promise<StoredWorker[]>;
  abstract countWorkers(): Promise<number>;
  /** Returns undefined when the worker does not exist. */
  abstract appendTranscriptItem(workerId: string, item: { role: 'user' | 'system'; content: string }, atMs: number): Promise<AppendedItem | undefined>;
  /** Items `[start, start + limit)`; O(limit). Undefined when the worker does not exist. */
  abstract readTranscript(workerId: string, start: number, limit: number): Promise<{ total: number; items: StoredTranscriptItem[] } | undefined>;
  /**
   * Transcript items whose event number is greater than `afterEventNo`, in
   * event order, at most `limit`, with the worker's latest event number (for
   * stream resume). Undefined when the worker does not exist.
   */
  abstract readEventsAfter(workerId: string, afterEventNo: number, limit: number): Promise<{ lastEventNo: number; items: StoredTranscriptItem[] } | undefined>;
  abstract close(): Promise<void>;
}
