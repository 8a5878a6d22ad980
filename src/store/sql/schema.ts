/**
 * Versioned migrations, applied in order at start-up; a version already in
 * `wb_schema_migrations` is never run again. Append new versions; never edit
 * an applied one. Both dialects keep the same tables (v3 and later):
 *
 * - `wb_workers`: one row per worker, keyed by an integer `worker_pk`
 *   (insertion order: lists are oldest first and cursors stable), with the
 *   counters that allocate its next transcript sequence and event number and
 *   its run queue (current run, queued count, queue keys);
 * - `wb_items`: the transcript, unique on (worker_pk, sequence), so a page is
 *   an index range scan: O(limit); the (worker_pk, anchor_sequence, sequence,
 *   content_length) index lets a run's context be sized from the index alone;
 * - `wb_events`: every worker's event log, numbered per worker (event_no) and
 *   globally (global_seq, allocated from `wb_counters.log_head` at commit, so
 *   it increases in commit order with no gap between committed events);
 *   events that publish a transcript item reference it instead of copying it;
 * - `wb_runs`: runs and their queue position, state, usage and lease;
 * - `wb_counters`: `log_head` and `live_workers` (capacity), each one row, so
 *   the transactions that need them serialise on that row only;
 * - `wb_api_keys`, `wb_idempotency`, `wb_settings`.
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
  {
    version: 3,
    name: 'runs, event log, keys, idempotency',
    sql: `
      ALTER TABLE wb_workers RENAME TO wb_workers_v2;
      ALTER TABLE wb_transcript_items RENAME TO wb_transcript_items_v2;
      CREATE TABLE wb_workers (
        worker_pk INTEGER PRIMARY KEY AUTOINCREMENT,
        worker_id TEXT NOT NULL UNIQUE,
        intent_json TEXT NOT NULL,
        role TEXT NOT NULL,
        profile_selector TEXT NOT NULL,
        requested_name TEXT,
        state TEXT NOT NULL,
        stop_reason TEXT,
        created_at_ms INTEGER NOT NULL,
        last_seen_at_ms INTEGER NOT NULL,
        last_activity_at_ms INTEGER NOT NULL,
        transcript_length INTEGER NOT NULL DEFAULT 0,
        next_event_no INTEGER NOT NULL DEFAULT 1,
        current_run_id TEXT,
        queued_runs INTEGER NOT NULL DEFAULT 0,
        queue_front INTEGER NOT NULL DEFAULT 0,
        queue_back INTEGER NOT NULL DEFAULT 1,
        runnable_since_ms INTEGER
      );
      CREATE INDEX wb_workers_runnable ON wb_workers (runnable_since_ms) WHERE runnable_since_ms IS NOT NULL;
      CREATE INDEX wb_workers_idle ON wb_workers (last_activity_at_ms) WHERE state = 'running' AND current_run_id IS NULL AND queued_runs = 0;
      CREATE TABLE wb_items (
        worker_pk INTEGER NOT NULL,
        sequence INTEGER NOT NULL,
        role TEXT NOT NULL,
        anchor_sequence INTEGER NOT NULL,
        run_id TEXT,
        truncated INTEGER NOT NULL DEFAULT 0,
        event_no INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL,
        content_length INTEGER NOT NULL,
        content TEXT NOT NULL,
        UNIQUE (worker_pk, sequence)
      );
      CREATE INDEX wb_items_context ON wb_items (worker_pk, anchor_sequence, sequence, content_length);
      CREATE TABLE wb_events (
        global_seq INTEGER PRIMARY KEY,
        worker_pk INTEGER NOT NULL,
        event_no INTEGER NOT NULL,
        kind TEXT NOT NULL,
        run_id TEXT,
        item_sequence INTEGER,
        data TEXT,
        size INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL,
        UNIQUE (worker_pk, event_no)
      );
      CREATE TABLE wb_runs (
        run_pk INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL UNIQUE,
        worker_pk INTEGER NOT NULL,
        state TEXT NOT NULL,
        queue_key INTEGER NOT NULL,
        input_sequence INTEGER NOT NULL,
        output_sequence INTEGER,
        created_at_ms INTEGER NOT NULL,
        started_at_ms INTEGER,
        ended_at_ms INTEGER,
        input_tokens INTEGER,
        output_tokens INTEGER,
        error_code TEXT,
        started_event_no INTEGER,
        lease_owner TEXT,
        lease_expires_at_ms INTEGER
      );
      CREATE INDEX wb_runs_worker ON wb_runs (worker_pk, run_pk);
      CREATE INDEX wb_runs_queue ON wb_runs (worker_pk, queue_key) WHERE state = 'queued';
      CREATE INDEX wb_runs_running ON wb_runs (lease_expires_at_ms) WHERE state = 'running';
      CREATE TABLE wb_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      CREATE TABLE wb_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE wb_api_keys (
        key_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        scopes TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        last_used_at_ms INTEGER,
        revoked_at_ms INTEGER
      );
      CREATE TABLE wb_idempotency (
        scope_key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        owner TEXT NOT NULL,
        worker_id TEXT,
        status INTEGER,
        body TEXT,
        location TEXT,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
      );
      CREATE INDEX wb_idempotency_worker ON wb_idempotency (worker_id) WHERE worker_id IS NOT NULL;
      CREATE INDEX wb_idempotency_age ON wb_idempotency (updated_at_ms);

      INSERT INTO wb_workers (worker_pk, worker_id, intent_json, role, profile_selector, requested_name, state, created_at_ms,
                              last_seen_at_ms, last_activity_at_ms, transcript_length, next_event_no)
        SELECT created_order, worker_id, intent_json, role, profile_selector, requested_name, 'running', created_at_ms,
               last_seen_at_ms, last_seen_at_ms, transcript_length, next_event_no
        FROM wb_workers_v2;
      INSERT INTO wb_items (worker_pk, sequence, role, anchor_sequence, event_no, created_at_ms, content_length, content)
        SELECT w.created_order, t.sequence, t.role, t.sequence, t.event_no, t.created_at_ms, length(t.content), t.content
        FROM wb_transcript_items_v2 t JOIN wb_workers_v2 w ON w.worker_id = t.worker_id;
      INSERT INTO wb_events (global_seq, worker_pk, event_no, kind, item_sequence, data, size, created_at_ms)
        SELECT ROW_NUMBER() OVER (ORDER BY at, pk, no), pk, no, kind, seq, data, size, at FROM (
          SELECT created_order AS pk, 0 AS no, 'worker.created' AS kind, NULL AS seq,
                 json_object('role', role, 'profile_selector', profile_selector, 'created_at_ms', created_at_ms) AS data,
                 0 AS size, created_at_ms AS at FROM wb_workers_v2
          UNION ALL
          SELECT w.created_order, t.event_no, 'worker.input_accepted', t.sequence, NULL, length(t.content), t.created_at_ms
          FROM wb_transcript_items_v2 t JOIN wb_workers_v2 w ON w.worker_id = t.worker_id
        );
      INSERT INTO wb_counters (name, value) VALUES ('log_head', (SELECT COUNT(*) FROM wb_events));
      INSERT INTO wb_counters (name, value) VALUES ('live_workers', (SELECT COUNT(*) FROM wb_workers WHERE state <> 'stopped'));
      DROP TABLE wb_transcript_items_v2;
      DROP TABLE wb_workers_v2;
    `,
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
  {
    version: 3,
    name: 'runs, event log, keys, idempotency',
    sql: `
      ALTER TABLE wb_workers RENAME TO wb_workers_v2;
      ALTER TABLE wb_transcript_items RENAME TO wb_transcript_items_v2;
      ALTER INDEX wb_transcript_items_event RENAME TO wb_transcript_items_v2_event;
      ALTER INDEX wb_transcript_items_pkey RENAME TO wb_transcript_items_v2_pkey;
      ALTER INDEX wb_workers_pkey RENAME TO wb_workers_v2_pkey;
      ALTER INDEX wb_workers_worker_id_key RENAME TO wb_workers_v2_worker_id_key;
      CREATE TABLE wb_workers (
        worker_pk BIGSERIAL PRIMARY KEY,
        worker_id TEXT NOT NULL UNIQUE,
        intent_json TEXT NOT NULL,
        role TEXT NOT NULL,
        profile_selector TEXT NOT NULL,
        requested_name TEXT,
        state TEXT NOT NULL,
        stop_reason TEXT,
        created_at_ms BIGINT NOT NULL,
        last_seen_at_ms BIGINT NOT NULL,
        last_activity_at_ms BIGINT NOT NULL,
        transcript_length BIGINT NOT NULL DEFAULT 0,
        next_event_no BIGINT NOT NULL DEFAULT 1,
        current_run_id TEXT,
        queued_runs BIGINT NOT NULL DEFAULT 0,
        queue_front BIGINT NOT NULL DEFAULT 0,
        queue_back BIGINT NOT NULL DEFAULT 1,
        runnable_since_ms BIGINT
      );
      CREATE INDEX wb_workers_runnable ON wb_workers (runnable_since_ms) WHERE runnable_since_ms IS NOT NULL;
      CREATE INDEX wb_workers_idle ON wb_workers (last_activity_at_ms) WHERE state = 'running' AND current_run_id IS NULL AND queued_runs = 0;
      CREATE TABLE wb_items (
        worker_pk BIGINT NOT NULL,
        sequence BIGINT NOT NULL,
        role TEXT NOT NULL,
        anchor_sequence BIGINT NOT NULL,
        run_id TEXT,
        truncated BIGINT NOT NULL DEFAULT 0,
        event_no BIGINT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        content_length BIGINT NOT NULL,
        content TEXT NOT NULL,
        UNIQUE (worker_pk, sequence)
      );
      CREATE INDEX wb_items_context ON wb_items (worker_pk, anchor_sequence, sequence, content_length);
      CREATE TABLE wb_events (
        global_seq BIGINT PRIMARY KEY,
        worker_pk BIGINT NOT NULL,
        event_no BIGINT NOT NULL,
        kind TEXT NOT NULL,
        run_id TEXT,
        item_sequence BIGINT,
        data TEXT,
        size BIGINT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        UNIQUE (worker_pk, event_no)
      );
      CREATE TABLE wb_runs (
        run_pk BIGSERIAL PRIMARY KEY,
        run_id TEXT NOT NULL UNIQUE,
        worker_pk BIGINT NOT NULL,
        state TEXT NOT NULL,
        queue_key BIGINT NOT NULL,
        input_sequence BIGINT NOT NULL,
        output_sequence BIGINT,
        created_at_ms BIGINT NOT NULL,
        started_at_ms BIGINT,
        ended_at_ms BIGINT,
        input_tokens BIGINT,
        output_tokens BIGINT,
        error_code TEXT,
        started_event_no BIGINT,
        lease_owner TEXT,
        lease_expires_at_ms BIGINT
      );
      CREATE INDEX wb_runs_worker ON wb_runs (worker_pk, run_pk);
      CREATE INDEX wb_runs_queue ON wb_runs (worker_pk, queue_key) WHERE state = 'queued';
      CREATE INDEX wb_runs_running ON wb_runs (lease_expires_at_ms) WHERE state = 'running';
      CREATE TABLE wb_counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
      CREATE TABLE wb_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE wb_api_keys (
        key_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        scopes TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        last_used_at_ms BIGINT,
        revoked_at_ms BIGINT
      );
      CREATE TABLE wb_idempotency (
        scope_key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        owner TEXT NOT NULL,
        worker_id TEXT,
        status BIGINT,
        body TEXT,
        location TEXT,
        created_at_ms BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL
      );
      CREATE INDEX wb_idempotency_worker ON wb_idempotency (worker_id) WHERE worker_id IS NOT NULL;
      CREATE INDEX wb_idempotency_age ON wb_idempotency (updated_at_ms);

      INSERT INTO wb_workers (worker_pk, worker_id, intent_json, role, profile_selector, requested_name, state, created_at_ms,
                              last_seen_at_ms, last_activity_at_ms, transcript_length, next_event_no)
        SELECT created_order, worker_id, intent_json, role, profile_selector, requested_name, 'running', created_at_ms,
               last_seen_at_ms, last_seen_at_ms, transcript_length, next_event_no
        FROM wb_workers_v2;
      INSERT INTO wb_items (worker_pk, sequence, role, anchor_sequence, event_no, created_at_ms, content_length, content)
        SELECT w.created_order, t.sequence, t.role, t.sequence, t.event_no, t.created_at_ms, char_length(t.content), t.content
        FROM wb_transcript_items_v2 t JOIN wb_workers_v2 w ON w.worker_id = t.worker_id;
      INSERT INTO wb_events (global_seq, worker_pk, event_no, kind, item_sequence, data, size, created_at_ms)
        SELECT ROW_NUMBER() OVER (ORDER BY at, pk, no), pk, no, kind, seq, data, size, at FROM (
          SELECT created_order AS pk, 0 AS no, 'worker.created' AS kind, NULL AS seq,
                 json_build_object('role', role, 'profile_selector', profile_selector, 'created_at_ms', created_at_ms)::text AS data,
                 0 AS size, created_at_ms AS at FROM wb_workers_v2
          UNION ALL
          SELECT w.created_order, t.event_no, 'worker.input_accepted', t.sequence, NULL::text, char_length(t.content), t.created_at_ms
          FROM wb_transcript_items_v2 t JOIN wb_workers_v2 w ON w.worker_id = t.worker_id
        ) AS migrated;
      INSERT INTO wb_counters (name, value) VALUES ('log_head', (SELECT COUNT(*) FROM wb_events));
      INSERT INTO wb_counters (name, value) VALUES ('live_workers', (SELECT COUNT(*) FROM wb_workers WHERE state <> 'stopped'));
      SELECT setval(pg_get_serial_sequence('wb_workers', 'worker_pk'), GREATEST((SELECT MAX(worker_pk) FROM wb_workers), 1), (SELECT COUNT(*) FROM wb_workers) > 0);
      DROP TABLE wb_transcript_items_v2;
      DROP TABLE wb_workers_v2;
    `,
  },
];
