'use strict';
// Copied to dist/main.js by scripts/build.mjs: the entry of the built server (`node dist/main.js`,
// what `npm start` and `npm run start:prod` run). It runs dist/server.bundle.js as Node's CommonJS
// loader would (wrapped, compiled, called with exports, require, module, __filename, __dirname),
// with V8's code cache added.
//
// Why: compiling the 6.6 MB bundle (~120 ms) and then each module's functions as they first run
// (~80 ms) was ~40% of a start (profiled, issue 16: first answer ≤ 1 s). V8 can hand that work
// back (`script.createCachedData()`) to the next start. Node 20 has no compile cache of its own
// (`module.enableCompileCache` is Node 22).
//
// - The cache, dist/server.bundle.code-cache, is written once per build: a second into the first
//   start (start-up's functions are compiled by then and go into it), or when that process exits
//   if it exits sooner. Written to a temporary file and renamed, so a concurrent start reads the
//   old file or the new one, never half of one.
// - It is used only for the bundle it was made from: its first line holds the Node version and
//   the bundle's size, mtime and inode, read from the descriptor the source is read through.
//   V8's own check compares only the source's length, so a rebuilt bundle of the same length would
//   otherwise run the previous build's code.
// - V8 rejects a cache made by another V8 or under other flags (`cachedDataRejected`): the bundle
//   is then compiled as usual and the cache written again.
// - Failing to read or write it costs only the time it would have saved (a read-only dist/ starts
//   as it did before this file).
// - There is no `import()` in the bundle: scripts/build.mjs has esbuild turn each into a require().
//   On Node 20, code compiled from a cache loses its `importModuleDynamically` (even Node's own
//   loader, USE_MAIN_CONTEXT_DEFAULT_LOADER, fails with ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING in a
//   process other than the one that made the cache): an import() would work at the first start
//   after a build and fail at every later one. Nest loads its optional packages with import(), and
//   takes a failure for a missing package.
const { closeSync, fstatSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { join } = require('node:path');
const vm = require('node:vm');

const BUNDLE = join(__dirname, 'server.bundle.js');
const CACHE = join(__dirname, 'server.bundle.code-cache');
const CACHE_WRITE_DELAY_MS = 1000;

/** The source and the key of the file it was read from (one descriptor: a bundle replaced meanwhile cannot pair one file's key with another's source). */
function readBundle() {
  const fd = openSync(BUNDLE, 'r');
  try {
    const st = fstatSync(fd);
    return { key: `${process.version} ${st.size} ${st.mtimeMs} ${st.ino}`, source: readFileSync(fd, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

/** The cached data, if the cache was made from this very bundle. */
function readCache(key) {
  try {
    const file = readFileSync(CACHE);
    const eol = file.indexOf(10);
    return eol > 0 && file.toString('latin1', 0, eol) === key ? file.subarray(eol + 1) : undefined;
  } catch {
    return undefined;
  }
}

function writeCache(script, key) {
  const tmp = `${CACHE}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, Buffer.concat([Buffer.from(`${key}\n`, 'latin1'), script.createCachedData()]));
    renameSync(tmp, CACHE);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // never written
    }
  }
}

const { key, source } = readBundle();
const cachedData = readCache(key);
// Node's CommonJS wrapper, on the first line so that line numbers in stack traces stay the bundle's.
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n});`, { filename: BUNDLE, cachedData });

if (cachedData === undefined || script.cachedDataRejected) {
  let written = false;
  const writeOnce = () => {
    if (written) return;
    written = true;
    process.off('exit', writeOnce);
    writeCache(script, key);
  };
  setTimeout(writeOnce, CACHE_WRITE_DELAY_MS).unref();
  process.on('exit', writeOnce);
}

const bundleRequire = Module.createRequire(BUNDLE);
const bundle = new Module(BUNDLE, module);
bundle.filename = BUNDLE;
bundle.paths = bundleRequire.resolve.paths('x') ?? [];
script.runInThisContext().call(bundle.exports, bundle.exports, bundleRequire, bundle, BUNDLE, __dirname);
bundle.loaded = true;
