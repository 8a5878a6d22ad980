import { Pool } from 'pg';
import { withoutPassword } from '../../../common/logging/redact';
import { EmbeddedRuntimeStore, type AppendedItem, type StoredTranscriptItem, type StoredWorker } from './embedded-runtime.store';
import { POSTGRES_MIGRATIONS, rowToWorker, WORKER_COLUMNS, type WorkerRow, workerToParams } from './sql-schema';

/** Any constant: serialises migrations across backend instances starting together. */
const MIGRATION_LOCK = 0x77625f6d;

/**
 * Postgres store, for several backend instances sharing workers and
 * transcripts. An append is one statement (a CTE that bumps the worker's
 * counters and inserts the item), so it is atomic, and the row lock on the
 * worker orders concurrent appends from any instance: sequences never repeat
 * or skip.
 */
export class PostgresEmbeddedRuntimeStore extends EmbeddedRuntimeStore {
  readonly kind = 'postgres' as const;
  readonly durable = true;
  /** Pool queries may finish in any order. */
  readonly appendsInCallOrder = false;
  /** Several backend instances may share the database. */
  readonly sharedAcrossProcesses = true;
  readonly identity: string;
  private readonly pool: Pool;

  constructor(connectionString: string) {
    super();
    this.identity = withoutPassword(connectionString);
    this.pool = new Pool({ connectionString, max: 10, connectionTimeoutMillis: 5000 });
    // An idle client's error (server restart) must not crash the process; the next query reports it.
    this.pool.on('error', () => undefined);
  }

  async init(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query('CREATE TABLE IF NOT EXISTS wb_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
      const applied = new Set((await client.query<{ version: number }>('SELECT version FROM wb_schema_migrations')).rows.map((r) => r.version));
      for (const m of POSTGRES_MIGRATIONS) {
        if (applied.has(m.version)) continue;
        await client.query(m.sql);
        await client.query('INSERT INTO wb_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async insertWorker(worker: StoredWorker): Promise<void> {
    await this.pool.query(`INSERT INTO wb_workers (${WORKER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, workerToParams(worker));
  }

  async getWorker(workerId: string): Promise<StoredWorker | undefined> {
    const { rows } = await this.pool.query<WorkerRow>(`SELECT ${WORKER_COLUMNS} FROM wb_workers WHERE worker_id = $1`, [workerId]);
    return rows[0] && rowToWorker(rows[0]);
  }

  async listWorkers(limit: number): Promise<StoredWorker[]> {
    const { rows } = await this.pool.query<WorkerRow>(`SELECT ${WORKER_COLUMNS} FROM wb_workers ORDER BY created_order LIMIT $1`, [limit]);
    return rows.map(rowToWorker);
  }

  async countWorkers(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>('SELECT COUNT(*) AS n FROM wb_workers');
    return Number(rows[0].n);
  }

  async appendTranscriptItem(workerId: string, item: { role: 'user' | 'system'; content: string }, atMs: number): Promise<AppendedItem | undefined> {
    const { rows } = await this.pool.query<{ sequence: string; event_no: string }>(
      `WITH bumped AS (
         UPDATE wb_workers SET transcript_length = transcript_length + 1, next_event_no = next_event_no + 1, last_seen_at_ms = $2
         WHERE worker_id = $1
         RETURNING transcript_length - 1 AS sequence, next_event_no - 1 AS event_no
       )
       INSERT INTO wb_transcript_items (worker_id, sequence, role, content, event_no, created_at_ms)
       SELECT $1, sequence, $3, $4, event_no, $2 FROM bumped
       RETURNING sequence, event_no`,
      [workerId, atMs, item.role, item.content],
    );
    return rows[0] && { sequence: Number(rows[0].sequence), eventNo: Number(rows[0].event_no) };
  }

  async readTranscript(workerId: string, start: number, limit: number): Promise<{ total: number; items: StoredTranscriptItem[] } | undefined> {
    const read = await this.readItems(workerId, 'w.transcript_length', 'sequence >= $2 ORDER BY sequence', start, limit);
    return read && { total: read.head, items: read.items };
  }

  async readEventsAfter(workerId: string, afterEventNo: number, limit: number): Promise<{ lastEventNo: number; items: StoredTranscriptItem[] } | undefined> {
    const read = await this.readItems(workerId, 'w.next_event_no - 1', 'event_no > $2 ORDER BY event_no', afterEventNo, limit);
    return read && { lastEventNo: read.head, items: read.items };
  }

  /**
   * One statement, one snapshot: a number from the worker's row (`head`) and a
   * page of its items agree. Undefined when the worker does not exist.
   * `head` and `range` are fixed SQL fragments from this class, never input.
   */
  private async readItems(
    workerId: string,
    head: string,
    range: string,
    from: number,
    limit: number,
  ): Promise<{ head: number; items: StoredTranscriptItem[] } | undefined> {
    const { rows } = await this.pool.query<{ head: string; sequence: string | null; role: 'user' | 'system' | null; content: string | null; event_no: string | null }>(
      `SELECT ${head} AS head, t.sequence, t.role, t.content, t.event_no
       FROM wb_workers w
       LEFT JOIN LATERAL (
         SELECT sequence, role, content, event_no FROM wb_transcript_items
         WHERE worker_id = w.worker_id AND ${range} LIMIT $3
       ) t ON true
       WHERE w.worker_id = $1`,
      [workerId, from, limit],
    );
    if (rows.length === 0) return undefined;
    const items = rows
      .filter((r) => r.sequence !== null)
      .map((r) => ({ sequence: Number(r.sequence), role: r.role!, content: r.content!, eventNo: Number(r.event_no) }));
    return { head: Number(rows[0].head), items };
  }

  async close(): Promise<void> {
    if (this.pool.ended || this.pool.ending) return;
    await this.pool.end();
  }
}
