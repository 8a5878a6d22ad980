// `npm run build` and `npm start`: compiles (tsc -b) only when an input is
// newer than the last build, then bundles (scripts/bundle.mjs, which has its
// own check). Checking mtimes here costs tens of milliseconds; even a no-op
// `tsc -b` costs half a second of loading TypeScript, and `npm start` should
// not pay for a build when nothing changed.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const buildInfo = join(root, 'dist', '.tsbuildinfo');

/** Newest mtime under a path (directories count too: a deleted file changes its directory). */
function newest(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let max = stat.mtimeMs;
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)));
  return max;
}

const inputs = ['src', 'scripts', 'bench', 'test/support', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];
const stale = !existsSync(buildInfo) || inputs.some((p) => newest(join(root, p)) > statSync(buildInfo).mtimeMs);
if (stale) {
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
}
await import('./bundle.mjs');
