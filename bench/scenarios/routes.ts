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
/** What every server holding the product's data is seeded with (app-server.ts and the handler servers; seed.ts): the same data, each its own ids. */
const SEED = { BENCH_SEED: JSON.stringify({ workers: 6, transcripts: [TRANSCRIPT_ITEMS] }) };
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

/** The HTTP layer's own share (memory store, GETs): twins and handlers on Express and on Fastify, interleaved. */
interface LayerRow {
  route: Route;
  expressTwin: LoadResult;
  fastifyTwin: LoadResult;
  handlersExpress: LoadResult;
  handlersFastify: LoadResult;
}

export interface RoutesResult {
  rows: Array<{ store: string; route: Route; app: LoadResult; express: LoadResult; handlers: LoadResult; ratio: number; ceiling: number; p99Ratio: number; bytes: number }>;
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
        spawnServer(`app-routes-${store}`, 'app-server.js', { ...storeEnv(store, `routes-${store}`), ...SEED }, profArgs(store)),
      ),
    );
    servers.push(...apps);
    log('  apps ready (seeded)');
    // The ceiling: the same handlers on a bare Fastify app, the app's own HTTP layer, without the pipeline
    // (handlers-fastify.ts); seeded alike, with its own ids.
    const ceilings = await Promise.all(
      STORES.map((store) =>
        spawnServer(`handlers-routes-${store}`, 'handlers-fastify.js', { ...storeEnv(store, `routes-handlers-${store}`), ...SEED }),
      ),
    );
    servers.push(...ceilings);
    const pairs: Record<string, { app: BenchServer; express: BenchServer; handlers: BenchServer; routes: Route[]; handlerRoutes: Route[]; bytes: Record<string, number> }> = {};
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
      // The ceiling answers the same bytes but for its own ids (same length).
      const handlerRoutes = routesOf(ceilings[i].info);
      for (const [k, r] of handlerRoutes.entries()) {
        if (r.method !== 'GET') continue;
        const h = await timedRequest(`${ceilings[i].url}${r.url}`);
        check(h.status === 200 && h.body.length === Buffer.from(captured[k].body, 'base64').length, `${r.label}: the handlers server answers ${h.status}, ${h.body.length} bytes vs the app's ${captured[k].body.length}`);
      }
      pairs[store] = { app: apps[i], express, handlers: ceilings[i], routes, handlerRoutes, bytes };
    }
    const rows: RoutesResult['rows'] = [];
    for (const store of STORES) {
      const { app, express, handlers, routes, handlerRoutes } = pairs[store];
      const measureRoute = async (route: Route, k: number) => {
        const measure = (server: BenchServer, seconds: number) => {
          const r = server === handlers ? handlerRoutes[k] : route;
          return load({ url: `${server.url}${r.url}`, method: r.method, body: r.body, seconds, ...(QUICK ? { connections: 4 } : {}) });
        };
        if (options.warmup > 0) {
          await measure(app, options.warmup); // warm-up (JIT, connections): see options.warmup
          await measure(express, options.warmup);
          await measure(handlers, options.warmup);
        }
        const targets: Record<string, BenchServer> = { app, express, handlers };
        const runs = await interleave(Object.keys(targets), options.runs, (target) => measure(targets[target], options.routeDuration));
        const a = medianLoad(runs.app);
        const e = medianLoad(runs.express);
        const h = medianLoad(runs.handlers);
        const bytes = pairs[store].bytes[route.label];
        log(`  ${store} ${route.label}: app ${Math.round(a.rps)} req/s p99 ${a.p99} ms, Express ${Math.round(e.rps)} req/s p99 ${e.p99} ms → ${round(a.rps / e.rps)}×; handlers alone ${Math.round(h.rps)} req/s → ${round(h.rps / e.rps)}×`);
        return { store, route, app: a, express: e, handlers: h, ratio: a.rps / e.rps, ceiling: h.rps / e.rps, p99Ratio: a.p99 / Math.max(e.p99, 1), bytes };
      };
      // --quick only checks that the harness works: every route at once (autocannon runs at least a second per call).
      if (QUICK) rows.push(...(await Promise.all(routes.map(measureRoute))));
      else for (const [k, route] of routes.entries()) rows.push(await measureRoute(route, k));
    }
    // The HTTP layer: how much of a route's cost is Express's own (memory store, GETs).
    const layerRows: LayerRow[] = [];
    {
      const { express, handlers: handlersFastify, routes, handlerRoutes: fastifyRoutes } = pairs.memory;
      const fastifyTwin = await spawnServer('fastify-routes-memory', 'baseline-fastify.js', { BENCH_ROUTES_FILE: join(tmp, 'routes-memory.json') });
      servers.push(fastifyTwin);
      const handlersExpress = await spawnServer('handlers-express-routes-memory', 'handlers-express.js', { ...storeEnv('memory', 'routes-handlers-express-memory'), ...SEED });
      servers.push(handlersExpress);
      const expressRoutes = routesOf(handlersExpress.info);
      for (const [k, r] of expressRoutes.entries()) {
        if (r.method !== 'GET') continue;
        const [f, h] = [await timedRequest(`${fastifyTwin.url}${routes[k].url}`), await timedRequest(`${handlersExpress.url}${r.url}`)];
        check(f.status === 200 && h.status === 200 && h.body.length === f.body.length, `${r.label}: Fastify twin ${f.status} (${f.body.length} bytes), handlers on Express ${h.status} (${h.body.length} bytes)`);
      }
      const targets: Record<string, { server: BenchServer; routes: Route[] }> = {
        expressTwin: { server: express, routes },
        fastifyTwin: { server: fastifyTwin, routes },
        handlersExpress: { server: handlersExpress, routes: expressRoutes },
        handlersFastify: { server: handlersFastify, routes: fastifyRoutes },
      };
      for (const [k, route] of routes.entries()) {
        if (route.method !== 'GET') continue;
        const measure = (name: string, seconds: number) => {
          const r = targets[name].routes[k];
          return load({ url: `${targets[name].server.url}${r.url}`, seconds, ...(QUICK ? { connections: 4 } : {}) });
        };
        if (options.warmup > 0 && !QUICK) for (const name of Object.keys(targets)) await measure(name, options.warmup);
        const runs = await interleave(Object.keys(targets), options.runs, (name) => measure(name, options.routeDuration));
        const row = { route, expressTwin: medianLoad(runs.expressTwin), fastifyTwin: medianLoad(runs.fastifyTwin), handlersExpress: medianLoad(runs.handlersExpress), handlersFastify: medianLoad(runs.handlersFastify) };
        log(`  HTTP layer, memory ${route.label}: twins Express ${Math.round(row.expressTwin.rps)} / Fastify ${Math.round(row.fastifyTwin.rps)} req/s; handlers on Express ${Math.round(row.handlersExpress.rps)} / on Fastify ${Math.round(row.handlersFastify.rps)} req/s`);
        layerRows.push(row);
      }
    }
    return { section: report(rows, layerRows), result: { rows } };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

function report(rows: RoutesResult['rows'], layerRows: LayerRow[]): Section {
  const gets = rows.filter((r) => r.route.method === 'GET');
  const posts = rows.filter((r) => r.route.method === 'POST');
  const minGet = Math.min(...gets.map((r) => r.ratio));
  const medGet = median(gets.map((r) => r.ratio));
  const minPost = Math.min(...posts.map((r) => r.ratio));
  const maxP99 = Math.max(...rows.map((r) => r.p99Ratio));
  const worst = gets.reduce((a, b) => (b.ratio < a.ratio ? b : a));
  const capped = gets.filter((r) => r.ceiling < GET_TARGET);
  const minCeiling = Math.min(...gets.map((r) => r.ceiling));
  const pipelineShare = median(gets.map((r) => r.ratio / r.ceiling));
  const lines: string[] = [
    `Each route of the product against a bare Express 5 app answering the bytes the product answered at that path (captured from it just before; a \`POST …/input\` twin runs \`express.json()\` and answers the captured 202). Both in their own process; memory and SQLite stores; ${options.runs} runs of ${options.routeDuration} s per route and server, app and Express interleaved run by run (median shown), after ${options.warmup} s of unmeasured load on each (the app's first seconds under load are slower while V8 optimises; see \`BENCH_WARMUP\`); autocannon, ${options.connections} connections, 1 thread. The product runs with its default logging (one access-log line per request, to /dev/null)${options.appLog === 'error' ? ' — **this run: BENCH_APP_LOG=error, errors only**' : ''}, auth on (a bearer key on every request), no execution provider (input answers 202 with \`run: null\`).`,
    '',
    'The app keeps no response cache any more: every figure is uncached (the issue\'s "cached and uncached" collapse to one column).',
    '',
    'The **ceiling** column runs a third server, measured in the same interleaving: the product\'s own controller methods (the store read, the mapper, the allow-list serialisation, `JSON.stringify`) called from a bare Fastify 5 app, the app\'s own HTTP layer, with none of the request pipeline (no request id, access log, security headers, ETag, host check, CORS, key check, rate limit, 405 table, Nest router, guards or pipes; `bench/servers/handlers-fastify.ts`), seeded alike. It is the best the app could reach if its whole pipeline cost nothing; where it is itself below the target, only a cheaper route (its store read, its serialisation) can reach it. "app ÷ ceiling" is what the pipeline leaves of it.',
    '',
    ...table(
      ['store', 'route', 'bytes', 'app req/s', 'Express req/s', 'ratio', 'ceiling req/s', 'ceiling ÷ Express', 'app ÷ ceiling', 'app p50 / p99 ms', 'Express p50 / p99 ms', 'p99 ratio'],
      rows.map((r) => [
        r.store,
        `\`${r.route.label}\``,
        r.bytes,
        fmt(r.app.rps),
        fmt(r.express.rps),
        round(r.ratio),
        fmt(r.handlers.rps),
        round(r.ceiling),
        round(r.ratio / r.ceiling),
        `${r.app.p50} / ${r.app.p99}`,
        `${r.express.p50} / ${r.express.p99}`,
        round(r.p99Ratio),
      ]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `Target every GET ≥ ${GET_TARGET}× Express: lowest ${round(minGet)} (${worst.store}, \`${worst.route.label}\`), median ${round(medGet)} — ${verdict(minGet >= GET_TARGET)} (${gets.filter((r) => r.ratio < GET_TARGET).length} of ${gets.length} below).`,
    `Ceiling: the handlers alone on Fastify reach ${round(minCeiling)}–${round(Math.max(...gets.map((r) => r.ceiling)))}× Express on the GETs; ${capped.length} of ${gets.length} GETs are below ${GET_TARGET}× with no pipeline at all (${capped.map((r) => `${r.store} \`${r.route.label}\` ${round(r.ceiling)}`).join(', ') || 'none'}). The app keeps a median ${round(pipelineShare)} of its ceiling.`,
    `Target POST input ≥ ${POST_TARGET}× Express: ${posts.map((r) => `${r.store} ${round(r.ratio)}`).join(', ')} — ${verdict(minPost >= POST_TARGET)}.`,
    `Target p99 ≤ ${P99_TARGET}× Express's p99: worst ${round(maxP99)} — ${verdict(maxP99 <= P99_TARGET)} (${rows.filter((r) => r.p99Ratio > P99_TARGET).length} of ${rows.length} above).`,
  ];
  const fastifyOverExpress = median(layerRows.map((r) => r.fastifyTwin.rps / r.expressTwin.rps));
  const onFastify = layerRows.map((r) => r.handlersFastify.rps / r.expressTwin.rps);
  lines.push(
    '',
    '**The HTTP layer\'s own share** (memory store, the GETs): the Express twin and the product\'s handlers on Fastify (as above), and the same two the other way round: a bare Fastify 5 app serving the twin\'s bytes (`baseline-fastify.ts`) and the handlers on a bare Express 5 app (`handlers-express.ts`: the same controller methods and serialisation), the four interleaved run by run. Ratios are to the Express twin, the target\'s yardstick. This is why the app runs on Fastify (issue 16): on Express the handlers alone, with no pipeline, stayed below the target on most GETs.',
    '',
    ...table(
      ['route', 'Express twin req/s', 'Fastify twin req/s', 'Fastify twin ÷ Express twin', 'handlers on Express req/s', '÷ Express twin', 'handlers on Fastify req/s', '÷ Express twin'],
      layerRows.map((r) => [
        `\`${r.route.label}\``,
        fmt(r.expressTwin.rps),
        fmt(r.fastifyTwin.rps),
        round(r.fastifyTwin.rps / r.expressTwin.rps),
        fmt(r.handlersExpress.rps),
        round(r.handlersExpress.rps / r.expressTwin.rps),
        fmt(r.handlersFastify.rps),
        round(r.handlersFastify.rps / r.expressTwin.rps),
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `Serving ready bytes, bare Fastify answers a median ${round(fastifyOverExpress)}× the requests of bare Express: that much of the yardstick is Express's own cost per request. The product's handlers on Fastify reach ${round(Math.min(...onFastify))}–${round(Math.max(...onFastify))}× the Express twin (${onFastify.filter((x) => x >= GET_TARGET).length} of ${onFastify.length} GETs at or above ${GET_TARGET}×), against ${round(Math.min(...layerRows.map((r) => r.handlersExpress.rps / r.expressTwin.rps)))}–${round(Math.max(...layerRows.map((r) => r.handlersExpress.rps / r.expressTwin.rps)))}× on Express.`,
  );
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
      ['routes_ceiling_min_vs_express', round(minCeiling)],
      ['routes_below_target_without_pipeline', capped.length],
      ['routes_median_of_ceiling', round(pipelineShare)],
      ['fastify_twin_vs_express_twin', round(fastifyOverExpress)],
      ['handlers_on_fastify_min_vs_express', round(Math.min(...onFastify))],
    ],
  };
}
