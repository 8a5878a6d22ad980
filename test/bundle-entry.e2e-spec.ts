import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/**
 * scripts/bundle-entry.cjs (dist/main.js): the bundle run through V8's code
 * cache. Each test runs a copy of the entry beside a small bundle of its own
 * in a scratch directory, so the cache's rules can be shown with bundles
 * made to break them. test/built-bundle.e2e-spec.ts runs the real server
 * with and without the cache.
 */
const ENTRY = join(__dirname, '..', 'scripts', 'bundle-entry.cjs');

/**
 * A bundle printing `marker`, what it requires from beside itself and the line its code is on
 * (line 2: the entry's wrapper must not shift the bundle's lines), then staying up for `STAY_MS`
 * if that is set; the same length for every marker of one length.
 */
const bundleSource = (marker: string) =>
  `// a bundle\nprocess.stdout.write(${JSON.stringify(marker)} + ' ' + require('./sibling.js').word + ' ' + /server\\.bundle\\.js:(\\d+):/.exec(new Error().stack)[1]); setTimeout(() => {}, Number(process.env.STAY_MS ?? 0));\n`;
/** Past the entry's CACHE_WRITE_DELAY_MS (3 s). */
const PAST_THE_WRITE_DELAY_MS = 4000;

describe("dist/main.js: the bundle through V8's code cache", () => {
  let dir: string;
  const bundle = () => join(dir, 'server.bundle.js');
  const cache = () => join(dir, 'server.bundle.code-cache');
  const run = (stayMs = 0) => {
    const r = spawnSync(process.execPath, [join(dir, 'main.js')], { cwd: tmpdir(), encoding: 'utf8', timeout: 20_000, env: { ...process.env, STAY_MS: String(stayMs) } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const ok = (marker: string) => ({ status: 0, stdout: `${marker} sibling 2`, stderr: '' });
  /** The cache file: its key line (Node version, hash of the code, when it was made, CRC-32), that line without the CRC, and V8's data. */
  const readCache = () => {
    const file = readFileSync(cache());
    const eol = file.indexOf(10);
    const key = file.subarray(0, eol).toString('latin1');
    return { key, keyWithoutCrc: key.split(' ').slice(0, 3).join(' '), data: file.subarray(eol + 1) };
  };
  /** Another build of the same length, with the previous file's mtime (as a release unpacked with fixed timestamps). */
  const rebuild = (source: string) => {
    const before = statSync(bundle());
    expect(Buffer.byteLength(source)).toBe(before.size);
    writeFileSync(bundle(), source);
    utimesSync(bundle(), before.atime, before.mtime);
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wb-entry-'));
    copyFileSync(ENTRY, join(dir, 'main.js'));
    writeFileSync(join(dir, 'sibling.js'), "exports.word = 'sibling';\n");
    writeFileSync(bundle(), bundleSource('AAAA'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the bundle as its own module (its require, its line numbers), writes the cache, and runs again from it', () => {
    expect(run()).toEqual(ok('AAAA'));
    const written = readCache();
    expect(written.key).toMatch(new RegExp(`^${process.version.replace(/\./g, '\\.')} [0-9a-f]{40} at-exit ${crc32(written.data)}$`));
    const inode = statSync(cache()).ino;
    expect(run()).toEqual(ok('AAAA'));
    // Not written again: V8 took it.
    expect(statSync(cache()).ino).toBe(inode);
  });

  it("uses the cache it is given: under another bundle's key, a cache runs the code it was made from", () => {
    // What the key is for: V8 checks only the source's length. Here a key is forged on purpose.
    expect(run()).toEqual(ok('AAAA'));
    const a = readCache();
    rebuild(bundleSource('BBBB'));
    expect(run()).toEqual(ok('BBBB'));
    writeFileSync(cache(), Buffer.concat([Buffer.from(`${readCache().keyWithoutCrc} ${crc32(a.data)}\n`, 'latin1'), a.data]));
    expect(run()).toEqual(ok('AAAA'));
  });

  it('does not use the cache of another build of the same length and the same mtime, and writes its own', () => {
    expect(run()).toEqual(ok('AAAA'));
    const a = readCache();
    rebuild(bundleSource('BBBB'));
    expect(run()).toEqual(ok('BBBB'));
    expect(readCache().key).not.toBe(a.key);
    const inode = statSync(cache()).ino;
    expect(run()).toEqual(ok('BBBB'));
    expect(statSync(cache()).ino).toBe(inode);
  });

  it('does not use a cache damaged behind an intact key line (V8 would run it), and writes a good one', () => {
    expect(run()).toEqual(ok('AAAA'));
    const { key, data } = readCache();
    // The marker is in V8's data as a string constant: changed there, it would be what the bundle prints.
    const at = data.indexOf('AAAA');
    expect(at).toBeGreaterThan(0);
    const damaged = Buffer.from(data);
    damaged.write('CCCC', at, 'latin1');
    writeFileSync(cache(), Buffer.concat([Buffer.from(`${key}\n`, 'latin1'), damaged]));
    const damagedInode = statSync(cache()).ino;
    expect(run()).toEqual(ok('AAAA'));
    expect(statSync(cache()).ino).not.toBe(damagedInode);
    expect(readCache().data.includes('CCCC')).toBe(false);
  });

  it('compiles as usual when V8 rejects the cache, and writes a good one', () => {
    expect(run()).toEqual(ok('AAAA'));
    const junk = Buffer.alloc(4096, 0x5a);
    writeFileSync(cache(), Buffer.concat([Buffer.from(`${readCache().keyWithoutCrc} ${crc32(junk)}\n`, 'latin1'), junk]));
    const junkInode = statSync(cache()).ino;
    expect(run()).toEqual(ok('AAAA'));
    expect(statSync(cache()).ino).not.toBe(junkInode);
    const inode = statSync(cache()).ino;
    expect(run()).toEqual(ok('AAAA'));
    expect(statSync(cache()).ino).toBe(inode);
  });

  it('replaces a cache made at an early exit by one made while running, once a start lasts past the delay, and keeps that one', () => {
    expect(run()).toEqual(ok('AAAA'));
    expect(readCache().key).toContain(' at-exit ');
    const early = statSync(cache()).ino;
    expect(run(PAST_THE_WRITE_DELAY_MS)).toEqual(ok('AAAA'));
    expect(readCache().key).toContain(' running ');
    const running = statSync(cache()).ino;
    expect(running).not.toBe(early);
    expect(run(PAST_THE_WRITE_DELAY_MS)).toEqual(ok('AAAA'));
    expect(statSync(cache()).ino).toBe(running);
  });

  it('starts when the cache cannot be written, and leaves no temporary file', () => {
    mkdirSync(cache()); // rename() onto a directory fails
    expect(run()).toEqual(ok('AAAA'));
    expect(readdirSync(dir).sort()).toEqual(['main.js', 'server.bundle.code-cache', 'server.bundle.js', 'sibling.js']);
  });
});
