// `npm run build` and `npm start`: compiles (tsc -b) only when an input is
// newer than the last build, copies the entry (dist/main.js) only when it
// differs from its source, then bundles the compiled server only when a
// compiled file is newer than the bundle. Checking mtimes costs tens of
// milliseconds; even a no-op `tsc -b` costs half a second of loading
// TypeScript, and `npm start` should not pay for a build when nothing changed.
//
// The bundle, dist/server.bundle.js, is what `npm start` runs, through dist/main.js (a copy of
// scripts/bundle-entry.cjs, which adds V8's code cache): Node 20 spends
// most of a start resolving and loading ~900 modules one by one (NestJS 12 is
// ESM, loaded through require); one file starts in about half the time
// (issue 16: first answer ≤ 1 s). Left outside it (loaded from node_modules):
// - native or optional packages: better-sqlite3, pg-native, Nest's optional transports;
// - the lazily required SDKs and pg (only loaded when configured);
// - swagger-ui-dist, whose assets are served from its own directory;
// - class-transformer: its metadata storage is per module instance, and @nestjs/mapped-types loads
//   `class-transformer/cjs/storage` with createRequire, which esbuild leaves alone. Outside, every
//   importer gets Node's one cached instance.
//   (The ValidationPipe is handed the class-validator and class-transformer the DTOs use, see
//   src/common/pipes/validation.ts, so Nest never loads either by name.)
// class-validator, reflect-metadata and @fastify/static are inside: esbuild turns Nest's import() of a
// bundled package (@fastify/static, for the explorer's assets) into a require of the bundled copy, and
// class-validator keeps its metadata on the global object, so even mapped-types' second copy from
// node_modules would read the same. Loading their files one by one from node_modules cost ~80–90 ms
// of the start.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = (...parts) => join(root, ...parts);

/** Newest mtime under a path (directories count too: a deleted file changes its directory); 0 if absent. */
function newest(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let max = stat.mtimeMs;
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)));
  return max;
}

/** Compiles and bundles what is out of date; resolves to the entry's path (dist/main.js). */
export async function ensureBuilt() {
  const buildInfo = at('dist', '.tsbuildinfo');
  const inputs = ['src', 'scripts', 'bench', 'test/support', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];
  if (inputs.some((p) => newest(at(p)) > newest(buildInfo))) {
    const tsc = spawnSync(process.execPath, [at('node_modules', 'typescript', 'bin', 'tsc'), '-b', at('tsconfig.build.json')], { stdio: 'inherit' });
    if (tsc.status !== 0) process.exit(tsc.status ?? 1);
    // tsc -b leaves its build info untouched when nothing needed compiling (a file touched, or one it
    // does not compile, such as this script): mark the check as done, or every start would run tsc again.
    const now = new Date();
    utimesSync(buildInfo, now, now);
  }

  // The entry is copied when it differs, not when it is newer: a restored older copy (tar, cp -p) counts too.
  const entry = at('dist', 'main.js');
  const entrySource = at('scripts', 'bundle-entry.cjs');
  if (!existsSync(entry) || !readFileSync(entry).equals(readFileSync(entrySource))) copyFileSync(entrySource, entry);

  const outfile = at('dist', 'server.bundle.js');
  const bundled = newest(outfile);
  const compiledIsOlder = bundled > newest(at('dist', 'src'));
  const packagesAreOlder = bundled > newest(at('package-lock.json'));
  // This script too: what it puts inside the bundle or leaves out changes the bundle.
  const thisScriptIsOlder = bundled > newest(fileURLToPath(import.meta.url));
  if (compiledIsOlder && packagesAreOlder && thisScriptIsOlder) return entry;

  // Loaded only when there is something to bundle: importing esbuild costs ~80 ms, more than the up-to-date check.
  const { build } = await import('esbuild');
  await build({
    entryPoints: [at('dist', 'src', 'main.js')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // Class names are read at run time (Nest's logs, class-validator's targetName).
    keepNames: true,
    external: [
      'better-sqlite3',
      'pg',
      'pg-native',
      'openai',
      '@anthropic-ai/sdk',
      'class-transformer',
      'class-transformer/*',
      'swagger-ui-dist',
      '@nestjs/microservices',
      '@nestjs/microservices/*',
      '@nestjs/websockets',
      '@nestjs/websockets/*',
      // Optional packages Nest loads only when asked (another HTTP adapter, multipart, views): never here.
      '@nestjs/platform-express',
      '@fastify/multipart',
      '@fastify/view',
    ],
    // NestJS's ESM code resolves optional packages with createRequire(import.meta.url).
    define: { 'import.meta.url': '__bundleImportMetaUrl' },
    banner: { js: "const __bundleImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    // import() becomes a require() of the same specifier: code compiled from V8's code cache
    // (dist/main.js) cannot import() on Node 20, see scripts/bundle-entry.cjs. What differs: for an ES
    // module, `default` is its whole namespace instead of its default export, and one with top-level
    // await cannot be required. Every import() in the bundle today is of a CommonJS package
    // (class-transformer), a bundled one (cors, @fastify/static, file-type), a builtin (repl) or an
    // optional package that is not installed (Nest's transports, platform-express, @fastify/multipart,
    // @fastify/view).
    supported: { 'dynamic-import': false },
    logLevel: 'warning',
  });
  // The entry would not use it (its key is a hash of the previous bundle), nor the temporary files of
  // processes killed while writing one: removed so that none lies around.
  for (const name of readdirSync(at('dist'))) if (name.startsWith('server.bundle.code-cache')) rmSync(at('dist', name), { force: true });
  // The bundle's name before it had an entry of its own: `node dist/main.bundle.js` would run a stale build.
  rmSync(at('dist', 'main.bundle.js'), { force: true });
  return entry;
}

// Run as a script (`npm run build`), not imported (scripts/start.mjs).
if (process.argv[1] === fileURLToPath(import.meta.url)) await ensureBuilt();
