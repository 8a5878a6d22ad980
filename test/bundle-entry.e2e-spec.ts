import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * scripts/bundle-entry.cjs (dist/main.js): the bundle run through V8's code
 * cache. Each test runs a copy of the entry beside a small bundle of its own
 * in a scratch directory, so the cache's rules can be shown with bundles
 * made to break them. test/built-bundle.e2e-spec.ts runs the real server
 * with and without the cache.
 */
const ENTRY = join(__dirname, '..', 'scripts', 'bundle-entry.cjs');

/** A bundle printing `marker` and what it requires from beside itself; the same length for every marker of one length. */
const bundleSource = (marker: string) => `process.stdout.write(${JSON.stringify(marker)} + ' ' + require('./sibling.js').word + ' ' + __filename.endsWith('server.bundle.js'));\n`;

describe('dist/main.js: the bundle through V8\'s code cache', () => {
  let dir: string;
  const cache = () => join(dir, 'server.bundle.code-cache');
  const run = () => {
    const r = spawnSync(process.execPath, [join(dir, 'main.js')], { cwd: tmpdir(), encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  /** Replaces the bundle with other source of the same length, its mtime moved on by a second (a rebuild). */
  const rebuild = (source: string) => {
    const before = statSync(join(dir, 'server.bundle.js'));
    expect(Buffer.byteLength(source)).toBe(before.size);
    writeFileSync(join(dir, 'server.bundle.js'), source);
    utimesSync(join(dir, 'server.bundle.js'), new Date(), new Date(before.mtimeMs + 1000));
  };
  const keyLine = () => {
    const st = statSync(join(dir, 'server.bundle.js'));
    return `${process.version} ${st.size} ${st.mtimeMs} ${st.ino}`;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wb-entry-'));
    copyFileSync(ENTRY, join(dir, 'main.js'));
    writeFileSync(join(dir, 'sibling.js'), "exports.word = 'sibling';\n");
    writeFileSync(join(dir, 'server.bundle.js'), bundleSource('AAAA'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the bundle as its own module (require and __filename its own), writes the cache, and runs again from it', () => {
    const first = run();
    expect(first).toEqual({ status: 0, stdout: 'AAAA sibling true', stderr: '' });
    const written = readFileSync(cache());
    expect(written.subarray(0, written.indexOf(10)).toString('latin1')).toBe(keyLine());
    const inode = statSync(cache()).ino;

    const second = run();
    expect(second).toEqual({ status: 0, stdout: 'AAAA sibling true', stderr: '' });
    // Not written again: V8 took it.
    expect(statSync(cache()).ino).toBe(inode);
  });

  it('uses a cache made from this bundle: with the key rewritten to name another bundle of the same length, that bundle runs the first one\'s code', () => {
    // What the key is for: V8 checks only the source's length, so a cache handed to the wrong
    // bundle runs the code it was made from. Here the key is forged on purpose.
    expect(run().stdout).toBe('AAAA sibling true');
    const data = readFileSync(cache());
    rebuild(bundleSource('BBBB'));
    writeFileSync(cache(), Buffer.concat([Buffer.from(`${keyLine()}\n`, 'latin1'), data.subarray(data.indexOf(10) + 1)]));
    expect(run().stdout).toBe('AAAA sibling true');
  });

  it('does not use the cache of a previous build of the same length', () => {
    expect(run().stdout).toBe('AAAA sibling true');
    rebuild(bundleSource('BBBB'));
    expect(run()).toEqual({ status: 0, stdout: 'BBBB sibling true', stderr: '' });
    // And the cache now names the new build.
    const written = readFileSync(cache());
    expect(written.subarray(0, written.indexOf(10)).toString('latin1')).toBe(keyLine());
  });

  it('compiles as usual when V8 rejects the cache (damaged), and writes a good one', () => {
    writeFileSync(cache(), Buffer.concat([Buffer.from(`${keyLine()}\n`, 'latin1'), Buffer.alloc(4096, 0x5a)]));
    const damaged = statSync(cache()).ino;
    expect(run()).toEqual({ status: 0, stdout: 'AAAA sibling true', stderr: '' });
    const inode = statSync(cache()).ino;
    expect(inode).not.toBe(damaged);
    expect(run().stdout).toBe('AAAA sibling true');
    expect(statSync(cache()).ino).toBe(inode);
  });

  it('starts when the cache cannot be written, and leaves no temporary file', () => {
    mkdirSync(cache()); // rename() onto a directory fails
    expect(run()).toEqual({ status: 0, stdout: 'AAAA sibling true', stderr: '' });
    expect(readdirSync(dir).sort()).toEqual(['main.js', 'server.bundle.code-cache', 'server.bundle.js', 'sibling.js']);
  });
});
