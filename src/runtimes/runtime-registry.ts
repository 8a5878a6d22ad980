import { Inject, Injectable, Logger } from '@nestjs/common';
import { boundDiagnostics, diagnostic, type Diagnostic } from '../common/dto/diagnostic.dto';
import { ApiError } from '../common/errors/api-error';
import { CursorCodec } from '../common/paging/cursor-codec';
import { IDENTIFIER_PATTERN } from '../config/app-config';
import type {
  EventSink,
  HostRecord,
  InputOutcome,
  InputRequest,
  Page,
  RunRecord,
  RuntimeCapabilities,
  RuntimeRecord,
  RuntimeSource,
  SpawnOutcome,
  SpawnRequest,
  Subscription,
  TranscriptPage,
  WorkerRecord,
} from './runtime-source';
import { OperationRefusedError, RuntimeSourceError } from './runtime-source.errors';
import { RUNTIME_SOURCES } from './runtimes.constants';

/** A list request as routes receive it: the cursor is still the client's string. */
export interface ListRequest {
  limit: number;
  cursor?: string;
}

/** Where `/api/workers` stands: a runtime (by registration index) and that runtime's own position. */
interface WorkersPosition {
  r: number;
  a?: string;
}

/**
 * Routes every call by `runtime_id` (SPEC §1). A worker id is only ever looked
 * up inside the runtime named with it, so an id from one runtime is
 * `unknown_worker` under another. Error precedence follows SPEC §6: a bad
 * cursor (400) before an unknown runtime, then a missing capability, then an
 * unknown worker or run. Every list is paged with tamper-evident cursors.
 */
@Injectable()
export class RuntimeRegistry {
  private readonly logger = new Logger(RuntimeRegistry.name);
  private readonly byId: ReadonlyMap<string, RuntimeSource>;

  constructor(
    @Inject(RUNTIME_SOURCES) private readonly sources: readonly RuntimeSource[],
    @Inject(CursorCodec) private readonly cursors: CursorCodec,
  ) {
    const byId = new Map<string, RuntimeSource>();
    for (const source of sources) {
      if (!IDENTIFIER_PATTERN.test(source.runtimeId)) throw new Error(`runtime id ${source.runtimeId} is not a valid identifier`);
      if (byId.has(source.runtimeId)) throw new Error(`runtime id ${source.runtimeId} is registered twice`);
      byId.set(source.runtimeId, source);
    }
    this.byId = byId;
  }

  runtimeIds(): string[] {
    return [...this.byId.keys()];
  }

  // ---- runtimes and hosts (few: paged by index) ----------------------------

  async listRuntimes(request: ListRequest): Promise<Page<RuntimeRecord>> {
    const start = this.indexFrom('runtimes', request.cursor);
    const chosen = this.sources.slice(start, start + request.limit);
    const summaries = await Promise.all(chosen.map((s) => this.collect(s, () => s.summary())));
    const end = start + chosen.length;
    return {
      items: summaries.flatMap((r) => (r.ok ? [r.value] : [])),
      diagnostics: boundDiagnostics(summaries.flatMap((r) => (r.ok ? [] : [r.diagnostic]))),
      next: end < this.sources.length ? this.cursors.encode('runtimes', { i: end }) : null,
    };
  }

  async getRuntime(runtimeId: string): Promise<RuntimeRecord> {
    return this.requireSource(runtimeId).summary();
  }

  async listHosts(request: ListRequest): Promise<Page<HostRecord>> {
    const start = this.indexFrom('hosts', request.cursor);
    const listings = await Promise.all(this.sources.map((s) => this.collect(s, () => s.listHosts())));
    const all: HostRecord[] = [];
    const diagnostics: Diagnostic[] = [];
    for (const listing of listings) {
      if (!listing.ok) diagnostics.push(listing.diagnostic);
      else {
        all.push(...listing.value.items);
        diagnostics.push(...listing.value.diagnostics);
      }
    }
    const end = Math.min(all.length, start + request.limit);
    return {
      items: all.slice(start, end),
      diagnostics: boundDiagnostics(diagnostics),
      next: end < all.length ? this.cursors.encode('hosts', { i: end }) : null,
    };
  }

  async listHostWorkers(hostId: string, request: ListRequest): Promise<Page<WorkerRecord>> {
    const after = request.cursor === undefined ? undefined : this.cursors.decode<{ h: string; a: string }>('host-workers', request.cursor);
    if (after && after.h !== hostId) throw cursorOfAnother('host');
    const owner = await this.findHostOwner(hostId);
    if (!owner) throw ApiError.unknownHost();
    const page = await owner.listWorkers({ limit: request.limit, after: after?.a, hostId });
    return { ...page, diagnostics: boundDiagnostics(page.diagnostics), next: page.next === null ? null : this.cursors.encode('host-workers', { h: hostId, a: page.next }) };
  }

  // ---- workers -----------------------------------------------------------

  /**
   * Every runtime's workers in registration order: a page takes what is
   * left of the current runtime, then goes on to the next, so paging reaches
   * every worker of every runtime. A runtime that fails is replaced by a
   * diagnostic and paging goes on with the next one.
   *
   * Each runtime is asked at most once per page, so a page costs at most one
   * bounded page of each runtime. A runtime's page is its unit of bounded
   * work: one that answers short but with a position to go on from (the
   * local source, when the entries its scan could read held fewer records)
   * ends this page there, with a cursor into it. Asking it again until the
   * page is full would repeat its scan once per page of entries without
   * records: O(entries²/limit), with no deadline for the whole request.
   */
  async listWorkers(request: ListRequest): Promise<Page<WorkerRecord>> {
    let position: WorkersPosition = request.cursor === undefined ? { r: 0 } : this.cursors.decode<WorkersPosition>('workers', request.cursor);
    if (!Number.isInteger(position.r) || position.r < 0 || position.r > this.sources.length) throw ApiError.validationFailed([{ path: 'cursor', message: 'out of range' }]);
    const items: WorkerRecord[] = [];
    const diagnostics: Diagnostic[] = [];
    while (position.r < this.sources.length && items.length < request.limit) {
      const source = this.sources[position.r];
      const result = await this.collect(source, () => source.listWorkers({ limit: request.limit - items.length, after: position.a }));
      if (!result.ok) {
        diagnostics.push(result.diagnostic);
        position = { r: position.r + 1 };
        continue;
      }
      items.push(...result.value.items);
      diagnostics.push(...result.value.diagnostics);
      if (result.value.next === null) position = { r: position.r + 1 };
      else {
        // One page of a runtime per request (see above): the next request goes on from here.
        position = { r: position.r, a: result.value.next };
        break;
      }
    }
    return {
      items,
      diagnostics: boundDiagnostics(diagnostics),
      next: position.r < this.sources.length ? this.cursors.encode('workers', position) : null,
    };
  }

  async listRuntimeWorkers(runtimeId: string, request: ListRequest): Promise<Page<WorkerRecord>> {
    const after = request.cursor === undefined ? undefined : this.cursors.decode<{ rt: string; a: string }>('runtime-workers', request.cursor);
    if (after && after.rt !== runtimeId) throw cursorOfAnother('runtime');
    const page = await this.requireSource(runtimeId).listWorkers({ limit: request.limit, after: after?.a });
    return { ...page, diagnostics: boundDiagnostics(page.diagnostics), next: page.next === null ? null : this.cursors.encode('runtime-workers', { rt: runtimeId, a: page.next }) };
  }

  async getWorker(runtimeId: string, workerId: string): Promise<WorkerRecord> {
    const worker = await this.requireSource(runtimeId).getWorker(workerId);
    if (!worker) throw ApiError.unknownWorker(runtimeId);
    return worker;
  }

  async spawnWorker(runtimeId: string, request: SpawnRequest): Promise<SpawnOutcome> {
    const spawn = this.operation(this.requireSource(runtimeId), 'spawnWorker');
    const outcome = await spawn(request);
    if (outcome.state === 'rejected') throw ApiError.rejected('The runtime refused to create the worker', outcome.diagnostics);
    if (outcome.state === 'unsupported') throw ApiError.capabilityUnsupported(runtimeId, 'this kind of worker');
    return outcome;
  }

  async acceptInput(runtimeId: string, workerId: string, input: InputRequest): Promise<InputOutcome> {
    const accept = this.operation(this.requireSource(runtimeId), 'acceptInput');
    const outcome = await refusals(() => accept(workerId, input));
    if (!outcome) throw ApiError.unknownWorker(runtimeId);
    return outcome;
  }

  async readTranscript(runtimeId: string, workerId: string, page: { start: number; limit: number }): Promise<TranscriptPage> {
    const read = this.operation(this.requireSource(runtimeId), 'readTranscript');
    const transcript = await read(workerId, page);
    if (!transcript) throw ApiError.unknownWorker(runtimeId);
    return transcript;
  }

  async stopWorker(runtimeId: string, workerId: string, reason: string | null): Promise<WorkerRecord> {
    const stop = this.operation(this.requireSource(runtimeId), 'stopWorker');
    const worker = await stop(workerId, reason);
    if (!worker) throw ApiError.unknownWorker(runtimeId);
    return worker;
  }

  async deleteWorker(runtimeId: string, workerId: string): Promise<void> {
    const remove = this.operation(this.requireSource(runtimeId), 'deleteWorker');
    if (!(await remove(workerId))) throw ApiError.unknownWorker(runtimeId);
  }

  // ---- runs --------------------------------------------------------------

  async listRuns(runtimeId: string, workerId: string, request: ListRequest): Promise<Page<RunRecord>> {
    const after = request.cursor === undefined ? undefined : this.cursors.decode<{ w: string; a: string }>('runs', request.cursor);
    if (after && after.w !== workerId) throw cursorOfAnother('worker');
    const list = this.operation(this.requireSource(runtimeId), 'listRuns');
    const page = await list(workerId, { limit: request.limit, after: after?.a });
    if (!page) throw ApiError.unknownWorker(runtimeId);
    return { ...page, next: page.next === null ? null : this.cursors.encode('runs', { w: workerId, a: page.next }) };
  }

  async getRun(runtimeId: string, workerId: string, runId: string): Promise<RunRecord> {
    const get = this.operation(this.requireSource(runtimeId), 'getRun');
    return requireRun(runtimeId, await get(workerId, runId));
  }

  async cancelRun(runtimeId: string, workerId: string, runId: string): Promise<RunRecord> {
    const cancel = this.operation(this.requireSource(runtimeId), 'cancelRun');
    return requireRun(runtimeId, await refusals(() => cancel(workerId, runId)));
  }

  // ---- events ------------------------------------------------------------

  /** Opens one worker's event stream; 501 for runtimes that cannot stream, then 404 for unknown workers. */
  async openWorkerEvents(runtimeId: string, workerId: string, after: string | undefined, sink: EventSink): Promise<Subscription> {
    const open = this.operation(this.requireSource(runtimeId), 'openWorkerEvents');
    const subscription = await open(workerId, after, sink);
    if (!subscription) throw ApiError.unknownWorker(runtimeId);
    return subscription;
  }

  /**
   * Every worker's events. Positions are one runtime's (today only the
   * embedded runtime streams), so a runtime filter is required once two
   * runtimes can stream; without one, the streaming runtime is used.
   */
  async openEvents(runtimeId: string | undefined, after: string | undefined, sink: EventSink): Promise<Subscription> {
    const streaming = runtimeId === undefined ? this.sources.filter((s) => s.capabilities().canStreamEvents) : [this.requireSource(runtimeId)];
    const source = streaming[0];
    if (!source) throw ApiError.capabilityUnsupported('any runtime', 'streaming events');
    return this.operation(source, 'openRuntimeEvents')(after, sink);
  }

  /**
   * Readiness (SPEC §11): every source that can tell says it can serve reads
   * and writes now, each within `deadlineMs`. Returns the failures' public
   * diagnostics (empty: ready).
   */
  async readiness(deadlineMs: number): Promise<Diagnostic[]> {
    const checks = this.sources.map(async (source) => {
      if (!source.checkReady) return undefined;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`runtime ${source.runtimeId} did not answer within ${deadlineMs} ms`)), deadlineMs);
      });
      const outcome = await this.collect(source, () => Promise.race([source.checkReady!(), deadline]));
      clearTimeout(timer);
      return outcome.ok ? undefined : outcome.diagnostic;
    });
    return (await Promise.all(checks)).filter((d): d is Diagnostic => d !== undefined);
  }

  // ---- internals ---------------------------------------------------------

  private indexFrom(list: string, cursor: string | undefined): number {
    if (cursor === undefined) return 0;
    const { i } = this.cursors.decode<{ i: number }>(list, cursor);
    if (!Number.isInteger(i) || i < 0) throw ApiError.validationFailed([{ path: 'cursor', message: 'out of range' }]);
    return i;
  }

  /**
   * The source's implementation of an optional operation, bound to it, or
   * `501 capability_unsupported` when the source lacks the method or its
   * capabilities say the route does not work (SPEC §3: flags tell the truth).
   */
  private operation<K extends OptionalOperation>(source: RuntimeSource, op: K): NonNullable<RuntimeSource[K]> {
    const [flag, what] = OPTIONAL_OPERATIONS[op];
    const fn = source[op] as ((...args: never[]) => unknown) | undefined;
    if (!fn || !source.capabilities()[flag]) throw ApiError.capabilityUnsupported(source.runtimeId, what);
    return fn.bind(source) as NonNullable<RuntimeSource[K]>;
  }

  private requireSource(runtimeId: string): RuntimeSource {
    const source = this.byId.get(runtimeId);
    if (!source) throw ApiError.unknownRuntime();
    return source;
  }

  private async findHostOwner(hostId: string): Promise<RuntimeSource | undefined> {
    for (const source of this.sources) {
      const summary = await this.collect(source, () => source.summary());
      if (summary.ok && summary.value.hostIds.includes(hostId)) return source;
    }
    return undefined;
  }

  /**
   * In aggregate views one failing source must not take the others down: its
   * part is replaced by a generic diagnostic, and the cause is logged only.
   */
  private async collect<T>(source: RuntimeSource, call: () => Promise<T>): Promise<Outcome<T>> {
    try {
      return { ok: true, value: await call() };
    } catch (err) {
      const cause = err instanceof RuntimeSourceError ? err.cause : err;
      this.logger.error(`runtime ${source.runtimeId} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
      if (err instanceof RuntimeSourceError) return { ok: false, diagnostic: { ...err.diagnostic } };
      return { ok: false, diagnostic: diagnostic('runtime_unavailable', 'error', `Runtime ${source.runtimeId} could not be read`) };
    }
  }
}

/** Each optional RuntimeSource operation, the capability flag that must be true for it, and how a 501 names it. */
const OPTIONAL_OPERATIONS = {
  spawnWorker: ['canSpawnWorker', 'spawning workers'],
  acceptInput: ['canAcceptInput', 'accepting input'],
  readTranscript: ['canReadBoundedTranscript', 'reading transcripts'],
  stopWorker: ['canStopWorker', 'stopping workers'],
  deleteWorker: ['canDeleteWorker', 'deleting workers'],
  listRuns: ['canExecute', 'runs'],
  getRun: ['canExecute', 'runs'],
  cancelRun: ['canExecute', 'cancelling runs'],
  openWorkerEvents: ['canStreamEvents', 'streaming events'],
  openRuntimeEvents: ['canStreamEvents', 'streaming events'],
} as const satisfies Record<string, readonly [keyof RuntimeCapabilities, string]>;
type OptionalOperation = keyof typeof OPTIONAL_OPERATIONS;

type Outcome<T> = { ok: true; value: T } | { ok: false; diagnostic: Diagnostic };

function requireRun(runtimeId: string, run: RunRecord | null | undefined): RunRecord {
  if (run === undefined) throw ApiError.unknownWorker(runtimeId);
  if (run === null) throw ApiError.unknownRun();
  return run;
}

const REFUSALS: Record<OperationRefusedError['code'], { status: number; message: string }> = {
  worker_stopped: { status: 409, message: 'The worker is stopped and takes no input' },
  worker_busy: { status: 409, message: 'The worker is busy (on_busy: reject); nothing was recorded' },
  worker_queue_full: { status: 429, message: 'The worker holds its maximum of queued runs; nothing was recorded' },
  run_finished: { status: 409, message: 'The run has already finished' },
};

/** A source's refusal (valid request, wrong state) as its API error. */
async function refusals<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof OperationRefusedError)) throw err;
    const { status, message } = REFUSALS[err.code];
    throw new ApiError(status, err.code, message, err.retryAfterSeconds !== undefined ? { headers: { 'Retry-After': String(err.retryAfterSeconds) } } : {});
  }
}

/** A cursor this route issued, but for another host, runtime or worker: not a cursor of *this* list (SPEC §10: 400 invalid_cursor). */
function cursorOfAnother(what: 'host' | 'runtime' | 'worker'): ApiError {
  return new ApiError(400, 'invalid_cursor', 'cursor is not a cursor this list issued', { details: [{ path: 'cursor', message: `was issued for another ${what}` }] });
}
