import { randomBytes } from 'node:crypto';
import { diagnostic, type Diagnostic } from '../../common/dto/diagnostic.dto';
import type { SpawnAcceptance, WorkerIntent } from '../runtime-source';
import { EventHub } from './event-hub';
import type { EmbeddedRuntimeStore, StoredTranscriptItem, StoredWorker } from './store/embedded-runtime.store';

/** What the runtime publishes after a change is committed. Internal records: project before sending. */
export type RuntimeEvent =
  | { kind: 'worker.created'; workerId: string; eventNo: 0; worker: StoredWorker }
  | { kind: 'worker.input_accepted'; workerId: string; eventNo: number; item: StoredTranscriptItem };

/** How workers reach their model provider. The credential is internal. */
export interface ProviderSettings {
  name: string;
  credential: string | null;
}

export interface EmbeddedWorkerRuntimeOptions {
  store: EmbeddedRuntimeStore;
  maxWorkers: number;
  provider: ProviderSettings;
  now?: () => number;
}

export interface CreateWorkerSpec {
  intent: WorkerIntent;
  requestedWorkerName?: string;
  acceptance: SpawnAcceptance;
}

export type CreateWorkerResult =
  | { outcome: 'accepted'; worker: StoredWorker; evidence: Array<{ kind: string; detail: string }>; diagnostics: Diagnostic[] }
  | { outcome: 'rejected'; diagnostics: Diagnostic[] };

/** 128 random bits: unguessable (SPEC §5 asks for at least 96) and identifier-safe. */
export function newEmbeddedWorkerId(): string {
  return `embedded-worker-${randomBytes(16).toString('hex')}`;
}

export function formatEventId(eventNo: number): string {
  return `evt-${eventNo}`;
}

/** The form of every event id (`evt-<n>`); 15 digits keep n a safe integer. */
export const EVENT_ID_PATTERN = /^evt-(\d{1,15})$/;

/** `evt-<n>` → n, or undefined for anything else. */
export function parseEventId(eventId: string): number | undefined {
  const match = EVENT_ID_PATTERN.exec(eventId);
  return match ? Number(match[1]) : undefined;
}

/** Profile fallback (SPEC §4): built-in per ticket role, else the runtime default. */
export function resolveProfileSelector(intent: WorkerIntent): { role: StoredWorker['role']; profileSelector: string } {
  switch (intent.kind) {
    case 'ticket_role':
      return { role: intent.role, profileSelector: `builtin:${intent.role}` };
    case 'workspace_companion':
      return { role: 'workspace_companion', profileSelector: 'runtime_default' };
    case 'workspace_orchestrator':
      return { role: 'workspace_orchestrator', profileSelector: 'runtime_default' };
  }
}

/**
 * The in-process worker runtime the backend creates at start-up and owns.
 * It has no transport: the registry calls it directly. v0 workers are
 * tools-less: they accept input into their transcript; nothing calls a model.
 */
export class EmbeddedWorkerRuntime {
  private readonly store: EmbeddedRuntimeStore;
  private readonly maxWorkers: number;
  private readonly provider: ProviderSettings;
  private readonly now: () => number;
  /** Creates in flight, so concurrent creates cannot overshoot maxWorkers. */
  private reserved = 0;
  private readonly events = new EventHub<RuntimeEvent>();
  /** Bumped after every committed change; list caches key on it. */
  private changes = 0;
  /** Per-worker tail of in-flight appends: appends to one worker run one at a time here. */
  private readonly appendTails = new Map<string, Promise<unknown>>();

  constructor(options: EmbeddedWorkerRuntimeOptions) {
    this.store = options.store;
    this.maxWorkers = options.maxWorkers;
    this.provider = options.provider;
    this.now = options.now ?? Date.now;
  }

  get limits(): { maxWorkers: number } {
    return { maxWorkers: this.maxWorkers };
  }

  /** Public facts about the store: its kind and whether state survives a restart (never its identity). */
  get storage(): { kind: EmbeddedRuntimeStore['kind']; durable: boolean } {
    return { kind: this.store.kind, durable: this.store.durable };
  }

  /**
   * A version of this runtime's state for caches, or undefined when other
   * processes may change it unseen (a store shared across processes).
   */
  stateVersion(): number | undefined {
    return this.store.sharedAcrossProcesses ? undefined : this.changes;
  }

  /** Resolves when the store answers (health check). */
  ping(): Promise<void> {
    return this.store.ping();
  }

  /** For the operator: names the provider and whether a credential is set, never the credential. */
  describeProvider(): string {
    return `${this.provider.name} (${this.provider.credential ? 'credential configured' : 'no credential'})`;
  }

  async createWorker(spec: CreateWorkerSpec): Promise<CreateWorkerResult> {
    const diagnostics: Diagnostic[] = [];
    if (spec.requestedWorkerName !== undefined) {
      diagnostics.push(
        diagnostic('embedded_worker_name_ignored', 'info', 'requested_worker_name is a display wish; the runtime allocated its own worker id'),
      );
    }
    if (spec.acceptance.kind === 'socket_ready') {
      diagnostics.push(
        diagnostic('embedded_socket_ready_unsupported', 'error', 'The embedded runtime has no socket; use acceptance kind run_accepted'),
      );
      return { outcome: 'rejected', diagnostics };
    }
    if ((await this.store.countWorkers()) + this.reserved >= this.maxWorkers) {
      diagnostics.push(diagnostic('embedded_worker_limit_reached', 'error', `The embedded runtime holds its maximum of ${this.maxWorkers} workers`));
      return { outcome: 'rejected', diagnostics };
    }
    this.reserved++;
    try {
      const { role, profileSelector } = resolveProfileSelector(spec.intent);
      const at = this.now();
      const worker: StoredWorker = {
        workerId: newEmbeddedWorkerId(),
        intent: spec.intent,
        role,
        profileSelector,
        requestedName: spec.requestedWorkerName ?? null,
        state: 'running',
        createdAtMs: at,
        lastSeenAtMs: at,
      };
      await this.store.insertWorker(worker);
      this.changes++;
      this.events.publish({ kind: 'worker.created', workerId: worker.workerId, eventNo: 0, worker: { ...worker } });
      const evidence = [
        {
          kind: 'run_accepted',
          detail: `worker registered in the embedded runtime with profile ${profileSelector}; expected_segments ${spec.acceptance.expected_segments}`,
        },
      ];
      return { outcome: 'accepted', worker, evidence, diagnostics };
    } finally {
      this.reserved--;
    }
  }

  getWorker(workerId: string): Promise<StoredWorker | undefined> {
    return this.store.getWorker(workerId);
  }

  listWorkers(limit: number): Promise<StoredWorker[]> {
    return this.store.listWorkers(limit);
  }

  countWorkers(): Promise<number> {
    return this.store.countWorkers();
  }

  /**
   * Appends the input to the transcript; undefined if the worker does not
   * exist. Events must be published in event-number order: stores whose
   * appends complete in call order (memory, SQLite) guarantee it; for the
   * others (a Postgres pool finishes queries in any order) appends to one
   * worker are serialised here. The store makes each append atomic, also
   * across processes.
   */
  sendInput(workerId: string, input: { kind: 'user' | 'system'; content: string }): Promise<{ sequence: number; eventId: string } | undefined> {
    const task = async () => {
      const appended = await this.store.appendTranscriptItem(workerId, { role: input.kind, content: input.content }, this.now());
      if (!appended) return undefined;
      this.changes++;
      this.events.publish({
        kind: 'worker.input_accepted',
        workerId,
        eventNo: appended.eventNo,
        item: { sequence: appended.sequence, role: input.kind, content: input.content, eventNo: appended.eventNo },
      });
      return { sequence: appended.sequence, eventId: formatEventId(appended.eventNo) };
    };
    return this.store.appendsInCallOrder ? task() : this.serialised(workerId, task);
  }

  /** Live events of one worker (`workerId`) or of all workers (`null`); returns the unsubscribe function. */
  subscribe(workerId: string | null, listener: (event: RuntimeEvent) => void): () => void {
    return this.events.subscribe(workerId, listener);
  }

  listenerCount(): number {
    return this.events.listenerCount();
  }

  /** Committed input events after `afterEventNo`, for stream resume. */
  readEventsAfter(workerId: string, afterEventNo: number, limit: number): Promise<{ lastEventNo: number; items: StoredTranscriptItem[] } | undefined> {
    return this.store.readEventsAfter(workerId, afterEventNo, limit);
  }

  private serialised<T>(workerId: string, task: () => Promise<T>): Promise<T> {
    const previous = this.appendTails.get(workerId) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.appendTails.set(workerId, tail);
    void tail.then(() => {
      if (this.appendTails.get(workerId) === tail) this.appendTails.delete(workerId);
    });
    return run;
  }

  readTranscript(workerId: string, start: number, limit: number): Promise<{ total: number; items: StoredTranscriptItem[] } | undefined> {
    return this.store.readTranscript(workerId, start, limit);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
