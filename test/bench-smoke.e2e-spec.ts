import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A tiny run of the benchmark harness (`--quick`: small sizes, one 1-second
 * run, nothing written), so `npm run bench` cannot rot unnoticed. It checks
 * the harness works and its report has the machine-readable summary line; it
 * asserts no speed (targets live in BENCHMARKS.md, not in tests).
 */
describe('benchmark harness (smoke)', () => {
  it('runs every scenario and prints the summary line', () => {
    const script = join(__dirname, '..', 'dist', 'bench', 'run.js');
    expect(existsSync(script)).toBe(true);
    const run = spawnSync(process.execPath, [script, '--quick', '--no-write'], { encoding: 'utf8', env: { ...process.env, BENCH_DURATION: '1' }, timeout: 120_000 });
    expect(run.stderr).not.toContain('[bench] failed');
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[lines.length - 1]).toMatch(
      /^summary: workers_vs_express=\d+(\.\d+)? workers_vs_node=\d+(\.\d+)? transcript_1e6_vs_1e3=\d+(\.\d+)? inputs_vs_list=\d+(\.\d+)? bytes_per_idle_worker=\d+ startup_ms=\d+$/,
    );
    for (const heading of ['## 1.', '## 2.', '## 3.', '## 4.', '## 5.']) expect(run.stdout).toContain(heading);
  });
});
