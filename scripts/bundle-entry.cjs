'use strict';
// Copied to dist/main.js by scripts/build.mjs: the entry of the built server (`node dist/main.js`,
// what `npm start` and `npm run start:prod` run). It runs dist/server.bundle.js as Node's CommonJS
// loader would (wrapped, compiled, called with exports, require, module, __filename, __dirname),
// with V8's code cache added.
//
// Why: compiling the 6.6 MB bundle (~120 ms) and then, as each module first ran, its functions
// (~80 ms in all) was ~30% of a start's CPU (~200 of ~676 ms, profiled; issue 16: first answer
// ≤ 1 s). V8 can hand that work back (`script.createCachedData()`) to the next start. Node 20
// has no compile cache of its own (`module.enableCompileCache` is Node 22).
//
// - The cache, dist/server.bundle.code-cache, is written by the first start after a build, three
//   seconds in (start-up's functions are compiled by then, even on a loaded machine, and go into
//   it), or when that process exits if it exits sooner. A cache made at such an early exit (a
//   start stopped at once, a bad configuration) holds only what had run: the next start that
//   lasts three seconds replaces it. Written to a temporary file and renamed, so a concurrent
//   start reads the old file or the new one, never half of one (a process killed between the two
//   leaves its temporary file; the next bundling removes it).
// - It is used only for the code it was made from: its first line holds the Node version, a SHA-1
//   of what is compiled (this wrapper and the bundle's bytes; ~4 ms), when it was made (`running`
//   or `at-exit`) and a CRC-32 of the cache itself. V8's own check compares only the source's
//   length, so a rebuild of the same length (a version bump, a release unpacked with the same
//   timestamps) would otherwise run the previous build's code; and V8 does not check the cache's
//   bytes, so one damaged byte could crash every start or change what the server says.
// - V8 rejects a cache made by another V8 or under other flags (`cachedDataRejected`; `--cpu-prof`
//   and `--inspect` do not count): the bundle is then compiled as usual and the cache written again
//   for those flags.
// - Failing to read it costs only the time it would have saved. Making one blocks for ~30–50 ms,
//   so none is made where the directory is not writable (a read-only dist/): it could not be
//   saved, and every start would pay for it again.
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
const CACHE_WRITE_DELAY_MS = 3000;
// Node's CommonJS wrapper, on the bundle's first line so that line numbers in stack traces stay the bundle's.
const WRAPPER = ['(function (exports, require, module, __filename, __dirname) { ', '\n});'];

function readBundle() {
  const bytes = readFileSync(BUNDLE);
  const sourceHash = createHash('sha1').update(WRAPPER[0]).update(bytes).update(WRAPPER[1]).digest('hex');
  return { key: `${process.version} ${sourceHash}`, source: `${WRAPPER[0]}${bytes.toString('utf8')}${WRAPPER[1]}` };
}

const MADE = ['running', 'at-exit'];

/** The cached data and when it was made, if it was made from this very code and arrived whole. */
function readCache(key) {
  try {
    const file = readFileSync(CACHE);
    const eol = file.indexOf(10);
    if (eol < 0) return undefined;
    const line = file.toString('latin1', 0, eol);
    const data = file.subarray(eol + 1);
    const made = MADE.find((m) => line === `${key} ${m} ${crc32(data)}`);
    return made === undefined ? undefined : { data, made };
  } catch {
    return undefined;
  }
}

function writeCache(script, key, made) {
  try {
    accessSync(dirname(CACHE), constants.W_OK);
  } catch {
    return;
  }
  const tmp = `${CACHE}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    const data = script.createCachedData();
    writeFileSync(tmp, Buffer.concat([Buffer.from(`${key} ${made} ${crc32(data)}\n`, 'latin1'), data]), { flag: 'wx' });
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
const cache = readCache(key);
const script = new vm.Script(source, { filename: BUNDLE, cachedData: cache?.data });

if (cache === undefined || script.cachedDataRejected) {
  let written = false;
  const writeOnce = (made) => {
    if (written) return;
    written = true;
    process.off('exit', writeAtExit);
    writeCache(script, key, made);
  };
  const writeAtExit = () => writeOnce('at-exit');
  setTimeout(() => writeOnce('running'), CACHE_WRITE_DELAY_MS).unref();
  process.on('exit', writeAtExit);
} else if (cache.made === 'at-exit') {
  // A fuller one, if this start lasts; at this one's exit the cache it was given stays.
  setTimeout(() => writeCache(script, key, 'running'), CACHE_WRITE_DELAY_MS).unref();
}

const bundleRequire = Module.createRequire(BUNDLE);
const bundle = new Module(BUNDLE, module);
bundle.filename = BUNDLE;
bundle.paths = bundleRequire.resolve.paths('x') ?? [];
script.runInThisContext().call(bundle.exports, bundle.exports, bundleRequire, bundle, BUNDLE, __dirname);
bundle.loaded = true;
