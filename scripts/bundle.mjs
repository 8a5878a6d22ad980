// Bundles the compiled server (dist/src/main.js and what it imports) into one
// file, dist/main.bundle.js, which `npm start` runs. Why: Node 20 spends most
// of the start-up resolving and loading ~900 modules one by one (NestJS 12 is
// ESM, loaded through require); one file starts in about half the time
// (issue 16: first answer ≤ 1 s). Skipped when the bundle is newer than every
// compiled file, so `npm start` does not rebuild when nothing changed.
//
// Left outside the bundle (loaded from node_modules at run time):
// - native or optional packages: better-sqlite3, pg-native, Nest's optional transports;
// - packages Nest loads by name at run time (class-validator, class-transformer):
//   one copy must hold both the decorators' metadata and the pipe that reads it;
// - the lazily required SDKs and pg (only loaded when configured);
// - swagger-ui-dist, whose assets are served from its own directory.
import { build } from 'esbuild';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'src', 'main.js');
const outfile = join(root, 'dist', 'main.bundle.js');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const bundleMtime = (() => {
  try {
    return statSync(outfile).mtimeMs;
  } catch {
    return 0;
  }
})();
if (bundleMtime > newestMtime(join(root, 'dist', 'src')) && bundleMtime > statSync(join(root, 'package-lock.json')).mtimeMs) process.exit(0);

await build({
  entryPoints: [entry],
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
    'class-validator',
    'class-transformer',
    'class-transformer/*',
    'reflect-metadata',
    'swagger-ui-dist',
    '@nestjs/microservices',
    '@nestjs/microservices/*',
    '@nestjs/websockets',
    '@nestjs/websockets/*',
    '@fastify/static',
  ],
  // NestJS's ESM code resolves optional packages with createRequire(import.meta.url).
  define: { 'import.meta.url': '__bundleImportMetaUrl' },
  banner: { js: "const __bundleImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
