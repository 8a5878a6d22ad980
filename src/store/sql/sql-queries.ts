import type { WorkerIntent } from '../../runtimes/runtime-source';
import type {
  EventKind,
  NewEvent,
  ReadLimits,
  StoredApiKey,
  StoredEvent,
  StoredIdempotencyRecord,
  StoredItem,
  StoredPageItem,
  StoredRun,
  StoredTranscriptHead,
  StoredWorker,
  StoredWorkerSummary,
  StoreNotice,
  StoreTx,
} from '../backend-store';

/**
 * The few calls both SQL adapters provide: SQLite answers synchronously
 * (wrapped in resolved promises), Postgres over a pooled connection. SQL is
 * written once with `?` placeholders; the Postgres executor numbers them.
 */
export interface SqlExecutor {
  all<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  get<T = Row>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  /**
   * Rows as arrays, values in the order of the SELECT list: the hot reads
   * (workers, items, runs) use these, since building an object with named
   * keys per row was ~40% of a 50-item transcript read (issue 16).
   */
  rows(sql: string, params?: readonly unknown[]): Promise<unknown[][]>;
  row(sql: string, params?: readonly unknown[]): Promise<unknown[] | undefined>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

export type Row = Record<string, unknown>;

/** A SELECT list read as array rows: `sql` to interpolate, `at.<column>` the index of each value. */
function columns<const C extends readonly string[]>(names: C): { sql: string; at: { readonly [K in C[number]]: number } } {
  return { sql: names.join(', '), at: Object.fromEntries(names.map((n, i) => [n, i])) as { [K in C[number]]: number } };
}

export interface SqlDialect {
  /** Appended to a SELECT that must lock its rows until the transaction ends. */
  forUpdate: string;
  /** Same, skipping rows other transactions hold (claiming work). */
  forUpdateSkipLocked: string;
  /**
   * A SELECT of `columns` turned into one returning a single row: its rows as
   * one JSON array of arrays, in no promised order. Where it is absent, rows
   * are read one by one. See readItems.
   */
  rowsAsJson?: (sql: string, columns: readonly string[]) => string;
}

export const SQLITE_DIALECT: SqlDialect = {
  forUpdate: '',
  forUpdateSkipLocked: '',
  rowsAsJson: (sql, columns) => `SELECT json_group_array(json_array(${columns.join(', ')})) FROM (${sql}) AS page`,
};
export const POSTGRES_DIALECT: SqlDialect = { forUpdate: ' FOR UPDATE', forUpdateSkipLocked: ' FOR UPDATE SKIP LOCKED' };

/** Postgres returns BIGINT as a string; SQLite as a number. */
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** What a list of workers reads (StoredWorkerSummary). */
const WORKER_SUMMARY_COLUMNS = ['worker_pk', 'worker_id', 'role', 'profile_selector', 'state', 'created_at_ms', 'last_seen_at_ms', 'current_run_id', 'queued_runs'] as const;
const WORKER_SUMMARY = columns(WORKER_SUMMARY_COLUMNS);
/** What a transcript page reads of its worker (StoredTranscriptHead). */
const TRANSCRIPT_HEAD = columns(['worker_pk', 'transcript_length'] as const);
/** A whole worker: the summary's columns first, at the same positions, so toWorkerSummary reads these rows too. */
const WORKER = columns([
  ...WORKER_SUMMARY_COLUMNS, 'intent_json', 'requested_name', 'stop_reason', 'last_activity_at_ms', 'transcript_length', 'next_event_no', 'queue_front', 'queue_back',
] as const);

function toWorkerSummary(row: readonly unknown[]): StoredWorkerSummary {
  const c = WORKER_SUMMARY.at;
  return {
    pk: num(row[c.worker_pk]),
    workerId: String(row[c.worker_id]),
    role: row[c.role] as StoredWorker['role'],
    profileSelector: String(row[c.profile_selector]),
    state: row[c.state] as StoredWorker['state'],
    createdAtMs: num(row[c.created_at_ms]),
    lastSeenAtMs: num(row[c.last_seen_at_ms]),
    currentRunId: strOrNull(row[c.current_run_id]),
    queuedRuns: num(row[c.queued_runs]),
  };
}

/**
 * The summary plus the rest, the rest typed on its own so that a field added
 * to StoredWorker fails to compile until it is read here. Object.assign, not
 * a spread: on Node 20 a spread followed by new properties costs 1–2 µs per
 * object (V8 copies it on a slow path), against ~0.1 µs (micro-benchmark).
 */
function toWorker(row: readonly unknown[]): StoredWorker {
  const c = WORKER.at;
  const rest: Omit<StoredWorker, keyof StoredWorkerSummary> = {
    intent: JSON.parse(String(row[c.intent_json])) as WorkerIntent,
    requestedName: strOrNull(row[c.requested_name]),
    stopReason: strOrNull(row[c.stop_reason]),
    lastActivityAtMs: num(row[c.last_activity_at_ms]),
    transcriptLength: num(row[c.transcript_length]),
    nextEventNo: num(row[c.next_event_no]),
    queueFront: num(row[c.queue_front]),
    queueBack: num(row[c.queue_back]),
  };
  return Object.assign(toWorkerSummary(row), rest);
}

const RUN = columns([
  'run_pk', 'run_id', 'worker_pk', 'state', 'queue_key', 'input_sequence', 'output_sequence', 'created_at_ms', 'started_at_ms', 'ended_at_ms',
  'input_tokens', 'output_tokens', 'error_code', 'started_event_no', 'lease_owner', 'lease_expires_at_ms',
] as const);

function toRun(row: readonly unknown[]): StoredRun {
  const c = RUN.at;
  return {
    pk: num(row[c.run_pk]),
    runId: String(row[c.run_id]),
    workerPk: num(row[c.worker_pk]),
    state: row[c.state] as StoredRun['state'],
    queueKey: num(row[c.queue_key]),
    inputSequence: num(row[c.input_sequence]),
    outputSequence: numOrNull(row[c.output_sequence]),
    createdAtMs: num(row[c.created_at_ms]),
    startedAtMs: numOrNull(row[c.started_at_ms]),
    endedAtMs: numOrNull(row[c.ended_at_ms]),
    inputTokens: numOrNull(row[c.input_tokens]),
    outputTokens: numOrNull(row[c.output_tokens]),
    errorCode: strOrNull(row[c.error_code]),
    startedEventNo: numOrNull(row[c.started_event_no]),
    leaseOwner: strOrNull(row[c.lease_owner]),
    leaseExpiresAtMs: numOrNull(row[c.lease_expires_at_ms]),
  };
}

/**
 * `LIMIT n` written into the statement instead of bound: a LIMIT bound as a
 * parameter cost SQLite ~11 µs more per execution on a five-worker page
 * (better-sqlite3, measured) — more than reading the rows. Only a
 * non-negative safe integer gets here, so nothing can be injected, and each
 * distinct value is one prepared statement: the callers' limits are bounded
 * (page sizes ≤ 200, transcript pages, constant page sizes).
 */
function limitOf(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`invalid LIMIT ${n}`);
  return `LIMIT ${n}`;
}

/**
 * Rows ascending by the integer in column `c`: as they are when already so
 * (one pass, the usual case), else sorted in place.
 */
export function inOrderOf(rows: unknown[][], c: number): unknown[][] {
  for (let i = 1; i < rows.length; i++) {
    if (num(rows[i - 1][c]) > num(rows[i][c])) return rows.sort((a, b) => num(a[c]) - num(b[c]));
  }
  return rows;
}

/** What a transcript page reads: no anchor or creation time (see StoredPageItem). */
const PAGE_ITEM_COLUMNS = ['sequence', 'role', 'run_id', 'truncated', 'event_no', 'content'] as const;
const PAGE_ITEM = columns(PAGE_ITEM_COLUMNS);
/** A whole item: the page's columns first, at the same positions, so toPageItem reads these rows too. */
const ITEM = columns([...PAGE_ITEM_COLUMNS, 'anchor_sequence', 'created_at_ms'] as const);

function toPageItem(row: readonly unknown[]): StoredPageItem {
  const c = PAGE_ITEM.at;
  return {
    sequence: num(row[c.sequence]),
    role: row[c.role] as StoredItem['role'],
    content: String(row[c.content]),
    eventNo: num(row[c.event_no]),
    runId: strOrNull(row[c.run_id]),
    truncated: num(row[c.truncated]) === 1,
  };
}

/** The page item plus the two other fields (typed and assigned as in toWorker). */
function toItem(row: readonly unknown[]): StoredItem {
  const c = ITEM.at;
  const rest: Omit<StoredItem, keyof StoredPageItem> = { anchorSequence: num(row[c.anchor_sequence]), createdAtMs: num(row[c.created_at_ms]) };
  return Object.assign(toPageItem(row), rest);
}

/**
 * A transcript page: at most `limit` items from a start sequence, and no
 * more of them than fit a budget of content: the page stops before the item
 * whose content would take it past the budget, but always holds its first
 * item, however long (`chars_through = content_length`: nothing before it).
 * Both conditions hold for a prefix of the range, so the next page starts
 * right after the last item.
 *
 * The LIMIT is computed in the statement, on `content_length` only, before
 * any content is read: a page over the budget never has its rest read. The
 * cut (a window sum, as eventPageSql's) doubled the cost of a 50-item page
 * in SQLite (~55 → ~110 µs, in-memory, better-sqlite3), so it runs only
 * when the plain sum of the range's lengths is over the budget (~5 µs
 * more); both engines evaluate a CASE branch's subquery only when taken.
 * Parameters: worker, start (the page); worker, start, budget (the sum);
 * worker, start, budget (the cut).
 */
function itemPageSql(limit: number): string {
  const range = `SELECT sequence, content_length FROM wb_items WHERE worker_pk = ? AND sequence >= ? ORDER BY sequence ${limitOf(limit)}`;
  return `SELECT ${PAGE_ITEM.sql} FROM wb_items WHERE worker_pk = ? AND sequence >= ? ORDER BY sequence
     LIMIT CASE WHEN (SELECT COALESCE(SUM(content_length), 0) FROM (${range}) AS page) <= ? THEN ${limit}
       ELSE (SELECT COUNT(*) FROM (
         SELECT content_length, SUM(content_length) OVER (ORDER BY sequence ROWS UNBOUNDED PRECEDING) AS chars_through FROM (${range}) AS page
       ) AS sized WHERE chars_through <= ? OR chars_through = content_length) END`;
}

/**
 * Events are read with their transcript item (if they publish one) and the
 * worker's id. The page is cut by content size inside the statement: the
 * window sum over `size` (data + item content, recorded at insert) runs on
 * the small columns of at most `maxEvents` rows, and only rows whose
 * preceding bytes fit the budget are joined to their content.
 */
function eventPageSql(where: string, order: string, maxEvents: number): string {
  return `SELECT e.global_seq, e.worker_pk, e.event_no, e.kind, e.run_id, e.item_sequence, e.data, e.created_at_ms,
            w.worker_id, i.role AS item_role, i.anchor_sequence AS item_anchor, i.run_id AS item_run_id, i.truncated AS item_truncated,
            i.event_no AS item_event_no, i.created_at_ms AS item_created_at_ms, i.content AS item_content
     FROM (
       SELECT global_seq, SUM(size) OVER (ORDER BY ${order}) - size AS bytes_before
       FROM (SELECT global_seq, event_no, size FROM wb_events WHERE ${where} ORDER BY ${order} ${limitOf(maxEvents)}) AS page
     ) AS sized
     JOIN wb_events e ON e.global_seq = sized.global_seq
     LEFT JOIN wb_workers w ON w.worker_pk = e.worker_pk
     LEFT JOIN wb_items i ON i.worker_pk = e.worker_pk AND i.sequence = e.item_sequence
     WHERE sized.bytes_before < ?
     ORDER BY e.${order}`;
}

function toEvent(r: Row): StoredEvent {
  const data = r.data === null || r.data === undefined ? null : (JSON.parse(String(r.data)) as Record<string, unknown>);
  const itemSequence = numOrNull(r.item_sequence);
  return {
    globalSeq: num(r.global_seq),
    workerPk: num(r.worker_pk),
    // A deleted worker's tombstone outlives its row: it carries the id itself.
    workerId: r.worker_id !== null && r.worker_id !== undefined ? String(r.worker_id) : String(data?.worker_id ?? ''),
    eventNo: num(r.event_no),
    kind: r.kind as EventKind,
    runId: strOrNull(r.run_id),
    item:
      itemSequence === null || r.item_content === null || r.item_content === undefined
        ? null
        : {
            sequence: itemSequence,
            role: r.item_role as StoredItem['role'],
            content: String(r.item_content),
            eventNo: num(r.item_event_no),
            runId: strOrNull(r.item_run_id),
            truncated: num(r.item_truncated) === 1,
            anchorSequence: num(r.item_anchor),
            createdAtMs: num(r.item_created_at_ms),
          },
    data,
    atMs: num(r.created_at_ms),
  };
}

function toApiKey(r: Row): StoredApiKey {
  return {
    keyId: String(r.key_id),
    name: String(r.name),
    scopes: String(r.scopes).split(' ').filter(Boolean),
    secretHash: String(r.secret_hash),
    createdAtMs: num(r.created_at_ms),
    lastUsedAtMs: numOrNull(r.last_used_at_ms),
    revokedAtMs: numOrNull(r.revoked_at_ms),
  };
}

function toIdempotency(r: Row): StoredIdempotencyRecord {
  return {
    scopeKey: String(r.scope_key),
    fingerprint: String(r.fingerprint),
    state: r.state as StoredIdempotencyRecord['state'],
    owner: String(r.owner),
    workerId: strOrNull(r.worker_id),
    status: numOrNull(r.status),
    body: strOrNull(r.body),
    location: strOrNull(r.location),
    createdAtMs: num(r.created_at_ms),
    updatedAtMs: num(r.updated_at_ms),
  };
}

/** Rows per multi-row INSERT of events (well under both drivers' parameter limits). */
const EVENT_INSERT_CHUNK = 64;
/** Rows sized per step when choosing a run's context. */
const CONTEXT_SIZE_PAGE = 256;

/**
 * Every primitive of the store port, in SQL both SQLite and Postgres run.
 * One instance per transaction (or per read): it buffers the events appended
 * in it and writes them in `flush()`, right before the commit, so the global
 * log head (one counter row) is locked only for that last statement.
 */
export class SqlStoreTx implements StoreTx {
  private pendingEvents: StoredEvent[] = [];
  private readonly insertedItems = new Map<string, StoredItem>();
  private readonly notices: StoreNotice[] = [];

  constructor(
    private readonly db: SqlExecutor,
    private readonly dialect: SqlDialect,
  ) {}

  // ---- reads -------------------------------------------------------------

  async getWorker(workerId: string): Promise<StoredWorker | undefined> {
    const row = await this.db.row(`SELECT ${WORKER.sql} FROM wb_workers WHERE worker_id = ?`, [workerId]);
    return row && toWorker(row);
  }

  async getWorkerByPk(pk: number): Promise<StoredWorker | undefined> {
    const row = await this.db.row(`SELECT ${WORKER.sql} FROM wb_workers WHERE worker_pk = ?`, [pk]);
    return row && toWorker(row);
  }

  async getTranscriptHead(workerId: string): Promise<StoredTranscriptHead | undefined> {
    const row = await this.db.row(`SELECT ${TRANSCRIPT_HEAD.sql} FROM wb_workers WHERE worker_id = ?`, [workerId]);
    return row && { pk: num(row[TRANSCRIPT_HEAD.at.worker_pk]), transcriptLength: num(row[TRANSCRIPT_HEAD.at.transcript_length]) };
  }

  async listWorkers(afterPk: number, limit: number): Promise<StoredWorkerSummary[]> {
    return (await this.db.rows(`SELECT ${WORKER_SUMMARY.sql} FROM wb_workers WHERE worker_pk > ? ORDER BY worker_pk ${limitOf(limit)}`, [afterPk])).map(toWorkerSummary);
  }

  async readItems(workerPk: number, start: number, limit: number, maxChars: number): Promise<StoredPageItem[]> {
    const sql = itemPageSql(limit);
    const params = [workerPk, start, workerPk, start, maxChars, workerPk, start, maxChars];
    if (!this.dialect.rowsAsJson) return (await this.db.rows(sql, params)).map(toPageItem);
    // SQLite: better-sqlite3 builds a JavaScript array per row and sets each value through V8's
    // API; SQLite writing the page as one JSON text and JSON.parse reading it back cost a
    // 50-item page ~32 µs against ~45 (issue 16). The values are the same: integers well
    // inside 2^53, text, nulls. An aggregate's order is SQLite's choice (an ORDER BY inside
    // it cost ~10 µs more), so the order is checked here and restored if ever needed.
    const row = await this.db.row(this.dialect.rowsAsJson(sql, PAGE_ITEM_COLUMNS), params);
    return inOrderOf(JSON.parse(String(row?.[0] ?? '[]')) as unknown[][], PAGE_ITEM.at.sequence).map(toPageItem);
  }

  async readContext(workerPk: number, anchor: number, maxChars: number): Promise<StoredItem[]> {
    // Step 1: walk the covering index newest first, summing lengths only, until the budget is spent.
    let used = 0;
    let oldest: { anchor: number; sequence: number } | undefined;
    let cursor: { anchor: number; sequence: number } | undefined;
    for (;;) {
      const rows = await this.db.all(
        cursor === undefined
          ? `SELECT anchor_sequence, sequence, content_length FROM wb_items WHERE worker_pk = ? AND anchor_sequence <= ?
             ORDER BY anchor_sequence DESC, sequence DESC ${limitOf(CONTEXT_SIZE_PAGE)}`
          : `SELECT anchor_sequence, sequence, content_length FROM wb_items WHERE worker_pk = ? AND anchor_sequence <= ?
             AND (anchor_sequence < ? OR (anchor_sequence = ? AND sequence < ?))
             ORDER BY anchor_sequence DESC, sequence DESC ${limitOf(CONTEXT_SIZE_PAGE)}`,
        cursor === undefined
          ? [workerPk, anchor]
          : [workerPk, anchor, cursor.anchor, cursor.anchor, cursor.sequence],
      );
      let full = false;
      for (const r of rows) {
        const length = num(r.content_length);
        if (used + length > maxChars) {
          full = true;
          break;
        }
        used += length;
        oldest = { anchor: num(r.anchor_sequence), sequence: num(r.sequence) };
      }
      if (full || rows.length < CONTEXT_SIZE_PAGE) break;
      cursor = oldest;
    }
    if (!oldest) return [];
    // Step 2: read the contents of exactly that range.
    const rows = await this.db.rows(
      `SELECT ${ITEM.sql} FROM wb_items WHERE worker_pk = ? AND anchor_sequence <= ?
       AND (anchor_sequence > ? OR (anchor_sequence = ? AND sequence >= ?))
       ORDER BY anchor_sequence DESC, sequence DESC`,
      [workerPk, anchor, oldest.anchor, oldest.anchor, oldest.sequence],
    );
    return rows.map(toItem);
  }

  async readWorkerEvents(workerPk: number, afterEventNo: number, limits: ReadLimits): Promise<StoredEvent[]> {
    const rows = await this.db.all(eventPageSql('worker_pk = ? AND event_no > ?', 'event_no', limits.maxEvents), [workerPk, afterEventNo, limits.maxBytes]);
    return rows.map(toEvent);
  }

  async readAllEvents(afterSeq: number, limits: ReadLimits): Promise<StoredEvent[]> {
    const rows = await this.db.all(eventPageSql('global_seq > ?', 'global_seq', limits.maxEvents), [afterSeq, limits.maxBytes]);
    return rows.map(toEvent);
  }

  async lastGlobalSeq(): Promise<number> {
    const row = await this.db.get(`SELECT value FROM wb_counters WHERE name = 'log_head'`);
    return row ? num(row.value) : 0;
  }

  async getRun(runId: string): Promise<StoredRun | undefined> {
    const row = await this.db.row(`SELECT ${RUN.sql} FROM wb_runs WHERE run_id = ?`, [runId]);
    return row && toRun(row);
  }

  async listRuns(workerPk: number, beforePk: number, limit: number): Promise<StoredRun[]> {
    const rows = await this.db.rows(`SELECT ${RUN.sql} FROM wb_runs WHERE worker_pk = ? AND run_pk < ? ORDER BY run_pk DESC ${limitOf(limit)}`, [workerPk, beforePk]);
    return rows.map(toRun);
  }

  async runOutput(workerPk: number, run: StoredRun): Promise<string> {
    if (run.startedEventNo === null) return '';
    const rows = await this.db.all(
      `SELECT data FROM wb_events WHERE worker_pk = ? AND event_no > ? AND kind = 'message.delta' AND run_id = ? ORDER BY event_no`,
      [workerPk, run.startedEventNo, run.runId],
    );
    return rows.map((r) => String((JSON.parse(String(r.data)) as { delta: string }).delta)).join('');
  }

  async runningRuns(expiredBeforeMs: number | null, limit: number): Promise<StoredRun[]> {
    const rows =
      expiredBeforeMs === null
        ? await this.db.rows(`SELECT ${RUN.sql} FROM wb_runs WHERE state = 'running' ORDER BY run_pk LIMIT ?`, [limit])
        : await this.db.rows(
            `SELECT ${RUN.sql} FROM wb_runs WHERE state = 'running' AND lease_expires_at_ms < ? ORDER BY lease_expires_at_ms LIMIT ?`,
            [expiredBeforeMs, limit],
          );
    return rows.map(toRun);
  }

  async idleWorkers(beforeMs: number, limit: number): Promise<StoredWorker[]> {
    const rows = await this.db.rows(
      `SELECT ${WORKER.sql} FROM wb_workers WHERE state = 'running' AND current_run_id IS NULL AND queued_runs = 0 AND last_activity_at_ms < ?
       ORDER BY last_activity_at_ms LIMIT ?`,
      [beforeMs, limit],
    );
    return rows.map(toWorker);
  }

  async getApiKey(keyId: string): Promise<StoredApiKey | undefined> {
    const row = await this.db.get('SELECT * FROM wb_api_keys WHERE key_id = ?', [keyId]);
    return row && toApiKey(row);
  }

  async listApiKeys(afterKeyId: string, limit: number): Promise<StoredApiKey[]> {
    return (await this.db.all('SELECT * FROM wb_api_keys WHERE key_id > ? AND revoked_at_ms IS NULL ORDER BY key_id LIMIT ?', [afterKeyId, limit])).map(toApiKey);
  }

  async getIdempotency(scopeKey: string): Promise<StoredIdempotencyRecord | undefined> {
    const row = await this.db.get('SELECT * FROM wb_idempotency WHERE scope_key = ?', [scopeKey]);
    return row && toIdempotency(row);
  }

  async getSetting(name: string): Promise<string | undefined> {
    const row = await this.db.get('SELECT value FROM wb_settings WHERE name = ?', [name]);
    return row === undefined ? undefined : String(row.value);
  }

  // ---- writes ------------------------------------------------------------

  async lockWorker(workerId: string): Promise<StoredWorker | undefined> {
    const row = await this.db.row(`SELECT ${WORKER.sql} FROM wb_workers WHERE worker_id = ?${this.dialect.forUpdate}`, [workerId]);
    return row && toWorker(row);
  }

  async lockWorkerByPk(pk: number): Promise<StoredWorker | undefined> {
    const row = await this.db.row(`SELECT ${WORKER.sql} FROM wb_workers WHERE worker_pk = ?${this.dialect.forUpdate}`, [pk]);
    return row && toWorker(row);
  }

  async lockRunnableWorker(): Promise<StoredWorker | undefined> {
    const row = await this.db.row(
      `SELECT ${WORKER.sql} FROM wb_workers WHERE runnable_since_ms IS NOT NULL ORDER BY runnable_since_ms LIMIT 1${this.dialect.forUpdateSkipLocked}`,
    );
    return row && toWorker(row);
  }

  async insertWorker(w: Omit<StoredWorker, 'pk'>): Promise<StoredWorker> {
    const row = await this.db.get(
      `INSERT INTO wb_workers (worker_id, intent_json, role, profile_selector, requested_name, state, stop_reason, created_at_ms, last_seen_at_ms,
         last_activity_at_ms, transcript_length, next_event_no, current_run_id, queued_runs, queue_front, queue_back)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING worker_pk`,
      [
        w.workerId,
        JSON.stringify(w.intent),
        w.role,
        w.profileSelector,
        w.requestedName,
        w.state,
        w.stopReason,
        w.createdAtMs,
        w.lastSeenAtMs,
        w.lastActivityAtMs,
        w.transcriptLength,
        w.nextEventNo,
        w.currentRunId,
        w.queuedRuns,
        w.queueFront,
        w.queueBack,
      ],
    );
    return { ...w, pk: num(row!.worker_pk) };
  }

  async saveWorker(w: StoredWorker): Promise<void> {
    // `runnable_since_ms` is derived here, so no caller can forget it: set when the
    // worker becomes runnable (a queued run, none running), kept while it stays so.
    const runnable = w.state === 'running' && w.currentRunId === null && w.queuedRuns > 0 ? 1 : 0;
    await this.db.run(
      `UPDATE wb_workers SET state = ?, stop_reason = ?, last_seen_at_ms = ?, last_activity_at_ms = ?, transcript_length = ?, next_event_no = ?,
         current_run_id = ?, queued_runs = ?, queue_front = ?, queue_back = ?,
         runnable_since_ms = CASE WHEN ? = 1 THEN COALESCE(runnable_since_ms, ?) ELSE NULL END
       WHERE worker_pk = ?`,
      [
        w.state,
        w.stopReason,
        w.lastSeenAtMs,
        w.lastActivityAtMs,
        w.transcriptLength,
        w.nextEventNo,
        w.currentRunId,
        w.queuedRuns,
        w.queueFront,
        w.queueBack,
        runnable,
        w.lastActivityAtMs,
        w.pk,
      ],
    );
  }

  async deleteWorker(w: StoredWorker): Promise<void> {
    await this.db.run('DELETE FROM wb_items WHERE worker_pk = ?', [w.pk]);
    await this.db.run('DELETE FROM wb_runs WHERE worker_pk = ?', [w.pk]);
    await this.db.run('DELETE FROM wb_events WHERE worker_pk = ?', [w.pk]);
    await this.db.run('DELETE FROM wb_idempotency WHERE worker_id = ?', [w.workerId]);
    await this.db.run('DELETE FROM wb_workers WHERE worker_pk = ?', [w.pk]);
    // Events appended earlier in this transaction for this worker are gone too, and so are their numbers: an event
    // appended after this (the tombstone) takes the first of them, so a stream never sees a gap (evt-4, then evt-7).
    const dropped = this.pendingEvents.find((e) => e.workerPk === w.pk);
    if (dropped) w.nextEventNo = dropped.eventNo;
    this.pendingEvents = this.pendingEvents.filter((e) => e.workerPk !== w.pk);
  }

  async lockLiveWorkerCount(): Promise<number> {
    const row = await this.db.get(`SELECT value FROM wb_counters WHERE name = 'live_workers'${this.dialect.forUpdate}`);
    return row ? num(row.value) : 0;
  }

  async setLiveWorkerCount(count: number): Promise<void> {
    await this.db.run(`UPDATE wb_counters SET value = ? WHERE name = 'live_workers'`, [count]);
  }

  async insertItem(workerPk: number, item: StoredItem): Promise<void> {
    await this.db.run(
      `INSERT INTO wb_items (worker_pk, sequence, role, anchor_sequence, run_id, truncated, event_no, created_at_ms, content_length, content)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [workerPk, item.sequence, item.role, item.anchorSequence, item.runId, item.truncated ? 1 : 0, item.eventNo, item.createdAtMs, item.content.length, item.content],
    );
    this.insertedItems.set(`${workerPk}:${item.sequence}`, item);
  }

  appendEvent(worker: StoredWorker, event: NewEvent, atMs: number): StoredEvent {
    const itemSequence = event.itemSequence ?? null;
    const stored: StoredEvent = {
      globalSeq: 0, // assigned in flush(), at commit
      workerPk: worker.pk,
      workerId: worker.workerId,
      eventNo: worker.nextEventNo++,
      kind: event.kind,
      runId: event.runId ?? null,
      item: itemSequence === null ? null : (this.insertedItems.get(`${worker.pk}:${itemSequence}`) ?? null),
      data: event.data ?? null,
      atMs,
    };
    if (stored.item) stored.item.eventNo = stored.eventNo;
    this.pendingEvents.push(stored);
    return stored;
  }

  async insertRun(run: Omit<StoredRun, 'pk'>): Promise<StoredRun> {
    const row = await this.db.get(
      `INSERT INTO wb_runs (run_id, worker_pk, state, queue_key, input_sequence, output_sequence, created_at_ms, started_at_ms, ended_at_ms,
         input_tokens, output_tokens, error_code, started_event_no, lease_owner, lease_expires_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING run_pk`,
      [
        run.runId,
        run.workerPk,
        run.state,
        run.queueKey,
        run.inputSequence,
        run.outputSequence,
        run.createdAtMs,
        run.startedAtMs,
        run.endedAtMs,
        run.inputTokens,
        run.outputTokens,
        run.errorCode,
        run.startedEventNo,
        run.leaseOwner,
        run.leaseExpiresAtMs,
      ],
    );
    return { ...run, pk: num(row!.run_pk) };
  }

  async saveRun(run: StoredRun): Promise<void> {
    await this.db.run(
      `UPDATE wb_runs SET state = ?, queue_key = ?, output_sequence = ?, started_at_ms = ?, ended_at_ms = ?, input_tokens = ?, output_tokens = ?,
         error_code = ?, started_event_no = ?, lease_owner = ?, lease_expires_at_ms = ?
       WHERE run_pk = ?`,
      [
        run.state,
        run.queueKey,
        run.outputSequence,
        run.startedAtMs,
        run.endedAtMs,
        run.inputTokens,
        run.outputTokens,
        run.errorCode,
        run.startedEventNo,
        run.leaseOwner,
        run.leaseExpiresAtMs,
        run.pk,
      ],
    );
  }

  async nextQueuedRun(workerPk: number): Promise<StoredRun | undefined> {
    const row = await this.db.row(`SELECT ${RUN.sql} FROM wb_runs WHERE worker_pk = ? AND state = 'queued' ORDER BY queue_key LIMIT 1`, [workerPk]);
    return row && toRun(row);
  }

  async queuedRuns(workerPk: number): Promise<StoredRun[]> {
    return (await this.db.rows(`SELECT ${RUN.sql} FROM wb_runs WHERE worker_pk = ? AND state = 'queued' ORDER BY queue_key`, [workerPk])).map(toRun);
  }

  async renewLeases(owner: string, runIds: string[], untilMs: number): Promise<string[]> {
    if (runIds.length === 0) return [];
    const marks = runIds.map(() => '?').join(', ');
    await this.db.run(`UPDATE wb_runs SET lease_expires_at_ms = ? WHERE state = 'running' AND lease_owner = ? AND run_id IN (${marks})`, [untilMs, owner, ...runIds]);
    const rows = await this.db.all(`SELECT run_id FROM wb_runs WHERE state = 'running' AND lease_owner = ? AND run_id IN (${marks})`, [owner, ...runIds]);
    return rows.map((r) => String(r.run_id));
  }

  async upsertApiKey(k: StoredApiKey): Promise<void> {
    await this.db.run(
      `INSERT INTO wb_api_keys (key_id, name, scopes, secret_hash, created_at_ms, last_used_at_ms, revoked_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (key_id) DO UPDATE SET name = excluded.name, scopes = excluded.scopes, secret_hash = excluded.secret_hash,
         created_at_ms = excluded.created_at_ms, last_used_at_ms = excluded.last_used_at_ms, revoked_at_ms = excluded.revoked_at_ms`,
      [k.keyId, k.name, k.scopes.join(' '), k.secretHash, k.createdAtMs, k.lastUsedAtMs, k.revokedAtMs],
    );
  }

  async deleteApiKey(keyId: string): Promise<void> {
    await this.db.run('DELETE FROM wb_api_keys WHERE key_id = ?', [keyId]);
  }

  async lockIdempotency(scopeKey: string): Promise<StoredIdempotencyRecord | undefined> {
    const row = await this.db.get(`SELECT * FROM wb_idempotency WHERE scope_key = ?${this.dialect.forUpdate}`, [scopeKey]);
    return row && toIdempotency(row);
  }

  async insertIdempotencyIfAbsent(r: StoredIdempotencyRecord): Promise<boolean> {
    const changed = await this.db.run(
      `INSERT INTO wb_idempotency (scope_key, fingerprint, state, owner, worker_id, status, body, location, created_at_ms, updated_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scope_key) DO NOTHING`,
      [r.scopeKey, r.fingerprint, r.state, r.owner, r.workerId, r.status, r.body, r.location, r.createdAtMs, r.updatedAtMs],
    );
    return changed === 1;
  }

  async putIdempotency(r: StoredIdempotencyRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO wb_idempotency (scope_key, fingerprint, state, owner, worker_id, status, body, location, created_at_ms, updated_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (scope_key) DO UPDATE SET fingerprint = excluded.fingerprint, state = excluded.state, owner = excluded.owner,
         worker_id = excluded.worker_id, status = excluded.status, body = excluded.body, location = excluded.location,
         created_at_ms = excluded.created_at_ms, updated_at_ms = excluded.updated_at_ms`,
      [r.scopeKey, r.fingerprint, r.state, r.owner, r.workerId, r.status, r.body, r.location, r.createdAtMs, r.updatedAtMs],
    );
  }

  async deleteIdempotency(scopeKey: string): Promise<void> {
    await this.db.run('DELETE FROM wb_idempotency WHERE scope_key = ?', [scopeKey]);
  }

  async purgeIdempotency(beforeMs: number, limit: number): Promise<number> {
    return this.db.run(
      'DELETE FROM wb_idempotency WHERE scope_key IN (SELECT scope_key FROM wb_idempotency WHERE updated_at_ms < ? ORDER BY updated_at_ms LIMIT ?)',
      [beforeMs, limit],
    );
  }

  async initSetting(name: string, value: string): Promise<string> {
    await this.db.run('INSERT INTO wb_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING', [name, value]);
    return (await this.getSetting(name))!;
  }

  async putSetting(name: string, value: string): Promise<void> {
    await this.db.run('INSERT INTO wb_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value', [name, value]);
  }

  notify(notice: Exclude<StoreNotice, { type: 'events' | 'resync' }>): void {
    this.notices.push(notice);
  }

  // ---- commit ------------------------------------------------------------

  /**
   * Writes the buffered events: takes their global numbers from the log
   * head (locking that one row until the commit), inserts them, and returns
   * the notices to deliver once the transaction has committed.
   */
  async flush(): Promise<StoreNotice[]> {
    const events = this.pendingEvents;
    this.pendingEvents = [];
    const notices = [...this.notices];
    this.notices.length = 0;
    if (events.length > 0) {
      const head = await this.db.get(`UPDATE wb_counters SET value = value + ? WHERE name = 'log_head' RETURNING value`, [events.length]);
      let seq = num(head!.value) - events.length;
      for (const e of events) e.globalSeq = ++seq;
      for (let i = 0; i < events.length; i += EVENT_INSERT_CHUNK) {
        const chunk = events.slice(i, i + EVENT_INSERT_CHUNK);
        const params: unknown[] = [];
        for (const e of chunk) {
          const data = e.data === null ? null : JSON.stringify(e.data);
          params.push(e.globalSeq, e.workerPk, e.eventNo, e.kind, e.runId, e.item?.sequence ?? null, data, (data?.length ?? 0) + (e.item?.content.length ?? 0), e.atMs);
        }
        await this.db.run(
          `INSERT INTO wb_events (global_seq, worker_pk, event_no, kind, run_id, item_sequence, data, size, created_at_ms) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
          params,
        );
      }
      const lastByWorker = new Map<number, number>();
      for (const e of events) lastByWorker.set(e.workerPk, e.eventNo);
      notices.unshift({
        type: 'events',
        lastGlobalSeq: seq,
        workers: [...lastByWorker].map(([workerPk, lastEventNo]) => ({ workerPk, lastEventNo })),
        events,
      });
    }
    return notices;
  }
}

/** Events appended to a deleted worker (its tombstone) name it in their data, since its row is gone. */
export const TOMBSTONE_WORKER_ID_FIELD = 'worker_id';
