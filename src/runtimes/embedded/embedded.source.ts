import { arch, platform } from 'node:os';
import { diagnostic, type Diagnostic } from '../../common/dto/diagnostic.dto';
import { derivePublicId } from '../../common/ids/public-id';
import { type StoredEvent, type StoredItem, type StoredPageItem, type StoredRun, type StoredWorker, type StoredWorkerSummary, StoreUnavailableError } from '../../store/backend-store';
import type {
  EventSink,
  HostRecord,
  InputOutcome,
  InputRequest,
  Page,
  PageRequest,
  RunRecord,
  RuntimeCapabilities,
  RuntimeRecord,
  RuntimeSource,
  SpawnOutcome,
  SpawnRequest,
  Subscription,
  TranscriptItem,
  TranscriptPage,
  WorkerEvent,
  WorkerRecord,
} from '../runtime-source';
import { OperationRefusedError, RuntimeSourceError } from '../runtime-source.errors';
import { EMBEDDED_RUNTIME_ID } from '../runtimes.constants';
import type { EventLog, LogSink } from './event-log';
import { runErrorMessage } from '../run-errors';
import { runFromSnapshot } from './run-transitions';
import { newWorkerState, type WorkerRuntime } from './worker-runtime';

/** What a client learns when the store fails: that it failed, nothing of why or where. */
export const STORE_ERROR: Diagnostic = Object.freeze(
  diagnostic('embedded_runtime_store_error', 'error', 'The embedded runtime store could not complete the operation'),
);
export const STORE_UNAVAILABLE: Diagnostic = Object.freeze(
  diagnostic('embedded_runtime_store_unavailable', 'error', 'The embedded runtime store cannot answer right now; retry shortly'),
);

/**
 * `evt-<n>`: a worker's event id, also the SSE id of its stream. 15 digits keep n a safe integer;
 * no leading zero, since `evt-07` was never issued (it is `stream.reset`, not a resume after evt-7).
 */
export const WORKER_POSITION = /^evt-(0|[1-9]\d{0,14})$/;
/** `log-<n>`: a position in the log of every worker (the SSE id of `/api/events`); spelt as issued, likewise. */
export const GLOBAL_POSITION = /^log-(0|[1-9]\d{0,14})$/;

export const formatEventId = (eventNo: number) => `evt-${eventNo}`;
const formatGlobalPosition = (seq: number) => `log-${seq}`;

/**
 * Registry adapter for the in-process WorkerRuntime: direct calls, no
 * transport. Everything it returns is a projection built field by field from
 * the store's records; store identity, paths and credentials stay behind it.
 */
export class EmbeddedSource implements RuntimeSource {
  readonly runtimeId = EMBEDDED_RUNTIME_ID;
  readonly hostId: string;
  private readonly caps: RuntimeCapabilities;
  /** One projection per stored event object: feeds hand the same object to every stream. */
  private readonly projected = new WeakMap<StoredEvent, WorkerEvent>();
  /** A live window's events, projected once for all the streams it goes to (a worker's and /api/events' windows are different arrays). */
  private readonly projectedBatches = new WeakMap<readonly StoredEvent[], { events: WorkerEvent[]; positions: string[] }>();

  constructor(
    private readonly runtime: WorkerRuntime,
    private readonly log: EventLog,
    workspaceId: string,
  ) {
    this.hostId = derivePublicId('embedded', workspaceId);
    this.caps = Object.freeze({
      canListHosts: true,
      canListWorkers: true,
      canGetWorker: true,
      canSpawnWorker: true,
      canStopWorker: true,
      canDeleteWorker: true,
      canAcceptInput: true,
      canStreamEvents: true,
      canReadBoundedTranscript: true,
      canExecute: runtime.executionEnabled,
      hasWorkspaceFs: false,
      hasShell: false,
      hasGit: false,
      supportsWorktrees: false,
      supportsBackendInternalTools: false,
      localPodInspection: 'not_applicable',
      workspaceScope: 'backend_internal',
      maxWorkers: runtime.maxWorkers,
      os: platform(),
      arch: arch(),
    });
  }

  capabilities(): RuntimeCapabilities {
    return this.caps;
  }

  async summary(): Promise<RuntimeRecord> {
    const diagnostics: Diagnostic[] = [];
    if (!this.runtime.store.description.durable) {
      diagnostics.push(diagnostic('embedded_memory_store', 'info', 'Workers and transcripts are kept in memory and do not survive a restart'));
    }
    if (!this.runtime.executionEnabled) {
      diagnostics.push(diagnostic('execution_unavailable', 'info', 'No model provider is configured (MODEL_PROVIDER): inputs are recorded, no run starts'));
    }
    return {
      runtimeId: this.runtimeId,
      label: 'Embedded worker runtime',
      kind: 'embedded_worker_runtime',
      status: 'running',
      source: {
        kind: 'embedded_worker_runtime',
        status: 'active',
        note: 'In-process runtime created and owned by this backend; it has no endpoint, socket or session.',
      },
      hostIds: [this.hostId],
      capabilities: this.caps,
      diagnostics,
    };
  }

  checkReady(): Promise<void> {
    return this.guard(() => this.runtime.store.checkReady());
  }

  async listHosts(): Promise<{ items: HostRecord[]; diagnostics: Diagnostic[] }> {
    const now = Date.now();
    const host: HostRecord = {
      runtimeId: this.runtimeId,
      hostId: this.hostId,
      label: 'Backend-internal worker host',
      kind: 'embedded-worker-runtime-host',
      status: 'available',
      observedAt: now,
      lastSeenAt: now,
      capabilities: this.caps,
      diagnostics: [],
    };
    return { items: [host], diagnostics: [] };
  }

  async listWorkers(page: PageRequest & { hostId?: string }): Promise<Page<WorkerRecord>> {
    if (page.hostId !== undefined && page.hostId !== this.hostId) return { items: [], diagnostics: [], next: null };
    const afterPk = page.after === undefined ? 0 : Number(page.after);
    const { workers, more } = await this.guard(() => this.runtime.listWorkers(afterPk, page.limit));
    return {
      items: workers.map((w) => this.toWorkerRecord(w)),
      diagnostics: [],
      next: more && workers.length > 0 ? String(workers[workers.length - 1].pk) : null,
    };
  }

  async getWorker(workerId: string): Promise<WorkerRecord | undefined> {
    const worker = await this.guard(() => this.runtime.getWorker(workerId));
    return worker && this.toWorkerRecord(worker);
  }

  async spawnWorker(request: SpawnRequest): Promise<SpawnOutcome> {
    const result = await this.guard(() => this.runtime.createWorker(request));
    if (result.outcome === 'rejected') return { state: 'rejected', acceptanceEvidence: [], diagnostics: result.diagnostics };
    return { state: 'accepted', worker: this.toWorkerRecord(result.worker), acceptanceEvidence: result.evidence, diagnostics: result.diagnostics };
  }

  async acceptInput(workerId: string, input: InputRequest): Promise<InputOutcome | undefined> {
    const accepted = await this.guard(() => this.runtime.acceptInput(workerId, input));
    if (!accepted) return undefined;
    const diagnostics: Diagnostic[] = [];
    if (!this.runtime.executionEnabled && input.kind === 'user') {
      diagnostics.push(diagnostic('execution_unavailable', 'info', 'No model provider is configured: the input was recorded and no run started'));
    }
    return {
      state: 'accepted',
      runtimeId: this.runtimeId,
      workerId,
      transcriptSequence: accepted.item.sequence,
      eventId: formatEventId(accepted.item.eventNo),
      run: accepted.run && this.toRunRecord(workerId, accepted.run),
      diagnostics,
    };
  }

  async readTranscript(workerId: string, page: { start: number; limit: number }): Promise<TranscriptPage | undefined> {
    const read = await this.guard(() => this.runtime.readTranscript(workerId, page.start, page.limit));
    if (!read) return undefined;
    const next = page.start + read.items.length;
    return {
      state: 'available',
      runtimeId: this.runtimeId,
      workerId,
      start: page.start,
      limit: page.limit,
      totalItems: read.total,
      nextStart: read.items.length > 0 && next < read.total ? next : null,
      items: read.items.map(toTranscriptItem),
      diagnostics: [],
    };
  }

  async stopWorker(workerId: string, reason: string | null): Promise<WorkerRecord | undefined> {
    const worker = await this.guard(() => this.runtime.stopWorker(workerId, reason));
    return worker && this.toWorkerRecord(worker);
  }

  deleteWorker(workerId: string): Promise<boolean> {
    return this.guard(() => this.runtime.deleteWorker(workerId));
  }

  async listRuns(workerId: string, page: PageRequest): Promise<Page<RunRecord> | undefined> {
    const beforePk = page.after === undefined ? Number.MAX_SAFE_INTEGER : Number(page.after);
    const listed = await this.guard(() => this.runtime.listRuns(workerId, beforePk, page.limit));
    if (!listed) return undefined;
    return {
      items: listed.runs.map((r) => this.toRunRecord(workerId, r)),
      diagnostics: [],
      next: listed.more && listed.runs.length > 0 ? String(listed.runs[listed.runs.length - 1].pk) : null,
    };
  }

  async getRun(workerId: string, runId: string): Promise<RunRecord | null | undefined> {
    const run = await this.guard(() => this.runtime.getRun(workerId, runId));
    return run && this.toRunRecord(workerId, run);
  }

  async cancelRun(workerId: string, runId: string): Promise<RunRecord | null | undefined> {
    const run = await this.guard(() => this.runtime.cancelRun(workerId, runId));
    return run && this.toRunRecord(workerId, run);
  }

  async openWorkerEvents(workerId: string, after: string | undefined, sink: EventSink): Promise<Subscription | undefined> {
    const worker = await this.guard(() => this.runtime.getWorker(workerId));
    if (!worker) return undefined;
    let afterEventNo: number | undefined;
    if (after !== undefined) {
      const match = WORKER_POSITION.exec(after);
      afterEventNo = match ? Number(match[1]) : undefined;
      // An id this worker never issued (another worker's, or from before a memory store's restart).
      if (afterEventNo === undefined || afterEventNo >= worker.nextEventNo) {
        sink.reset('unknown_position');
        afterEventNo = undefined;
      }
    }
    return this.guard(() => this.log.followWorker(worker.pk, afterEventNo, this.logSink(sink, (e) => formatEventId(e.eventNo))));
  }

  async openRuntimeEvents(after: string | undefined, sink: EventSink): Promise<Subscription> {
    let afterSeq: number | undefined;
    if (after !== undefined) {
      const match = GLOBAL_POSITION.exec(after);
      afterSeq = match ? Number(match[1]) : undefined;
      const head = await this.guard(() => this.runtime.store.read((q) => q.lastGlobalSeq()));
      if (afterSeq === undefined || afterSeq > head) {
        sink.reset('unknown_position');
        afterSeq = undefined;
      }
    }
    return this.guard(() => this.log.followAll(afterSeq, this.logSink(sink, (e) => formatGlobalPosition(e.globalSeq))));
  }

  /** Adapts the port's sink to the log's: stored events projected once per object (and a live window once per array). */
  private logSink(sink: EventSink, position: (e: StoredEvent) => string): LogSink {
    const deliverBatch = sink.deliverBatch?.bind(sink);
    return {
      deliver: (event) => sink.deliver(this.toWorkerEvent(event), position(event)),
      ...(deliverBatch && {
        deliverBatch: (events: readonly StoredEvent[]) => {
          let projected = this.projectedBatches.get(events);
          if (!projected) {
            projected = { events: events.map((e) => this.toWorkerEvent(e)), positions: events.map(position) };
            this.projectedBatches.set(events, projected);
          }
          return deliverBatch(projected.events, projected.positions);
        },
      }),
      ready: () => sink.ready(),
      end: () => sink.end(),
      get closed() {
        return sink.closed;
      },
    };
  }

  /** Store failures become one generic diagnostic; the cause goes to the operator log only. */
  private async guard<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof OperationRefusedError) throw err;
      if (err instanceof StoreUnavailableError) throw new RuntimeSourceError(STORE_UNAVAILABLE, err, true);
      throw new RuntimeSourceError(STORE_ERROR, err);
    }
  }

  // ---- projections (allow-lists of the stored records) -------------------

  private toWorkerRecord(w: StoredWorkerSummary): WorkerRecord {
    const running = w.state === 'running';
    const execution = this.runtime.executionEnabled;
    return {
      runtimeId: this.runtimeId,
      workerId: w.workerId,
      hostId: this.hostId,
      label: w.workerId,
      role: w.role,
      profile: w.profileSelector,
      workspace: { visibility: 'backend_internal', identity: 'runtime_registry_worker' },
      state: w.state,
      status: w.state,
      createdAt: w.createdAtMs,
      lastSeenAt: w.lastSeenAtMs,
      activity: !running ? 'stopped' : !execution ? 'unavailable' : w.currentRunId !== null || w.queuedRuns > 0 ? 'busy' : 'idle',
      currentRunId: w.currentRunId,
      implementation: { kind: 'embedded_worker_runtime', displayHint: 'Backend-internal worker (tools-less)' },
      capabilities: {
        canAcceptInput: running,
        canStreamEvents: true,
        canStop: true,
        canSpawnFollowup: false,
        canReadBoundedTranscript: true,
        canExecute: execution && running,
        canCancelRun: execution,
        canDelete: true,
      },
      diagnostics: [],
    };
  }

  private toRunRecord(workerId: string, r: Pick<StoredRun, 'runId' | 'state' | 'inputSequence' | 'outputSequence' | 'createdAtMs' | 'startedAtMs' | 'endedAtMs' | 'inputTokens' | 'outputTokens' | 'errorCode'>): RunRecord {
    return {
      runId: r.runId,
      runtimeId: this.runtimeId,
      workerId,
      state: r.state,
      inputSequence: r.inputSequence,
      outputSequence: r.outputSequence,
      createdAt: r.createdAtMs,
      startedAt: r.startedAtMs,
      endedAt: r.endedAtMs,
      usage: r.inputTokens === null && r.outputTokens === null ? null : { inputTokens: r.inputTokens ?? 0, outputTokens: r.outputTokens ?? 0 },
      error: r.errorCode === null ? null : { code: r.errorCode, message: runErrorMessage(r.errorCode) },
    };
  }

  private toWorkerEvent(e: StoredEvent): WorkerEvent {
    let event = this.projected.get(e);
    if (event) return event;
    // Each event a literal of its own, not `{ ...base, kind, … }`: on Node 20 a spread followed by new properties costs
    // 1–2 µs per object (see toWorker in sql-queries.ts), and a replay projects every event of its page.
    const eventId = formatEventId(e.eventNo);
    const runtimeId = this.runtimeId;
    const workerId = e.workerId;
    const at = e.atMs;
    const data = e.data ?? {};
    switch (e.kind) {
      case 'worker.created': {
        // The worker as it was created: running, nothing queued.
        const fresh = newWorkerState({
          workerId,
          intent: { kind: 'workspace_companion' },
          role: data.role as StoredWorker['role'],
          profileSelector: String(data.profile_selector),
          requestedName: null,
          atMs: Number(data.created_at_ms ?? e.atMs),
        });
        event = { eventId, runtimeId, workerId, at, kind: e.kind, worker: this.toWorkerRecord(Object.assign(fresh, { pk: e.workerPk })) };
        break;
      }
      case 'worker.input_accepted':
        event = { eventId, runtimeId, workerId, at, kind: e.kind, item: toTranscriptItem(requireItem(e)) };
        break;
      case 'worker.state_changed':
        event = { eventId, runtimeId, workerId, at, kind: e.kind, state: String(data.state), status: String(data.state), reason: data.reason === null || data.reason === undefined ? null : String(data.reason) };
        break;
      case 'message.delta':
        event = { eventId, runtimeId, workerId, at, kind: e.kind, runId: e.runId ?? '', delta: String(data.delta ?? '') };
        break;
      case 'message.completed':
        event = { eventId, runtimeId, workerId, at, kind: e.kind, runId: e.runId ?? '', item: toTranscriptItem(requireItem(e)) };
        break;
      case 'worker.deleted':
        event = { eventId, runtimeId, workerId, at, kind: e.kind };
        break;
      default:
        event = { eventId, runtimeId, workerId, at, kind: e.kind, run: this.toRunRecord(workerId, runFromSnapshot(data)) };
    }
    this.projected.set(e, event);
    return event;
  }
}

function requireItem(e: StoredEvent): StoredItem {
  if (!e.item) throw new Error(`event ${e.kind} ${e.eventNo} lost its transcript item`);
  return e.item;
}

/** Allow-list projection of a stored transcript item (REST pages and events alike). */
function toTranscriptItem(item: StoredPageItem): TranscriptItem {
  return {
    sequence: item.sequence,
    role: item.role,
    content: item.content,
    eventId: formatEventId(item.eventNo),
    runId: item.runId,
    truncated: item.truncated,
  };
}
