import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BenchServer,
  EMBEDDED,
  fmt,
  getJson,
  interleave,
  load,
  type LoadResult,
  log,
  median,
  medianLoad,
  options,
  QUICK,
  round,
  type Section,
  spawnServer,
  storeEnv,
  table,
  timedRequest,
  tmp,
  verdict,
  AUTH,
  check,
} from '../lib/toolkit';

/**
 * Issue 16: every route of the product against a bare Express 5 app serving
 * the same bytes at the same path, each in its own process, on both stores,
 * interleaved run by run (app, Express, Express, app, …) so that the noise of
 * the shared machine lands on both sides. wrk-style load: autocannon, 50
 * keep-alive connections, one thread.
 */

const STORES = ['memory', 'sqlite'] as const;
const TRANSCRIPT_ITEMS = 1000;
const GET_TARGET = 0.7;
const POST_TARGET = 0.6;
const P99_TARGET = 2;

interface Route {
  label: string;
  method: 'GET' | 'POST';
  /** Path and query, as requested. */
  url: string;
  body?: string;
}

export interface RoutesResult {
  rows: Array<{ store: string; route: Route; app: LoadResult; express: LoadResult; ratio: number; p99Ratio: number; bytes: number }>;
}

function routesOf(info: { workers: string[]; transcripts: Record<string, string> }): Route[] {
  const w = info.workers[0];
  const t = info.transcripts[String(TRANSCRIPT_ITEMS)];
  return [
    { label: 'GET /api/runtimes', method: 'GET', url: '/api/runtimes' },
    { label: 'GET /api/runtimes/:id', method: 'GET', url: EMBEDDED },
    { label: 'GET /api/workers?limit=5', method: 'GET', url: '/api/workers?limit=5' },
    { label: 'GET /api/runtimes/:id/workers?limit=5', method: 'GET', url: `${EMBEDDED}/workers?limit=5` },
    { label: 'GET …/workers/:id', method: 'GET', url: `${EMBEDDED}/workers/${w}` },
    { label: `GET …/transcript?start=500&limit=50 (${fmt(TRANSCRIPT_ITEMS)} items)`, method: 'GET', url: `${EMBEDDED}/workers/${t}/transcript?start=500&limit=50` },
    { label: 'GET /api/hosts', method: 'GET', url: '/api/hosts' },
    // Inputs go to a worker outside the first five, so the lists above keep their bytes.
    { label: 'POST …/workers/:id/input', method: 'POST', url: `${EMBEDDED}/workers/${info.workers[5]}/input`, body: JSON.stringify({ content: `bench input ${'z'.repeat(64)}` }) },
  ];
}

/** Captures each route's answer from the app, checking it, for the Express twin to serve. */
async function capture(app: BenchServer, routes: Route[]): Promise<Array<{ method: string; path: string; status: number; body: string }>> {
  const out = [];
  for (const r of routes) {
    const res = await timedRequest(`${app.url}${r.url}`, {
      method: r.method,
      headers: r.body ? { ...AUTH, 'content-type': 'application/json' } : AUTH,
      body: r.body,
    });
    const expected = r.method === 'POST' ? 202 : 200;
    check(res.status === expected, `${r.label}: ${res.status}, expected ${expected}: ${res.body.slice(0, 200)}`);
    check(res.body.length > 2, `${r.label}: empty body`);
    const parsed = JSON.parse(res.body);
    if (/limit=5$/.test(r.url)) check(parsed.items?.length === 5, `${r.label}: ${parsed.items?.length} items, expected 5`);
    if (r.url.includes('/transcript')) check(parsed.items?.length === 50 && parsed.total_items === TRANSCRIPT_ITEMS, `${r.label}: unexpected page`);
    if (r.method === 'POST') check(parsed.state === 'accepted', `${r.label}: not accepted`);
    out.push({ method: r.method, path: r.url.split('?')[0], status: res.status, body: Buffer.from(res.body).toString('base64') });
  }
  return out;
}

export async function scenarioRoutes(): Promise<{ section: Section; result: RoutesResult }> {
  log(`routes: product vs bare Express per route, stores ${STORES.join(' + ')}, ${options.runs} interleaved runs of ${options.routeDuration} s`);
  const servers: BenchServer[] = [];
  try {
    const profArgs = (store: string) => (options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`, `--cpu-prof-name=routes-${store}-${process.pid}.cpuprofile`] : []);
    const apps = await Promise.all(
      STORES.map((store) =>
        spawnServer(`app-routes-${store}`, 'app-server.js', { ...storeEnv(store, `routes-${store}`), BENCH_SEED: JSON.stringify({ workers: 6, transcripts: [TRANSCRIPT_ITEMS] }) }, profArgs(store)),
      ),
    );
    servers.push(...apps);
    log('  apps ready (seeded)');
    const pairs: Record<string, { app: BenchServer; express: BenchServer; routes: Route[]; bytes: Record<string, number> }> = {};
    for (const [i, store] of STORES.entries()) {
      const routes = routesOf(apps[i].info);
      const file = join(tmp, `routes-${store}.json`);
      const captured = await capture(apps[i], routes);
      writeFileSync(file, JSON.stringify(captured));
      const bytes = Object.fromEntries(routes.map((r, k) => [r.label, Buffer.from(captured[k].body, 'base64').length]));
      const express = await spawnServer(`express-routes-${store}`, 'baseline-express.js', { BENCH_ROUTES_FILE: file });
      servers.push(express);
      // The twin answers the same bytes.
      for (const r of routes.filter((x) => x.method === 'GET')) {
        const [a, e] = [await timedRequest(`${apps[i].url}${r.url}`), await timedRequest(`${express.url}${r.url}`)];
        check(e.status === 200 && Math.abs(e.body.length - a.body.length) <= a.body.length * 0.05, `${r.label}: Express twin answers ${e.status}, ${e.body.length} bytes vs the app's ${a.body.length}`);
      }
      pairs[store] = { app: apps[i], express, routes, bytes };
    }
    const rows: RoutesResult['rows'] = [];
    for (const store of STORES) {
      const { app, express, routes } = pairs[store];
      const measureRoute = async (route: Route) => {
        const measure = (server: BenchServer, seconds: number) => load({ url: `${server.url}${route.url}`, method: route.method, body: route.body, seconds, ...(QUICK ? { connections: 4 } : {}) });
        if (options.warmup > 0) {
          await measure(app, options.warmup); // warm-up (JIT, connections): see options.warmup
          await measure(express, options.warmup);
        }
        const runs = await interleave(['app', 'express'], options.runs, (target) => measure(target === 'app' ? app : express, options.routeDuration));
        const a = medianLoad(runs.app);
        const e = medianLoad(runs.express);
        const bytes = pairs[store].bytes[route.label];
        log(`  ${store} ${route.label}: app ${Math.round(a.rps)} req/s p99 ${a.p99} ms, Express ${Math.round(e.rps)} req/s p99 ${e.p99} ms → ${round(a.rps / e.rps)}×`);
        return { store, route, app: a, express: e, ratio: a.rps / e.rps, p99Ratio: a.p99 / Math.max(e.p99, 1), bytes };
      };
      // --quick only checks that the harness works: every route at once (autocannon runs at least a second per call).
      if (QUICK) rows.push(...(await Promise.all(routes.map(measureRoute))));
      else for (const route of routes) rows.push(await measureRoute(route));
    }
    return { section: report(rows), result: { rows } };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

function report(rows: RoutesResult['rows']): Section {
  const gets = rows.filter((r) => r.route.method === 'GET');
  const posts = rows.filter((r) => r.route.method === 'POST');
  const minGet = Math.min(...gets.map((r) => r.ratio));
  const medGet = median(gets.map((r) => r.ratio));
  const minPost = Math.min(...posts.map((r) => r.ratio));
  const maxP99 = Math.max(...rows.map((r) => r.p99Ratio));
  const worst = gets.reduce((a, b) => (b.ratio < a.ratio ? b : a));
  const lines: string[] = [
    `Each route of the product against a bare Express 5 app answering the bytes the product answered at that path (captured from it just before; a \`POST …/input\` twin runs \`express.json()\` and answers the captured 202). Both in their own process; memory and SQLite stores; ${options.runs} runs of ${options.routeDuration} s per route and server, app and Express interleaved run by run (median shown), after ${options.warmup} s of unmeasured load on each (the app's first seconds under load are slower while V8 optimises; see \`BENCH_WARMUP\`); autocannon, ${options.connections} connections, 1 thread. The product runs with its default logging (one access-log line per request, to /dev/null)${options.appLog === 'error' ? ' — **this run: BENCH_APP_LOG=error, errors only**' : ''}, auth on (a bearer key on every request), no execution provider (input answers 202 with \`run: null\`).`,
    '',
    'The app keeps no response cache any more: every figure is uncached (the issue\'s "cached and uncached" collapse to one column).',
    '',
    ...table(
      ['store', 'route', 'bytes', 'app req/s', 'Express req/s', 'ratio', 'app p50 / p99 ms', 'Express p50 / p99 ms', 'p99 ratio'],
      rows.map((r) => [r.store, `\`${r.route.label}\``, r.bytes, fmt(r.app.rps), fmt(r.express.rps), round(r.ratio), `${r.app.p50} / ${r.app.p99}`, `${r.express.p50} / ${r.express.p99}`, round(r.p99Ratio)]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `Target every GET ≥ ${GET_TARGET}× Express: lowest ${round(minGet)} (${worst.store}, \`${worst.route.label}\`), median ${round(medGet)} — ${verdict(minGet >= GET_TARGET)} (${gets.filter((r) => r.ratio < GET_TARGET).length} of ${gets.length} below).`,
    `Target POST input ≥ ${POST_TARGET}× Express: ${posts.map((r) => `${r.store} ${round(r.ratio)}`).join(', ')} — ${verdict(minPost >= POST_TARGET)}.`,
    `Target p99 ≤ ${P99_TARGET}× Express's p99: worst ${round(maxP99)} — ${verdict(maxP99 <= P99_TARGET)} (${rows.filter((r) => r.p99Ratio > P99_TARGET).length} of ${rows.length} above).`,
  ];
  return {
    name: 'routes',
    title: 'Per route: the product vs bare Express serving the same bytes (issue 16)',
    lines,
    targets: [
      [`every GET ≥ ${GET_TARGET}× bare Express (req/s)`, `lowest ${round(minGet)}, median ${round(medGet)}`, minGet >= GET_TARGET],
      [`POST input ≥ ${POST_TARGET}× bare Express`, posts.map((r) => `${r.store} ${round(r.ratio)}`).join(', '), minPost >= POST_TARGET],
      [`p99 ≤ ${P99_TARGET}× Express's p99`, `worst ${round(maxP99)}`, maxP99 <= P99_TARGET],
    ],
    summary: [
      ['routes_min_vs_express', round(minGet)],
      ['routes_median_vs_express', round(medGet)],
      ['input_vs_express', round(minPost)],
      ['routes_p99_max_vs_express', round(maxP99)],
    ],
  };
}
