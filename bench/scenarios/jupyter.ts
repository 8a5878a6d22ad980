import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BenchServer,
  check,
  EMBEDDED,
  fmt,
  freePort,
  interleave,
  load,
  log,
  medianLoad,
  options,
  round,
  type Section,
  spawnServer,
  spawnTracked,
  stopProcess,
  storeEnv,
  table,
  timedRequest,
  tmp,
  sleep,
  verdict,
} from '../lib/toolkit';

/*
 * The product's 5-worker list against Jupyter Server's 5-kernel list (the
 * nearest thing in the field: a server that hosts long-lived workers behind
 * a token), when `jupyter-server` is installed (Debian: python3-jupyter-server).
 * Detected, never installed: when absent, the report says so.
 */

interface Jupyter {
  command: string;
  args: string[];
  version: string;
}

/** `jupyter-server` on PATH, else `python3 -m jupyter_server`; null when neither runs. */
export function detectJupyter(): Jupyter | null {
  const candidates: Array<{ command: string; args: string[] }> = [
    { command: 'jupyter-server', args: [] },
    { command: 'jupyter', args: ['server'] },
    { command: '/usr/bin/python3', args: ['-m', 'jupyter_server'] },
    { command: 'python3', args: ['-m', 'jupyter_server'] },
  ];
  for (const c of candidates) {
    const r = spawnSync(c.command, [...c.args, '--version'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status === 0 && /\d+\.\d+/.test(r.stdout)) return { ...c, version: r.stdout.trim().split('\n').pop()! };
  }
  return null;
}

export async function scenarioJupyter(): Promise<{ section: Section }> {
  const title = 'The product vs Jupyter Server: a 5-worker list vs a 5-kernel list';
  const jupyter = detectJupyter();
  if (!jupyter) {
    log('jupyter: jupyter-server is not installed: skipped');
    return {
      section: {
        name: 'jupyter',
        title,
        lines: [
          'Jupyter Server is **not installed** on this machine (neither `jupyter-server`, `jupyter server` nor `python3 -m jupyter_server` runs), so this comparison was **not measured**. The bench detects it and never installs it; with Debian\'s `python3-jupyter-server` (and `python3-ipykernel` for the kernels) present, it compares `GET /api/runtimes/embedded-worker-runtime/workers?limit=5` (5 workers) with Jupyter Server\'s `GET /api/kernels` (5 kernels), interleaved, same load.',
        ],
        summary: [['jupyter', 'absent']],
      },
    };
  }
  log(`jupyter: ${jupyter.command} ${jupyter.args.join(' ')} (${jupyter.version}) vs the product`);
  const token = randomBytes(16).toString('hex');
  const port = await freePort();
  const root = join(tmp, 'jupyter-root');
  mkdirSync(root, { recursive: true });
  const child = spawnTracked(
    jupyter.command,
    [
      ...jupyter.args,
      '--no-browser',
      `--port=${port}`,
      '--ip=127.0.0.1',
      `--ServerApp.token=${token}`,
      `--ServerApp.root_dir=${root}`,
      '--ServerApp.port_retries=0',
      // It refuses to start as root otherwise (containers, CI).
      ...(process.getuid?.() === 0 ? ['--allow-root'] : []),
    ],
    { env: { ...process.env, JUPYTER_RUNTIME_DIR: join(root, '.runtime'), JUPYTER_DATA_DIR: join(root, '.data'), JUPYTER_CONFIG_DIR: join(root, '.config') }, logName: 'jupyter' },
  );
  const jurl = `http://127.0.0.1:${port}`;
  const jauth = { authorization: `token ${token}` };
  let app: BenchServer | undefined;
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      check(child.exitCode === null, 'jupyter: the server exited at start');
      const r = await timedRequest(`${jurl}/api/status`, { headers: jauth }).catch(() => undefined);
      if (r?.status === 200) break;
      check(Date.now() < deadline, 'jupyter: no answer within 60 s');
      await sleep(200);
    }
    for (let i = 0; i < 5; i++) {
      const r = await timedRequest(`${jurl}/api/kernels`, { method: 'POST', headers: { ...jauth, 'content-type': 'application/json' }, body: '{}' });
      if (r.status !== 201) {
        return {
          section: {
            name: 'jupyter',
            title,
            lines: [`Jupyter Server ${jupyter.version} is installed, but it could not start a kernel (\`POST /api/kernels\` answered ${r.status}; is \`python3-ipykernel\` installed?): **not measured**.`],
            summary: [['jupyter', 'no_kernel']],
          },
        };
      }
    }
    const kernels = JSON.parse((await timedRequest(`${jurl}/api/kernels`, { headers: jauth })).body);
    check(Array.isArray(kernels) && kernels.length === 5, `jupyter: ${kernels.length} kernels listed, expected 5`);
    app = await spawnServer('app-jupyter', 'app-server.js', { ...storeEnv('memory', 'jupyter-app'), BENCH_SEED: JSON.stringify({ workers: 5 }) });
    const appPath = `${EMBEDDED}/workers?limit=5`;
    const list = JSON.parse((await timedRequest(`${app.url}${appPath}`)).body);
    check(list.items.length === 5, 'jupyter: the app lists no 5 workers');
    const targets: Record<string, { url: string; headers?: Record<string, string> }> = {
      product: { url: `${app.url}${appPath}` },
      'Jupyter Server': { url: `${jurl}/api/kernels`, headers: jauth },
    };
    if (options.warmup > 0) for (const t of Object.values(targets)) await load({ ...t, seconds: options.warmup }); // warm-up: see options.warmup
    const runs = await interleave(Object.keys(targets), options.runs, (name) => load({ ...targets[name], seconds: options.routeDuration }));
    const p = medianLoad(runs.product);
    const j = medianLoad(runs['Jupyter Server']);
    const ratio = p.rps / j.rps;
    return {
      section: {
        name: 'jupyter',
        title,
        lines: [
          `Jupyter Server ${jupyter.version} (\`${[jupyter.command, ...jupyter.args].join(' ')}\`, token auth, 5 kernels started) vs the product (memory store, 5 workers, key auth); ${options.runs} interleaved runs of ${options.routeDuration} s after ${options.warmup} s of warm-up each, autocannon ${options.connections} connections.`,
          '',
          ...table(
            ['server', 'route', 'req/s', 'p50 ms', 'p99 ms'],
            [
              ['product', `\`GET ${appPath.replace(EMBEDDED, '/api/runtimes/embedded-worker-runtime')}\``, fmt(p.rps), p.p50, p.p99],
              ['Jupyter Server', '`GET /api/kernels`', fmt(j.rps), j.p50, j.p99],
            ],
          ),
          '',
          `Ratio product ÷ Jupyter Server: ${round(ratio)}. Target ≥ 2× (issue 16): ${verdict(ratio >= 2)}.`,
        ],
        targets: [["5-worker list ≥ 2× Jupyter Server's 5-kernel list", `${round(ratio)}×`, ratio >= 2]],
        summary: [['jupyter', round(ratio)]],
      },
    };
  } finally {
    await app?.stop();
    await stopProcess(child, 10_000);
  }
}
