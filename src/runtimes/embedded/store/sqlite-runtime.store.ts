import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { EmbeddedRuntimeStore, type AppendedItem, type StoredTranscriptItem, type StoredWorker } from './embedded-runtime.store';
import { rowToWorker, SQLITE_MIGRATIONS, WORKER_COLUMNS, type WorkerRow, workerToParams } from './sql-schema';

interface PendingAppend {
  workerId: string;
  role: string;
  content: string;
  atMs: number;
  resolve: (appended: AppendedItem | undefined) => void;
  reject: (err: unknown) => void;
}

/**
 * The default store: one SQLite file (better-sqlite3, WAL mode).
 *
 * Durability: an append is committed before its promise resolves (so before
 * the 202 is sent). Appends arriving in the same event-loop turn share one
 * IMMEDIATE transaction (group commit: each bumps its worker's counters and
 * inserts its item, in call order), which divides the per-commit cost by the
 * batch size under load; if a batch fails, its appends are retried one by one
 * so one bad append cannot fail the others. With WAL and
 * `synchronous = NORMAL`, a committed transaction survives the process being
 * killed at any moment; only an OS crash or power loss can drop the last
 * commits (`synchronous = FULL`, via SQLITE_SYNCHRONOUS=FULL, closes that at
 * the cost of an fsync per input). A kill never leaves half an item: SQLite
 * rolls back an uncommitted transaction on the next open.
 */
export class SqliteEmbeddedRuntimeStore extends EmbeddedRuntimeStore {
  readonly kind = 'sqlite' as const;
  readonly durable = true;
  /** Batches run in call order and resolve in call order. */
  readonly appendsInCallOrder = true;
  readonly sharedAcrossProcesses = false;
  private db!: Database.Database;
  private pending: PendingAppend[] = [];
  private flushScheduled = false;
  private appendBatchTx!: (batch: PendingAppend[]) => Array<AppendedItem | undefined>;
  private stmts!: ReturnType<SqliteEmbeddedRuntimeStore['prepare']>;
  private appendTx!: (workerId: string, role: string, content: string, atMs: number) => AppendedItem | undefined;
  private eventsTx!: (workerId: string, after: number, limit: number) => { head: number; items: StoredTranscriptItem[] } | undefined;
  private readTx!: (workerId: string, start: number, limit: number) => { head: number; items: StoredTranscriptItem[] } | undefined;

  constructor(
    readonly identity: string,
    private readonly options: { synchronous?: 'NORMAL' | 'FULL' } = {},
  ) {
    super();
  }

  async init(): Promise<void> {
    mkdirSync(dirname(this.identity), { recursive: true });
    this.db = new Database(this.identity, { timeout: 5000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${this.options.synchronous ?? 'NORMAL'}`);
    this.db.pragma('foreign_keys = ON');
    this.migrate();
    this.stmts = this.prepare();
    const appendOne = this.db.transaction((workerId: string, role: string, content: string, atMs: number) => this.appendInTx(workerId, role, content, atMs));
    this.appendTx = appendOne.immediate;
    this.appendBatchTx = this.db.transaction((batch: PendingAppend[]) => batch.map((p) => this.appendInTx(p.workerId, p.role, p.content, p.atMs))).immediate;
    // One read transaction each: the worker's number and the page come from the same snapshot.
    const readItems = (head: Database.Statement, page: Database.Statement) =>
      this.db.transaction((workerId: string, from: number, limit: number) => {
        const worker = head.get(workerId) as { head: number } | undefined;
        if (!worker) return undefined;
        const rows = page.all(workerId, from, limit) as Array<{ sequence: number; role: 'user' | 'system'; content: string; event_no: number }>;
        return { head: worker.head, items: rows.map((r) => ({ sequence: r.sequence, role: r.role, content: r.content, eventNo: r.event_no })) };
      }).deferred;
    this.readTx = readItems(this.stmts.length, this.stmts.page);
    this.eventsTx = readItems(this.stmts.lastEvent, this.stmts.eventsAfter);
  }

  /** Inside a transaction: allocate the worker's next sequence and event number, insert the item. */
  private appendInTx(workerId: string, role: string, content: string, atMs: number): AppendedItem | undefined {
    const row = this.stmts.bump.get(atMs, workerId) as { sequence: number; event_no: number } | undefined;
    if (!row) return undefined;
    this.stmts.insertItem.run(workerId, row.sequence, role, content, row.event_no, atMs);
    return { sequence: row.sequence, eventNo: row.event_no };
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    let results: Array<{ ok: AppendedItem | undefined } | { err: unknown }>;
    try {
      results = this.appendBatchTx(batch).map((ok) => ({ ok }));
    } catch {
      // The batch rolled back as a whole: isolate the failure.
      results = batch.map((p) => {
        try {
          return { ok: this.appendTx(p.workerId, p.role, p.content, p.atMs) };
        } catch (err) {
          return { err };
        }
      });
    }
    results.forEach((r, i) => ('err' in r ? batch[i].reject(r.err) : batch[i].resolve(r.ok)));
  }

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS wb_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const apply = this.db.transaction(() => {
      const applied = new Set((this.db.prepare('SELECT version FROM wb_schema_migrations').all() as Array<{ version: number }>).map((r) => r.version));
      for (const m of SQLITE_MIGRATIONS) {
        if (applied.has(m.version)) continue;
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO wb_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
      }
    });
    apply.immediate();
  }

  private prepare() {
    return {
      insertWorker: this.db.prepare(`INSERT INTO wb_workers (${WORKER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      getWorker: this.db.prepare(`SELECT ${WORKER_COLUMNS} FROM wb_workers WHERE worker_id = ?`),
      listWorkers: this.db.prepare(`SELECT ${WORKER_COLUMNS} FROM wb_workers ORDER BY created_order LIMIT ?`),
      countWorkers: this.db.prepare('SELECT COUNT(*) AS n FROM wb_workers'),
      bump: this.db.prepare(
        `UPDATE wb_workers SET transcript_length = transcript_length + 1, next_event_no = next_event_no + 1, last_seen_at_ms = ?
         WHERE worker_id = ? RETURNING transcript_length - 1 AS sequence, next_event_no - 1 AS event_no`,
      ),
      insertItem: this.db.prepare('INSERT INTO wb_transcript_items (worker_id, sequence, role, content, event_no, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)'),
      length: this.db.prepare('SELECT transcript_length AS head FROM wb_workers WHERE worker_id = ?'),
      page: this.db.prepare('SELECT sequence, role, content, event_no FROM wb_transcript_items WHERE worker_id = ? AND sequence >= ? ORDER BY sequence LIMIT ?'),
      ping: this.db.prepare('SELECT 1'),
      lastEvent: this.db.prepare('SELECT next_event_no - 1 AS head FROM wb_workers WHERE worker_id = ?'),
      eventsAfter: this.db.prepare('SELECT sequence, role, content, event_no FROM wb_transcript_items WHERE worker_id = ? AND event_no > ? ORDER BY event_no LIMIT ?'),
    };
  }

  async ping(): Promise<void> {
    this.stmts.ping.get();
  }

  async insertWorker(worker: StoredWorker): Promise<void> {
    this.stmts.insertWorker.run(...workerToParams(worker));
  }

  async getWorker(workerId: string): Promise<StoredWorker | undefined> {
    const row = this.stmts.getWorker.get(workerId) as WorkerRow | undefined;
    return row && rowToWorker(row);
  }

  async listWorkers(limit: number): Promise<StoredWorker[]> {
    return (this.stmts.listWorkers.all(limit) as WorkerRow[]).map(rowToWorker);
  }

  async countWorkers(): Promise<number> {
    return (this.stmts.countWorkers.get() as { n: number }).n;
  }

  appendTranscriptItem(workerId: string, item: { role: 'user' | 'system'; content: string }, atMs: number): Promise<AppendedItem | undefined> {
    return new Promise((resolve, reject) => {
      this.pending.push({ workerId, role: item.role, content: item.content, atMs, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  async readTranscript(workerId: string, start: number, limit: number): Promise<{ total: number; items: StoredTranscriptItem[] } | undefined> {
    const read = this.readTx(workerId, start, limit);
    return read && { total: read.head, items: read.items };
  }

  async readEventsAfter(workerId: string, afterEventNo: number, limit: number): Promise<{ lastEventNo: number; items: StoredTranscriptItem[] } | undefined> {
    const read = this.eventsTx(workerId, afterEventNo, limit);
    return read && { lastEventNo: read.head, items: read.items };
  }

  async close(): Promise<void> {
    this.flush(); // nothing queued is dropped
    if (this.db?.open) this.db.close();
  }
}
