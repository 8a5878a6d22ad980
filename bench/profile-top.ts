import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

/**
 * Prints the top frames by self time of a V8 `.cpuprofile` (what
 * `node --cpu-prof` writes; BENCH_CPU_PROF=DIR makes the per-route scenario's
 * app processes write one each), and the same grouped by package / source
 * directory. Usage: node dist/bench/profile-top.js FILE.cpuprofile [N]
 */
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node dist/bench/profile-top.js FILE.cpuprofile [N]\n');
  process.exit(2);
}
const n = Number(process.argv[3] ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const where = (url: string) => {
  if (!url) return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = path.slice(nm + 'node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (path.startsWith('node:')) return 'node:internal';
  return relative(process.cwd(), path).split('/').slice(0, 3).join('/');
};

const byFrame = new Map<string, number>();
const byGroup = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id)!;
  const { functionName, url, lineNumber } = node.callFrame;
  const key = `${functionName || '(anonymous)'}  ${url ? `${url.replace(/^file:\/\//, '').replace(process.cwd() + '/', '')}:${lineNumber + 1}` : ''}`;
  byFrame.set(key, (byFrame.get(key) ?? 0) + us);
  const group = functionName === '(garbage collector)' || functionName === '(idle)' || functionName === '(program)' ? functionName : where(url);
  byGroup.set(group, (byGroup.get(group) ?? 0) + us);
}
// Inclusive time: a frame's self time counts for every distinct frame on its stack (recursion counted once).
const inclusive = new Map<string, number>();
const keyOf = (node: Node) => `${node.callFrame.functionName || '(anonymous)'}  ${node.callFrame.url ? `${node.callFrame.url.replace(/^file:\/\//, '').replace(process.cwd() + '/', '')}:${node.callFrame.lineNumber + 1}` : ''}`;
const parentOf = new Map<number, number>();
for (const node of profile.nodes) for (const c of node.children ?? []) parentOf.set(c, node.id);
for (const [id, us] of selfUs) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parentOf.get(cur)) seen.add(keyOf(byId.get(cur)!));
  for (const k of seen) inclusive.set(k, (inclusive.get(k) ?? 0) + us);
}
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
process.stdout.write(`${file}: ${(total / 1e6).toFixed(1)} s sampled\n\ntop ${n} frames by self time:\n`);
for (const [k, us] of [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${pct(us)}  ${k}\n`);
process.stdout.write(`\ntop ${n} frames by inclusive time (self + callees):\n`);
for (const [k, us] of [...inclusive].filter(([k]) => !k.startsWith('(root)')).sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${pct(us)}  ${k}\n`);
process.stdout.write('\nby package / directory:\n');
for (const [k, us] of [...byGroup].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${pct(us)}  ${k}\n`);
