import { type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { API_KEY, DIST, fmt, freePort, log, MAIN, median, QUICK, ROOT, type Section, sleep, spawnTracked, stopProcess, storeEnv, table, verdict, waitForStatus } from '../lib/toolkit';

/**
 * Start-up: process start to the first 200 of `GET /api/runtimes` (with the
 * key), median of 5, from the built output (`node dist/main.js`, what
 * `npm start` serves), on both stores; and what `npm start` costs when
 * nothing changed (its build steps are skipped then). The first start after a
 * build has no code cache yet (scripts/bundle-entry.cjs): it is timed on its
 * own row, each run after removing the cache.
 */

const TARGET_MS = 1000;
const CODE_CACHE = join(DIST, 'server.bundle.code-cache');

async function timeStart(command: string, args: string[], env: Record<string, string>, name: string): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child: ChildProcess = spawnTracked(command, args, { cwd: ROOT, env: { ...process.env, ...env, API_KEY, PORT: String(port), HOST: '127.0.0.1' }, logName: name });
  try {
    await waitForStatus(`http://127.0.0.1:${port}/api/runtimes`, 200, 120_000, () => child.exitCode === null && child.signalCode === null);
    return performance.now() - started;
  } finally {
    await stopProcess(child, 10_000);
  }
}

export async function scenarioStartup(): Promise<{ section: Section }> {
  const n = QUICK ? 1 : 5;
  const coldRuns = QUICK ? 1 : 3;
  const coldTimes: number[] = [];
  log(`startup: node dist/main.js with no code cache (removed before each start), memory, ${coldRuns} times`);
  for (let i = 0; i < coldRuns; i++) {
    rmSync(CODE_CACHE, { force: true });
    coldTimes.push(await timeStart(process.execPath, [MAIN], storeEnv('memory', `startup-cold-${i}`), 'startup-cold'));
  }
  log(`  ${coldTimes.map((t) => Math.round(t)).join(', ')} ms`);
  // The last cold start wrote the cache (at the latest when it exited): every start below reads it.
  for (const deadline = performance.now() + 10_000; !existsSync(CODE_CACHE); await sleep(50)) {
    if (performance.now() > deadline) throw new Error('startup: no code cache was written by a start');
  }
  const nodeTimes: Record<string, number[]> = {};
  for (const store of ['memory', 'sqlite'] as const) {
    log(`startup (${store}): node dist/main.js to the first 200 on GET /api/runtimes, ${n} times`);
    nodeTimes[store] = [];
    for (let i = 0; i < n; i++) nodeTimes[store].push(await timeStart(process.execPath, [MAIN], storeEnv(store, `startup-${store}-${i}`), `startup-${store}`));
    log(`  ${nodeTimes[store].map((t) => Math.round(t)).join(', ')} ms`);
  }
  const npmRuns = QUICK ? 0 : 3;
  const npmTimes: number[] = [];
  if (npmRuns > 0) {
    log(`startup: npm start (up-to-date build check, then the bundle in the same process) with nothing changed, ${npmRuns} times`);
    for (let i = 0; i < npmRuns; i++) npmTimes.push(await timeStart('npm', ['start', '--silent'], storeEnv('memory', `startup-npm-${i}`), 'startup-npm'));
    log(`  ${npmTimes.map((t) => Math.round(t)).join(', ')} ms`);
  }
  const med = (s: string) => median(nodeTimes[s]);
  const npmMed = median(npmTimes);
  const lines = [
    `Process start (spawn) to the first \`200\` of \`GET /api/runtimes\` with the key, polled every 5 ms; each start on a fresh data directory; median of ${coldRuns} for the first row, of ${n} for the others.`,
    '',
    ...table(
      ['command', 'store', 'runs (ms)', 'median ms', `target ≤ ${fmt(TARGET_MS)} ms`],
      [
        ['`node dist/main.js`, no code cache (first start after a build)', 'memory', coldTimes.map((t) => Math.round(t)).join(', '), Math.round(median(coldTimes)), verdict(median(coldTimes) <= TARGET_MS)],
        ...(['memory', 'sqlite'] as const).map((s) => ['`node dist/main.js`', s, nodeTimes[s].map((t) => Math.round(t)).join(', '), Math.round(med(s)), verdict(med(s) <= TARGET_MS)]),
        npmRuns > 0 ? ['`npm start` (nothing changed)', 'memory', npmTimes.map((t) => Math.round(t)).join(', '), Math.round(npmMed), `${verdict(npmMed <= TARGET_MS)} (of which ~${fmt(npmMed - med('memory'))} ms is the build check and npm)`] : ['`npm start`', 'memory', 'skipped in --quick', '–', '–'],
      ],
      ['l', 'l', 'l', 'r', 'l'],
    ),
    '',
    '`node dist/main.js` runs the bundle, `dist/server.bundle.js`, through V8\'s code cache (`scripts/bundle-entry.cjs`): the first start after a build compiles it and writes the cache, later starts skip most of the compiling. The first row removes the cache before each start; the rows below start with it.',
    '',
    '`npm start` runs `scripts/start.mjs`: the build check of `scripts/build.mjs` (it compiles only when a source is newer than the last build, and bundles only when a compiled file is newer than the bundle), then the entry in the same process; the gap between its row and the memory row from the cache is those checks plus npm itself.',
  ];
  return {
    section: {
      name: 'startup',
      title: 'Start-up: process start to the first 200 of `GET /api/runtimes`',
      lines,
      targets: [
        [`start-up ≤ ${fmt(TARGET_MS)} ms, \`node dist/main.js\`, no code cache, memory`, `${Math.round(median(coldTimes))} ms`, median(coldTimes) <= TARGET_MS],
        [`start-up ≤ ${fmt(TARGET_MS)} ms, \`node dist/main.js\`, memory`, `${Math.round(med('memory'))} ms`, med('memory') <= TARGET_MS],
        [`start-up ≤ ${fmt(TARGET_MS)} ms, \`node dist/main.js\`, SQLite`, `${Math.round(med('sqlite'))} ms`, med('sqlite') <= TARGET_MS],
        ...(npmRuns > 0 ? [[`start-up ≤ ${fmt(TARGET_MS)} ms, \`npm start\` (nothing changed)`, `${Math.round(npmMed)} ms`, npmMed <= TARGET_MS] as [string, string, boolean]] : []),
      ],
      summary: [
        ['startup_ms', Math.round(med('memory'))],
        ['startup_no_code_cache_ms', Math.round(median(coldTimes))],
        ['startup_sqlite_ms', Math.round(med('sqlite'))],
        ['npm_start_ms', npmRuns > 0 ? Math.round(npmMed) : 'skipped'],
      ],
    },
  };
}
