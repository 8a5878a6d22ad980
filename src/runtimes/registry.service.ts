import { Inject, Injectable, Logger } from '@nestjs/common';
import { boundDiagnostics, diagnostic, type Diagnostic } from '../common/dto/diagnostic.dto';
import { ApiError } from '../common/errors/api-error';
import { IDENTIFIER_PATTERN } from '../config/app-config';
import { RuntimeSourceError } from './runtime-source.errors';
import { RUNTIME_SOURCES } from './runtimes.constants';
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
  TranscriptPage,
  WorkerSummary,
} from './runtime-source';

/**
 * Routes every call by `runtime_id` (SPEC §1). A worker id is only ever looked
 * up inside the runtime named with it, so an id from one runtime is
 * `unknown_worker` under another. Error precedence follows SPEC §6:
 * unknown runtime, then missing capability, then unknown worker.
 */
@Injectable()
export class RegistryService {
  private readonly logger = new Logger(RegistryService.name);
  private readonly byId: ReadonlyMap<string, RuntimeSource>;

  constructor(@Inject(RUNTIME_SOURCES) private readonly sources: readonly RuntimeSource[]) {
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

  async listRuntimes(limit: number): Promise<Listing<RuntimeSummary>> {
    const summaries = await this.collect(this.sources.slice(0, limit), (s) => s.summary());
    const items = summaries.flatMap((r) => (r.ok ? [r.value] : []));
    return { items, diagnostics: boundDiagnostics(summaries.flatMap((r) => (r.ok ? [] : [r.diagnostic]))) };
  }

  async getRuntime(runtimeId: string): Promise<RuntimeSummary> {
    return this.requireSource(runtimeId).summary();
  }

  async listHosts(limit: number): Promise<Listing<HostSummary>> {
    const listings = await this.collect(this.sources, (s) => s.listHosts());
    return this.merge(listings, limit);
  }

  async listHostWorkers(hostId: string, limit: number): Promise<Listing<WorkerSummary>> {
    const owner = await this.findHostOwner(hostId);
    if (!owner) throw ApiError.unknownHost();
    return owner.listWorkers({ limit, hostId });
  }

  async listWorkers(limit: number): Promise<Listing<WorkerSummary>> {
    const items: WorkerSummary[] = [];
    const diagnostics: Diagnostic[] = [];
    // Sources are asked in registration order, each for what is left of the limit.
    for (const source of this.sources) {
      const remaining = limit - items.length;
      const result = await this.collectOne(source, (s) => s.listWorkers({ limit: Math.max(remaining, 0) }));
      if (!result.ok) {
        diagnostics.push(result.diagnostic);
        continue;
      }
      items.push(...result.value.items.slice(0, Math.max(remaining, 0)));
      diagnostics.push(...result.value.diagnostics);
    }
    return { items, diagnostics: boundDiagnostics(diagnostics) };
  }

  /**
   * A token that changes whenever `listWorkers` could answer differently, or
   * undefined when some source cannot tell (or fails to), so callers never
   * cache what they cannot invalidate.
   */
  async workersVersion(): Promise<string | undefined> {
    const parts: string[] = [];
    for (const source of this.sources) {
      const version = source.listVersion ? await source.listVersion().catch(() => undefined) : undefined;
      if (version === undefined) return undefined;
      parts.push(`${source.runtimeId}=${version}`);
    }
    return parts.join(';');
  }

  async listRuntimeWorkers(runtimeId: string, limit: number): Promise<Listing<WorkerSummary>> {
    const listing = await this.requireSource(runtimeId).listWorkers({ limit });
    return { items: listing.items.slice(0, limit), diagnostics: boundDiagnostics(listing.diagnostics) };
  }

  async getWorker(runtimeId: string, workerId: string): Promise<WorkerSummary> {
    const source = this.requireSource(runtimeId);
    const worker = await source.getWorker(workerId);
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
    const outcome = await accept(workerId, input);
    if (!outcome) throw ApiError.unknownWorker(runtimeId);
    return outcome;
  }

  async readTranscript(runtimeId: string, workerId: string, page: { start: number; limit: number }): Promise<TranscriptPage> {
    const read = this.operation(this.requireSource(runtimeId), 'readTranscript');
    const transcript = await read(workerId, page);
    if (!transcript) throw ApiError.unknownWorker(runtimeId);
    return transcript;
  }

  /** Opens one worker's event stream; 501 for runtimes that cannot stream, then 404 for unknown workers. */
  async openWorkerEvents(runtimeId: string, workerId: string, afterEventNo: number | undefined, sink: EventStreamSink, options: { replayLimit: number }): Promise<() => void> {
    const open = this.operation(this.requireSource(runtimeId), 'openWorkerEvents');
    const unsubscribe = await open(workerId, afterEventNo, sink, options);
    if (!unsubscribe) throw ApiError.unknownWorker(runtimeId);
    return unsubscribe;
  }

  /** Live events of one runtime, or of every runtime that can stream. */
  openEvents(runtimeId: string | undefined, sink: EventStreamSink): () => void {
    const sources = runtimeId === undefined ? this.sources.filter((s) => s.capabilities().can_stream_events) : [this.requireSource(runtimeId)];
    const opens = sources.map((s) => this.operation(s, 'openRuntimeEvents')); // all checked before any subscribes
    const unsubscribes = opens.map((open) => open(sink));
    return () => unsubscribes.forEach((u) => u());
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
      const summary = await this.collectOne(source, (s) => s.summary());
      if (summary.ok && summary.value.host_ids.includes(hostId)) return source;
    }
    return undefined;
  }

  private merge<T>(listings: Array<Outcome<Listing<T>>>, limit: number): Listing<T> {
    const items: T[] = [];
    const diagnostics: Diagnostic[] = [];
    for (const listing of listings) {
      if (!listing.ok) {
        diagnostics.push(listing.diagnostic);
        continue;
      }
      items.push(...listing.value.items);
      diagnostics.push(...listing.value.diagnostics);
    }
    if (items.length > limit) diagnostics.push(diagnostic('list_truncated', 'info', `${items.length - limit} further items were not listed`));
    return { items: items.slice(0, limit), diagnostics: boundDiagnostics(diagnostics) };
  }

  private collect<T>(sources: readonly RuntimeSource[], call: (s: RuntimeSource) => Promise<T>): Promise<Array<Outcome<T>>> {
    return Promise.all(sources.map((s) => this.collectOne(s, call)));
  }

  /**
   * In aggregate views one failing source must not take the others down: its
   * part is replaced by a generic diagnostic, and the cause is logged only.
   */
  private async collectOne<T>(source: RuntimeSource, call: (s: RuntimeSource) => Promise<T>): Promise<Outcome<T>> {
    try {
      return { ok: true, value: await call(source) };
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
  spawnWorker: ['can_spawn_worker', 'spawning workers'],
  acceptInput: ['can_accept_input', 'accepting input'],
  readTranscript: ['can_read_bounded_transcript', 'reading transcripts'],
  openWorkerEvents: ['can_stream_events', 'streaming events'],
  openRuntimeEvents: ['can_stream_events', 'streaming events'],
} as const satisfies Record<string, readonly [keyof RuntimeCapabilities, string]>;
type OptionalOperation = keyof typeof OPTIONAL_OPERATIONS;

type Outcome<T> = { ok: true; value: T } | { ok: false; diagnostic: Diagnostic };
