import autocannon from 'autocannon';
import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/*
 * The small toolkit every scenario uses: options (argv and BENCH_* knobs),
 * spawned processes (all killed at the end, whatever happens), load
 * (autocannon), statistics, HTTP helpers carrying the API key, and the
 * Markdown table writer.
 */

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const arg = (name: string) => argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
const num = (name: string, fallback: number) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number`);
  return n;
};
const list = (raw: string | undefined) => (raw ? new Set(raw.split(',').map((s) => s.trim()).filter(Boolean)) : null);

export const QUICK = flag('--quick');

export const options = {
  quick: QUICK,
  /** `--no-write`: print only. */
  noWrite: flag('--no-write'),
  /** `--out=FILE`: where the report goes (default BENCHMARKS.md for a full run; nothing for --quick or a subset). */
  out: arg('--out'),
  /** BENCH_RUNS: interleaved runs per comparison (median taken). */
  runs: Math.max(1, Math.round(num('BENCH_RUNS', QUICK ? 1 : 3))),
  /** BENCH_DURATION: seconds of load per run in the older throughput scenarios. */
  duration: num('BENCH_DURATION', QUICK ? 0.5 : 3),
  /** BENCH_ROUTE_DURATION: seconds of load per route, server and run in the per-route table. */
  routeDuration: num('BENCH_ROUTE_DURATION', QUICK ? 0.3 : 2),
  /**
   * BENCH_WARMUP: seconds of unmeasured load per server and route before a throughput comparison. An app process
   * runs slower over its first seconds under load while V8 optimises its hot paths (measured on the transcript route:
   * ~1,000-1,400 req/s with a p99 of 200-400 ms in the 2 s after a 1-s warm-up, ~2,300-2,700 req/s and p99 ~40 ms
   * from the third second on); the comparisons are of the steady state. The bare twins get the same warm-up.
   */
  warmup: num('BENCH_WARMUP', QUICK ? 0 : 3),
  /** BENCH_CONNECTIONS: concurrent connections of the load generator. */
  connections: Math.max(1, Math.round(num('BENCH_CONNECTIONS', 50))),
  /** BENCH_ONLY / BENCH_SKIP: comma-separated scenario names. */
  only: list(process.env.BENCH_ONLY),
  skip: list(process.env.BENCH_SKIP) ?? new Set<string>(),
  /** BENCH_APP_LOG=error: app processes log errors only (default: the app's levels, access log included). */
  appLog: process.env.BENCH_APP_LOG === 'error' ? ('error' as const) : ('default' as const),
  /** BENCH_CPU_PROF=DIR: app processes of the per-route table run with --cpu-prof into DIR. */
  cpuProfDir: process.env.BENCH_CPU_PROF || undefined,
  /** BENCH_PG_URL (else RUNTIME_STORE_TEST_PG_URL, else postgres://postgres@127.0.0.1:5432/test). */
  pgUrl: process.env.BENCH_PG_URL || process.env.RUNTIME_STORE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/test',
  /** BENCH_CHILD_LOGS=DIR: keep each spawned process's stdout (the app's log lines) in DIR. */
  childLogs: process.env.BENCH_CHILD_LOGS || undefined,
};

export const ROOT = join(__dirname, '..', '..', '..');
export const DIST = join(ROOT, 'dist');
/** What `npm start` runs: the bundled server (scripts/build.mjs). */
export const MAIN = join(DIST, 'main.js');
export const SERVERS = join(DIST, 'bench', 'servers');
export const API_KEY = `bench-admin-${process.pid}-${Date.now().toString(36)}`;
export const AUTH = { authorization: `Bearer ${API_KEY}` };
export const EMBEDDED = '/api/runtimes/embedded-worker-runtime';

export const tmp = mkdtempSync(join(tmpdir(), 'wb-bench-'));

const T0 = performance.now();
export const log = (msg: string) => process.stderr.write(`[bench] ${((performance.now() - T0) / 1000).toFixed(1).padStart(6)} s ${msg}\n`);
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- statistics

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (p in 0..1). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

export const round = (x: number, d = 2) => (Number.isFinite(x) ? Number(x.toFixed(d)) : x);
export const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–');
export const mb = (bytes: number) => bytes / 2 ** 20;
export const verdict = (ok: boolean) => (ok ? 'met' : '**not met**');

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${message}`);
}

// ---------------------------------------------------------------- processes

const children = new Set<ChildProcess>();

/** Kills every process this run started (its whole process group), now. */
export function killAll(): void {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }
  children.clear();
}

let cleanups: Array<() => Promise<void> | void> = [];
/** Registers clean-up (dropping a Postgres schema …) that runs at the end even on failure. */
export function atEnd(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}
export async function runCleanups(): Promise<void> {
  killAll();
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch((err) => log(`clean-up failed: ${err instanceof Error ? err.message : String(err)}`));
  cleanups = [];
  rmSync(tmp, { recursive: true, force: true });
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping every spawned process`);
    killAll();
    // Then the rest of the clean-up (a Postgres schema …), for at most 5 s.
    setTimeout(() => process.exit(130), 5000).unref();
    void runCleanups().finally(() => process.exit(130));
  });
}

/** Spawns a process in its own process group (so that its children die with it), tracked for the final kill. */
export function spawnTracked(command: string, args: string[], opts: Omit<SpawnOptions, 'stdio'> & { logName?: string; stdio?: unknown[] }): ChildProcess {
  let stdout: 'ignore' | number = 'ignore';
  if (options.childLogs && opts.logName) stdout = openSync(join(options.childLogs, `${opts.logName}-${Date.now()}.log`), 'w');
  // 'log' in stdout's place: the process's stdout (the app's log lines) goes to BENCH_CHILD_LOGS, else nowhere.
  const stdio = (opts.stdio ?? ['ignore', 'log', 'inherit']).map((s, i) => (i === 1 && s === 'log' ? stdout : s));
  const child = spawn(command, args, { ...opts, stdio: stdio as SpawnOptions['stdio'], detached: true });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Ends a process: SIGTERM to it, SIGKILL to its group after `graceMs`. */
export function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      // Anything it started (kernels, a forked server) goes too.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* group already gone */
      }
      children.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export interface AppStats {
  lag: { p50: number; p99: number; max: number; mean: number; count: number };
  cpu: { user: number; system: number };
  rss: number;
  peakRss: number;
  heapUsed: number;
  streams: number;
  connections: number;
  at: number;
}

export interface BenchServer {
  name: string;
  info: any;
  url: string;
  child: ChildProcess;
  /** Side-channel figures (only for servers that serve them: BENCH_STATS=1, the fake provider). */
  stats<T = AppStats>(reset?: boolean): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Spawns one of bench/servers/*.js (built) with `env`; resolves once it
 * reports ready on its IPC channel with its port.
 */
export function spawnServer(name: string, script: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<BenchServer> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(process.execPath, [...nodeArgs, join(SERVERS, script)], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'log', 'inherit', 'ipc'],
      logName: name.replace(/[^a-z0-9-]+/gi, '_'),
    });
    let nextId = 0;
    const waiting = new Map<number, (stats: any) => void>();
    child.on('message', (msg: any) => {
      if (msg?.type === 'ready') {
        resolve({
          name,
          info: msg,
          url: `http://127.0.0.1:${msg.port}`,
          child,
          stats: (reset = false) =>
            new Promise((done, fail) => {
              const id = nextId++;
              const timer = setTimeout(() => {
                waiting.delete(id);
                fail(new Error(`${name}: no stats within 10 s`));
              }, 10_000);
              waiting.set(id, (s) => {
                clearTimeout(timer);
                done(s);
              });
              child.send({ type: 'stats', id, reset });
            }),
          stop: () => stopProcess(child),
        });
      } else if (msg?.type === 'stats') {
        waiting.get(msg.id)?.(msg.stats);
        waiting.delete(msg.id);
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`${name} (${script}) exited (${code ?? signal}) before it was ready`)));
    child.once('error', reject);
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Polls `url` until it answers `status` (with the API key); returns the elapsed ms. */
export async function waitForStatus(url: string, status: number, timeoutMs: number, isAlive: () => boolean = () => true): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (!isAlive()) throw new Error(`the process behind ${url} exited`);
    try {
      const res = await fetch(url, { headers: AUTH });
      await res.arrayBuffer();
      if (res.status === status) return performance.now() - started;
    } catch {
      /* not listening yet */
    }
    if (performance.now() - started > timeoutMs) throw new Error(`${url}: no ${status} within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** The built backend (`node dist/main.js`, what `npm start` runs) as its own process, like test/support/child-server.ts. */
export async function startMain(name: string, env: Record<string, string>): Promise<BenchServer> {
  const port = await freePort();
  const child = spawnTracked(process.execPath, [MAIN], {
    env: { ...process.env, API_KEY, ...env, PORT: String(port), HOST: '127.0.0.1' },
    logName: name.replace(/[^a-z0-9-]+/gi, '_'),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForStatus(`${url}/api/health/live`, 200, 30_000, () => child.exitCode === null && child.signalCode === null);
  return {
    name,
    info: { port },
    url,
    child,
    stats: () => Promise.reject(new Error(`${name}: no stats channel`)),
    stop: () => stopProcess(child, 15_000),
  };
}

/** Environment of an app process on a fresh store of this kind (memory: SQLite's in-memory database). */
export function storeEnv(store: 'memory' | 'sqlite', name: string): Record<string, string> {
  const dataDir = join(tmp, name);
  return {
    API_KEY,
    WORKSPACE_DATA_DIR: dataDir,
    WORKSPACE_ROOT: dataDir,
    EMBEDDED_MAX_WORKERS: '1000000',
    RUNTIME_STORE_URL: store === 'memory' ? 'memory:' : `sqlite:${join(dataDir, 'bench.sqlite3')}`,
    ...(options.appLog === 'error' ? { BENCH_APP_LOG: 'error' } : {}),
  };
}

// ---------------------------------------------------------------- HTTP

export async function getJson(url: string): Promise<any> {
  const res = await fetch(url, { headers: AUTH });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

export async function postJson(url: string, body: unknown, expected = [200, 201, 202]): Promise<any> {
  const res = await fetch(url, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!expected.includes(res.status)) throw new Error(`POST ${url}: ${res.status} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : undefined;
}

export const COMPANION = { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted' } };

export async function createWorker(base: string): Promise<string> {
  return (await postJson(`${base}${EMBEDDED}/workers`, COMPANION, [201])).worker.worker_id;
}

/** A keep-alive agent for sequential requests from the runner. */
export function keepAliveAgent(maxSockets = 1): Agent {
  return new Agent({ keepAlive: true, maxSockets });
}

/** One request on `agent`; resolves with status, body and the time it took (ms). */
export function timedRequest(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: Agent } = {},
): Promise<{ status: number; body: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers ?? AUTH, agent: init.agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (p: Buffer) => parts.push(p));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8'), ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

// ---------------------------------------------------------------- load

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
}

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  seconds?: number;
  connections?: number;
  requests?: autocannon.Request[];
  /** Accept non-2xx answers and errors (default: any is a failure). */
  tolerant?: boolean;
}

/** wrk-style load: `connections` keep-alive connections, one request each in flight, from this one thread. */
export async function load(o: LoadOptions): Promise<LoadResult> {
  const r = await autocannon({
    url: o.url,
    method: o.method ?? 'GET',
    headers: { ...AUTH, ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
    body: o.body,
    connections: o.connections ?? options.connections,
    pipelining: 1,
    duration: o.seconds ?? options.duration,
    ...(o.requests ? { requests: o.requests } : {}),
  });
  const result = { rps: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total, non2xx: r.non2xx, errors: r.errors };
  if (!o.tolerant) {
    // (--quick runs many loads at once on a cold app: one may complete nothing in its second.)
    check(result.requests > 0 || QUICK, `${o.method ?? 'GET'} ${o.url}: no request completed`);
    check(result.non2xx === 0 && result.errors === 0, `${o.method ?? 'GET'} ${o.url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  }
  return result;
}

/**
 * Runs `measure` for every target, `runs` times, interleaved run by run
 * (the order alternates, so neither side is always first after a pause);
 * returns the results per target name.
 */
export async function interleave<T>(targets: string[], runs: number, measure: (target: string, run: number) => Promise<T>): Promise<Record<string, T[]>> {
  const out: Record<string, T[]> = Object.fromEntries(targets.map((t) => [t, []]));
  if (QUICK) {
    // Smoke mode: every target at once (figures meaningless, the harness exercised in a second).
    for (let run = 0; run < runs; run++) (await Promise.all(targets.map((t) => measure(t, run)))).forEach((r, i) => out[targets[i]].push(r));
    return out;
  }
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? targets : [...targets].reverse();
    for (const target of order) out[target].push(await measure(target, run));
  }
  return out;
}

export function medianLoad(rs: LoadResult[]): LoadResult {
  return {
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    requests: rs.reduce((a, r) => a + r.requests, 0),
    non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
  };
}

// ---------------------------------------------------------------- report

export function table(headers: string[], rows: Array<Array<string | number>>, align: Array<'l' | 'r'> = headers.map((_, i) => (i === 0 ? 'l' : 'r'))): string[] {
  return [`| ${headers.join(' | ')} |`, `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.map(String).join(' | ')} |`)];
}

export interface Section {
  /** The scenario's name in BENCH_ONLY. */
  name: string;
  /** `## N. …` heading text (without the number). */
  title: string;
  lines: string[];
  /** Keys of the summary line, in order. */
  summary: Array<[string, string | number]>;
  /** The targets of this scenario, for the overview at the top: what, the figure, met. */
  targets?: Array<[string, string, boolean]>;
}

/** Samples `fn` every `ms` until stopped; returns what it got. */
export function sampler<T>(ms: number, fn: () => Promise<T>): { stop(): Promise<T[]> } {
  const got: T[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        got.push(await fn());
      } catch {
        /* a failed sample is skipped */
      }
      await sleep(ms);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return got;
    },
  };
}
