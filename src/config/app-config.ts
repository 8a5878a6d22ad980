import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Matches every public id the API accepts or allocates (SPEC §5). */
export const IDENTIFIER_PATTERN = /^[A-Za-z0-9_:-]{1,120}$/;

/** Where the embedded runtime keeps its state (RUNTIME_STORE_URL). Internal: never projected. */
export type RuntimeStoreConfig =
  | { kind: 'memory'; name: string }
  | { kind: 'sqlite'; file: string; synchronous: 'NORMAL' | 'FULL' }
  | { kind: 'postgres'; url: string };

export const DEFAULT_SQLITE_FILE = 'embedded-runtime.sqlite3';

export interface EmbeddedRuntimeConfig {
  /** Upper bound on live workers; spawning past it is a 422 `rejected`. */
  maxWorkers: number;
  /**
   * Provider credential handed to workers' resolved profiles. Internal: it must
   * never reach a client, and logs redact it.
   */
  providerApiKey: string | null;
  store: RuntimeStoreConfig;
}

export interface EventStreamConfig {
  /** Interval of `: heartbeat` comments on open streams. */
  heartbeatMs: number;
  /** Bytes a slow client may leave unread before it is disconnected with `stream.overflow`. */
  clientBufferBytes: number;
  /** Most events replayed on resume; a client further behind gets `stream.reset`. */
  replayLimit: number;
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
  events: EventStreamConfig;
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
  return {
    host: env.HOST && env.HOST !== '' ? env.HOST : '127.0.0.1',
    port: intFromEnv(env, 'PORT', 3000, 0, 65535),
    workspaceId,
    workspaceRoot,
    dataDir,
    embedded: {
      maxWorkers: intFromEnv(env, 'EMBEDDED_MAX_WORKERS', 100_000, 1, 10_000_000),
      providerApiKey: env.WORKER_PROVIDER_API_KEY && env.WORKER_PROVIDER_API_KEY !== '' ? env.WORKER_PROVIDER_API_KEY : null,
      store: parseStoreUrl(env.RUNTIME_STORE_URL ?? '', dataDir, env.SQLITE_SYNCHRONOUS),
    },
    events: {
      heartbeatMs: intFromEnv(env, 'SSE_HEARTBEAT_MS', 15_000, 10, 3_600_000),
      clientBufferBytes: intFromEnv(env, 'SSE_CLIENT_BUFFER_BYTES', 1024 * 1024, 1024, 1024 * 1024 * 1024),
      replayLimit: intFromEnv(env, 'EVENT_REPLAY_LIMIT', 1000, 0, 1_000_000),
    },
  };
}

/**
 * `memory:[name]`, `sqlite:[path]` (default `<data dir>/embedded-runtime.sqlite3`)
 * or `postgres://…` / `postgresql://…`. Unset means the SQLite default.
 */
export function parseStoreUrl(raw: string, dataDir: string, synchronous?: string): RuntimeStoreConfig {
  const sync = synchronous === undefined || synchronous === '' ? 'NORMAL' : synchronous.toUpperCase();
  if (sync !== 'NORMAL' && sync !== 'FULL') throw new ConfigError('SQLITE_SYNCHRONOUS must be NORMAL or FULL');
  if (raw === '' || raw === 'sqlite:') return { kind: 'sqlite', file: join(dataDir, DEFAULT_SQLITE_FILE), synchronous: sync };
  if (raw.startsWith('sqlite:')) return { kind: 'sqlite', file: resolve(raw.slice('sqlite:'.length)), synchronous: sync };
  if (raw.startsWith('memory:')) return { kind: 'memory', name: raw.slice('memory:'.length) || 'embedded-memory' };
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
  const secrets: (string | null)[] = [config.embedded.providerApiKey];
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
