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
//   old file or the new one, never half of one (a process killed between the two leaves its
//   temporary file; the next build removes it).
// - It is used only for the code it was made from: its first line holds the Node version, a SHA-1
//   of what is compiled (this wrapper and the bundle's bytes; ~4 ms) and a CRC-32 of the cache
//   itself. V8's own check compares only the source's length, so a rebuild of the same length
//   (a version bump, a release unpacked with the same timestamps) would otherwise run the previous
//   build's code; and V8 does not check the cache's bytes, so one damaged byte could crash every
//   start or change what the server says.
// - V8 rejects a cache made by another V8 or under other flags (`cachedDataRejected`; `--cpu-prof`
//   and `--inspect` do not count): the bundle is then compiled as usual and the cache written again
//   for those flags.
// - Failing to read it costs only the time it would have saved. Making it blocks ~30–50 ms once,
//   so it is skipped where the directory is not writable (a read-only dist/).
// - There is no `import()` in the bundle: scripts/build.mjs has esbuild turn each into a require().
//   On Node 20, code compiled from a cache cannot `import()`: a function given as
//   `importModuleDynamically` is lost (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), and Node's own
//   loader (USE_MAIN_CONTEXT_DEFAULT_LOADER, experimental) works only in the process that made the
//   cache. Nest loads its optional packages with import(), and takes a failure for a missing package.
const { accessSync, constants, readFileSync, renameSync, unlinkSync, writeFileSync } = require('node:fs');
const { createHash, randomBytes } = require('node:crypto');
const Module = require('node:module');
const { dirname, join } = require('node:path');
const vm = require('node:vm');
const { crc32 } = require('node:zlib');

const BUNDLE = join(__dirname, 'server.bundle.js');
const CACHE = join(__dirname, 'server.bundle.code-cache');
const CACHE_WRITE_DELAY_MS = 1000;
// Node's CommonJS wrapper, on the bundle's first line so that line numbers in stack traces stay the bundle's.
const WRAPPER = ['(function (exports, require, module, __filename, __dirname) { ', '\n});'];

function readBundle() {
  const bytes = readFileSync(BUNDLE);
  const compiled = createHash('sha1').update(WRAPPER[0]).update(bytes).update(WRAPPER[1]).digest('hex');
  return { key: `${process.version} ${compiled}`, source: `${WRAPPER[0]}${bytes.toString('utf8')}${WRAPPER[1]}` };
}

/** The cached data, if it was made from this very code and arrived whole. */
function readCache(key) {
  try {
    const file = readFileSync(CACHE);
    const eol = file.indexOf(10);
    if (eol < 0) return undefined;
    const data = file.subarray(eol + 1);
    return file.toString('latin1', 0, eol) === `${key} ${crc32(data)}` ? data : undefined;
  } catch {
    return undefined;
  }
}

function writeCache(script, key) {
  try {
    accessSync(dirname(CACHE), constants.W_OK);
  } catch {
    return;
  }
  const tmp = `${CACHE}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    const data = script.createCachedData();
    writeFileSync(tmp, Buffer.concat([Buffer.from(`${key} ${crc32(data)}\n`, 'latin1'), data]), { flag: 'wx' });
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
const script = new vm.Script(source, { filename: BUNDLE, cachedData });

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
