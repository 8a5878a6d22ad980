import type { StoredWorker } from './embedded-runtime.store';

/**
 * Versioned migrations, applied in order at start-up; a version already in
 * `wb_schema_migrations` is never run again. Append new versions; never edit
 * an applied one. Both dialects keep the same tables:
 *
 * - `wb_workers`: one row per worker, with the counters that allocate the
 *   next transcript sequence and event number (bumped in the same
 *   transaction as the insert, so allocation is atomic per worker);
 * - `wb_transcript_items`: keyed by (worker_id, sequence), so a page is an
 *   index range scan: O(limit), whatever the transcript's length; v2 adds an
 *   index on (worker_id, event_no) for event-stream resume.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'workers and transcripts',
    sql: `
      CREATE TABLE wb_workers (
        created_order INTEGER PRIMARY KEY AUTOINCREMENT,
        worker_id TEXT NOT NULL UNIQUE,
        intent_json TEXT NOT NULL,
        role TEXT NOT NULL,
        profile_selector TEXT NOT NULL,
        requested_name TEXT,
        state TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        last_seen_at_ms INTEGER NOT NULL,
        transcript_length INTEGER NOT NULL DEFAULT 0,
        next_event_no INTEGER NOT NULL DEFAULT 1
      );
      CREATE TABLE wb_transcript_items (
        worker_id TEXT NOT NULL REFERENCES wb_workers (worker_id),
        sequence INTEGER NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        event_no INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (worker_id, sequence)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'event replay index',
    sql: 'CREATE INDEX wb_transcript_items_event ON wb_transcript_items (worker_id, event_no);',
  },
];

export const POSTGRES_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'workers and transcripts',
    sql: `
      CREATE TABLE wb_workers (
        created_order BIGSERIAL PRIMARY KEY,
        worker_id TEXT NOT NULL UNIQUE,
        intent_json TEXT NOT NULL,
        role TEXT NOT NULL,
        profile_selector TEXT NOT NULL,
        requested_name TEXT,
        state TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        last_seen_at_ms BIGINT NOT NULL,
        transcript_length BIGINT NOT NULL DEFAULT 0,
        next_event_no BIGINT NOT NULL DEFAULT 1
      );
      CREATE TABLE wb_transcript_items (
        worker_id TEXT NOT NULL REFERENCES wb_workers (worker_id),
        sequence BIGINT NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        event_no BIGINT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        PRIMARY KEY (worker_id, sequence)
      );
    `,
  },
  {
    version: 2,
    name: 'event replay index',
    sql: 'CREATE INDEX wb_transcript_items_event ON wb_transcript_items (worker_id, event_no);',
  },
];

export interface WorkerRow {
  worker_id: string;
  intent_json: string;
  role: string;
  profile_selector: string;
  requested_name: string | null;
  state: string;
  created_at_ms: number | string;
  last_seen_at_ms: number | string;
}

export const WORKER_COLUMNS = 'worker_id, intent_json, role, profile_selector, requested_name, state, created_at_ms, last_seen_at_ms';

export function rowToWorker(row: WorkerRow): StoredWorker {
  return {
    workerId: row.worker_id,
    intent: JSON.parse(row.intent_json),
    role: row.role as StoredWorker['role'],
    profileSelector: row.profile_selector,
    requestedName: row.requested_name,
    state: row.state as StoredWorker['state'],
    createdAtMs: Number(row.created_at_ms),
    lastSeenAtMs: Number(row.last_seen_at_ms),
  };
}

export function workerToParams(w: StoredWorker): unknown[] {
  return [w.workerId, JSON.stringify(w.intent), w.role, w.profileSelector, w.requestedName, w.state, w.createdAtMs, w.lastSeenAtMs];
}
