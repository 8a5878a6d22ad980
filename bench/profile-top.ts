import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

/**
 * Prints the top frames by self time of a V8 `.cpuprofile` (what
 * `node --cpu-prof` writes; BENCH_CPU_PROF=DIR makes the per-route scenario's
 * app processes write one each), and the same grouped by package / source
 * directory, and by layer of the request pipeline (each sample charged to
 * the innermost layer on its stack; with --requests=COUNT, also in µs per
 * request). Usage: node dist/bench/profile-top.js FILE.cpuprofile [N] [--requests=COUNT]
 */
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node dist/bench/profile-top.js FILE.cpuprofile [N] [--requests=COUNT]\n');
  process.exit(2);
}
const positional = process.argv.slice(3).filter((a) => !a.startsWith('--'));
const n = Number(positional[0] ?? 25);
const requests = Number(process.argv.find((a) => a.startsWith('--requests='))?.slice('--requests='.length) ?? NaN);
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

/**
 * Layers of one request, innermost first wins: a sample in `setHeader` called
 * by a middleware is node's HTTP work, one in the middleware's own code is the
 * middleware's. Start-up (module loading) and idle time are set apart.
 */
type Frame = Node['callFrame'];
const LAYERS: Array<[string, (f: Frame) => boolean]> = [
  ['socket writes (kernel)', (f) => /^(writev|writeBuffer|writeString|writeUtf8String|writeLatin1String)$/.test(f.functionName)],
  ['ETag', (f) => /\/etag\/|\/fresh\/|generateETag|weakETag/.test(f.url + f.functionName)],
  ['access log', (f) => /access-log\.middleware|app-logger|sonic-boom|logging\/redact/.test(f.url)],
  ['request id', (f) => /request-id\.middleware/.test(f.url)],
  ['security headers, host check, CORS', (f) => /security-headers|host-check|cors\.middleware/.test(f.url)],
  ['key check, rate limit', (f) => /\/src\/auth\//.test(f.url)],
  ['405 table, body', (f) => /method-not-allowed|json-body/.test(f.url)],
  ['middleware chain', (f) => /middleware-chain|app\.factory/.test(f.url)],
  ['allow-list serialisation, JSON', (f) => /serialize-response|allow-list-(express|fastify)/.test(f.url)],
  ['handler, registry, store', (f) => /\/src\/(workers|runtimes|store|hosts|events|idempotency)\//.test(f.url)],
  ['guards, pipes, validation', (f) => /src\/common\/(guards|pipes|validation|dto)|class-validator|class-transformer/.test(f.url)],
  ['Fastify (router, reply)', (f) => /node_modules\/(fastify|find-my-way|fast-querystring|@fastify|@nestjs\/platform-fastify)\//.test(f.url)],
  ['Nest router', (f) => /@nestjs\//.test(f.url)],
  // The two Express layers match only the bench's Express servers now (handlers-express.ts, the twins).
  ['Express response', (f) => /express\/lib\/response/.test(f.url)],
  ['Express router', (f) => /node_modules\/(router|express|parseurl|path-to-regexp)\//.test(f.url)],
  ['node HTTP, sockets, events', (f) => /_http_|node:net|streams|node:events/.test(f.url)],
  ['garbage collector', (f) => f.functionName === '(garbage collector)'],
];
const byLayer = new Map<string, number>();
for (const [id, us] of selfUs) {
  let layer = 'other';
  const stack: Frame[] = [];
  for (let cur: number | undefined = id; cur !== undefined; cur = parentOf.get(cur)) stack.push(byId.get(cur)!.callFrame);
  if (stack.some((f) => f.url.endsWith('run_main_module') || (f.lineNumber === 0 && f.url.includes('/dist/')))) layer = 'start-up (module loading)';
  else if (stack[0].functionName === '(idle)' || stack[0].functionName === '(program)') layer = 'idle, program';
  else for (const f of stack) {
    const hit = LAYERS.find(([, test]) => test(f));
    if (hit) {
      layer = hit[0];
      break;
    }
  }
  byLayer.set(layer, (byLayer.get(layer) ?? 0) + us);
}
const perRequest = (us: number) => (Number.isFinite(requests) && requests > 0 ? `  ${(us / requests).toFixed(1).padStart(7)} µs/request` : '');
process.stdout.write(`\nby layer of the request (innermost layer on the stack)${Number.isFinite(requests) ? `, ${requests} requests` : ''}:\n`);
for (const [k, us] of [...byLayer].sort((a, b) => b[1] - a[1])) process.stdout.write(`${pct(us)}${perRequest(us)}  ${k}\n`);
