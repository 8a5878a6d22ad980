import autocannon from 'autocannon';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/*
 * `npm run bench`: every scenario of the benchmarks issue, each server in its
 * own process on loopback, runs interleaved so that noise hits app and
 * baselines alike, medians of several runs, ratios taken within this run.
 * Writes BENCHMARKS.md (unless --no-write) and prints the same tables.
 * `--quick` is the smoke mode used by the test suite: tiny sizes, one short run.
 */

const QUICK = process.argv.includes('--quick');
const WRITE = !process.argv.includes('--no-write');
const RUNS = Number(process.env.BENCH_RUNS ?? (QUICK ? 1 : 3));
const DURATION = Number(process.env.BENCH_DURATION ?? (QUICK ? 1 : 4));
const CONNECTIONS = 50;
const LIST_WORKERS = 100;
const LENGTHS = QUICK ? [10, 100, 1000] : [1_000, 100_000, 1_000_000];
const LATENCY_REQUESTS = QUICK ? 100 : 1500;
const STORES = ['memory', 'sqlite'] as const;
type Store = (typeof STORES)[number];

const ROOT = join(__dirname, '..', '..');
const DIST = join(ROOT, 'dist');
const MAIN = join(DIST, 'src', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'wb-bench-'));
const children = new Set<ChildProcess>();

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x: number, d = 2) => Number(x.toFixed(d));
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

function storeEnv(store: Store, name: string): Record<string, string> {
  const dataDir = join(tmp, name);
  return {
    WORKSPACE_DATA_DIR: dataDir,
    WORKSPACE_ROOT: dataDir,
    EMBEDDED_MAX_WORKERS: '1000000',
    RUNTIME_STORE_URL: store === 'memory' ? 'memory:' : `sqlite:${join(dataDir, 'bench.sqlite3')}`,
  };
}

interface Server {
  info: any;
  url: string;
  stop(): Promise<void>;
}

/** Spawns a server script that prints one JSON line (with `port`) when ready. */
function spawnServer(script: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(child);
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      const info = JSON.parse(out.slice(0, nl));
      resolve({
        info,
        url: `http://127.0.0.1:${info.port}`,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            const t = setTimeout(() => child.kill('SIGKILL'), 5000);
            child.once('exit', () => {
              clearTimeout(t);
              children.delete(child);
              done();
            });
            child.kill('SIGTERM');
          }),
      });
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
  });
}

interface LoadResult {
  rps: number;
  ok: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(options: autocannon.Options): Promise<LoadResult> {
  const r = await autocannon({ connections: CONNECTIONS, pipelining: 1, duration: DURATION, ...options });
  return { rps: r.requests.average, ok: r['2xx'] / r.duration, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors, non2xx: r.non2xx };
}

/**
 * p50/p99 in microseconds of sequential keep-alive requests on one connection
 * (no queueing in the figure), the URLs interleaved request by request in a
 * rotating order, so that a noisy moment on the shared machine lands on all
 * of them alike instead of on whichever was being measured.
 */
async function interleavedLatency(urls: string[], n: number): Promise<Array<{ p50: number; p99: number }>> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[][] = urls.map(() => []);
  const once = (url: string) =>
    new Promise<void>((resolve, reject) => {
      request(url, { agent }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode}`));
        res.resume();
        res.on('end', resolve);
      })
        .on('error', reject)
        .end();
    });
  for (let round = 0; round < n + 50; round++) {
    for (let k = 0; k < urls.length; k++) {
      const u = (round + k) % urls.length;
      const started = performance.now();
      await once(urls[u]);
      if (round >= 50) times[u].push((performance.now() - started) * 1000); // the first 50 rounds warm up
    }
  }
  agent.destroy();
  return times.map((t) => {
    t.sort((a, b) => a - b);
    return { p50: t[Math.floor(t.length * 0.5)], p99: t[Math.floor(t.length * 0.99)] };
  });
}

async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

// ---------------------------------------------------------------- scenarios

async function scenarioList(): Promise<Record<string, LoadResult>> {
  log('scenario 1: GET /api/workers with 100 workers, app vs bare Express 5 vs node:http');
  const apps: Record<string, Server> = {};
  for (const store of STORES) apps[store] = await spawnServer(join(DIST, 'bench', 'servers', 'app-server.js'), { ...storeEnv(store, `list-${store}`), BENCH_SEED: JSON.stringify({ workers: LIST_WORKERS }) });
  const path = `/api/workers?limit=${LIST_WORKERS}`;
  const body = Buffer.from(await (await fetch(`${apps.memory.url}${path}`)).arrayBuffer());
  if (JSON.parse(body.toString()).items.length !== LIST_WORKERS) throw new Error('list does not have 100 items');
  const bodyFile = join(tmp, 'workers-body.json');
  writeFileSync(bodyFile, body);
  const express = await spawnServer(join(DIST, 'bench', 'servers', 'baseline-express.js'), { BENCH_BODY_FILE: bodyFile });
  const node = await spawnServer(join(DIST, 'bench', 'servers', 'baseline-node.js'), { BENCH_BODY_FILE: bodyFile });
  const targets: Record<string, Server> = { 'app (memory)': apps.memory, 'app (sqlite)': apps.sqlite, 'bare Express 5': express, 'bare node:http': node };
  const runs: Record<string, LoadResult[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
  for (const server of Object.values(targets)) await load({ url: `${server.url}${path}`, duration: 1 }); // warm-up
  for (let run = 0; run < RUNS; run++) {
    for (const [name, server] of Object.entries(targets)) {
      const r = await load({ url: `${server.url}${path}` });
      if (r.errors || r.non2xx) throw new Error(`${name}: ${r.errors} errors, ${r.non2xx} non-2xx`);
      runs[name].push(r);
      log(`  run ${run + 1} ${name}: ${Math.round(r.rps)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms`);
    }
  }
  for (const s of [express, node, ...Object.values(apps)]) await s.stop();
  return Object.fromEntries(
    Object.entries(runs).map(([name, rs]) => [
      name,
      { rps: median(rs.map((r) => r.rps)), ok: median(rs.map((r) => r.ok)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), errors: 0, non2xx: 0 },
    ]),
  );
}

async function scenarioTranscript(store: Store): Promise<Record<number, { p50: number; p99: number }>> {
  log(`scenario 2 (${store}): transcript page latency at lengths ${LENGTHS.join(', ')}; seeding…`);
  const started = performance.now();
  const app = await spawnServer(join(DIST, 'bench', 'servers', 'app-server.js'), { ...storeEnv(store, `transcript-${store}`), BENCH_SEED: JSON.stringify({ transcripts: LENGTHS }) });
  log(`  seeded in ${Math.round((performance.now() - started) / 1000)} s`);
  const runs: Record<number, Array<{ p50: number; p99: number }>> = Object.fromEntries(LENGTHS.map((l) => [l, []]));
  // A page from the middle: an O(n) implementation could not hide behind start=0.
  const urls = LENGTHS.map(
    (length) => `${app.url}/api/runtimes/embedded-worker-runtime/workers/${app.info.transcripts[length]}/transcript?start=${Math.floor(length / 2)}&limit=50`,
  );
  for (const [i, length] of LENGTHS.entries()) {
    const page = await getJson(urls[i]);
    if (page.items.length !== Math.min(50, length - Math.floor(length / 2)) || page.total_items !== length) throw new Error('unexpected page');
  }
  for (let run = 0; run < RUNS; run++) {
    const results = await interleavedLatency(urls, LATENCY_REQUESTS);
    results.forEach((r, i) => runs[LENGTHS[i]].push(r));
    log(`  run ${run + 1}: ${LENGTHS.map((l, i) => `${l}: p50 ${Math.round(results[i].p50)} µs`).join(', ')}`);
  }
  await app.stop();
  return Object.fromEntries(LENGTHS.map((l) => [l, { p50: median(runs[l].map((r) => r.p50)), p99: median(runs[l].map((r) => r.p99)) }]));
}

async function scenarioInputs(store: Store): Promise<{ inputsPerSec: number; acked: number; verified: number; extra: number }> {
  log(`scenario 3 (${store}): POST input, ${CONNECTIONS} clients over 4 workers`);
  const app = await spawnServer(join(DIST, 'bench', 'servers', 'app-server.js'), { ...storeEnv(store, `inputs-${store}`), BENCH_SEED: JSON.stringify({ workers: 4 }) });
  const workers: string[] = app.info.workers;
  const acked = new Set<string>();
  let counter = 0;
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const r = await load({
      url: app.url,
      requests: [
        {
          method: 'POST',
          setupRequest: (req: any, context: any) => {
            const n = counter++;
            context.content = `input ${n} ${'z'.repeat(64)}`;
            return {
              ...req,
              path: `/api/runtimes/embedded-worker-runtime/workers/${workers[n % workers.length]}/input`,
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ content: context.content }),
            };
          },
          onResponse: (status: number, _body: string, context: any) => {
            if (status === 202) acked.add(context.content);
          },
        } as any,
      ],
    });
    rates.push(r.ok);
    log(`  run ${run + 1}: ${Math.round(r.ok)} accepted inputs/s (non-2xx ${r.non2xx}, errors ${r.errors})`);
  }
  // Every acknowledged input must be in a transcript exactly once.
  const seen = new Map<string, number>();
  for (const id of workers) {
    for (let start = 0; ; start += 200) {
      const page = await getJson(`${app.url}/api/runtimes/embedded-worker-runtime/workers/${id}/transcript?start=${start}&limit=200`);
      for (const item of page.items) seen.set(item.content, (seen.get(item.content) ?? 0) + 1);
      if (page.next_start === undefined) break;
    }
  }
  await app.stop();
  let verified = 0;
  for (const content of acked) {
    if (seen.get(content) !== 1) throw new Error(`acknowledged input found ${seen.get(content) ?? 0} times`);
    verified++;
  }
  if ([...seen.values()].some((n) => n !== 1)) throw new Error('an input is in a transcript twice');
  // Inputs cut off by the end of a run may be stored without their 202 having been counted.
  return { inputsPerSec: median(rates), acked: acked.size, verified, extra: seen.size - acked.size };
}

async function scenarioMemory(): Promise<any> {
  log('scenario 4: memory per idle worker and per transcript item (memory store, --expose-gc)');
  const env = QUICK ? { BENCH_IDLE_WORKERS: '1000', BENCH_ITEMS: '10000' } : {};
  const probe = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', join(DIST, 'bench', 'memory-probe.js')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`memory probe exited ${code}`))));
  });
  return JSON.parse(probe);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function scenarioStartup(store: Store): Promise<number> {
  log(`scenario 5 (${store}): process start to the first 200 on GET /api/runtimes, 5 times`);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const port = await freePort();
    const started = performance.now();
    const child = spawn(process.execPath, [MAIN], { env: { ...process.env, ...storeEnv(store, `startup-${store}-${i}`), PORT: String(port) }, stdio: 'ignore' });
    children.add(child);
    for (;;) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/api/runtimes`)).status === 200) break;
      } catch {
        /* not yet listening */
      }
      if (performance.now() - started > 20_000) throw new Error('no start within 20 s');
      await new Promise((r) => setTimeout(r, 5));
    }
    times.push(performance.now() - started);
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
    children.delete(child);
  }
  log(`  ${times.map((t) => Math.round(t)).join(', ')} ms`);
  return median(times);
}

// ---------------------------------------------------------------- report

const verdict = (ok: boolean) => (ok ? 'met' : '**MISSED**');

async function main(): Promise<void> {
  const started = performance.now();
  const list = await scenarioList();
  const transcript: Record<string, Record<number, { p50: number; p99: number }>> = {};
  const inputs: Record<string, Awaited<ReturnType<typeof scenarioInputs>>> = {};
  const startup: Record<string, number> = {};
  for (const store of STORES) transcript[store] = await scenarioTranscript(store);
  for (const store of STORES) inputs[store] = await scenarioInputs(store);
  const memory = await scenarioMemory();
  for (const store of STORES) startup[store] = await scenarioStartup(store);
  const seconds = Math.round((performance.now() - started) / 1000);

  const express = list['bare Express 5'];
  const node = list['bare node:http'];
  const [lo, , hi] = LENGTHS;
  const ratio = {
    workers_vs_express: (s: Store) => list[`app (${s})`].rps / express.rps,
    workers_vs_node: (s: Store) => list[`app (${s})`].rps / node.rps,
    transcript: (s: Store) => transcript[s][hi].p50 / transcript[s][lo].p50,
    inputs_vs_list: (s: Store) => inputs[s].inputsPerSec / list[`app (${s})`].rps,
  };
  const cpu = cpus();
  const lines: string[] = [];
  const out = (s = '') => lines.push(s);
  out('# Benchmarks');
  out();
  out(`Generated by \`npm run bench\`${QUICK ? ' --quick (smoke sizes: not representative)' : ''} on ${new Date().toISOString().slice(0, 10)}.`);
  out(`Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${process.platform}/${process.arch}.`);
  out(`Method: every server in its own process on 127.0.0.1, load from this process (autocannon, ${CONNECTIONS} connections, ${DURATION} s per run), runs interleaved across the servers, medians of ${RUNS} runs; ratios are taken between servers measured in this same run. Whole run: ${seconds} s.`);
  out('The machine is shared and noisy: trust the ratios more than the absolute figures.');
  out();
  out('## 1. `GET /api/workers?limit=100` with 100 embedded workers');
  out();
  out('Baselines serve the same response bytes, precomputed.');
  out();
  out('| server | req/s | p50 ms | p99 ms | vs bare Express | vs node:http |');
  out('|---|---:|---:|---:|---:|---:|');
  for (const [name, r] of Object.entries(list)) out(`| ${name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${round(r.rps / express.rps)} | ${round(r.rps / node.rps)} |`);
  out();
  for (const s of STORES) out(`Target app ≥ 0.70× bare Express (${s}): ${round(ratio.workers_vs_express(s))} — ${verdict(ratio.workers_vs_express(s) >= 0.7)}.`);
  out();
  out(`## 2. Transcript page (\`limit=50\`, from the middle) at ${LENGTHS.map((l) => l.toLocaleString('en')).join(' / ')} items`);
  out();
  out('Sequential keep-alive requests on one connection, the three lengths interleaved request by request; latency in µs.');
  out();
  out(`| store | ${LENGTHS.map((l) => `p50 @ ${l.toLocaleString('en')}`).join(' | ')} | p99 @ ${hi.toLocaleString('en')} | p50 ratio ${hi.toExponential(0)} ÷ ${lo.toExponential(0)} |`);
  out(`|---|${LENGTHS.map(() => '---:').join('|')}|---:|---:|`);
  for (const s of STORES) out(`| ${s} | ${LENGTHS.map((l) => Math.round(transcript[s][l].p50)).join(' | ')} | ${Math.round(transcript[s][hi].p99)} | ${round(ratio.transcript(s))} |`);
  out();
  for (const s of STORES) out(`Target ratio ≤ 1.2 (${s}): ${round(ratio.transcript(s))} — ${verdict(ratio.transcript(s) <= 1.2)}.`);
  out();
  out(`## 3. \`POST …/input\` sustained, ${CONNECTIONS} clients over 4 workers`);
  out();
  out('| store | accepted inputs/s | vs own scenario-1 req/s | acknowledged | in transcript exactly once | stored but unacknowledged (cut by run end) |');
  out('|---|---:|---:|---:|---:|---:|');
  for (const s of STORES) out(`| ${s} | ${Math.round(inputs[s].inputsPerSec)} | ${round(ratio.inputs_vs_list(s))} | ${inputs[s].acked} | ${inputs[s].verified} | ${inputs[s].extra} |`);
  out();
  for (const s of STORES) out(`Target ≥ 0.5× (${s}): ${round(ratio.inputs_vs_list(s))} — ${verdict(ratio.inputs_vs_list(s) >= 0.5)}.`);
  out();
  out('## 4. Memory (memory store)');
  out();
  out('| measure | heap growth | RSS growth | target |');
  out('|---|---:|---:|---|');
  out(`| per idle worker (${memory.workers.toLocaleString('en')} created) | ${Math.round(memory.heapPerWorker)} B | ${Math.round(memory.rssPerWorker)} B | ≤ 2048 B — ${verdict(memory.heapPerWorker <= 2048)} |`);
  out(
    `| per transcript item (${memory.items.toLocaleString('en')} × ${memory.itemBytes} B) | ${Math.round(memory.heapPerItem)} B (${round(memory.heapPerItem / memory.itemBytes)}×) | ${Math.round(memory.rssPerItem)} B (${round(memory.rssPerItem / memory.itemBytes)}×) | ≤ 2× content — ${verdict(memory.heapPerItem <= 2 * memory.itemBytes)} |`,
  );
  out();
  out('## 5. Start-up: process start to the first 200 on `GET /api/runtimes` (median of 5)');
  out();
  out('| store | ms | target ≤ 1500 ms |');
  out('|---|---:|---|');
  for (const s of STORES) out(`| ${s} | ${Math.round(startup[s])} | ${verdict(startup[s] <= 1500)} |`);
  out();
  out('The summary line uses the memory store (the runtime itself); the tables show the SQLite default beside it.');
  out();
  out(
    `summary: workers_vs_express=${round(ratio.workers_vs_express('memory'))} workers_vs_node=${round(ratio.workers_vs_node('memory'))} transcript_1e6_vs_1e3=${round(ratio.transcript('memory'))} inputs_vs_list=${round(ratio.inputs_vs_list('memory'))} bytes_per_idle_worker=${Math.round(memory.heapPerWorker)} startup_ms=${Math.round(startup.memory)}`,
  );
  const report = `${lines.join('\n')}\n`;
  process.stdout.write(report);
  if (WRITE) writeFileSync(join(ROOT, 'BENCHMARKS.md'), report);
}

main()
  .catch((err) => {
    process.stderr.write(`[bench] failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  });
