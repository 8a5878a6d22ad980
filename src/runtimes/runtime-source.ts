import type { Diagnostic } from '../common/dto/diagnostic.dto';

/*
 * The registry's view of a runtime. These records are already projections:
 * a source builds them from an allow-list of its internal state, and the DTO
 * mappers copy them field by field again before anything is sent.
 * Field names follow the wire (snake_case) so the two layers line up 1:1.
 */

export type RuntimeKind = 'embedded_worker_runtime' | 'local_pod';
export type SourceKind = 'embedded_worker_runtime' | 'local_compatibility';
export type HostKind = 'embedded-worker-runtime-host' | 'local-worker-host';

export interface RuntimeCapabilities {
  can_list_hosts: boolean;
  can_list_workers: boolean;
  can_get_worker: boolean;
  can_spawn_worker: boolean;
  can_stop_worker: boolean;
  can_accept_input: boolean;
  can_stream_events: boolean;
  can_read_bounded_transcript: boolean;
  has_workspace_fs: boolean;
  has_shell: boolean;
  has_git: boolean;
  supports_worktrees: boolean;
  supports_backend_internal_tools: boolean;
  local_pod_inspection: 'available' | 'unavailable' | 'not_applicable';
  workspace_scope: 'backend_internal' | 'current_workspace';
  max_workers: number;
  os: string;
  arch: string;
}

export interface RuntimeSummary {
  runtime_id: string;
  label: string;
  kind: RuntimeKind;
  status: 'running' | 'available' | 'degraded';
  source: {
    kind: SourceKind;
    status: 'active' | 'reserved';
    identity_authority: 'runtime_registry_projection';
    note: string;
  };
  host_ids: string[];
  capabilities: RuntimeCapabilities;
  diagnostics: Diagnostic[];
}

export interface HostSummary {
  runtime_id: string;
  host_id: string;
  label: string;
  kind: HostKind;
  status: 'available' | 'degraded';
  observed_at: string;
  last_seen_at: string | null;
  capabilities: RuntimeCapabilities;
  diagnostics: Diagnostic[];
}

export interface WorkerCapabilities {
  can_accept_input: boolean;
  can_stream_events: boolean;
  can_stop: boolean;
  can_spawn_followup: boolean;
  can_read_bounded_transcript: boolean;
}

export interface WorkerSummary {
  runtime_id: string;
  worker_id: string;
  host_id: string;
  label: string;
  role: string | null;
  profile: string | null;
  workspace: {
    visibility: 'backend_internal' | 'current_workspace';
    identity: 'runtime_registry_worker' | 'runtime_workspace';
  };
  state: string;
  status: string;
  last_seen_at: string | null;
  implementation: { kind: RuntimeKind; display_hint: string };
  capabilities: WorkerCapabilities;
  diagnostics: Diagnostic[];
}

export interface Listing<T> {
  items: T[];
  diagnostics: Diagnostic[];
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
  requested_worker_name?: string;
  acceptance: SpawnAcceptance;
}

export interface SpawnOutcome {
  state: 'accepted' | 'unsupported' | 'rejected';
  worker?: WorkerSummary;
  acceptance_evidence: Array<{ kind: string; detail: string }>;
  diagnostics: Diagnostic[];
}

export interface InputRequest {
  kind: 'user' | 'system';
  content: string;
}

export interface InputOutcome {
  state: 'accepted';
  runtime_id: string;
  worker_id: string;
  transcript_sequence: number;
  event_id: string;
  diagnostics: Diagnostic[];
}

export interface TranscriptItem {
  sequence: number;
  role: 'user' | 'system';
  content: string;
  event_id: string;
}

export interface TranscriptPage {
  state: 'available';
  runtime_id: string;
  worker_id: string;
  start: number;
  limit: number;
  total_items: number;
  next_start?: number;
  items: TranscriptItem[];
  diagnostics: Diagnostic[];
}

/** An event as clients see it (SPEC'd by the event-stream issue), already projected. */
export type WorkerEvent =
  | { kind: 'worker.created'; runtime_id: string; worker_id: string; event_id: string; worker: WorkerSummary }
  | { kind: 'worker.input_accepted'; runtime_id: string; worker_id: string; event_id: string; item: TranscriptItem }
  | { kind: 'worker.state_changed'; runtime_id: string; worker_id: string; event_id: string; state: string; status: string };

export type StreamResetReason = 'history_unavailable' | 'unknown_position' | 'not_resumable';

/** Where a source delivers a stream: events in order, or a reset telling the client to re-read state. */
export interface EventStreamSink {
  event(event: WorkerEvent): void;
  reset(reason: StreamResetReason): void;
}

/**
 * A runtime the registry can route to. Read operations are required; the
 * optional ones exist only on sources whose capabilities say they work, and
 * the registry answers `501 capability_unsupported` for the others.
 * A method returns `undefined` when the worker id is not one of its workers.
 */
export interface RuntimeSource {
  readonly runtimeId: string;
  capabilities(): RuntimeCapabilities;
  summary(): Promise<RuntimeSummary>;
  listHosts(): Promise<Listing<HostSummary>>;
  /** `hostId` narrows to one of this source's hosts; `limit` bounds items. */
  listWorkers(options: { limit: number; hostId?: string }): Promise<Listing<WorkerSummary>>;
  getWorker(workerId: string): Promise<WorkerSummary | undefined>;
  /**
   * A token that changes whenever `listWorkers` could answer differently, or
   * undefined if the source cannot tell (then lists are never cached).
   */
  listVersion?(): Promise<string | undefined>;
  spawnWorker?(request: SpawnRequest): Promise<SpawnOutcome>;
  acceptInput?(workerId: string, input: InputRequest): Promise<InputOutcome | undefined>;
  readTranscript?(workerId: string, page: { start: number; limit: number }): Promise<TranscriptPage | undefined>;
  /**
   * Streams one worker's events from now on; with `afterEventNo`, first every
   * retained event after it (at most `replayLimit`, else a reset). Resolves
   * to the unsubscribe function, or undefined for an unknown worker.
   */
  openWorkerEvents?(workerId: string, afterEventNo: number | undefined, sink: EventStreamSink, options: { replayLimit: number }): Promise<(() => void) | undefined>;
  /** Streams every worker's live events. */
  openRuntimeEvents?(sink: EventStreamSink): () => void;
}
