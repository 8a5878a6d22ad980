import { performance } from 'node:perf_hooks';
import { json, SseReader, type SseEvent } from '../lib/sse';
import {
  type AppStats,
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
  spawnServer,
  storeEnv,
  table,
  timedRequest,
  verdict,
  AUTH,
  sleep,
} from '../lib/toolkit';

/*
 * Issue 11, execution: (1) the overhead of a run with a zero-latency fake
 * provider, input accepted (202) to `run.completed` seen on the worker's
 * stream; (2) fan-out: 1, 10 and 100 subscribers on one worker while the
 * provider streams ~1,000 chunks/s into a run with DELTA_COALESCE_MS=0, the
 * app's event-loop lag and CPU per event read from its side channel.
 */

const STORES = ['memory', 'sqlite'] as const;
const REPLY = ['Hello', ', wor', 'ld! ', 'Done.'];
const RUNS = QUICK ? 10 : 200;
const WARMUP = QUICK ? 2 : 20;
const RUNS_PER_WORKER = 50;
const P50_TARGET_MS = 5;
const LAG_TARGET_MS = 20;

function providerEnv(fake: BenchServer): Record<string, string> {
  return { MODEL_PROVIDER: 'openai-compatible', MODEL_BASE_URL: `${fake.info.origin}/v1`, MODEL_NAME: 'm', MODEL_TIMEOUT_MS: '10000' };
}

/** The events of one run on a stream, checked: started, deltas that concatenate to the reply, the item, completed. */
function checkRun(events: SseEvent[], runId: string, reply: string): void {
  const mine = events.filter((e) => e.event !== 'heartbeat' && e.data.includes(runId)).map((e) => ({ kind: e.event, data: json(e) }));
  const kinds = mine.map((e) => e.kind);
  check(kinds.includes('run.started'), `run ${runId}: no run.started on the stream (${kinds.join(', ')})`);
  const deltas = mine.filter((e) => e.kind === 'message.delta').map((e) => e.data.delta).join('');
  check(deltas === reply, `run ${runId}: deltas concatenate to ${JSON.stringify(deltas)}, not the reply`);
  const completed = mine.find((e) => e.kind === 'message.completed');
  check(completed?.data.item?.content === reply, `run ${runId}: message.completed does not carry the reply`);
  const done = mine.find((e) => e.kind === 'run.completed');
  check(done?.data.run?.state === 'completed', `run ${runId}: run.completed missing or not completed`);
  check(kinds.indexOf('run.started') < kinds.indexOf('message.completed') && kinds.indexOf('message.completed') < kinds.indexOf('run.completed'), `run ${runId}: events out of order (${kinds.join(', ')})`);
}

interface LatencyFigures {
  acceptedToCompleted: number[];
  sentToCompleted: number[];
  post: number[];
}

async function runLatency(store: 'memory' | 'sqlite'): Promise<LatencyFigures> {
  const fake = await spawnServer('fake-provider-latency', 'fake-provider.js', { BENCH_FAKE_BEHAVIOUR: JSON.stringify({ kind: 'reply', chunks: REPLY }) });
  const app = await spawnServer(`app-exec-${store}`, 'app-server.js', { ...storeEnv(store, `exec-${store}`), ...providerEnv(fake) }).catch(async (e) => {
    await fake.stop();
    throw e;
  });
  const agent = keepAliveAgent(1);
  const streams: SseReader[] = [];
  try {
    const figures: LatencyFigures = { acceptedToCompleted: [], sentToCompleted: [], post: [] };
    let stream: SseReader | undefined;
    let worker = '';
    for (let i = 0; i < RUNS + WARMUP; i++) {
      if (i % RUNS_PER_WORKER === 0) {
        // A fresh worker now and then: the context the model sees stays short, like a new conversation.
        stream?.close();
        worker = await createWorker(app.url);
        stream = await SseReader.open(`${app.url}${EMBEDDED}/workers/${worker}/events`, { keep: true });
        streams.push(stream);
      }
      const s = stream!;
      const sent = performance.now();
      const res = await timedRequest(`${app.url}${EMBEDDED}/workers/${worker}/input`, {
        method: 'POST',
        headers: { ...AUTH, 'content-type': 'application/json' },
        body: JSON.stringify({ content: `run ${i}` }),
        agent,
      });
      const accepted = performance.now();
      check(res.status === 202, `input ${i}: ${res.status} ${res.body.slice(0, 200)}`);
      const runId: string = JSON.parse(res.body).run?.run_id;
      check(typeof runId === 'string', `input ${i}: no run in the answer`);
      const done = await s.waitFor((e) => e.event === 'run.completed' && e.data.includes(runId), 10_000, `run.completed of ${runId}`);
      checkRun(s.events, runId, REPLY.join(''));
      s.events.length = 0;
      if (i >= WARMUP) {
        figures.acceptedToCompleted.push(Math.max(0, done.at - accepted));
        figures.sentToCompleted.push(done.at - sent);
        figures.post.push(res.ms);
      }
    }
    const fs = await fake.stats<{ requests: number; abandoned: number }>();
    check(fs.requests === RUNS + WARMUP, `the provider saw ${fs.requests} requests for ${RUNS + WARMUP} runs`);
    return figures;
  } finally {
    for (const s of streams) s.close();
    agent.destroy();
    await app.stop();
    await fake.stop();
  }
}

interface FanoutFigures {
  subscribers: number;
  chunks: number;
  events: number;
  deltas: number;
  runs: number;
  seconds: number;
  cpuUsPerEvent: number;
  cpuUsPerChunk: number;
  lagP99: number;
  lagMax: number;
  deliveriesPerSec: number;
}

const FANOUT_LEVELS = [1, 10, 100];
const LONG_CHUNKS = QUICK ? 200 : 3000;
const SHORT_RUNS_PER_S = 100;
const SHORT_CHUNKS = 8;
const SHORT_SECONDS = QUICK ? 0.5 : 3;

/**
 * The two ways of making ~1,000 chunks/s flow into one worker:
 * - `long`: one run whose reply is LONG_CHUNKS chunks, 1 ms apart;
 * - `short`: short runs back to back (SHORT_CHUNKS chunks each, no delay), inputs paced at SHORT_RUNS_PER_S.
 */
type FanoutMode = 'long' | 'short';

/** Groups the kept events of subscriber 0 by run and checks each run completed with deltas concatenating to its item. */
function checkRuns(events: SseEvent[], runIds: string[], reply: (runId: string) => string): { events: number; deltas: number } {
  const byRun = new Map<string, Array<{ kind?: string; data: any }>>();
  let count = 0;
  let deltas = 0;
  for (const e of events) {
    if (e.event === 'heartbeat') continue;
    count++;
    if (e.event === 'message.delta') deltas++;
    const data = json(e);
    const runId: string | undefined = data.run_id ?? data.run?.run_id;
    if (!runId) continue;
    if (!byRun.has(runId)) byRun.set(runId, []);
    byRun.get(runId)!.push({ kind: e.event, data });
  }
  for (const runId of runIds) {
    const mine = byRun.get(runId) ?? [];
    const kinds = mine.map((e) => e.kind);
    const text = mine.filter((e) => e.kind === 'message.delta').map((e) => e.data.delta).join('');
    check(text === reply(runId), `run ${runId}: deltas concatenate to ${text.length} chars, not the reply`);
    check(mine.find((e) => e.kind === 'message.completed')?.data.item?.content === text, `run ${runId}: message.completed does not carry the reply`);
    check(kinds[kinds.length - 1] === 'run.completed' && mine[mine.length - 1].data.run.state === 'completed', `run ${runId}: does not end with run.completed (${kinds.slice(-3).join(', ')})`);
    check(kinds.indexOf('run.started') >= 0 && kinds.indexOf('run.started') < kinds.indexOf('message.completed'), `run ${runId}: events out of order`);
  }
  return { events: count, deltas };
}

async function runFanout(store: 'memory' | 'sqlite', mode: FanoutMode): Promise<FanoutFigures[]> {
  const chunk = 'tok ';
  const chunks = mode === 'long' ? LONG_CHUNKS : SHORT_CHUNKS;
  const behaviour = mode === 'long' ? { kind: 'reply', chunks: Array(chunks).fill(chunk), chunkDelayMs: 1 } : { kind: 'reply', chunks: Array(chunks).fill(chunk) };
  const fake = await spawnServer(`fake-provider-fanout-${mode}`, 'fake-provider.js', { BENCH_FAKE_BEHAVIOUR: JSON.stringify(behaviour) });
  const app = await spawnServer(`app-fanout-${store}-${mode}`, 'app-server.js', {
    ...storeEnv(store, `fanout-${store}-${mode}`),
    ...providerEnv(fake),
    DELTA_COALESCE_MS: '0',
    RUN_QUEUE_LIMIT: '1000',
    BENCH_STATS: '1',
  }).catch(async (e) => {
    await fake.stop();
    throw e;
  });
  const reply = Array(chunks).fill(chunk).join('');
  try {
    const reps = Math.max(1, Math.min(3, options.runs));
    const all: Record<number, FanoutFigures[]> = Object.fromEntries(FANOUT_LEVELS.map((n) => [n, []]));
    const measureLevel = async (n: number): Promise<FanoutFigures> => {
      const worker = await createWorker(app.url);
      const subs: SseReader[] = [];
      // Subscriber 0 keeps and checks every event; the others count them.
      for (let k = 0; k < n; k++) subs.push(await SseReader.open(`${app.url}${EMBEDDED}/workers/${worker}/events`, { keep: k === 0 }));
      const runIds: string[] = [];
      const completed = new Set<string>();
      subs[0].onEvent((e) => {
        if (e.event === 'run.completed') completed.add(json(e).run.run_id);
      });
      const agent = keepAliveAgent(4);
      const post = async () => {
        const r = await timedRequest(`${app.url}${EMBEDDED}/workers/${worker}/input`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify({ content: 'stream' }), agent });
        check(r.status === 202, `fan-out: input answered ${r.status} ${r.body.slice(0, 200)}`);
        const runId: string = JSON.parse(r.body).run?.run_id;
        check(runId, 'fan-out: no run started');
        runIds.push(runId);
      };
      const before = await app.stats<AppStats>(true);
      const started = performance.now();
      if (mode === 'long') await post();
      else {
        const total = Math.round(SHORT_RUNS_PER_S * SHORT_SECONDS);
        const posts: Array<Promise<void>> = [];
        for (let i = 0; i < total; i++) {
          const wait = started + (i * 1000) / SHORT_RUNS_PER_S - performance.now();
          if (wait > 1) await sleep(wait);
          posts.push(post());
        }
        await Promise.all(posts);
      }
      const deadline = performance.now() + 120_000;
      while (completed.size < runIds.length || runIds.length === 0) {
        check(performance.now() < deadline, `fan-out: ${completed.size} of ${runIds.length} runs completed within 120 s`);
        await sleep(5);
      }
      // Every subscriber has the last run.completed.
      const lastCount = subs[0].count;
      while (subs.some((s) => s.count < lastCount) && performance.now() < deadline) await sleep(5);
      const seconds = (performance.now() - started) / 1000;
      const after = await app.stats<AppStats>();
      agent.destroy();
      const { events, deltas } = checkRuns(subs[0].events, runIds, () => reply);
      for (const s of subs) check(s.count >= events, `fan-out: a subscriber got ${s.count} events, subscriber 0 got ${events}`);
      const cpuUs = after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system;
      const f: FanoutFigures = {
        subscribers: n,
        chunks: chunks * runIds.length,
        events,
        deltas,
        runs: runIds.length,
        seconds,
        cpuUsPerEvent: cpuUs / events,
        cpuUsPerChunk: cpuUs / (chunks * runIds.length),
        lagP99: after.lag.p99,
        lagMax: after.lag.max,
        deliveriesPerSec: (events * n) / seconds,
      };
      log(`  ${store} ${mode} ${n} subscriber(s): ${runIds.length} run(s), ${events} events (${deltas} deltas) in ${seconds.toFixed(1)} s, ${round(f.cpuUsPerEvent, 1)} µs CPU/event, lag p99 ${round(f.lagP99, 1)} ms, max ${round(f.lagMax, 1)} ms`);
      for (const s of subs) s.close();
      return f;
    };
    // One unmeasured run per level first: the app's JIT warms up over its first few thousand events, and each level's
    // paths (one stream, or a window's chunk written to a hundred) warm on their own; a single warm-up at 10
    // subscribers left the first measured run of 1 and of 100 30-60% above the next ones.
    if (!QUICK) for (const n of FANOUT_LEVELS) await measureLevel(n);
    else await measureLevel(FANOUT_LEVELS[0]);
    for (let rep = 0; rep < reps; rep++) {
      for (const n of rep % 2 ? [...FANOUT_LEVELS].reverse() : FANOUT_LEVELS) all[n].push(await measureLevel(n));
    }
    return FANOUT_LEVELS.map((n) => {
      const fs = all[n];
      const med = (pick: (f: FanoutFigures) => number) => median(fs.map(pick));
      return {
        subscribers: n,
        chunks: med((f) => f.chunks),
        events: med((f) => f.events),
        deltas: med((f) => f.deltas),
        runs: med((f) => f.runs),
        seconds: med((f) => f.seconds),
        cpuUsPerEvent: med((f) => f.cpuUsPerEvent),
        cpuUsPerChunk: med((f) => f.cpuUsPerChunk),
        lagP99: med((f) => f.lagP99),
        lagMax: Math.max(...fs.map((f) => f.lagMax)),
        deliveriesPerSec: med((f) => f.deliveriesPerSec),
      };
    });
  } finally {
    await app.stop();
    await fake.stop();
  }
}

export async function scenarioExecution(): Promise<{ section: Section }> {
  const latency: Record<string, LatencyFigures> = {};
  for (const store of STORES) {
    log(`execution (${store}): ${RUNS} sequential runs against a zero-latency fake provider`);
    latency[store] = await runLatency(store);
    const l = latency[store];
    log(`  202 → run.completed p50 ${round(percentile(l.acceptedToCompleted, 0.5))} ms, p99 ${round(percentile(l.acceptedToCompleted, 0.99))} ms`);
  }
  const lines: string[] = [
    `**Run overhead.** The built app with \`MODEL_PROVIDER=openai-compatible\` pointed at the test suite's fake OpenAI server (real HTTP, streaming, in its own process) answering at once with a ${REPLY.length}-chunk reply; default \`DELTA_COALESCE_MS\` (50). One client posts an input, waits for its \`run.completed\` on the worker's SSE stream, then posts the next (${RUNS} runs after ${WARMUP} warm-up runs; a fresh worker every ${RUNS_PER_WORKER}). Each run is checked on the stream: \`run.started\`, deltas concatenating to the reply, \`message.completed\` with it, \`run.completed\`, in order; the provider saw one request per run.`,
    '',
    ...table(
      ['store', '202 → `run.completed` p50 ms', 'p99 ms', 'POST sent → `run.completed` p50 ms', 'p99 ms', 'POST (202) p50 ms', `target p50 ≤ ${P50_TARGET_MS} ms`],
      STORES.map((s) => {
        const l = latency[s];
        const p50 = percentile(l.acceptedToCompleted, 0.5);
        return [s, round(p50, 2), round(percentile(l.acceptedToCompleted, 0.99), 2), round(percentile(l.sentToCompleted, 0.5), 2), round(percentile(l.sentToCompleted, 0.99), 2), round(percentile(l.post, 0.5), 2), verdict(p50 <= P50_TARGET_MS)];
      }),
    ),
    '',
  ];
  const fanoutStores = QUICK ? (['memory'] as const) : STORES;
  const modes: FanoutMode[] = ['long', 'short'];
  const fanout: Record<string, FanoutFigures[]> = {};
  for (const store of fanoutStores) {
    for (const mode of modes) {
      log(`fan-out (${store}, ${mode === 'long' ? `one run of ${LONG_CHUNKS} chunks 1 ms apart` : `${SHORT_RUNS_PER_S} short runs/s of ${SHORT_CHUNKS} chunks`}): ${FANOUT_LEVELS.join(' / ')} subscribers, DELTA_COALESCE_MS=0`);
      fanout[`${store}/${mode}`] = await runFanout(store, mode);
    }
  }
  const reps = Math.max(1, Math.min(3, options.runs));
  lines.push(
    `**Fan-out.** \`DELTA_COALESCE_MS=0\`; 1, 10 and 100 SSE subscribers on one worker (reading as fast as they can, in the runner), while the fake provider streams into it in two ways: **long**: one run of ${fmt(LONG_CHUNKS)} chunks 1 ms apart (~850 chunks/s: the fake's timer); **short**: short runs back to back, inputs posted at ${SHORT_RUNS_PER_S}/s, each reply ${SHORT_CHUNKS} chunks without delay (${fmt(SHORT_RUNS_PER_S * SHORT_CHUNKS)} chunks/s plus each run's own events), for ${SHORT_SECONDS} s. Even at \`DELTA_COALESCE_MS=0\` the app merges the chunks that arrive while its previous delta is being stored (one store write in flight per run), so a long run gives fewer deltas than chunks. The app runs under \`bench/servers/app-server.ts\` with \`BENCH_STATS=1\`: event-loop delay (\`monitorEventLoopDelay\`, 1 ms resolution) and \`process.cpuUsage()\` read over the IPC side channel around each measurement (first input to the last subscriber's last \`run.completed\`). CPU per event = the app's CPU time over that window ÷ the events of the runs (not ÷ deliveries); per chunk likewise. Median of ${reps} runs per level, levels interleaved, after one unmeasured warm-up run per level (the app's JIT is still warming over its first few thousand events, and each level's paths warm on their own). The app runs with its default \`SSE_FLUSH_MS\` (50, equal to the default \`DELTA_COALESCE_MS\`): deltas closer together than that share one socket write per stream. Subscriber 0 checks every run (deltas concatenate to the stored item, \`message.completed\`, \`run.completed\` last, in order); the others must get as many events.`,
    '',
    ...table(
      ['store', 'stream', 'subscribers', 'runs', 'events (deltas)', 'events/s', 'deliveries/s', 'app CPU µs / event', 'µs / chunk', 'CPU/event vs 1 subscriber', 'lag p99 ms', 'lag max ms', `lag ≤ ${LAG_TARGET_MS} ms`],
      Object.entries(fanout).flatMap(([key, fs]) => {
        const [store, mode] = key.split('/');
        return fs.map((f) => [store, mode, f.subscribers, f.runs, `${f.events} (${f.deltas})`, fmt(f.events / f.seconds), fmt(f.deliveriesPerSec), round(f.cpuUsPerEvent, 1), round(f.cpuUsPerChunk, 1), round(f.cpuUsPerEvent / fs[0].cpuUsPerEvent), round(f.lagP99, 1), round(f.lagMax, 1), verdict(f.lagP99 <= LAG_TARGET_MS)]);
      }),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  );
  const at100 = (k: string) => fanout[k][fanout[k].length - 1];
  const ratio = (k: string) => at100(k).cpuUsPerEvent / fanout[k][0].cpuUsPerEvent;
  for (const k of Object.keys(fanout)) {
    lines.push(`Target (${k.replace('/', ', ')}) lag p99 ≤ ${LAG_TARGET_MS} ms at 100 subscribers: ${round(at100(k).lagP99, 1)} ms — ${verdict(at100(k).lagP99 <= LAG_TARGET_MS)}. CPU per event flat in subscribers: 100 ÷ 1 = ${round(ratio(k))} — ${verdict(ratio(k) <= 1.5)} (flat read as ≤ 1.5×).`);
  }
  const p50 = (s: string) => percentile(latency[s].acceptedToCompleted, 0.5);
  const p99 = (s: string) => percentile(latency[s].acceptedToCompleted, 0.99);
  return {
    section: {
      name: 'execution',
      title: 'Execution: run overhead and fan-out (issue 11)',
      lines,
      targets: [
        ...STORES.map((s) => [`run overhead p50 ≤ ${P50_TARGET_MS} ms (${s})`, `${round(p50(s))} ms (p99 ${round(p99(s))} ms)`, p50(s) <= P50_TARGET_MS] as [string, string, boolean]),
        ...Object.keys(fanout).map((k) => [`fan-out lag p99 ≤ ${LAG_TARGET_MS} ms at 100 subscribers (${k.replace('/', ', ')})`, `${round(at100(k).lagP99, 1)} ms`, at100(k).lagP99 <= LAG_TARGET_MS] as [string, string, boolean]),
        ...Object.keys(fanout).map((k) => [`fan-out CPU per event flat, 100 ÷ 1 subscriber ≤ 1.5 (${k.replace('/', ', ')})`, `${round(ratio(k))}`, ratio(k) <= 1.5] as [string, string, boolean]),
      ],
      summary: [
        ['run_p50_ms', round(p50('memory'))],
        ['run_p99_ms', round(p99('memory'))],
        ['run_sqlite_p50_ms', round(p50('sqlite'))],
        ['fanout_lag_p99_ms', round(Math.max(...Object.keys(fanout).map((k) => at100(k).lagP99)), 1)],
        ['fanout_cpu_100_vs_1', round(Math.max(...Object.keys(fanout).map(ratio)))],
      ],
    },
  };
}

