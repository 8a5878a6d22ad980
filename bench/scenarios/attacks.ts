import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { openStalledStream } from '../lib/sse';
import {
  type AppStats,
  AUTH,
  type BenchServer,
  check,
  createWorker,
  EMBEDDED,
  fmt,
  keepAliveAgent,
  log,
  mb,
  percentile,
  QUICK,
  round,
  type Section,
  sleep,
  spawnServer,
  storeEnv,
  table,
  timedRequest,
} from '../lib/toolkit';

/*
 * Issue 12: the app's event-loop lag and RSS under three attacks, each on a
 * fresh app process (SQLite store, the default), read over its side channel
 * (BENCH_STATS=1), while a health probe measures what a well-behaved client
 * gets: (a) hostile JSON bodies just under the size limit, in a loop, from 4
 * clients; (b) 500 SSE clients that never read while events flow; (c) 2,000
 * sockets that never send a byte.
 */

const STORE = (process.env.BENCH_ATTACK_STORE === 'memory' ? 'memory' : 'sqlite') as 'memory' | 'sqlite';

interface AttackFigures {
  name: string;
  detail: string;
  seconds: number;
  lagP99: number;
  lagMax: number;
  rssBefore: number;
  rssPeak: number;
  rssAfter: number;
  probeP50: number;
  probeP99: number;
  probeMax: number;
  probeFailures: number;
  notes: string[];
}

/** A sequential health probe every 20 ms while `during` runs. */
async function probed<T>(app: BenchServer, during: () => Promise<T>): Promise<{ value: T; probe: number[]; failures: number }> {
  const agent = keepAliveAgent(1);
  const probe: number[] = [];
  let failures = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const r = await timedRequest(`${app.url}/api/health/live`, { agent });
        if (r.status === 200) probe.push(r.ms);
        else failures++;
      } catch {
        failures++;
      }
      await sleep(20);
    }
  })();
  try {
    return { value: await during(), probe, failures };
  } finally {
    running = false;
    await loop;
    agent.destroy();
  }
}

async function measure(app: BenchServer, name: string, detail: string, attack: () => Promise<string[]>): Promise<AttackFigures> {
  await sleep(300);
  const before = await app.stats<AppStats>(true);
  const started = performance.now();
  const { value: notes, probe, failures } = await probed(app, attack);
  const seconds = (performance.now() - started) / 1000;
  const after = await app.stats<AppStats>(true);
  const figures: AttackFigures = {
    name,
    detail,
    seconds,
    lagP99: after.lag.p99,
    lagMax: after.lag.max,
    rssBefore: before.rss,
    rssPeak: after.peakRss,
    rssAfter: after.rss,
    probeP50: percentile(probe, 0.5),
    probeP99: percentile(probe, 0.99),
    probeMax: Math.max(...probe),
    probeFailures: failures,
    notes,
  };
  log(`  ${name}: lag p99 ${round(figures.lagP99, 1)} ms (max ${round(figures.lagMax, 1)}), RSS ${fmt(mb(figures.rssBefore))} → peak ${fmt(mb(figures.rssPeak))} MiB, probe p99 ${round(figures.probeP99, 1)} ms; ${notes.join('; ')}`);
  return figures;
}

// ---------------------------------------------------------------- (a)

function hostileBodies(): Array<{ name: string; body: Buffer }> {
  const keys = `{"content":"x",${Array.from({ length: 90_000 }, (_, i) => `"k${String(i).padStart(5, '0')}":1`).join(',')}}`;
  const array = `{"content":[${Array(500_000).fill('0').join(',')}]}`;
  const bodies = [
    { name: `${fmt(Buffer.byteLength(keys) / 1000)} KB, 90,000 unknown keys`, body: Buffer.from(keys) },
    { name: `${fmt(Buffer.byteLength(array) / 1000)} KB, 500,000-element array`, body: Buffer.from(array) },
  ];
  for (const b of bodies) check(b.body.length < 1024 * 1024, `hostile body ${b.name} is over the 1 MiB limit`);
  return bodies;
}

async function hostileLoop(app: BenchServer, worker: string, seconds: number): Promise<string[]> {
  const bodies = hostileBodies();
  const statuses = new Map<number, number>();
  let sent = 0;
  const deadline = performance.now() + seconds * 1000;
  const url = `${app.url}${EMBEDDED}/workers/${worker}/input`;
  await Promise.all(
    Array.from({ length: 4 }, async (_, client) => {
      const agent = keepAliveAgent(1);
      for (let i = client; performance.now() < deadline; i++) {
        const r = await timedRequest(url, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: bodies[i % bodies.length].body, agent });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        sent++;
      }
      agent.destroy();
    }),
  );
  check(statuses.size === 1 && statuses.has(400), `hostile bodies: expected only 400s, got ${JSON.stringify(Object.fromEntries(statuses))}`);
  return [`${sent} bodies (${bodies.map((b) => b.name).join(' / ')}), all answered 400`, `${fmt(sent / seconds, 1)} bodies/s`];
}

// ---------------------------------------------------------------- (b)

async function stalledReaders(app: BenchServer, clients: number, seconds: number): Promise<string[]> {
  const workers = await Promise.all(Array.from({ length: 10 }, () => createWorker(app.url)));
  const sockets: Socket[] = [];
  // A fifth on /api/events, the rest spread over the workers' streams (each scope holds at most SSE_MAX_STREAMS_PER_WORKER, 200).
  const pathOf = (i: number) => (i % 5 === 0 ? '/api/events' : `${EMBEDDED}/workers/${workers[i % workers.length]}/events`);
  for (let i = 0; i < clients; i += 50) sockets.push(...(await Promise.all(Array.from({ length: Math.min(50, clients - i) }, (_, k) => openStalledStream(app.info.port, pathOf(i + k))))));
  const opened = (await app.stats<AppStats>()).streams;
  check(opened >= clients, `stalled readers: the app holds ${opened} streams, expected ${clients}`);
  // Events flow: system inputs of 16 KiB to 10 workers, as fast as 4 clients get them accepted.
  const content = 'e'.repeat(16 * 1024);
  let accepted = 0;
  let refused = 0;
  const deadline = performance.now() + seconds * 1000;
  const timeline: Array<{ streams: number; rss: number }> = [];
  const sampler = (async () => {
    while (performance.now() < deadline) {
      const st = await app.stats<AppStats>();
      timeline.push({ streams: st.streams, rss: st.rss });
      await sleep(1000);
    }
  })();
  await Promise.all(
    Array.from({ length: 4 }, async (_, c) => {
      const agent = keepAliveAgent(1);
      for (let i = c; performance.now() < deadline; i += 4) {
        const r = await timedRequest(`${app.url}${EMBEDDED}/workers/${workers[i % workers.length]}/input`, {
          method: 'POST',
          headers: { ...AUTH, 'content-type': 'application/json' },
          body: JSON.stringify({ content, kind: 'system' }),
          agent,
        });
        if (r.status === 202) accepted++;
        else refused++;
        await sleep(5);
      }
      agent.destroy();
    }),
  );
  await sampler;
  const left = (await app.stats<AppStats>()).streams;
  for (const s of sockets) s.destroy();
  await sleep(2000);
  const settled = await app.stats<AppStats>();
  check(accepted > 0, 'stalled readers: no input accepted while they were open');
  return [
    `${clients} stalled streams (a fifth on \`/api/events\`, the rest on the 10 workers' streams); ${accepted} inputs of 16 KiB accepted (${fmt(accepted / seconds)}/s, ${fmt((accepted * 16) / 1024 / seconds, 1)} MiB/s of events to each stream), ${refused} refused`,
    `once a second, streams the app held: ${timeline.map((t) => t.streams).join(', ')} (${left} at the end; the others were cut off as too slow); its RSS in MiB: ${timeline.map((t) => fmt(mb(t.rss))).join(', ')}; 2 s after the clients left: ${settled.streams} streams, RSS ${fmt(mb(settled.rss))} MiB`,
  ];
}

// ---------------------------------------------------------------- (c)

async function idleSockets(app: BenchServer, count: number, waitS: number): Promise<string[]> {
  const baseline = (await app.stats<AppStats>()).connections;
  const started = performance.now();
  const closedAfter: number[] = [];
  const sockets: Socket[] = [];
  await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<void>((resolve) => {
        const s = connect(app.info.port, '127.0.0.1', () => resolve());
        const opened = performance.now();
        s.on('error', () => undefined);
        s.on('data', () => undefined); // read whatever it says before closing (a 408?)
        s.on('close', () => closedAfter.push(performance.now() - opened));
        sockets.push(s);
      }),
    ),
  );
  const connectedIn = performance.now() - started;
  const deadline = performance.now() + waitS * 1000;
  const held: number[] = [];
  let next = performance.now();
  while (performance.now() < deadline) {
    if (performance.now() >= next) {
      held.push((await app.stats<AppStats>()).connections - baseline);
      next += 2000;
      if (held[held.length - 1] <= 0 && closedAfter.length > 0) break;
    }
    if (closedAfter.length === count) break;
    await sleep(100);
  }
  const stillOpen = count - closedAfter.length;
  const heldAtEnd = (await app.stats<AppStats>()).connections - baseline;
  for (const s of sockets) s.destroy();
  return [
    `${count} sockets connected in ${fmt(connectedIn)} ms, none sends a byte; connections the app held (every 2 s): ${held.join(', ')}`,
    `the server closed ${closedAfter.length} of them: after ${fmt(percentile(closedAfter, 0.5) / 1000, 1)} s (median), ${fmt(Math.max(...closedAfter) / 1000, 1)} s (last closed)` +
      (stillOpen > 0 ? `; ${stillOpen} were still open on the client's side after ${fmt((performance.now() - started) / 1000)} s while the app held ${heldAtEnd} connection(s) of them (the rest never reached the app: the kernel's listen backlog overflowed during the flood)` : ''),
  ];
}

export async function scenarioAttacks(): Promise<{ section: Section }> {
  const figures: AttackFigures[] = [];
  const hostileS = QUICK ? 1 : 10;
  const stalled = QUICK ? 20 : 500;
  const stalledS = QUICK ? 1.5 : Number(process.env.BENCH_STALLED_SECONDS ?? 30);
  const idle = QUICK ? 100 : 2000;
  const idleWaitS = QUICK ? 2 : 30;
  const fresh = async (name: string) => spawnServer(`app-attack-${name}`, 'app-server.js', { ...storeEnv(STORE, `attack-${name}`), BENCH_STATS: '1' });

  log(`attacks (${STORE} store): hostile bodies, stalled SSE readers, idle sockets`);
  // A fresh process per attack (--quick: one for all), so that one attack's left-overs do not count in the next.
  let app: BenchServer | undefined;
  const next = async (name: string) => {
    if (app && QUICK) return app;
    await app?.stop();
    app = await fresh(name);
    return app;
  };
  try {
    let a = await next('bodies');
    figures.push(await measure(a, 'none (probe only)', 'reference: the same probe, no attack', async () => {
      await sleep(QUICK ? 500 : 3000);
      return ['reference'];
    }));
    const worker = await createWorker(a.url);
    figures.push(await measure(a, '(a) hostile bodies', `4 clients in a loop for ${hostileS} s`, () => hostileLoop(a, worker, hostileS)));
    a = await next('stalled');
    figures.push(await measure(a, '(b) SSE clients that never read', `${stalled} clients for ${stalledS} s, events flowing`, () => stalledReaders(a, stalled, stalledS)));
    a = await next('idle');
    figures.push(await measure(a, '(c) idle sockets', `${idle} sockets that never send a byte`, () => idleSockets(a, idle, idleWaitS)));
  } finally {
    await app?.stop();
  }

  const attacks = figures.slice(1);
  const lines = [
    `Each attack against a fresh app process (${STORE} store, default limits: 1 MiB bodies, \`SSE_CLIENT_BUFFER_BYTES\` 1 MiB, \`SSE_MAX_LAG_MS\` 10 s, \`HTTP_HEADERS_TIMEOUT_MS\` 10 s) run by \`bench/servers/app-server.ts\` with \`BENCH_STATS=1\`: event-loop delay (\`monitorEventLoopDelay\`, 1 ms resolution) and RSS (sampled every 50 ms, peak kept) over the attack, read over the IPC side channel. Meanwhile a well-behaved client sends \`GET /api/health/live\` every 20 ms on a keep-alive connection (its latency is the "probe").`,
    '',
    ...table(
      ['attack', 'load', 'lag p99 ms', 'lag max ms', 'RSS before MiB', 'RSS peak MiB', 'RSS growth MiB', 'probe p50 / p99 / max ms', 'probe failures'],
      figures.map((f) => [f.name, f.detail, round(f.lagP99, 1), round(f.lagMax, 1), fmt(mb(f.rssBefore)), fmt(mb(f.rssPeak)), fmt(mb(f.rssPeak - f.rssBefore), 1), `${round(f.probeP50, 1)} / ${round(f.probeP99, 1)} / ${round(f.probeMax, 1)}`, f.probeFailures]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    ...attacks.map((f) => `- ${f.name}: ${f.notes.join('; ')}.`),
  ];
  const by = (prefix: string) => figures.find((f) => f.name.startsWith(prefix))!;
  return {
    section: {
      name: 'attacks',
      title: 'Event-loop lag and RSS under attack (issue 12)',
      lines,
      summary: [
        ['attack_bodies_lag_p99_ms', round(by('(a)').lagP99, 1)],
        ['attack_stalled_sse_rss_growth_mb', round(mb(by('(b)').rssPeak - by('(b)').rssBefore), 1)],
        ['attack_stalled_sse_lag_p99_ms', round(by('(b)').lagP99, 1)],
        ['attack_idle_sockets_lag_p99_ms', round(by('(c)').lagP99, 1)],
      ],
    },
  };
}
