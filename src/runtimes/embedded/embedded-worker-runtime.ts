import { randomBytes } from 'node:crypto';
import { diagnostic, type Diagnostic } from '../../common/dto/diagnostic.dto';
import type { SpawnAcceptance, WorkerIntent } from '../runtime-source';
import type { EmbeddedRuntimeStore, StoredTranscriptItem, StoredWorker } from './store/embedded-runtime.store';

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

  /** Appends the input to the transcript; undefined if the worker does not exist. */
  async sendInput(workerId: string, input: { kind: 'user' | 'system'; content: string }): Promise<{ sequence: number; eventId: string } | undefined> {
    const appended = await this.store.appendTranscriptItem(workerId, { role: input.kind, content: input.content }, this.now());
    return appended && { sequence: appended.sequence, eventId: formatEventId(appended.eventNo) };
  }

  readTranscript(workerId: string, start: number, limit: number): Promise<{ total: number; items: StoredTranscriptItem[] } | undefined> {
    return this.store.readTranscript(workerId, start, limit);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
