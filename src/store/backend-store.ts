import type { WorkerIntent } from '../runtimes/runtime-source';

/*
 * The embedded runtime's persistence port. Adapters (SQLite — also used for
 * `memory:` — and Postgres) implement primitive reads and writes; the domain
 * logic that combines them (capacity, queues, runs, events) is written once,
 * in src/runtimes/embedded/, inside `write()` transactions.
 *
 * Everything here is internal: records carry what the domain needs and are
 * projected by the runtime source before anything reaches a client.
 */

export type WorkerState = 'running' | 'stopped';
export type WorkerRole = 'intake' | 'orchestrator' | 'coder' | 'reviewer' | 'workspace_companion' | 'workspace_orchestrator';

export interface StoredWorker {
  /** Internal integer key: insertion order, so lists are "oldest first" and cursors are stable. */
  pk: number;
  workerId: string;
  intent: WorkerIntent;
  role: WorkerRole;
  /** `builtin:<role>` or `runtime_default`. */
  profileSelector: string;
  /** The display wish from the create request; kept for the operator, never an id. */
  requestedName: string | null;
  state: WorkerState;
  stopReason: string | null;
  createdAtMs: number;
  lastSeenAtMs: number;
  /** Last input or run end: what WORKER_IDLE_STOP_MS measures from. */
  lastActivityAtMs: number;
  transcriptLength: number;
  /** The next event number to allocate; 0 was `worker.created`. */
  nextEventNo: number;
  currentRunId: string | null;
  queuedRuns: number;
  /** Queue keys: enqueue takes `queueBack`, `on_busy: interrupt` takes `queueFront` (both move outwards). */
  queueFront: number;
  queueBack: number;
}

/**
 * A worker as a list shows it. `listWorkers` leaves out the intent (a JSON
 * text to parse per row), the requested name, the stop reason, the last
 * activity, the transcript and event counters and the queue keys: 9 columns
 * instead of 17 took a 100-worker read from ~430 to ~190 µs (issue 16).
 */
export type StoredWorkerSummary = Pick<StoredWorker, 'pk' | 'workerId' | 'role' | 'profileSelector' | 'state' | 'createdAtMs' | 'lastSeenAtMs' | 'currentRunId' | 'queuedRuns'>;

/**
 * What a transcript page needs of its worker: the key its items are stored
 * under and the transcript's length. A page reads these two columns, not the
 * whole worker (17 columns and its intent's JSON): ~1.5 against ~4.5 µs a
 * read, in process (issue 16).
 */
export type StoredTranscriptHead = Pick<StoredWorker, 'pk' | 'transcriptLength'>;

export type RunState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted';
export const FINISHED_RUN_STATES: ReadonlySet<RunState> = new Set(['completed', 'failed', 'cancelled', 'interrupted']);

export interface StoredRun {
  pk: number;
  runId: string;
  workerPk: number;
  state: RunState;
  /** Order within the worker's queue (smallest runs first). */
  queueKey: number;
  inputSequence: number;
  outputSequence: number | null;
  createdAtMs: number;
  startedAtMs: number | null;
  endedAtMs: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  errorCode: string | null;
  /** Event number of `run.started`: the run's deltas all come after it. */
  startedEventNo: number | null;
  /** The instance executing it and until when its lease holds (epoch ms). */
  leaseOwner: string | null;
  leaseExpiresAtMs: number | null;
}

export type ItemRole = 'user' | 'system' | 'assistant';

export interface StoredItem {
  sequence: number;
  role: ItemRole;
  content: string;
  /** The event that published the item (`worker.input_accepted` or `message.completed`). */
  eventNo: number;
  runId: string | null;
  truncated: boolean;
  /**
   * Where the item sits in the conversation the model sees: an input's own
   * sequence; a reply's run's input sequence (a reply may be appended after
   * inputs that were queued behind its own).
   */
  anchorSequence: number;
  createdAtMs: number;
}

/**
 * An item as a transcript page shows it: `readItems` leaves out where it sits
 * in the model's context and when it was written (fewer columns per row were
 * ~20% of a 50-item page read, issue 16).
 */
export type StoredPageItem = Omit<StoredItem, 'anchorSequence' | 'createdAtMs'>;

export const EVENT_KINDS = [
  'worker.created',
  'worker.input_accepted',
  'worker.state_changed',
  'run.queued',
  'run.started',
  'message.delta',
  'message.completed',
  'run.completed',
  'run.failed',
  'run.cancelled',
  'run.interrupted',
  'worker.deleted',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** One entry of a worker's event log. `data` is a JSON-ready snapshot (a run, a worker, a delta …). */
export interface StoredEvent {
  /** One increasing, gap-free-at-commit cursor over every worker's log (assigned at commit). */
  globalSeq: number;
  workerPk: number;
  workerId: string;
  /** Per worker, from 0, no gaps. */
  eventNo: number;
  kind: EventKind;
  runId: string | null;
  /** The transcript item the event publishes, read with it. */
  item: StoredItem | null;
  data: Record<string, unknown> | null;
  atMs: number;
}

/** What `appendEvent` takes; the log assigns numbers. */
export interface NewEvent {
  kind: EventKind;
  runId?: string | null;
  itemSequence?: number | null;
  data?: Record<string, unknown> | null;
}

export interface ReadLimits {
  maxEvents: number;
  /** Stop once this many bytes of content were read (at least one event is always returned). */
  maxBytes: number;
}

export interface StoredApiKey {
  keyId: string;
  name: string;
  scopes: string[];
  /** SHA-256 of the secret, hex. The secret itself is never stored. */
  secretHash: string;
  createdAtMs: number;
  lastUsedAtMs: number | null;
  revokedAtMs: number | null;
}

export interface StoredIdempotencyRecord {
  scopeKey: string;
  fingerprint: string;
  state: 'in_progress' | 'completed';
  owner: string;
  workerId: string | null;
  status: number | null;
  body: string | null;
  location: string | null;
  createdAtMs: number;
  updatedAtMs: number;
}

/**
 * Cross-instance signals. Local listeners get them right after the commit
 * (events with the committed records, so feeds need not read them back);
 * other instances sharing the database get them through the adapter's
 * doorbell (Postgres LISTEN/NOTIFY) without records.
 */
export type StoreNotice =
  | { type: 'events'; lastGlobalSeq: number; workers: Array<{ workerPk: number; lastEventNo: number }>; events?: StoredEvent[] }
  | { type: 'runs-ready' }
  | { type: 'run-cancelled'; runId: string }
  | { type: 'key-revoked'; keyId: string }
  /** The doorbell was down: state may have changed unseen, so everyone catches up from the log. */
  | { type: 'resync' };

/** Reads. Within `read()` or `write()`. */
export interface StoreQueries {
  getWorker(workerId: string): Promise<StoredWorker | undefined>;
  getWorkerByPk(pk: number): Promise<StoredWorker | undefined>;
  /** Oldest first, pk > afterPk. */
  listWorkers(afterPk: number, limit: number): Promise<StoredWorkerSummary[]>;
  /** The worker's key and transcript length only; undefined for an unknown worker. */
  getTranscriptHead(workerId: string): Promise<StoredTranscriptHead | undefined>;
  /**
   * Items `[start, start + limit)` by sequence, cut before the item whose
   * content would take the page past `maxChars` (UTF-16 units, as
   * `content_length`); the first item always comes, however long. O(limit).
   */
  readItems(workerPk: number, start: number, limit: number, maxChars: number): Promise<StoredPageItem[]>;
  /**
   * The conversation a run sees, newest first: replies and inputs anchored at
   * or before `anchor`, until `maxChars` of content (the item that would pass
   * it is left out). O(context): only those rows are read.
   */
  readContext(workerPk: number, anchor: number, maxChars: number): Promise<StoredItem[]>;
  /** Events of one worker with eventNo > afterEventNo, in order, bounded. */
  readWorkerEvents(workerPk: number, afterEventNo: number, limits: ReadLimits): Promise<StoredEvent[]>;
  /** Events of every worker with globalSeq > afterSeq, in order, bounded. */
  readAllEvents(afterSeq: number, limits: ReadLimits): Promise<StoredEvent[]>;
  lastGlobalSeq(): Promise<number>;
  getRun(runId: string): Promise<StoredRun | undefined>;
  /** Newest first, pk < beforePk. */
  listRuns(workerPk: number, beforePk: number, limit: number): Promise<StoredRun[]>;
  /** The text of a run's `message.delta` events, concatenated in order. */
  runOutput(workerPk: number, run: StoredRun): Promise<string>;
  /** Running runs whose lease expired before `expiredBeforeMs`, or every running run when it is null. */
  runningRuns(expiredBeforeMs: number | null, limit: number): Promise<StoredRun[]>;
  /** Running workers with no run and no queued run, idle since before `beforeMs`. */
  idleWorkers(beforeMs: number, limit: number): Promise<StoredWorker[]>;
  getApiKey(keyId: string): Promise<StoredApiKey | undefined>;
  listApiKeys(afterKeyId: string, limit: number): Promise<StoredApiKey[]>;
  getIdempotency(scopeKey: string): Promise<StoredIdempotencyRecord | undefined>;
  getSetting(name: string): Promise<string | undefined>;
}

/** Writes, inside one atomic transaction. */
export interface StoreTx extends StoreQueries {
  /**
   * The worker, locked for the rest of the transaction (Postgres: FOR UPDATE;
   * SQLite: the transaction is the only writer). Mutate the returned record
   * and `saveWorker` it.
   */
  lockWorker(workerId: string): Promise<StoredWorker | undefined>;
  lockWorkerByPk(pk: number): Promise<StoredWorker | undefined>;
  /** A worker that has a queued run and none running, oldest-waiting first, locked; skips workers other transactions hold. */
  lockRunnableWorker(): Promise<StoredWorker | undefined>;
  /** Inserts and returns the worker with its pk. */
  insertWorker(worker: Omit<StoredWorker, 'pk'>): Promise<StoredWorker>;
  saveWorker(worker: StoredWorker): Promise<void>;
  /**
   * Removes the worker and everything it owns (items, runs, events, idempotency records), its events appended
   * earlier in this transaction included: their numbers are given back (`worker.nextEventNo`).
   */
  deleteWorker(worker: StoredWorker): Promise<void>;
  /** Workers that are not stopped (capacity), locked so concurrent creates and stops serialise. */
  lockLiveWorkerCount(): Promise<number>;
  setLiveWorkerCount(count: number): Promise<void>;
  insertItem(workerPk: number, item: StoredItem): Promise<void>;
  /** Appends to the worker's log: takes `worker.nextEventNo` (mutating it; save the worker). */
  appendEvent(worker: StoredWorker, event: NewEvent, atMs: number): StoredEvent;
  insertRun(run: Omit<StoredRun, 'pk'>): Promise<StoredRun>;
  saveRun(run: StoredRun): Promise<void>;
  /** The worker's next queued run (smallest queue key). */
  nextQueuedRun(workerPk: number): Promise<StoredRun | undefined>;
  queuedRuns(workerPk: number): Promise<StoredRun[]>;
  /** Extends the leases of `runIds` held by `owner`; returns the ids it still holds. */
  renewLeases(owner: string, runIds: string[], untilMs: number): Promise<string[]>;
  upsertApiKey(key: StoredApiKey): Promise<void>;
  deleteApiKey(keyId: string): Promise<void>;
  lockIdempotency(scopeKey: string): Promise<StoredIdempotencyRecord | undefined>;
  /** Inserts unless a record with this scope key exists (concurrent inserts: exactly one wins); true when it inserted. */
  insertIdempotencyIfAbsent(record: StoredIdempotencyRecord): Promise<boolean>;
  putIdempotency(record: StoredIdempotencyRecord): Promise<void>;
  deleteIdempotency(scopeKey: string): Promise<void>;
  /** Removes records last updated before `beforeMs`; returns how many. */
  purgeIdempotency(beforeMs: number, limit: number): Promise<number>;
  /** Sets the value unless one exists; returns the stored value. */
  initSetting(name: string, value: string): Promise<string>;
  putSetting(name: string, value: string): Promise<void>;
  /** Delivered after the commit (see StoreNotice); events are notified by the adapter itself. */
  notify(notice: Exclude<StoreNotice, { type: 'events' | 'resync' }>): void;
}

/** The store cannot answer now (locked, unreachable, file gone, disk full …): 503 with Retry-After, never a 500. */
export class StoreUnavailableError extends Error {
  constructor(
    readonly reason: 'busy' | 'unreachable' | 'timeout' | 'replaced' | 'readonly' | 'full' | 'closed',
    override readonly cause?: unknown,
  ) {
    super(`store unavailable: ${reason}`);
    this.name = 'StoreUnavailableError';
  }
}

export interface StoreDescription {
  kind: 'memory' | 'sqlite' | 'postgres';
  /** Whether state survives a restart of the backend. */
  durable: boolean;
  /** Whether other processes may change the state (several backends on one database). */
  sharedAcrossProcesses: boolean;
  /** For the operator log: a name, a file, or a URL without its password. Never a secret. */
  identity: string;
}

/**
 * The port (an abstract class, so it can be the DI token): everything the
 * backend persists — workers, transcripts, runs, event logs, API keys,
 * idempotency records, settings — hence not "WorkerStore".
 */
export abstract class BackendStore {
  abstract readonly description: StoreDescription;
  /** Opens the store and runs pending migrations (versioned, idempotent; serialised across instances). */
  abstract init(): Promise<void>;
  abstract close(): Promise<void>;
  /**
   * Resolves when a read AND a write can succeed now (readiness). Rejects
   * with StoreUnavailableError otherwise.
   */
  abstract checkReady(): Promise<void>;
  /**
   * False when the store knows it is nearly full (a size cap with less room left than readiness
   * asks for): the run executor then leaves queued runs queued rather than pay a provider for
   * replies it could not keep. Synchronous and cheap (called before each claim). A store that
   * cannot see its limit (Postgres: the server's disk) says true.
   */
  hasRoomForRuns(): boolean {
    return true;
  }
  /** Reads outside any write transaction; each statement sees committed data. */
  abstract read<T>(work: (q: StoreQueries) => Promise<T>): Promise<T>;
  /**
   * Runs `work` atomically. `work` must only await the transaction's own
   * calls (no network, no timers): adapters may batch transactions and hold a
   * lock meanwhile. Returns after the commit.
   */
  abstract write<T>(work: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** Notices after commits, local and (for shared stores) from other instances. */
  abstract subscribe(listener: (notice: StoreNotice) => void): () => void;
}
