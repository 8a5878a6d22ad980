import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A tiny run of the benchmark harness (`--quick`: small sizes, short runs,
 * two scenarios at a time, nothing written), so `npm run bench` cannot rot
 * unnoticed. It checks the harness works — every scenario runs, checks what
 * it measures, and the report has its sections and the machine-readable
 * summary line — and asserts no speed (targets live in BENCHMARKS.md, not in
 * tests).
 */
const KEYS = [
  'routes_min_vs_express',
  'routes_median_vs_express',
  'input_vs_express',
  'routes_p99_max_vs_express',
  'routes_ceiling_min_vs_express',
  'routes_below_target_without_pipeline',
  'fastify_twin_vs_express_twin',
  'handlers_on_fastify_min_vs_express',
  'jupyter',
  'startup_ms',
  'startup_sqlite_ms',
  'npm_start_ms',
  'run_p50_ms',
  'run_p99_ms',
  'fanout_lag_p99_ms',
  'fanout_cpu_100_vs_1',
  'attack_bodies_lag_p99_ms',
  'attack_stalled_sse_rss_growth_mb',
  'attack_idle_sockets_lag_p99_ms',
  'multi_scaling',
  'workers_vs_express',
  'workers_vs_node',
  'transcript_1e6_vs_1e3',
  'inputs_vs_list',
  'bytes_per_idle_worker',
];

describe('benchmark harness (smoke)', () => {
  it('runs every scenario and prints the summary line', () => {
    const script = join(__dirname, '..', 'dist', 'bench', 'run.js');
    expect(existsSync(script)).toBe(true);
    const run = spawnSync(process.execPath, [script, '--quick', '--no-write'], { encoding: 'utf8', timeout: 150_000 });
    expect(run.stderr).not.toContain('[bench] failed');
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split('\n');
    const summary = lines[lines.length - 1];
    expect(summary).toMatch(/^summary:( [a-z0-9_]+=[A-Za-z0-9_.-]+)+$/);
    const keys = summary.slice('summary: '.length).split(' ').map((kv) => kv.split('=')[0]);
    expect(keys).toEqual(expect.arrayContaining(KEYS));
    for (let n = 1; n <= 10; n++) expect(run.stdout).toContain(`\n## ${n}. `);
  }, 160_000);
});
