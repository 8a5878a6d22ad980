import { arch, platform } from 'node:os';
import { diagnostic, type Diagnostic } from '../../common/dto/diagnostic.dto';
import { derivePublicId } from '../../common/ids/public-id';
import { RuntimeSourceError } from '../runtime-source.errors';
import { EMBEDDED_RUNTIME_ID } from '../runtimes.constants';
import type {
  EventStreamSink,
  HostSummary,
  InputOutcome,
  InputRequest,
  Listing,
  RuntimeCapabilities,
  RuntimeSource,
  RuntimeSummary,
  SpawnOutcome,
  SpawnRequest,
  TranscriptItem,
  TranscriptPage,
  WorkerCapabilities,
  WorkerEvent,
  WorkerSummary,
} from '../runtime-source';
import { type EmbeddedWorkerRuntime, formatEventId, type RuntimeEvent } from './embedded-worker-runtime';
import type { StoredTranscriptItem, StoredWorker } from './store/embedded-runtime.store';

/** Allow-list projection of a stored transcript item (REST pages and events alike). */
function toTranscriptItem(item: StoredTranscriptItem): TranscriptItem {
  return { sequence: item.sequence, role: item.role, content: item.content, event_id: formatEventId(item.eventNo) };
}

/** What a client learns when the store fails: that it failed, nothing of why or where. */
export const STORE_ERROR: Diagnostic = Object.freeze(
  diagnostic('embedded_runtime_store_error', 'error', 'The embedded runtime store could not complete the operation'),
);

const WORKER_CAPABILITIES: WorkerCapabilities = Object.freeze({
  can_accept_input: true,
  can_stream_events: true,
  can_stop: false,
  can_spawn_followup: false,
  can_read_bounded_transcript: true,
});

/**
 * Registry adapter for the in-process EmbeddedWorkerRuntime: direct calls, no
 * transport. Every record it returns is built from an allow-list of the
 * runtime's state; the store identity and the provider credential stay here.
 */
export class EmbeddedRuntimeSource implements RuntimeSource {
  readonly runtimeId = EMBEDDED_RUNTIME_ID;
  readonly hostId: string;
  private readonly caps: RuntimeCapabilities;

  constructor(
    private readonly runtime: EmbeddedWorkerRuntime,
    workspaceId: string,
  ) {
    this.hostId = derivePublicId('embedded', workspaceId);
    this.caps = Object.freeze({
      can_list_hosts: true,
      can_list_workers: true,
      can_get_worker: true,
      can_spawn_worker: true,
      can_stop_worker: false,
      can_accept_input: true,
      can_stream_events: true,
      can_read_bounded_transcript: true,
      has_workspace_fs: false,
      has_shell: false,
      has_git: false,
      supports_worktrees: false,
      supports_backend_internal_tools: false,
      local_pod_inspection: 'not_applicable',
      workspace_scope: 'backend_internal',
      max_workers: runtime.limits.maxWorkers,
      os: platform(),
      arch: arch(),
    });
  }

  capabilities(): RuntimeCapabilities {
    return this.caps;
  }

  async summary(): Promise<RuntimeSummary> {
    return {
      runtime_id: this.runtimeId,
      label: 'Embedded worker runtime',
      kind: 'embedded_worker_runtime',
      status: 'running',
      source: {
        kind: 'embedded_worker_runtime',
        status: 'active',
        identity_authority: 'runtime_registry_projection',
        note: 'In-process runtime created and owned by this backend; it has no endpoint, socket or session.',
      },
      host_ids: [this.hostId],
      capabilities: this.caps,
      diagnostics: this.runtime.storage.durable
        ? []
        : [diagnostic('embedded_memory_store', 'info', 'Workers and transcripts are kept in memory and do not survive a restart')],
    };
  }

  async listHosts(): Promise<Listing<HostSummary>> {
    const now = new Date().toISOString();
    return {
      items: [
        {
          runtime_id: this.runtimeId,
          host_id: this.hostId,
          label: 'Backend-internal worker host',
          kind: 'embedded-worker-runtime-host',
          status: 'available',
          observed_at: now,
          last_seen_at: now,
          capabilities: this.caps,
          diagnostics: [],
        },
      ],
      diagnostics: [],
    };
  }

  async listWorkers(options: { limit: number; hostId?: string }): Promise<Listing<WorkerSummary>> {
    if (options.hostId !== undefined && options.hostId !== this.hostId) return { items: [], diagnostics: [] };
    const [workers, total] = await this.guard(() => Promise.all([this.runtime.listWorkers(options.limit), this.runtime.countWorkers()]));
    const diagnostics =
      total > workers.length
        ? [diagnostic('list_truncated', 'info', `${this.runtimeId} has ${total} workers; ${workers.length} are listed`)]
        : [];
    return { items: workers.map((w) => this.toWorkerSummary(w)), diagnostics };
  }

  async listVersion(): Promise<string | undefined> {
    const version = this.runtime.stateVersion();
    return version === undefined ? undefined : String(version);
  }

  async getWorker(workerId: string): Promise<WorkerSummary | undefined> {
    const worker = await this.guard(() => this.runtime.getWorker(workerId));
    return worker && this.toWorkerSummary(worker);
  }

  async spawnWorker(request: SpawnRequest): Promise<SpawnOutcome> {
    const result = await this.guard(() =>
      this.runtime.createWorker({
        intent: request.intent,
        requestedWorkerName: request.requested_worker_name,
        acceptance: request.acceptance,
      }),
    );
    if (result.outcome === 'rejected') {
      return { state: 'rejected', acceptance_evidence: [], diagnostics: result.diagnostics };
    }
    return {
      state: 'accepted',
      worker: this.toWorkerSummary(result.worker),
      acceptance_evidence: result.evidence,
      diagnostics: result.diagnostics,
    };
  }

  async acceptInput(workerId: string, input: InputRequest): Promise<InputOutcome | undefined> {
    const receipt = await this.guard(() => this.runtime.sendInput(workerId, input));
    if (!receipt) return undefined;
    return {
      state: 'accepted',
      runtime_id: this.runtimeId,
      worker_id: workerId,
      transcript_sequence: receipt.sequence,
      event_id: receipt.eventId,
      diagnostics: [],
    };
  }

  async readTranscript(workerId: string, page: { start: number; limit: number }): Promise<TranscriptPage | undefined> {
    const read = await this.guard(() => this.runtime.readTranscript(workerId, page.start, page.limit));
    if (!read) return undefined;
    const result: TranscriptPage = {
      state: 'available',
      runtime_id: this.runtimeId,
      worker_id: workerId,
      start: page.start,
      limit: page.limit,
      total_items: read.total,
      items: read.items.map(toTranscriptItem),
      diagnostics: [],
    };
    const next = page.start + read.items.length;
    if (read.items.length > 0 && next < read.total) result.next_start = next;
    return result;
  }

  async openWorkerEvents(workerId: string, afterEventNo: number | undefined, sink: EventStreamSink, options: { replayLimit: number }): Promise<(() => void) | undefined> {
    if (!(await this.guard(() => this.runtime.getWorker(workerId)))) return undefined;
    // Subscribe before reading the replay, buffer live events meanwhile, then
    // deliver replay + buffer skipping anything already sent: no gap, no duplicate.
    let lastSent = -1;
    let replaying = afterEventNo !== undefined;
    const buffered: RuntimeEvent[] = [];
    const deliver = (event: RuntimeEvent) => {
      if (event.eventNo <= lastSent) return;
      lastSent = event.eventNo;
      sink.event(this.toWorkerEvent(event));
    };
    const unsubscribe = this.runtime.subscribe(workerId, (event) => (replaying ? buffered.push(event) : deliver(event)));
    if (afterEventNo !== undefined) {
      try {
        const replay = await this.guard(() => this.runtime.readEventsAfter(workerId, afterEventNo, options.replayLimit + 1));
        if (!replay) {
          unsubscribe();
          return undefined;
        }
        if (afterEventNo > replay.lastEventNo) {
          sink.reset('unknown_position'); // an id this worker never issued (e.g. from before a memory-store restart)
          lastSent = replay.lastEventNo;
        } else if (replay.items.length > options.replayLimit) {
          sink.reset('history_unavailable'); // too far behind to replay: re-read the transcript
          lastSent = replay.lastEventNo;
        } else {
          lastSent = afterEventNo;
          for (const item of replay.items) deliver({ kind: 'worker.input_accepted', workerId, eventNo: item.eventNo, item });
        }
      } catch (err) {
        unsubscribe();
        throw err;
      }
      replaying = false;
      for (const event of buffered.splice(0)) deliver(event);
    }
    return unsubscribe;
  }

  openRuntimeEvents(sink: EventStreamSink): () => void {
    return this.runtime.subscribe(null, (event) => sink.event(this.toWorkerEvent(event)));
  }

  /** Allow-list projection of a runtime event: the same record projections as the REST responses. */
  private toWorkerEvent(event: RuntimeEvent): WorkerEvent {
    const base = { runtime_id: this.runtimeId, worker_id: event.workerId, event_id: formatEventId(event.eventNo) };
    if (event.kind === 'worker.created') return { kind: 'worker.created', ...base, worker: this.toWorkerSummary(event.worker) };
    return { kind: 'worker.input_accepted', ...base, item: toTranscriptItem(event.item) };
  }

  /** Store failures become one generic diagnostic; the cause goes to the operator log only. */
  private async guard<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw new RuntimeSourceError(STORE_ERROR, err);
    }
  }

  /** Allow-list projection of a stored worker (SPEC §3, embedded column). */
  private toWorkerSummary(worker: StoredWorker): WorkerSummary {
    return {
      runtime_id: this.runtimeId,
      worker_id: worker.workerId,
      host_id: this.hostId,
      label: worker.workerId,
      role: worker.role,
      profile: worker.profileSelector,
      workspace: { visibility: 'backend_internal', identity: 'runtime_registry_worker' },
      state: worker.state,
      status: worker.state,
      last_seen_at: new Date(worker.lastSeenAtMs).toISOString(),
      implementation: { kind: 'embedded_worker_runtime', display_hint: 'Backend-internal worker (v0, tools-less)' },
      capabilities: WORKER_CAPABILITIES,
      diagnostics: [],
    };
  }
}
