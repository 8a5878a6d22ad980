import type { Diagnostic } from '../common/dto/diagnostic.dto';

/*
 * The port between the registry and every runtime. Records here are domain
 * records (camelCase, epoch-millisecond times, opaque cursors), not the wire
 * format: the DTO mappers in each feature folder make the wire shapes, so a
 * remote runtime could implement this port without knowing them.
 */

export type RuntimeKind = 'embedded_worker_runtime' | 'local_pod';

export interface RuntimeCapabilities {
  canListHosts: boolean;
  canListWorkers: boolean;
  canGetWorker: boolean;
  canSpawnWorker: boolean;
  canStopWorker: boolean;
  canDeleteWorker: boolean;
  canAcceptInput: boolean;
  canStreamEvents: boolean;
  canReadBoundedTranscript: boolean;
  canExecute: boolean;
  hasWorkspaceFs: boolean;
  hasShell: boolean;
  hasGit: boolean;
  supportsWorktrees: boolean;
  supportsBackendInternalTools: boolean;
  localPodInspection: 'available' | 'unavailable' | 'not_applicable';
  workspaceScope: 'backend_internal' | 'current_workspace';
  maxWorkers: number;
  os: string;
  arch: string;
}

export interface RuntimeRecord {
  runtimeId: string;
  label: string;
  kind: RuntimeKind;
  status: 'running' | 'available' | 'degraded';
  source: {
    kind: 'embedded_worker_runtime' | 'local_compatibility';
    status: 'active' | 'reserved';
    note: string;
  };
  hostIds: string[];
  capabilities: RuntimeCapabilities;
  diagnostics: Diagnostic[];
}

export interface HostRecord {
  runtimeId: string;
  hostId: string;
  label: string;
  kind: 'embedded-worker-runtime-host' | 'local-worker-host';
  status: 'available' | 'degraded';
  observedAt: number;
  lastSeenAt: number | null;
  capabilities: RuntimeCapabilities;
  diagnostics: Diagnostic[];
}

export interface WorkerCapabilities {
  canAcceptInput: boolean;
  canStreamEvents: boolean;
  canStop: boolean;
  canSpawnFollowup: boolean;
  canReadBoundedTranscript: boolean;
  canExecute: boolean;
  canCancelRun: boolean;
  canDelete: boolean;
}

export type WorkerActivity = 'idle' | 'busy' | 'stopped' | 'unavailable' | 'not_applicable';

export interface WorkerRecord {
  runtimeId: string;
  workerId: string;
  hostId: string;
  label: string;
  role: string | null;
  profile: string | null;
  workspace: { visibility: 'backend_internal' | 'current_workspace'; identity: 'runtime_registry_worker' | 'runtime_workspace' };
  state: string;
  status: string;
  createdAt: number | null;
  lastSeenAt: number | null;
  activity: WorkerActivity;
  currentRunId: string | null;
  implementation: { kind: RuntimeKind; displayHint: string };
  capabilities: WorkerCapabilities;
  diagnostics: Diagnostic[];
}

/** A page of a list. `next` is an opaque position for the following page, or null at the end. */
export interface Page<T> {
  items: T[];
  diagnostics: Diagnostic[];
  next: string | null;
}

export interface PageRequest {
  limit: number;
  /** An opaque position from a previous page's `next` (already checked for tampering by the registry). */
  after?: string;
}

export type WorkerIntent =
  | { kind: 'workspace_companion' }
  | { kind: 'workspace_orchestrator' }
  | { kind: 'ticket_role'; ticket_id: string; role: TicketRole };

export const TICKET_ROLES = ['intake', 'orchestrator', 'coder', 'reviewer'] as const;
export type TicketRole = (typeof TICKET_ROLES)[number];

export type SpawnAcceptance = { kind: 'run_accepted'; expected_segments: number } | { kind: 'socket_ready' };

export interface SpawnRequest {
  intent: WorkerIntent;
  requestedWorkerName?: string;
  acceptance: SpawnAcceptance;
}

export interface SpawnOutcome {
  state: 'accepted' | 'unsupported' | 'rejected';
  worker?: WorkerRecord;
  acceptanceEvidence: Array<{ kind: string; detail: string }>;
  diagnostics: Diagnostic[];
}

export type OnBusy = 'enqueue' | 'reject' | 'interrupt';

export interface InputRequest {
  kind: 'user' | 'system';
  content: string;
  onBusy: OnBusy;
}

export type RunState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted';

export interface RunRecord {
  runId: string;
  runtimeId: string;
  workerId: string;
  state: RunState;
  inputSequence: number;
  outputSequence: number | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  usage: { inputTokens: number; outputTokens: number } | null;
  error: { code: string; message: string } | null;
}

export interface InputOutcome {
  state: 'accepted';
  runtimeId: string;
  workerId: string;
  transcriptSequence: number;
  eventId: string;
  run: RunRecord | null;
  diagnostics: Diagnostic[];
}

export interface TranscriptItem {
  sequence: number;
  role: 'user' | 'system' | 'assistant';
  content: string;
  eventId: string;
  runId: string | null;
  truncated: boolean;
}

export interface TranscriptPage {
  state: 'available';
  runtimeId: string;
  workerId: string;
  start: number;
  limit: number;
  totalItems: number;
  nextStart: number | null;
  items: TranscriptItem[];
  diagnostics: Diagnostic[];
}

/** An event as the port delivers it: already a projection (no store internals). */
export type WorkerEvent = { eventId: string; runtimeId: string; workerId: string; at: number } & (
  | { kind: 'worker.created'; worker: WorkerRecord }
  | { kind: 'worker.input_accepted'; item: TranscriptItem }
  | { kind: 'worker.state_changed'; state: string; status: string; reason: string | null }
  | { kind: 'run.queued' | 'run.started' | 'run.completed' | 'run.failed' | 'run.cancelled' | 'run.interrupted'; run: RunRecord }
  | { kind: 'message.delta'; runId: string; delta: string }
  | { kind: 'message.completed'; runId: string; item: TranscriptItem }
  | { kind: 'worker.deleted' }
);
export type WorkerEventKind = WorkerEvent['kind'];

export type StreamResetReason = 'unknown_position' | 'history_unavailable';

/**
 * Where a stream's events go. Events arrive in order, each once. `deliver`
 * returns false when the client's buffer is full: the source then stops
 * pushing to it and resumes (from its log, so nothing is lost) once `ready`
 * resolves. The same event object is given to every sink, so a sink may
 * cache what it makes of it (the SSE frame) per object.
 */
export interface EventSink {
  /** `position` is what a client sends back to resume after this event (Last-Event-ID). */
  deliver(event: WorkerEvent, position: string): boolean;
  /**
   * Optional: several events at once, in order, `positions[i]` being `events[i]`'s. A source
   * that delivers live events in windows hands the same array objects to every caught-up sink,
   * always with the same positions for the same array, so a sink may cache what it makes of
   * them by the array (one SSE chunk for the window).
   */
  deliverBatch?(events: readonly WorkerEvent[], positions: readonly string[]): boolean;
  ready(): Promise<void>;
  reset(reason: StreamResetReason): void;
  /** The source has nothing more for this stream (the worker was deleted). */
  end(): void;
  readonly closed: boolean;
}

export interface Subscription {
  close(): void;
}

/**
 * A runtime the registry can route to. Read operations are required; the
 * optional ones exist only on sources whose capabilities say they work, and
 * the registry answers `501 capability_unsupported` for the others. A method
 * returns `undefined` when the worker id is not one of its workers.
 */
export interface RuntimeSource {
  readonly runtimeId: string;
  capabilities(): RuntimeCapabilities;
  summary(): Promise<RuntimeRecord>;
  /** Resolves when the source can serve reads and writes now (readiness); throws RuntimeSourceError otherwise. */
  checkReady?(): Promise<void>;
  listHosts(): Promise<{ items: HostRecord[]; diagnostics: Diagnostic[] }>;
  /** `hostId` narrows to one of this source's hosts. */
  listWorkers(page: PageRequest & { hostId?: string }): Promise<Page<WorkerRecord>>;
  getWorker(workerId: string): Promise<WorkerRecord | undefined>;
  spawnWorker?(request: SpawnRequest): Promise<SpawnOutcome>;
  acceptInput?(workerId: string, input: InputRequest): Promise<InputOutcome | undefined>;
  readTranscript?(workerId: string, page: { start: number; limit: number }): Promise<TranscriptPage | undefined>;
  stopWorker?(workerId: string, reason: string | null): Promise<WorkerRecord | undefined>;
  /** Resolves true when the worker existed and is gone. */
  deleteWorker?(workerId: string): Promise<boolean>;
  listRuns?(workerId: string, page: PageRequest): Promise<Page<RunRecord> | undefined>;
  /** `null`: the worker exists but has no such run. */
  getRun?(workerId: string, runId: string): Promise<RunRecord | null | undefined>;
  cancelRun?(workerId: string, runId: string): Promise<RunRecord | null | undefined>;
  /**
   * Streams one worker's events: with `after` (a position a client got from a
   * previous event), first every stored event after it, then live ones, no
   * gap, no duplicate; without it, live events from now on.
   */
  openWorkerEvents?(workerId: string, after: string | undefined, sink: EventSink): Promise<Subscription | undefined>;
  /** Every worker's events, with one position over all of them. */
  openRuntimeEvents?(after: string | undefined, sink: EventSink): Promise<Subscription>;
}
