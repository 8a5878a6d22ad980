import { EmbeddedRuntimeStore, type AppendedItem, type StoredTranscriptItem, type StoredWorker } from './embedded-runtime.store';

const ROLE_CODES = ['user', 'system'] as const;

/**
 * Columnar transcript: parallel arrays instead of one object per item, so an
 * item costs its content string plus two array slots (see BENCHMARKS.md).
 */
interface MemoryWorker {
  worker: StoredWorker;
  contents: string[];
  roles: number[];
  eventNos: number[];
  /** Next event number; 0 was `worker.created`. */
  nextEventNo: number;
}

function itemAt(entry: MemoryWorker, i: number): StoredTranscriptItem {
  return { sequence: i, role: ROLE_CODES[entry.roles[i]], content: entry.contents[i], eventNo: entry.eventNos[i] };
}

/**
 * Keeps everything in process memory. Appends are synchronous inside the
 * async method, so they are atomic with respect to each other: Node runs one
 * at a time and none awaits between reading and bumping the sequence.
 */
export class MemoryEmbeddedRuntimeStore extends EmbeddedRuntimeStore {
  readonly kind = 'memory' as const;
  readonly durable = false;
  readonly appendsInCallOrder = true;
  readonly sharedAcrossProcesses = false;
  private readonly workers = new Map<string, MemoryWorker>();

  constructor(readonly identity: string) {
    super();
  }

  async init(): Promise<void> {}

  async ping(): Promise<void> {}

  async insertWorker(worker: StoredWorker): Promise<void> {
    if (this.workers.has(worker.workerId)) throw new Error('duplicate worker id');
    this.workers.set(worker.workerId, { worker: { ...worker }, contents: [], roles: [], eventNos: [], nextEventNo: 1 });
  }

  async getWorker(workerId: string): Promise<StoredWorker | undefined> {
    const entry = this.workers.get(workerId);
    return entry ? { ...entry.worker } : undefined;
  }

  async listWorkers(limit: number): Promise<StoredWorker[]> {
    const out: StoredWorker[] = [];
    for (const entry of this.workers.values()) {
      if (out.length >= limit) break;
      out.push({ ...entry.worker });
    }
    return out;
  }

  async countWorkers(): Promise<number> {
    return this.workers.size;
  }

  async appendTranscriptItem(workerId: string, item: { role: 'user' | 'system'; content: string }, atMs: number): Promise<AppendedItem | undefined> {
    const entry = this.workers.get(workerId);
    if (!entry) return undefined;
    const sequence = entry.contents.length;
    const eventNo = entry.nextEventNo++;
    entry.contents.push(item.content);
    entry.roles.push(item.role === 'system' ? 1 : 0);
    entry.eventNos.push(eventNo);
    entry.worker.lastSeenAtMs = atMs;
    return { sequence, eventNo };
  }

  async readTranscript(workerId: string, start: number, limit: number): Promise<{ total: number; items: StoredTranscriptItem[] } | undefined> {
    const entry = this.workers.get(workerId);
    if (!entry) return undefined;
    const total = entry.contents.length;
    const end = Math.min(total, start + limit);
    const items: StoredTranscriptItem[] = [];
    for (let i = start; i < end; i++) {
      items.push(itemAt(entry, i));
    }
    return { total, items };
  }

  async readEventsAfter(workerId: string, afterEventNo: number, limit: number): Promise<{ lastEventNo: number; items: StoredTranscriptItem[] } | undefined> {
    const entry = this.workers.get(workerId);
    if (!entry) return undefined;
    // eventNos ascend with the sequence: binary search for the first one after afterEventNo.
    let lo = 0;
    let hi = entry.eventNos.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (entry.eventNos[mid] <= afterEventNo) lo = mid + 1;
      else hi = mid;
    }
    const items: StoredTranscriptItem[] = [];
    for (let i = lo; i < entry.contents.length && items.length < limit; i++) {
      items.push(itemAt(entry, i));
    }
    return { lastEventNo: entry.nextEventNo - 1, items };
  }

  async close(): Promise<void> {
    this.workers.clear();
  }
}
