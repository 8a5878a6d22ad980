import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { json, SseReader, type SseEvent } from '../lib/sse';
import {
  API_KEY,
  atEnd,
  AUTH,
  type BenchServer,
  check,
  createWorker,
  EMBEDDED,
  fmt,
  keepAliveAgent,
  log,
  median,
  options,
  percentile,
  QUICK,
  round,
  type Section,
  sleep,
  spawnServer,
  startMain,
  table,
  timedRequest,
  tmp,
  verdict,
} from '../lib/toolkit';

/*
 * Issue 15: several instances of the built server (child processes) on one
 * Postgres. Throughput: runs/s with a provider that answers after 200 ms,
 * EXECUTION_CONCURRENCY=4, every slot kept busy, one instance vs two. Then
 * the delivery latency of an event from an input posted to A to a stream on
 * B, under ~200 inputs/s.
 */

const SCALING_TARGET = 1.8;
const DELIVERY_P99_TARGET_MS = 250;

async function pgReachable(url: string): Promise<string | null> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return null;
  } catch (err) {
    return (err as { code?: string }).code ?? (err instanceof Error ? err.message : String(err));
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function freshSchema(base: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const schema = `wbbench_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    const c = new Client({ connectionString: base });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  };
  atEnd(drop);
  return { url: url.toString(), drop };
}

interface Batch {
  instances: number;
  runs: number;
  seconds: number;
  runsPerSec: number;
  /** Between the 10th and the 90th percentile of completions: the rate with every slot busy (no ramp, no tail). */
  steadyRunsPerSec: number;
  byInstance: Record<string, number>;
}

/** Posts `perWorker` inputs to each of `workers` (fresh) workers, spread over the instances, and waits for every run to complete. */
async function batch(instances: BenchServer[], fake: BenchServer, workers: number, perWorker: number): Promise<Batch> {
  await fake.stats(true);
  const ids = await Promise.all(Array.from({ length: workers }, (_, i) => createWorker(instances[i % instances.length].url)));
  const wanted = new Set<string>();
  const completedAt = new Map<string, number>();
  const failures: string[] = [];
  const streams = await Promise.all(
    instances.map((s) =>
      SseReader.open(`${s.url}/api/events`, {
        onEvent: (e) => {
          if (e.event === 'run.completed' || e.event === 'run.failed') {
            const run = json(e).run;
            if (e.event === 'run.failed') failures.push(`${run.run_id}: ${run.error?.code}`);
            else if (!completedAt.has(run.run_id)) completedAt.set(run.run_id, e.at);
          }
        },
      }),
    ),
  );
  try {
    const started = performance.now();
    // Post in rounds (every worker's k-th input before any (k+1)-th), 8 in flight.
    const jobs: Array<() => Promise<void>> = [];
    for (let k = 0; k < perWorker; k++) {
      ids.forEach((id, w) =>
        jobs.push(async () => {
          const server = instances[(w + k) % instances.length];
          const r = await timedRequest(`${server.url}${EMBEDDED}/workers/${id}/input`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify({ content: `w${w} input ${k}` }) });
          check(r.status === 202, `multi: input ${w}/${k}: ${r.status} ${r.body.slice(0, 200)}`);
          wanted.add(JSON.parse(r.body).run.run_id);
        }),
      );
    }
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let job = jobs.shift(); job; job = jobs.shift()) await job();
    }));
    const total = workers * perWorker;
    const deadline = performance.now() + 120_000;
    while ([...wanted].filter((id) => completedAt.has(id)).length < total) {
      check(failures.length === 0, `multi: runs failed: ${failures.slice(0, 3).join(', ')}`);
      check(performance.now() < deadline, `multi: ${[...wanted].filter((id) => completedAt.has(id)).length} of ${total} runs completed within 120 s`);
      await sleep(20);
    }
    const times = [...wanted].map((id) => completedAt.get(id)!).sort((x, y) => x - y);
    const last = times[times.length - 1];
    const seconds = (last - started) / 1000;
    const [i10, i90] = [Math.floor(total * 0.1), Math.floor(total * 0.9)];
    const steadyRunsPerSec = (i90 - i10) / ((times[i90] - times[i10]) / 1000);
    const fs = await fake.stats<{ requests: number; byPrefix: Record<string, number> }>();
    check(fs.requests === total, `multi: the provider saw ${fs.requests} requests for ${total} runs (each run must execute exactly once)`);
    return { instances: instances.length, runs: total, seconds, runsPerSec: total / seconds, steadyRunsPerSec, byInstance: fs.byPrefix };
  } finally {
    for (const s of streams) s.close();
  }
}

interface Delivery {
  sentToSeen: number[];
  ackToSeen: number[];
  aToB: number[];
  post: number[];
  posted: number;
  achievedRate: number;
}

async function deliveryLatency(a: BenchServer, b: BenchServer, rate: number, seconds: number): Promise<Delivery> {
  const ids = await Promise.all(Array.from({ length: 10 }, () => createWorker(a.url)));
  const sent = new Map<string, number>();
  const acked = new Map<string, number>();
  const seen = new Map<string, number>();
  const seenOnA = new Map<string, number>();
  const post: number[] = [];
  const tag = `lat-${randomBytes(4).toString('hex')}`;
  const watch = (into: Map<string, number>) => (e: SseEvent) => {
    if (e.event !== 'worker.input_accepted' || !e.data.includes(tag)) return;
    const content: string = json(e).item.content;
    if (!into.has(content)) into.set(content, e.at);
  };
  const stream = await SseReader.open(`${b.url}/api/events`, { onEvent: watch(seen) });
  // The same events on A's own stream: B's arrival minus A's is what crossing instances adds.
  const streamA = await SseReader.open(`${a.url}/api/events`, { onEvent: watch(seenOnA) });
  // Enough sockets that no request waits in the client for one: "sent" is when it goes on the wire.
  const agent = keepAliveAgent(256);
  try {
    const total = Math.round(rate * seconds);
    const started = performance.now();
    const inflight: Array<Promise<void>> = [];
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const content = `${tag} ${i}`;
      sent.set(content, performance.now());
      inflight.push(
        timedRequest(`${a.url}${EMBEDDED}/workers/${ids[i % ids.length]}/input`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify({ content, kind: 'system' }), agent }).then((r) => {
          check(r.status === 202, `delivery: input ${i}: ${r.status}`);
          acked.set(content, performance.now());
          post.push(r.ms);
        }),
      );
    }
    await Promise.all(inflight);
    const achievedRate = total / ((performance.now() - started) / 1000);
    const deadline = performance.now() + 15_000;
    while ((seen.size < total || seenOnA.size < total) && performance.now() < deadline) await sleep(20);
    check(seen.size === total, `delivery: ${seen.size} of ${total} inputs posted to A seen on B's stream within 15 s`);
    check(seenOnA.size === total, `delivery: ${seenOnA.size} of ${total} inputs posted to A seen on A's own stream within 15 s`);
    return {
      sentToSeen: [...sent].map(([c, t]) => seen.get(c)! - t),
      ackToSeen: [...acked].map(([c, t]) => Math.max(0, seen.get(c)! - t)),
      aToB: [...seenOnA].map(([c, t]) => seen.get(c)! - t),
      post,
      posted: total,
      achievedRate,
    };
  } finally {
    stream.close();
    streamA.close();
    agent.destroy();
  }
}

export async function scenarioMulti(): Promise<{ section: Section }> {
  const title = 'Several instances on one Postgres (issue 15)';
  const unreachable = await pgReachable(options.pgUrl);
  if (unreachable) {
    log(`multi: Postgres not reachable (${unreachable}): skipped`);
    return {
      section: { name: 'multi', title, lines: [`Postgres did not answer at \`${new URL(options.pgUrl).host}\` (${unreachable}): **not measured** in this run. Set \`BENCH_PG_URL\` to a reachable server.`], summary: [['multi_scaling', 'no_postgres']] },
    };
  }
  const workers = QUICK ? 8 : 40;
  const perWorker = QUICK ? 2 : 6;
  const reps = QUICK ? 1 : Math.min(2, options.runs);
  const latencyS = QUICK ? 1 : 5;
  log(`multi: ${workers} workers × ${perWorker} inputs, provider answers after 200 ms, EXECUTION_CONCURRENCY=4; one instance vs two, ${reps} time(s) each`);
  const schema = await freshSchema(options.pgUrl);
  const fake = await spawnServer('fake-provider-multi', 'fake-provider.js', { BENCH_FAKE_BEHAVIOUR: JSON.stringify({ kind: 'reply', chunks: ['ok', ' done'], firstChunkDelayMs: 200 }) });
  const env = (prefix: string) => ({
    API_KEY,
    RUNTIME_STORE_URL: schema.url,
    WORKSPACE_DATA_DIR: join(tmp, `multi-${prefix}`),
    WORKSPACE_ROOT: join(tmp, `multi-${prefix}`),
    MODEL_PROVIDER: 'openai-compatible',
    MODEL_BASE_URL: `${fake.info.origin}/${prefix}/v1`,
    MODEL_NAME: 'm',
    MODEL_TIMEOUT_MS: '10000',
    EXECUTION_CONCURRENCY: '4',
    EMBEDDED_MAX_WORKERS: '1000000',
  });
  const servers: BenchServer[] = [];
  try {
    const a = await startMain('multi-a', env('a'));
    servers.push(a);
    let b: BenchServer | undefined;
    const one: Batch[] = [];
    const two: Batch[] = [];
    for (let rep = 0; rep < reps; rep++) {
      if (b) {
        await b.stop();
        servers.splice(servers.indexOf(b), 1);
        b = undefined;
      }
      const r1 = await batch([a], fake, workers, perWorker);
      one.push(r1);
      log(`  one instance: ${r1.runs} runs in ${r1.seconds.toFixed(2)} s = ${r1.runsPerSec.toFixed(1)} runs/s (steady ${r1.steadyRunsPerSec.toFixed(1)})`);
      b = await startMain('multi-b', env('b'));
      servers.push(b);
      const r2 = await batch([a, b], fake, workers, perWorker);
      two.push(r2);
      log(`  two instances: ${r2.runs} runs in ${r2.seconds.toFixed(2)} s = ${r2.runsPerSec.toFixed(1)} runs/s (steady ${r2.steadyRunsPerSec.toFixed(1)}; ${JSON.stringify(r2.byInstance)})`);
    }
    log(`multi: A→B delivery latency at ~200 inputs/s for ${latencyS} s`);
    const rate = 200;
    const d = await deliveryLatency(a, b!, rate, latencyS);
    const oneRate = median(one.map((r) => r.runsPerSec));
    const twoRate = median(two.map((r) => r.runsPerSec));
    const oneSteady = median(one.map((r) => r.steadyRunsPerSec));
    const twoSteady = median(two.map((r) => r.steadyRunsPerSec));
    const scaling = twoRate / oneRate;
    const steadyScaling = twoSteady / oneSteady;
    const ceiling = 4 / 0.2;
    const p50 = percentile(d.sentToSeen, 0.5);
    const p99 = percentile(d.sentToSeen, 0.99);
    const lines = [
      `The built server (\`node dist/main.js\`) as child processes on one fresh Postgres schema; the fake OpenAI server (own process) answers every run after 200 ms (\`firstChunkDelayMs: 200\`), two chunks; \`EXECUTION_CONCURRENCY=4\`. Each batch: ${workers} fresh workers × ${perWorker} inputs (posted round-robin to the instances, 8 in flight), timed from the first input to the last \`run.completed\` seen on any instance's \`/api/events\`. Checked: every run completed, the provider saw exactly one request per run. One instance's ceiling is 4 ÷ 0.2 s = ${ceiling} runs/s.`,
      '',
      ...table(
        ['instances', 'batches', 'runs per batch', 'batch time s', 'runs/s, whole batch', 'runs/s, steady (10–90 % of completions)', 'steady, of the ceiling', 'runs executed by A / B (last batch)'],
        [
          [1, one.length, one[0].runs, round(median(one.map((r) => r.seconds)), 2), round(oneRate, 1), round(oneSteady, 1), `${fmt((oneSteady / ceiling) * 100)} %`, `${one[one.length - 1].byInstance.a ?? 0} / –`],
          [2, two.length, two[0].runs, round(median(two.map((r) => r.seconds)), 2), round(twoRate, 1), round(twoSteady, 1), `${fmt((twoSteady / (2 * ceiling)) * 100)} %`, `${two[two.length - 1].byInstance.a ?? 0} / ${two[two.length - 1].byInstance.b ?? 0}`],
        ],
      ),
      '',
      `Target two instances ≥ ${SCALING_TARGET}× one: whole batch ${round(scaling)} — ${verdict(scaling >= SCALING_TARGET)}; steady rate ${round(steadyScaling)} — ${verdict(steadyScaling >= SCALING_TARGET)}. (The whole-batch figure includes the ramp — posting the inputs — and the tail, when fewer runs are left than slots: both weigh more in the shorter two-instance batch.)`,
      '',
      `**Delivery A → B.** ${d.posted} \`system\` inputs posted to A at a steady ${rate}/s (achieved ${fmt(d.achievedRate)}/s; 10 workers; a new connection whenever none is free, so no request waits in the client), each seen as \`worker.input_accepted\` on B's \`/api/events\` and on A's own (all of them were, on both). The first row is the target's measure (it includes A's own answer time, ${round(percentile(d.post, 0.5), 1)} ms p50 / ${round(percentile(d.post, 0.99), 1)} ms p99 for the POST); the last isolates what crossing instances adds (Postgres NOTIFY doorbell, then the event rows read from the log).`,
      '',
      ...table(
        ['measure', 'p50 ms', 'p99 ms', 'max ms', `target p99 ≤ ${DELIVERY_P99_TARGET_MS} ms`],
        [
          ['POST sent to A → event on B', round(p50, 1), round(p99, 1), round(Math.max(...d.sentToSeen), 1), verdict(p99 <= DELIVERY_P99_TARGET_MS)],
          ['202 from A → event on B (0 if it came first)', round(percentile(d.ackToSeen, 0.5), 1), round(percentile(d.ackToSeen, 0.99), 1), round(Math.max(...d.ackToSeen), 1), ''],
          ['event on A\'s stream → event on B\'s stream', round(percentile(d.aToB, 0.5), 1), round(percentile(d.aToB, 0.99), 1), round(Math.max(...d.aToB), 1), ''],
        ],
      ),
    ];
    return {
      section: {
        name: 'multi',
        title,
        lines,
        targets: [
          [`two instances ≥ ${SCALING_TARGET}× one (runs/s)`, `whole batch ${round(scaling)}, steady ${round(steadyScaling)}`, scaling >= SCALING_TARGET],
          [`delivery A → B p99 ≤ ${DELIVERY_P99_TARGET_MS} ms at ~200 inputs/s`, `${round(p99, 1)} ms (stream to stream ${round(percentile(d.aToB, 0.99), 1)} ms)`, p99 <= DELIVERY_P99_TARGET_MS],
        ],
        summary: [
          ['multi_one_runs_per_s', round(oneRate, 1)],
          ['multi_two_runs_per_s', round(twoRate, 1)],
          ['multi_scaling', round(scaling)],
          ['multi_steady_scaling', round(steadyScaling)],
          ['multi_a_to_b_p50_ms', round(p50, 1)],
          ['multi_a_to_b_p99_ms', round(p99, 1)],
          ['multi_stream_a_to_b_p99_ms', round(percentile(d.aToB, 0.99), 1)],
        ],
      },
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await fake.stop();
    await schema.drop().catch((err) => log(`dropping the schema failed: ${err instanceof Error ? err.message : String(err)}`));
  }
}
