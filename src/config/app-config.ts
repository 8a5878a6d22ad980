import type { LogLevel } from '@nestjs/common';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ModelProviderSettings } from '../execution/model-provider';
import { BEARER_TOKEN_CHARACTERS, MAX_BEARER_TOKEN_LENGTH } from '../auth/auth.constants';

/** Matches every public id the API accepts or allocates (SPEC §5). */
export const IDENTIFIER_PATTERN = /^[A-Za-z0-9_:-]{1,120}$/;

/** Where the embedded runtime keeps its state (RUNTIME_STORE_URL). Internal: never projected. */
export type RuntimeStoreConfig =
  | { kind: 'memory'; name: string; maxBytes: number }
  | { kind: 'sqlite'; file: string; synchronous: 'NORMAL' | 'FULL'; maxBytes: number | null }
  | { kind: 'postgres'; url: string };

export const DEFAULT_SQLITE_FILE = 'embedded-runtime.sqlite3';
/** SQLITE_MAX_MB's default for `memory:`, whose rows live in the process's memory; a file has none (the disk is its bound). */
export const DEFAULT_MEMORY_STORE_MAX_MB = 1024;

export interface EmbeddedRuntimeConfig {
  /** Upper bound on workers that are not stopped; creating past it is a 422 `rejected`. */
  maxWorkers: number;
  store: RuntimeStoreConfig;
  /** WORKER_IDLE_STOP_MS: workers idle this long are stopped (null: never). */
  idleStopMs: number | null;
}

/** How Postgres connections behave (only used with a postgres:// store). */
export interface PostgresConfig {
  poolMax: number;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  startupTimeoutMs: number;
  /** Derived from RUN_LEASE_MS (see pgIdleInTransactionTimeoutMs). */
  idleInTransactionTimeoutMs: number;
}

/**
 * A third of the run lease, 1 to 30 s. A frozen instance holding the log head's lock stops
 * every instance's event writes until the server ends its transaction; past about two thirds of
 * a lease, the healthy instances' own runs would lapse for want of a renewal. A healthy instance
 * never leaves a transaction idle for a second: it waits only on its own statements.
 */
export function pgIdleInTransactionTimeoutMs(leaseMs: number): number {
  return Math.min(30_000, Math.max(1000, Math.floor(leaseMs / 3)));
}

export interface ExecutionConfig {
  /** The model provider; null when MODEL_PROVIDER is unset: inputs are recorded, no run starts. Internal: never projected. */
  provider: ModelProviderSettings | null;
  /** WORKER_PROVIDER_API_KEY, kept even without a provider so that logs always redact it. Internal. */
  providerApiKey: string | null;
  modelTimeoutMs: number;
  runMaxMs: number;
  queueLimit: number;
  contextMaxChars: number;
  deltaCoalesceMs: number;
  concurrency: number;
  leaseMs: number;
  maxOutputChars: number;
}

export interface EventStreamConfig {
  /** Interval of the named `heartbeat` event on open streams. */
  heartbeatMs: number;
  /** Unread bytes per client before its stream is paused (and read from the log at its pace). */
  clientBufferBytes: number;
  /** Unread bytes over all streams; past it the most-behind clients are cut off. */
  totalBufferBytes: number;
  /** How long a client may stay behind before it is cut off with `stream.overflow`. */
  maxLagMs: number;
  /**
   * Live deltas within this long of a log's last live delivery wait out the window and reach each stream in one call and one write (the event log's
   * LiveWindow); so do deltas within this long of a stream's last write while it reads back from the log (SseStream). Other events go at once (0: each at once).
   * The default equals DELTA_COALESCE_MS's: with both defaults a run's deltas are already that far apart and none waits; with coalescing turned
   * down, a stream still gets at most one write per window during a burst (each write is a system call per subscriber).
   */
  flushMs: number;
  maxStreams: number;
  maxStreamsPerWorker: number;
  /** So that one key (a read key handed to a tool) cannot take every stream of the instance. */
  maxStreamsPerKey: number;
}

export interface AuthConfig {
  /** AUTH=off: no key needed (refused unless the listen address is loopback). */
  disabled: boolean;
  /** API_KEY: an admin key given by the operator (never stored). Null: one is generated at start-up. Internal. */
  apiKey: string | null;
  /** RATE_LIMIT_PER_MINUTE: requests per key per minute (null: no limit). */
  rateLimitPerMinute: number | null;
}

export interface HttpConfig {
  /** ALLOWED_HOSTS: host names (any port) requests may be addressed to; `*` allows any (DNS-rebinding guard). */
  allowedHosts: string[] | '*';
  /** CORS_ORIGINS: origins that get CORS headers. */
  corsOrigins: string[];
  /** Connections open at once; past it new ones get a 503 and are closed (HTTP_MAX_CONNECTIONS). */
  maxConnections: number;
  /** Time for a client to send a request's headers (HTTP_HEADERS_TIMEOUT_MS). */
  headersTimeoutMs: number;
  /** Time for a client to send a whole request (HTTP_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (HTTP_KEEP_ALIVE_TIMEOUT_MS). */
  keepAliveTimeoutMs: number;
  /** Requests served on one connection before it is closed (bounds pipelining; HTTP_MAX_REQUESTS_PER_SOCKET). */
  maxRequestsPerSocket: number;
  /** A response (not an event stream) whose bytes the client takes none of for this long is cut off (HTTP_SEND_TIMEOUT_MS). */
  sendTimeoutMs: number;
}

export interface AppConfig {
  host: string;
  port: number;
  workspaceId: string;
  /** Absolute workspace root; internal, never projected. */
  workspaceRoot: string;
  /** Where `pods/` lives; internal, never projected. */
  dataDir: string;
  embedded: EmbeddedRuntimeConfig;
  postgres: PostgresConfig;
  execution: ExecutionConfig;
  events: EventStreamConfig;
  auth: AuthConfig;
  http: HttpConfig;
  /** LOCAL_SCAN_DEADLINE_MS: the longest a scan of `pods/` may take before the local source answers degraded. */
  localScanDeadlineMs: number;
  /** SHUTDOWN_GRACE_MS: how long in-flight requests and runs may take to finish on SIGTERM. */
  shutdownGraceMs: number;
  /** LOG_LEVEL: the least severe level printed (default `info`: access lines included; `warn` drops them). */
  logLevels: LogLevel[];
}

/** LOG_LEVEL values, most severe first; each prints itself and everything above it. */
const LOG_LEVEL_ORDER = ['fatal', 'error', 'warn', 'info', 'debug', 'verbose'] as const;

function logLevelsFromEnv(env: NodeJS.ProcessEnv): LogLevel[] {
  const raw = (env.LOG_LEVEL ?? '').trim().toLowerCase() || 'info';
  const index = LOG_LEVEL_ORDER.indexOf(raw as (typeof LOG_LEVEL_ORDER)[number]);
  if (index < 0) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVEL_ORDER.join(', ')}`);
  // Nest calls `info` `log`.
  return LOG_LEVEL_ORDER.slice(0, index + 1).map((l) => (l === 'info' ? 'log' : l));
}

export const APP_CONFIG = Symbol('APP_CONFIG');

export class ConfigError extends Error {}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}`);
  return value;
}

function optionalIntFromEnv(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | null {
  const raw = env[name];
  return raw === undefined || raw === '' ? null : intFromEnv(env, name, 0, min, max);
}

function boolFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'on', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'off', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false`);
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/**
 * What an API_KEY may be: 16 to 512 printable ASCII characters without
 * spaces, the token a Bearer header can carry (auth.middleware.ts), so a key
 * that could never be sent is refused at start-up. Not shorter: a short key
 * can be guessed, and logs redact the key wherever it occurs (API_KEY=k took
 * every "k" out of them).
 */
const MIN_API_KEY_LENGTH = 16;
const API_KEY_SHAPE = new RegExp(`^[${BEARER_TOKEN_CHARACTERS}]{${MIN_API_KEY_LENGTH},${MAX_BEARER_TOKEN_LENGTH}}$`);

function operatorApiKey(raw: string | undefined): string | null {
  const key = nonEmpty(raw);
  if (key === undefined) return null;
  if (!API_KEY_SHAPE.test(key)) throw new ConfigError(`API_KEY must be ${MIN_API_KEY_LENGTH} to ${MAX_BEARER_TOKEN_LENGTH} printable ASCII characters without spaces`);
  return key;
}

/** MODEL_PROVIDER and friends (SPEC §9). Unset MODEL_PROVIDER means no execution. */
export function parseModelProvider(env: NodeJS.ProcessEnv): ModelProviderSettings | null {
  const kind = nonEmpty(env.MODEL_PROVIDER);
  if (kind === undefined) return null;
  if (kind !== 'openai-compatible' && kind !== 'anthropic') throw new ConfigError('MODEL_PROVIDER must be openai-compatible or anthropic');
  const model = nonEmpty(env.MODEL_NAME);
  if (model === undefined) throw new ConfigError('MODEL_NAME is required when MODEL_PROVIDER is set');
  const baseUrl = nonEmpty(env.MODEL_BASE_URL);
  if (baseUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new ConfigError('MODEL_BASE_URL is not a valid URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('MODEL_BASE_URL must be an http:// or https:// URL');
    // fetch refuses such a URL, so every run would fail provider_unreachable without a request; the key goes in WORKER_PROVIDER_API_KEY.
    if (url.username !== '' || url.password !== '') throw new ConfigError('MODEL_BASE_URL must not hold a user name or password: give the key in WORKER_PROVIDER_API_KEY');
  }
  return {
    kind,
    baseUrl,
    model,
    apiKey: nonEmpty(env.WORKER_PROVIDER_API_KEY) ?? null,
    streamUsage: boolFromEnv(env, 'MODEL_STREAM_USAGE', true),
    maxTokens: optionalIntFromEnv(env, 'MODEL_MAX_TOKENS', 1, 10_000_000),
  };
}

/**
 * Reads the configuration once, from the environment (SPEC §8). Invalid values
 * stop start-up with a message naming the variable, never its value (it may be
 * a secret).
 */
export function loadAppConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const workspaceId = env.WORKSPACE_ID && env.WORKSPACE_ID !== '' ? env.WORKSPACE_ID : 'default';
  if (!IDENTIFIER_PATTERN.test(workspaceId)) {
    throw new ConfigError('WORKSPACE_ID must match ^[A-Za-z0-9_:-]{1,120}$');
  }
  const workspaceRoot = resolve(env.WORKSPACE_ROOT && env.WORKSPACE_ROOT !== '' ? env.WORKSPACE_ROOT : process.cwd());
  const dataDir = resolve(
    env.WORKSPACE_DATA_DIR && env.WORKSPACE_DATA_DIR !== ''
      ? env.WORKSPACE_DATA_DIR
      : join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'workspace-backend'),
  );
  const host = env.HOST && env.HOST !== '' ? env.HOST : '127.0.0.1';
  const authDisabled = parseAuthSwitch(env.AUTH);
  if (authDisabled && !isLoopback(host)) throw new ConfigError('AUTH set to off (no API keys) is only allowed when HOST is a loopback address (127.0.0.1, ::1 or localhost)');
  // Read once: the runs' lease, and the Postgres bound derived from it.
  const leaseMs = intFromEnv(env, 'RUN_LEASE_MS', 10_000, 300, 600_000);
  return {
    host,
    port: intFromEnv(env, 'PORT', 3000, 0, 65535),
    workspaceId,
    workspaceRoot,
    dataDir,
    embedded: {
      maxWorkers: intFromEnv(env, 'EMBEDDED_MAX_WORKERS', 100_000, 1, 10_000_000),
      store: withSizeCap(parseStoreUrl(env.RUNTIME_STORE_URL ?? '', dataDir, env.SQLITE_SYNCHRONOUS), optionalIntFromEnv(env, 'SQLITE_MAX_MB', 1, 16 * 1024 * 1024)),
      idleStopMs: optionalIntFromEnv(env, 'WORKER_IDLE_STOP_MS', 1000, 365 * 24 * 3_600_000),
    },
    postgres: {
      poolMax: intFromEnv(env, 'PG_POOL_MAX', 10, 2, 1000),
      connectTimeoutMs: intFromEnv(env, 'PG_CONNECT_TIMEOUT_MS', 5000, 100, 600_000),
      queryTimeoutMs: intFromEnv(env, 'PG_QUERY_TIMEOUT_MS', 10_000, 100, 600_000),
      startupTimeoutMs: intFromEnv(env, 'PG_STARTUP_TIMEOUT_MS', 30_000, 0, 3_600_000),
      idleInTransactionTimeoutMs: pgIdleInTransactionTimeoutMs(leaseMs),
    },
    execution: {
      provider: parseModelProvider(env),
      providerApiKey: nonEmpty(env.WORKER_PROVIDER_API_KEY) ?? null,
      modelTimeoutMs: intFromEnv(env, 'MODEL_TIMEOUT_MS', 120_000, 10, 3_600_000),
      runMaxMs: intFromEnv(env, 'RUN_MAX_MS', 600_000, 10, 24 * 3_600_000),
      queueLimit: intFromEnv(env, 'RUN_QUEUE_LIMIT', 32, 1, 10_000),
      contextMaxChars: intFromEnv(env, 'RUN_CONTEXT_MAX_CHARS', 120_000, 1, 100_000_000),
      deltaCoalesceMs: intFromEnv(env, 'DELTA_COALESCE_MS', 50, 0, 60_000),
      concurrency: intFromEnv(env, 'EXECUTION_CONCURRENCY', 8, 1, 1000),
      leaseMs,
      maxOutputChars: intFromEnv(env, 'RUN_MAX_OUTPUT_CHARS', 1_000_000, 1, 100_000_000),
    },
    events: {
      heartbeatMs: intFromEnv(env, 'SSE_HEARTBEAT_MS', 15_000, 10, 3_600_000),
      clientBufferBytes: intFromEnv(env, 'SSE_CLIENT_BUFFER_BYTES', 1024 * 1024, 1024, 1024 * 1024 * 1024),
      totalBufferBytes: intFromEnv(env, 'SSE_TOTAL_BUFFER_BYTES', 128 * 1024 * 1024, 1024, 64 * 1024 * 1024 * 1024),
      maxLagMs: intFromEnv(env, 'SSE_MAX_LAG_MS', 10_000, 100, 3_600_000),
      flushMs: intFromEnv(env, 'SSE_FLUSH_MS', 50, 0, 1000),
      maxStreams: intFromEnv(env, 'SSE_MAX_STREAMS', 1000, 1, 1_000_000),
      maxStreamsPerWorker: intFromEnv(env, 'SSE_MAX_STREAMS_PER_WORKER', 200, 1, 1_000_000),
      maxStreamsPerKey: intFromEnv(env, 'SSE_MAX_STREAMS_PER_KEY', 500, 1, 1_000_000),
    },
    auth: {
      disabled: authDisabled,
      apiKey: operatorApiKey(env.API_KEY),
      rateLimitPerMinute: optionalIntFromEnv(env, 'RATE_LIMIT_PER_MINUTE', 1, 100_000),
    },
    http: {
      allowedHosts: parseList(env.ALLOWED_HOSTS, ['localhost', '127.0.0.1', '[::1]']).includes('*') ? '*' : parseList(env.ALLOWED_HOSTS, ['localhost', '127.0.0.1', '[::1]']),
      corsOrigins: parseList(env.CORS_ORIGINS, []).map(normaliseOrigin),
      maxConnections: intFromEnv(env, 'HTTP_MAX_CONNECTIONS', 10_000, 1, 1_000_000),
      headersTimeoutMs: intFromEnv(env, 'HTTP_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
      requestTimeoutMs: intFromEnv(env, 'HTTP_REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
      keepAliveTimeoutMs: intFromEnv(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 5000, 100, 600_000),
      maxRequestsPerSocket: intFromEnv(env, 'HTTP_MAX_REQUESTS_PER_SOCKET', 1000, 1, 1_000_000),
      sendTimeoutMs: intFromEnv(env, 'HTTP_SEND_TIMEOUT_MS', 30_000, 100, 3_600_000),
    },
    localScanDeadlineMs: intFromEnv(env, 'LOCAL_SCAN_DEADLINE_MS', 2000, 10, 600_000),
    shutdownGraceMs: intFromEnv(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 3_600_000),
    logLevels: logLevelsFromEnv(env),
  };
}

function parseAuthSwitch(raw: string | undefined): boolean {
  const value = raw?.toLowerCase();
  if (value === undefined || value === '' || value === 'on') return false;
  if (value === 'off') return true;
  throw new ConfigError('AUTH must be on or off');
}

/** Loopback by name or address: what AUTH=off requires. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

function parseList(raw: string | undefined, fallback: string[]): string[] {
  if (raw === undefined || raw.trim() === '') return fallback;
  return raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
}

/** `https://Example.com:443/` → `https://example.com` (what browsers send in Origin). */
function normaliseOrigin(raw: string): string {
  try {
    return new URL(raw).origin;
  } catch {
    throw new ConfigError('CORS_ORIGINS must be a comma-separated list of origins such as http://localhost:5173');
  }
}

/** SQLITE_MAX_MB on the two SQLite stores (`memory:` has a default); Postgres has its own means. */
function withSizeCap(store: RuntimeStoreConfig, maxMb: number | null): RuntimeStoreConfig {
  if (store.kind === 'memory') return { ...store, maxBytes: (maxMb ?? DEFAULT_MEMORY_STORE_MAX_MB) * 1024 * 1024 };
  if (store.kind === 'sqlite') return { ...store, maxBytes: maxMb === null ? null : maxMb * 1024 * 1024 };
  return store;
}

/**
 * `memory:[name]`, `sqlite:[path]` (default `<data dir>/embedded-runtime.sqlite3`)
 * or `postgres://…` / `postgresql://…`. Unset means the SQLite default.
 */
export function parseStoreUrl(raw: string, dataDir: string, synchronous?: string): RuntimeStoreConfig {
  const sync = synchronous === undefined || synchronous === '' ? 'NORMAL' : synchronous.toUpperCase();
  if (sync !== 'NORMAL' && sync !== 'FULL') throw new ConfigError('SQLITE_SYNCHRONOUS must be NORMAL or FULL');
  if (raw === '' || raw === 'sqlite:') return { kind: 'sqlite', file: join(dataDir, DEFAULT_SQLITE_FILE), synchronous: sync, maxBytes: null };
  if (raw.startsWith('sqlite:')) return { kind: 'sqlite', file: resolve(raw.slice('sqlite:'.length)), synchronous: sync, maxBytes: null };
  if (raw.startsWith('memory:')) return { kind: 'memory', name: raw.slice('memory:'.length) || 'embedded-memory', maxBytes: DEFAULT_MEMORY_STORE_MAX_MB * 1024 * 1024 };
  if (/^postgres(ql)?:\/\//.test(raw)) {
    try {
      new URL(raw);
    } catch {
      throw new ConfigError('RUNTIME_STORE_URL is not a valid postgres:// URL');
    }
    return { kind: 'postgres', url: raw };
  }
  throw new ConfigError('RUNTIME_STORE_URL must be memory:, sqlite:[path] or postgres://…');
}

/**
 * Values that logs must never print (SPEC §2): the provider credential and the
 * store's passwords (in the URL and in `password`/`sslpassword` parameters),
 * as written and percent-decoded. Never throws: a `%` that starts no valid
 * escape (`postgres://u:50%off@h/db`) stays as written.
 */
export function secretsOf(config: AppConfig): string[] {
  const secrets: (string | null)[] = [config.execution.providerApiKey, config.auth.apiKey];
  if (config.embedded.store.kind === 'postgres') {
    // Decodes each run of valid %XX escapes on its own; anything else is kept as is.
    const decode = (s: string): string =>
      s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
        try {
          return decodeURIComponent(run);
        } catch {
          return run; // e.g. %C3 alone: not UTF-8
        }
      });
    let url: URL | null = null;
    try {
      url = new URL(config.embedded.store.url);
    } catch {
      // parseStoreUrl accepted it; if not parseable here, there is no password to find
    }
    if (url) {
      for (const value of [url.password, url.searchParams.get('password'), url.searchParams.get('sslpassword')]) {
        if (value) secrets.push(value, decode(value));
      }
    }
  }
  return [...new Set(secrets.filter((s): s is string => typeof s === 'string' && s.length > 0))];
}
