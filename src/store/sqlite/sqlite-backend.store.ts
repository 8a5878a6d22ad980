import Database from 'better-sqlite3';
import { mkdirSync, promises as fsp, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SQLITE_MIGRATIONS } from '../sql/schema';
import { SQLITE_DIALECT, type SqlExecutor, SqlStoreTx, type Row } from '../sql/sql-queries';
import { type StoreDescription, type StoreNotice, type StoreQueries, type StoreTx, StoreUnavailableError, BackendStore } from '../backend-store';

export interface SqliteStoreOptions {
  /** A file path, or null for an in-memory database (`memory:`). */
  file: string | null;
  /** Operator-facing name (the file, or the memory store's name). */
  identity: string;
  synchronous?: 'NORMAL' | 'FULL';
  /**
   * How long a statement may wait for another process's lock. It blocks the
   * only thread, so it stays small: past it the request gets 503 instead.
   */
  busyTimeoutMs?: number;
  /** How often the file's identity is checked (deleted or replaced under us). */
  fileCheckMs?: number;
  /**
   * The most bytes the database may hold (SQLITE_MAX_MB; null: no cap). A write
   * that would grow it past this fails as on a full disk, SQLITE_FULL: 503.
   */
  maxBytes?: number | null;
  /** Where the store says what an operator should know (a database over its cap). */
  log?: { warn(message: string): void };
}

/** Under a cap, with less free room than this, readiness fails (the next few writes would fail) and no queued run is claimed. */
const READY_MIN_FREE_BYTES = 256 * 1024;

interface Job {
  write: boolean;
  work: (tx: SqlStoreTx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  notices?: StoreNotice[];
}

const SQLITE_UNAVAILABLE: Record<string, StoreUnavailableError['reason']> = {
  SQLITE_BUSY: 'busy',
  SQLITE_LOCKED: 'busy',
  SQLITE_FULL: 'full',
  SQLITE_READONLY: 'readonly',
  SQLITE_IOERR: 'replaced',
  SQLITE_CANTOPEN: 'replaced',
  SQLITE_NOTADB: 'replaced',
  SQLITE_CORRUPT: 'replaced',
};

function toStoreError(err: unknown): unknown {
  if (err instanceof StoreUnavailableError) return err;
  const code = String((err as { code?: unknown })?.code ?? '');
  const reason = SQLITE_UNAVAILABLE[code] ?? SQLITE_UNAVAILABLE[code.split('_').slice(0, 2).join('_')];
  return reason ? new StoreUnavailableError(reason, err) : err;
}

/**
 * The default store: one SQLite database (better-sqlite3) — a WAL-mode file,
 * or an in-memory database for `memory:`, so both run the same SQL as
 * Postgres through the shared SqlStoreTx.
 *
 * One connection serves every request, so every read and transaction goes
 * through one queue: a transaction's statements can never interleave with
 * another request's (SQLite would let that other request see uncommitted
 * rows on the same connection). A read that finds the queue empty and
 * nothing running runs at once rather than a turn later.
 *
 * Group commit: transactions queued while one runs share the next
 * `BEGIN IMMEDIATE … COMMIT`, each inside its own SAVEPOINT so one failure
 * rolls back only itself. Every promise resolves after the COMMIT, so a 202
 * is never sent for a write that is not committed. With WAL and
 * `synchronous = NORMAL` a committed transaction survives the process being
 * killed; `FULL` also survives power loss, at the cost of an fsync per
 * commit.
 *
 * Faults: a lock held by another process fails a write after
 * `busyTimeoutMs` (503, the event loop is never held longer); a database
 * file that was deleted or replaced is noticed within `fileCheckMs` and from
 * then on every operation fails (503) and readiness is false — writes would
 * otherwise be acknowledged into a file nobody will ever open again. A full
 * disk, or the `maxBytes` cap reached (SQLite's `max_page_count`), fails the
 * write that needed room (503, SQLITE_FULL; SQLite then rolls back the whole
 * batch's transaction, so every job of it fails and none is acknowledged);
 * reads go on, and rows deleted free pages that later writes reuse.
 */
export class SqliteBackendStore extends BackendStore {
  readonly description: StoreDescription;
  private db!: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly rawStatements = new Map<string, Database.Statement>();
  private readonly queue: Job[] = [];
  private draining = false;
  private readonly listeners = new Set<(notice: StoreNotice) => void>();
  private failure: StoreUnavailableError | undefined;
  private fileIdentity: { dev: number; ino: number } | undefined;
  private fileCheck?: NodeJS.Timeout;
  private readyProbe?: Promise<void>;
  private readyCheckedAt = 0;
  private pageBytes?: number;

  constructor(private readonly options: SqliteStoreOptions) {
    super();
    this.description = {
      kind: options.file === null ? 'memory' : 'sqlite',
      durable: options.file !== null,
      sharedAcrossProcesses: false,
      identity: options.identity,
    };
  }

  async init(): Promise<void> {
    const file = this.options.file;
    if (file !== null) makeDirectories(dirname(file));
    this.db = new Database(file ?? ':memory:', { timeout: this.options.busyTimeoutMs ?? 25 });
    if (file !== null) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${this.options.synchronous ?? 'NORMAL'}`);
      const st = statSync(file);
      this.fileIdentity = { dev: st.dev, ino: st.ino };
      this.fileCheck = setInterval(() => void this.checkFile(), this.options.fileCheckMs ?? 250);
      this.fileCheck.unref();
    }
    this.migrate();
    if (this.capPages !== null) {
      // After the migrations, so the schema always fits. SQLite keeps a limit below the database's
      // size at that size: such a file may not grow, and readiness counts its use against the cap.
      const limit = Number(this.db.pragma(`max_page_count = ${this.capPages}`, { simple: true }));
      if (limit > this.capPages) {
        const mib = (pages: number) => Math.round((pages * this.pageSize()) / (1024 * 1024));
        this.options.log?.warn(`the SQLite store holds ${mib(limit)} MiB, over SQLITE_MAX_MB (${mib(this.capPages)}): it may not grow, and readiness fails until deletes bring its use under the cap`);
      }
    }
  }

  /** SQLITE_MAX_MB in pages; null: no cap. */
  private get capPages(): number | null {
    const max = this.options.maxBytes;
    return max === undefined || max === null ? null : Math.max(1, Math.floor(max / this.pageSize()));
  }

  /** SQLite's page size is fixed once the database exists (only a VACUUM could change it, and none is run). */
  private pageSize(): number {
    this.pageBytes ??= Number(this.db.pragma('page_size', { simple: true }));
    return this.pageBytes;
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

  /** The file at our path must still be the one we opened: deleted or replaced means stop acknowledging. */
  private async checkFile(): Promise<void> {
    if (!this.fileIdentity || this.failure) return;
    try {
      const st = await fsp.stat(this.options.file!);
      if (st.dev === this.fileIdentity.dev && st.ino === this.fileIdentity.ino) return;
    } catch {
      // missing: same verdict
    }
    this.failure = new StoreUnavailableError('replaced');
  }

  async close(): Promise<void> {
    clearInterval(this.fileCheck);
    // Let queued work finish (nothing acknowledged is dropped), then close.
    while (this.draining || this.queue.length > 0) await new Promise((r) => setImmediate(r));
    if (this.db?.open) this.db.close();
    this.failure = new StoreUnavailableError('closed');
  }

  async checkReady(): Promise<void> {
    if (this.failure) throw this.failure;
    // Under a cap, the probe's write below rewrites one row in place and would pass with no room left.
    const cap = this.capPages;
    if (cap !== null && this.freeBytes(cap) < READY_MIN_FREE_BYTES) throw new StoreUnavailableError('full');
    // A real write (a WAL page): a full disk or a read-only file fails it. At most one probe a second.
    if (this.readyProbe && Date.now() - this.readyCheckedAt < 1000) return this.readyProbe;
    this.readyCheckedAt = Date.now();
    this.readyProbe = this.write((tx) => tx.putSetting('ready_probe', String(Date.now())));
    this.readyProbe.catch(() => (this.readyCheckedAt = 0));
    return this.readyProbe;
  }

  override hasRoomForRuns(): boolean {
    const cap = this.capPages;
    return cap === null || !this.db?.open || this.freeBytes(cap) >= READY_MIN_FREE_BYTES;
  }

  read<T>(work: (q: StoreQueries) => Promise<T>): Promise<T> {
    if (this.failure || this.draining || this.queue.length > 0) return this.enqueue(false, work);
    // The connection is free: the read runs now instead of an event-loop turn later (a read joins
    // no commit). Jobs arriving meanwhile queue behind it, as behind any job, and drain after it.
    this.draining = true;
    return this.readNow(work);
  }

  private async readNow<T>(work: (q: StoreQueries) => Promise<T>): Promise<T> {
    try {
      return await work(new SqlStoreTx(this.executor, SQLITE_DIALECT));
    } catch (err) {
      throw toStoreError(err);
    } finally {
      this.draining = false;
      this.drainSoon();
    }
  }

  write<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.enqueue(true, work);
  }

  subscribe(listener: (notice: StoreNotice) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  private enqueue<T>(write: boolean, work: (tx: SqlStoreTx) => Promise<T>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ write, work, resolve: resolve as (v: unknown) => void, reject });
      this.drainSoon();
    });
  }

  /** Drains the queue on the next turn unless a job runs now (it drains after itself): writes arriving in this turn join one commit. */
  private drainSoon(): void {
    if (this.draining || this.queue.length === 0) return;
    this.draining = true;
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        if (this.failure) {
          for (const job of this.queue.splice(0)) job.reject(this.failure);
          break;
        }
        if (!this.queue[0].write) {
          const job = this.queue.shift()!;
          try {
            job.resolve(await job.work(new SqlStoreTx(this.executor, SQLITE_DIALECT)));
          } catch (err) {
            job.reject(toStoreError(err));
          }
          continue;
        }
        const batch: Job[] = [];
        while (this.queue.length > 0 && this.queue[0].write) batch.push(this.queue.shift()!);
        await this.commitBatch(batch);
      }
    } finally {
      this.draining = false;
    }
  }

  private async commitBatch(batch: Job[]): Promise<void> {
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; err: unknown }> = [];
    try {
      this.exec('BEGIN IMMEDIATE');
    } catch (err) {
      for (const job of batch) job.reject(toStoreError(err));
      return;
    }
    try {
      for (const job of batch) {
        this.exec('SAVEPOINT job');
        try {
          const tx = new SqlStoreTx(this.executor, SQLITE_DIALECT);
          const value = await job.work(tx);
          job.notices = await tx.flush();
          this.exec('RELEASE job');
          outcomes.push({ ok: true, value });
        } catch (err) {
          // SQLITE_FULL, IOERR, BUSY or NOMEM may roll back the whole transaction: then the jobs before
          // this one are undone too, and the batch fails as one (below) with this job's cause.
          if (!this.db.inTransaction) throw err;
          this.exec('ROLLBACK TO job');
          this.exec('RELEASE job');
          outcomes.push({ ok: false, err: toStoreError(err) });
        }
      }
      this.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.exec('ROLLBACK');
      for (const job of batch) job.reject(toStoreError(err));
      return;
    }
    batch.forEach((job, i) => {
      const outcome = outcomes[i];
      if (outcome.ok) {
        for (const notice of job.notices ?? []) this.emit(notice);
        job.resolve(outcome.value);
      } else {
        job.reject(outcome.err);
      }
    });
  }

  private emit(notice: StoreNotice): void {
    for (const listener of this.listeners) {
      try {
        listener(notice);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /** Room left under the cap: its pages less those in use (the file's pages but those deletes freed). */
  private freeBytes(capPages: number): number {
    const pragma = (name: string) => Number(this.db.pragma(name, { simple: true }));
    return (capPages - pragma('page_count') + pragma('freelist_count')) * this.pageSize();
  }

  private exec(sql: string): void {
    this.statement(sql).run();
  }

  /** The same statement in array mode (a statement's mode is sticky, so it is a separate one). */
  private rawStatement(sql: string): Database.Statement {
    let stmt = this.rawStatements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql).raw(true);
      this.rawStatements.set(sql, stmt);
    }
    return stmt;
  }

  private statement(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  /** Synchronous under the hood; the queue guarantees nothing else runs on the connection meanwhile. */
  private readonly executor: SqlExecutor = {
    all: async <T>(sql: string, params: readonly unknown[] = []) => this.statement(sql).all(...params) as T[],
    get: async <T>(sql: string, params: readonly unknown[] = []) => this.statement(sql).get(...params) as T | undefined,
    rows: async (sql: string, params: readonly unknown[] = []) => this.rawStatement(sql).all(...params) as unknown[][],
    row: async (sql: string, params: readonly unknown[] = []) => this.rawStatement(sql).get(...params) as unknown[] | undefined,
    run: async (sql: string, params: readonly unknown[] = []) => {
      const stmt = this.statement(sql);
      if (stmt.reader) {
        stmt.all(...params);
        return 0;
      }
      return stmt.run(...params).changes;
    },
  };
}

export type { Row };

/**
 * `mkdir -p`, one directory at a time from the nearest one that exists.
 * Node 20's `mkdirSync(dir, { recursive: true })` never returns where a
 * directory cannot be made in a parent that exists (`/proc/1/x`: ENOENT,
 * and it retries the parent, which exists, forever), so a mistyped
 * WORKSPACE_DATA_DIR hung start-up at full CPU without a word.
 */
export function makeDirectories(dir: string): void {
  const missing: string[] = [];
  for (let at = resolve(dir); ; at = dirname(at)) {
    try {
      statSync(at);
      break; // exists (if it is a file, mkdir of the next one down says so, or the check at the end does)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    missing.push(at);
    if (dirname(at) === at) break;
  }
  for (const at of missing.reverse()) {
    try {
      mkdirSync(at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // made meanwhile by another process, or a dangling link (below)
    }
  }
  // The system's own error where `dir` is not a directory after all (a dangling symbolic link: ENOENT).
  if (!statSync(resolve(dir)).isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, '${dir}'`), { code: 'ENOTDIR' });
}
