import { createHash, randomBytes } from 'node:crypto';
import { Client, type ClientConfig, Pool, type PoolClient, type QueryResultRow } from 'pg';
import { withoutPassword } from '../../common/logging/redact';
import { POSTGRES_MIGRATIONS } from '../sql/schema';
import { POSTGRES_DIALECT, type SqlExecutor, SqlStoreTx } from '../sql/sql-queries';
import { type StoreDescription, type StoreNotice, type StoreQueries, type StoreTx, StoreUnavailableError, BackendStore } from '../backend-store';

/** Any constant: serialises migrations across backend instances starting together. */
const MIGRATION_LOCK = 0x77625f6d;

export interface PostgresStoreOptions {
  url: string;
  /** Connections in the pool (PG_POOL_MAX). */
  poolMax: number;
  /** Connecting, and waiting for a free pooled connection (PG_CONNECT_TIMEOUT_MS). */
  connectTimeoutMs: number;
  /** Every statement, client side and server side (PG_QUERY_TIMEOUT_MS). */
  queryTimeoutMs: number;
  /** How long start-up keeps retrying an unreachable server (PG_STARTUP_TIMEOUT_MS). */
  startupTimeoutMs: number;
  /**
   * How long the server lets one of our transactions sit idle before it ends the session
   * (`idle_in_transaction_session_timeout`). Our transactions only wait on their own statements,
   * so a long idle one belongs to a frozen instance (a paused VM, a stalled network), and its row
   * locks (the log head's, taken by every event write) would hold up every instance.
   */
  idleInTransactionTimeoutMs: number;
  /** Operator log (already redacting); the store logs pool errors once per burst. */
  log: { warn(message: string): void; error(message: string): void };
}

/** Postgres error classes that mean "the server cannot answer now", not "this request is wrong". */
function toStoreError(err: unknown): unknown {
  if (err instanceof StoreUnavailableError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  if (code === '57014') return new StoreUnavailableError('timeout', err); // statement_timeout / query_canceled
  if (/^(08|53|57P|58)/.test(code)) return new StoreUnavailableError('unreachable', err);
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'].includes(code)) {
    return new StoreUnavailableError('unreachable', err);
  }
  if (/timeout|terminated|Connection ended|not queryable|Client was closed/i.test(message)) return new StoreUnavailableError('timeout', err);
  return err;
}

/** Deadlocks and serialisation failures: the transaction is retried as a whole. */
const RETRYABLE = new Set(['40001', '40P01']);

/**
 * The store for several backend instances on one database.
 *
 * Transactions run on one pooled connection each (BEGIN … COMMIT), with the
 * worker rows they touch locked FOR UPDATE; runs are claimed with FOR UPDATE
 * SKIP LOCKED. Every commit that appended events also sends a NOTIFY (the
 * "doorbell": which logs advanced, never the events); a dedicated,
 * reconnecting LISTEN connection turns other instances' doorbells into
 * notices, and after a reconnect tells everyone to catch up from the log.
 *
 * Every wait is bounded: connecting, checking out a connection, and every
 * statement (client and server side); TCP keepalive finds dead peers.
 * Pool errors are logged once per burst, never once per failed query.
 */
export class PostgresBackendStore extends BackendStore {
  readonly description: StoreDescription;
  private readonly pool: Pool;
  private readonly clientConfig: ClientConfig;
  /** The doorbell connection names itself (`<application_name>-doorbell`), so an operator (or a test) can tell it apart. */
  private readonly listenerUrl: string;
  private readonly instanceId = randomBytes(8).toString('hex');
  private readonly listeners = new Set<(notice: StoreNotice) => void>();
  private channel = 'wb_notices';
  private listener?: Client;
  private listenerRetry?: NodeJS.Timeout;
  private listenerPing?: NodeJS.Timeout;
  private listenerBackoffMs = 250;
  private closed = false;
  private lastPoolErrorLogAt = 0;
  private suppressedPoolErrors = 0;

  constructor(private readonly options: PostgresStoreOptions) {
    super();
    this.description = { kind: 'postgres', durable: true, sharedAcrossProcesses: true, identity: withoutPassword(options.url) };
    this.clientConfig = {
      connectionString: options.url,
      connectionTimeoutMillis: options.connectTimeoutMs,
      query_timeout: options.queryTimeoutMs,
      statement_timeout: options.queryTimeoutMs,
      // A transaction left open by a frozen instance must not hold row locks for long (see the option).
      idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    };
    this.pool = new Pool({ ...this.clientConfig, max: options.poolMax, idleTimeoutMillis: 30_000 });
    const listenerUrl = new URL(options.url);
    listenerUrl.searchParams.set('application_name', `${listenerUrl.searchParams.get('application_name') ?? 'workspace-backend'}-doorbell`);
    this.listenerUrl = listenerUrl.toString();
    // An idle client's error (server restart, network) must not crash the process; the next query reports it.
    this.pool.on('error', (err) => this.logPoolError(err));
  }

  /** The listening connection's server process id (tests terminate it to exercise the reconnect). */
  get listenerProcessId(): number | undefined {
    return (this.listener as unknown as { processID?: number } | undefined)?.processID;
  }

  async init(): Promise<void> {
    await this.connectWithRetries();
    const { client, release } = await this.checkOut();
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
      // Channels are database-wide: name ours after the schema, so two workspaces in one database never hear each other.
      const schema = (await client.query<{ schema: string }>('SELECT current_schema() AS schema')).rows[0].schema;
      this.channel = `wb_notices_${createHash('sha256').update(schema).digest('hex').slice(0, 16)}`;
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      release();
    }
    await this.startListener();
  }

  /** Start-up waits for a server that is still coming up, within a deadline, with backoff. */
  private async connectWithRetries(): Promise<void> {
    const deadline = Date.now() + this.options.startupTimeoutMs;
    let delay = 250;
    for (;;) {
      try {
        await this.pool.query('SELECT 1');
        return;
      } catch (err) {
        if (Date.now() + delay > deadline) {
          throw new Error(`the Postgres server at RUNTIME_STORE_URL (${this.description.identity}) did not answer within ${this.options.startupTimeoutMs} ms`, { cause: err });
        }
        this.options.log.warn(`waiting for the Postgres server at RUNTIME_STORE_URL (${this.description.identity}): ${describeError(err)}; retrying in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  private logPoolError(err: unknown): void {
    const now = Date.now();
    if (now - this.lastPoolErrorLogAt < 30_000) {
      this.suppressedPoolErrors++;
      return;
    }
    const suppressed = this.suppressedPoolErrors;
    this.suppressedPoolErrors = 0;
    this.lastPoolErrorLogAt = now;
    this.options.log.error(`Postgres connection error: ${describeError(err)}${suppressed ? ` (${suppressed} more since the last report)` : ''}`);
  }

  // ---- the doorbell ------------------------------------------------------

  private async startListener(): Promise<void> {
    if (this.closed) return;
    const client = new Client({ ...this.clientConfig, connectionString: this.listenerUrl });
    client.on('error', (err) => {
      this.logPoolError(err);
      this.restartListener(client);
    });
    client.on('end', () => this.restartListener(client));
    client.on('notification', (msg) => {
      if (msg.channel !== this.channel || !msg.payload) return;
      try {
        const { i, n } = JSON.parse(msg.payload) as { i: string; n: StoreNotice };
        if (i !== this.instanceId) this.emit(n);
      } catch {
        // not ours
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch (err) {
      this.logPoolError(err);
      this.restartListener(client);
      return;
    }
    this.listener = client;
    this.listenerBackoffMs = 250;
    // A paused network sends no error: ping, and reconnect when the ping does not come back.
    this.listenerPing = setInterval(() => {
      client.query('SELECT 1').catch(() => this.restartListener(client));
    }, 10_000);
    this.listenerPing.unref();
  }

  private restartListener(client: Client): void {
    if (this.listener !== undefined && this.listener !== client) return; // an old client's late event
    if (this.listenerRetry || this.closed) return;
    clearInterval(this.listenerPing);
    this.listener = undefined;
    client.removeAllListeners('notification');
    client.end().catch(() => undefined);
    const delay = this.listenerBackoffMs;
    this.listenerBackoffMs = Math.min(delay * 2, 5000);
    this.listenerRetry = setTimeout(() => {
      this.listenerRetry = undefined;
      void this.startListener().then(() => {
        // Doorbells may have rung while we were away: everyone reads the log from where they are.
        if (this.listener) this.emit({ type: 'resync' });
      });
    }, delay);
    this.listenerRetry.unref();
  }

  subscribe(listener: (notice: StoreNotice) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
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

  // ---- reads and transactions -------------------------------------------

  async checkReady(): Promise<void> {
    await this.write((tx) => tx.putSetting('ready_probe', String(Date.now())));
  }

  async read<T>(work: (q: StoreQueries) => Promise<T>): Promise<T> {
    try {
      return await work(new SqlStoreTx(executorOf(this.pool), POSTGRES_DIALECT));
    } catch (err) {
      throw toStoreError(err);
    }
  }

  async write<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.writeOnce(work);
      } catch (err) {
        if (attempt < 3 && RETRYABLE.has(String((err as { code?: unknown })?.code))) continue;
        throw toStoreError(err);
      }
    }
  }

  private async writeOnce<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    const { client, release } = await this.checkOut();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const tx = new SqlStoreTx(executorOf(client), POSTGRES_DIALECT);
      const value = await work(tx);
      const notices = await tx.flush();
      for (const notice of notices) {
        // Others get the doorbell only (well under NOTIFY's 8,000-byte limit); the records stay in the log.
        const doorbell = notice.type === 'events' ? { type: 'events', lastGlobalSeq: notice.lastGlobalSeq, workers: notice.workers } : notice;
        await client.query('SELECT pg_notify($1, $2)', [this.channel, JSON.stringify({ i: this.instanceId, n: doorbell })]);
      }
      await client.query('COMMIT');
      for (const notice of notices) this.emit(notice);
      return value;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr) => (broken = rollbackErr));
      throw err;
    } finally {
      // A connection whose rollback failed is not reused (nor one the server ended: see checkOut).
      release(broken);
    }
  }

  /**
   * A client of the pool, heard while it is lent out. The server may end its session then
   * (idle_in_transaction_session_timeout after a freeze, pg_terminate_backend, a restart): pg emits
   * 'error' on it, which the pool does not hear for a client it lent, and an 'error' nobody hears
   * ends the process. The statement in flight fails by itself. `release(failure)` hands the client
   * back, or has the pool drop it when it failed or the server ended it (the listener then stays
   * on it, for any later report).
   */
  private async checkOut(): Promise<{ client: PoolClient; release: (failure?: unknown) => void }> {
    const client = await this.pool.connect();
    let ended: Error | undefined;
    const onError = (err: Error) => (ended = err);
    client.on('error', onError);
    const release = (failure?: unknown) => {
      const dropWith = (failure ?? ended) as Error | undefined;
      if (dropWith === undefined) client.off('error', onError);
      client.release(dropWith);
    };
    return { client, release };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.listenerRetry);
    clearInterval(this.listenerPing);
    await this.listener?.end().catch(() => undefined);
    if (!this.pool.ended && !this.pool.ending) await this.pool.end();
  }
}

function executorOf(db: Pool | PoolClient): SqlExecutor {
  const query = async <T extends QueryResultRow>(sql: string, params: readonly unknown[] = []) => db.query<T>(numbered(sql), params as unknown[]);
  return {
    all: async <T>(sql: string, params?: readonly unknown[]) => (await query(sql, params)).rows as T[],
    get: async <T>(sql: string, params?: readonly unknown[]) => (await query(sql, params)).rows[0] as T | undefined,
    rows: async (sql: string, params?: readonly unknown[]) => (await db.query({ text: numbered(sql), values: params as unknown[], rowMode: 'array' })).rows as unknown[][],
    row: async (sql: string, params?: readonly unknown[]) => (await db.query({ text: numbered(sql), values: params as unknown[], rowMode: 'array' })).rows[0] as unknown[] | undefined,
    run: async (sql: string, params?: readonly unknown[]) => (await query(sql, params)).rowCount ?? 0,
  };
}

const numberedCache = new Map<string, string>();
/** `?` → `$1, $2 …` (our SQL has no `?` inside literals). */
function numbered(sql: string): string {
  let out = numberedCache.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    if (numberedCache.size < 1000) numberedCache.set(sql, out);
  }
  return out;
}

function describeError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return [typeof e?.code === 'string' ? e.code : '', typeof e?.message === 'string' ? e.message : String(err)].filter(Boolean).join(' ');
}
