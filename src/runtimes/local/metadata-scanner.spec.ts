import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { derivePublicId } from '../../common/ids/public-id';
import { type LocalWorkerRecord, MetadataScanner, type MetadataScannerOptions, type ScanResult, WRONG_TYPE } from './metadata-scanner';
import { type ScannerStats } from './scanner-fs';
import { removeDir, tempDir, TestFs } from './scanner-fs.testing';

interface Fixture {
  base: string;
  dataDir: string;
  pods: string;
  root: string;
  fs: TestFs;
}

let fixtures: Fixture[] = [];

function fixture(): Fixture {
  const base = tempDir('wb-scan-');
  const dataDir = join(base, 'data');
  const pods = join(dataDir, 'pods');
  const root = join(base, 'workspace');
  mkdirSync(pods, { recursive: true });
  mkdirSync(root);
  const f = { base, dataDir, pods, root, fs: new TestFs() };
  fixtures.push(f);
  return f;
}

/** Real-fs scans get a generous deadline: these tests are not about time. */
function scanner(f: Fixture, options: Partial<MetadataScannerOptions> = {}): MetadataScanner {
  return new MetadataScanner(f.dataDir, f.root, { fs: f.fs, deadlineMs: 30_000, ...options });
}

function writeRecord(f: Fixture, name: string | Buffer, content: unknown): void {
  const dir = Buffer.concat([Buffer.from(`${f.pods}/`), Buffer.from(name)]);
  mkdirSync(dir, { recursive: true });
  writeFileSync(Buffer.concat([dir, Buffer.from('/metadata.json')]), typeof content === 'string' ? content : JSON.stringify(content));
}

const names = (r: ScanResult) => r.records.map((x) => x.dirName.toString('latin1'));
const codes = (r: { diagnostics: Array<{ code: string }> }) => r.diagnostics.map((d) => d.code);
/** Opens of metadata.json (through /proc/self/fd/<entry>/ or the path). */
const metadataOpens = (f: Fixture) => f.fs.opened.filter((p) => p.endsWith('/metadata.json')).length;

afterEach(() => {
  const done = fixtures;
  fixtures = [];
  try {
    for (const f of done) {
      // Every descriptor and listing the scanner opened was closed.
      expect(f.fs.openFds.size).toBe(0);
      expect(f.fs.openDirs).toBe(0);
    }
  } finally {
    for (const f of done) removeDir(f.base);
  }
});

describe('MetadataScanner: order and pages', () => {
  it('lists by byte order of names, 256 per page, and a newly smallest record is never hidden', async () => {
    const f = fixture();
    const all: Buffer[] = [];
    for (let i = 0; i < 300; i++) all.push(Buffer.from(`w${String((i * 7919) % 300).padStart(3, '0')}`));
    // Byte order is not UTF-16 order: U+FFFF (ef bf bf) sorts before U+1F600 (f0 9f 98 80) as bytes only.
    all.push(Buffer.from('\u{1F600}'), Buffer.from('\uffff'), Buffer.from('Z'), Buffer.from([0x77, 0xff]));
    for (const name of all) writeRecord(f, name, { workspace_root: f.root, worker_name: 'x' });
    const sorted = [...all].sort(Buffer.compare).map((b) => b.toString('latin1'));

    const s = scanner(f);
    const first = await s.scan({ limit: 1000 });
    expect(first.status).toBe('ok');
    expect(names(first)).toEqual(sorted.slice(0, 256));
    expect(first.hasMore).toBe(true);
    expect(first.lastName?.toString('latin1')).toBe(sorted[255]);
    expect(metadataOpens(f)).toBe(256); // no more than 256 entries read per scan (SPEC §7)

    const second = await s.scan({ after: first.lastName, limit: 256 });
    expect(names(second)).toEqual(sorted.slice(256));
    expect(second.hasMore).toBe(false);

    writeRecord(f, 'a-new', { workspace_root: f.root, worker_name: 'new' });
    const again = await s.scan({ limit: 256 });
    expect(names(again)[0]).toBe('Z');
    expect(names(again)[1]).toBe('a-new');
    expect(again.hasMore).toBe(true);
  });

  it('reads only `limit` entries, and says whether more names follow', async () => {
    const f = fixture();
    for (let i = 0; i < 20; i++) writeRecord(f, `n${String(i).padStart(2, '0')}`, { workspace_root: f.root });
    const s = scanner(f);
    const ten = await s.scan({ limit: 10 });
    expect(names(ten)).toEqual(Array.from({ length: 10 }, (_, i) => `n${String(i).padStart(2, '0')}`));
    expect(ten.hasMore).toBe(true);
    expect(metadataOpens(f)).toBe(10);
    const none = await s.scan({ limit: 0 });
    expect(none).toMatchObject({ records: [], hasMore: true, lastName: undefined });
    expect(await s.scan({ after: Buffer.from('n19'), limit: 10 })).toMatchObject({ records: [], hasMore: false, status: 'ok' });
    const tail = await s.scan({ after: Buffer.from('n15'), limit: 10 });
    expect(names(tail)).toEqual(['n16', 'n17', 'n18', 'n19']);
    expect(tail.hasMore).toBe(false);
  });

  it('reads on past skipped entries until it holds `limit` records, and counts them as covered', async () => {
    const f = fixture();
    writeRecord(f, 'a', { workspace_root: '/elsewhere' });
    writeRecord(f, 'b', { workspace_root: '/elsewhere' });
    writeRecord(f, 'c', { workspace_root: f.root });
    writeRecord(f, 'd', { workspace_root: f.root });
    const s = scanner(f);
    const page = await s.scan({ limit: 1 });
    expect(names(page)).toEqual(['c']);
    expect(page.lastName?.toString()).toBe('c');
    expect(page.hasMore).toBe(true);
    expect(codes(page)).toEqual(['local_metadata_other_workspace']);
    expect(metadataOpens(f)).toBe(3); // not d: the page was full at c
    const rest = await s.scan({ after: page.lastName, limit: 1 });
    expect(names(rest)).toEqual(['d']);
    expect(rest.hasMore).toBe(false);
  });

  it('reads at most 256 entries however few of them hold records: the rest is for the next page', async () => {
    const f = fixture();
    for (let i = 0; i < 300; i++) mkdirSync(join(f.pods, `e${String(i).padStart(3, '0')}`));
    writeRecord(f, 'z', { workspace_root: f.root });
    const s = scanner(f);
    const first = await s.scan({ limit: 5 });
    expect(first).toMatchObject({ status: 'ok', records: [], hasMore: true });
    expect(first.lastName?.toString()).toBe('e255');
    expect(metadataOpens(f)).toBe(256);
    expect(f.fs.counts.opendir).toBe(1);
    const second = await s.scan({ after: first.lastName, limit: 5 });
    expect(names(second)).toEqual(['z']);
    expect(second.hasMore).toBe(false);
    expect(codes(second)).toEqual(['local_metadata_missing']);
    expect(second.diagnostics[0].message).toBe('Skipped 44 worker records: no metadata record');
  });

  it('stops listing after maxListedNames names and says so', async () => {
    const f = fixture();
    for (let i = 0; i < 60; i++) mkdirSync(join(f.pods, `e${i}`));
    const r = await scanner(f, { maxListedNames: 50 }).scan({ limit: 256 });
    expect(codes(r)).toContain('local_scan_truncated');
    expect(r.hasMore).toBe(true);
    expect(f.fs.counts.dirRead).toBeLessThanOrEqual(51);
    expect(JSON.stringify(r.diagnostics)).not.toContain(f.base);
  });
});

describe('MetadataScanner: finding one record by its public id', () => {
  it('reads just the matching entry', async () => {
    const f = fixture();
    for (let i = 0; i < 300; i++) writeRecord(f, `worker ${i}`, { workspace_root: f.root, worker_name: `W${i}` });
    const s = scanner(f);
    const id = derivePublicId('local-worker', 'worker 123');
    const found = await s.findByWorkerId(id);
    expect(found.status).toBe('ok');
    expect(found.record?.dirName.toString()).toBe('worker 123');
    expect(found.record?.workerName).toBe('W123');
    expect(metadataOpens(f)).toBe(1);

    const unknown = await s.findByWorkerId(derivePublicId('local-worker', 'worker 300'));
    expect(unknown.record).toBeUndefined();
    expect(metadataOpens(f)).toBe(1);

    const before = { ...f.fs.counts };
    for (const odd of ['local-worker-x', 'embedded-abc-0123456789abcdef', 'local-worker-x-0123456789ABCDEF']) {
      expect((await s.findByWorkerId(odd)).record).toBeUndefined();
    }
    expect(f.fs.counts).toEqual(before); // ids of other shapes never touch the disk
  });

  it('finds names that are not UTF-8, by their bytes', async () => {
    const f = fixture();
    const raw = Buffer.from([0x6e, 0xff, 0xfe]);
    writeRecord(f, raw, { workspace_root: f.root });
    writeRecord(f, Buffer.from('n\ufffd\ufffd'), { workspace_root: f.root });
    const found = await scanner(f).findByWorkerId(derivePublicId('local-worker', raw));
    expect(found.record?.dirName.equals(raw)).toBe(true);
  });

  it('says why the matching entry was skipped, quoting nothing', async () => {
    const f = fixture();
    writeRecord(f, 'zq-entry', { workspace_root: '/elsewhere', worker_name: 'Secret Name' });
    const found = await scanner(f).findByWorkerId(derivePublicId('local-worker', 'zq-entry'));
    expect(found).toMatchObject({ status: 'ok', record: undefined });
    expect(codes(found)).toEqual(['local_metadata_other_workspace']);
    expect(JSON.stringify(found.diagnostics)).not.toMatch(/Secret|elsewhere|zq-entry/);
  });
});

describe('MetadataScanner: links, FIFOs and odd entries', () => {
  it('follows no symbolic link: not an entry, not metadata.json, not pods/ itself', async () => {
    const f = fixture();
    const outside = join(f.base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'metadata.json'), JSON.stringify({ workspace_root: f.root, worker_name: 'Outside' }));
    symlinkSync(outside, join(f.pods, 'linked-dir'));
    mkdirSync(join(f.pods, 'linked-file'));
    symlinkSync(join(outside, 'metadata.json'), join(f.pods, 'linked-file', 'metadata.json'));
    writeFileSync(join(f.pods, 'a-file'), 'x');
    execFileSync('mkfifo', [join(f.pods, 'a-fifo')]);
    writeRecord(f, 'good', { workspace_root: f.root, worker_name: 'Good' });
    const r = await scanner(f).scan({ limit: 256 });
    expect(r.records.map((x) => x.workerName)).toEqual(['Good']);
    expect(r.diagnostics).toContainEqual({ code: 'local_metadata_symlink_skipped', severity: 'warning', message: 'Skipped 2 worker records: symbolic link, not followed' });
    expect(r.diagnostics).toContainEqual(expect.objectContaining({ code: 'local_metadata_entry_not_directory', message: expect.stringContaining('Skipped 2 ') }));

    // pods/ itself a symbolic link to a directory of records: not followed.
    const g = fixture();
    removeDir(g.pods);
    mkdirSync(join(g.base, 'real-pods', 'w'), { recursive: true });
    writeFileSync(join(g.base, 'real-pods', 'w', 'metadata.json'), JSON.stringify({ workspace_root: g.root }));
    symlinkSync(join(g.base, 'real-pods'), g.pods);
    const viaLink = await scanner(g).scan({ limit: 256 });
    expect(viaLink.records).toEqual([]);
    expect(codes(viaLink)).toEqual(['local_pods_dir_symlink']);
    expect(JSON.stringify(viaLink)).not.toContain(g.base);
  });

  it('never waits on a FIFO metadata.json (O_NONBLOCK)', async () => {
    const f = fixture();
    mkdirSync(join(f.pods, 'fifo'));
    const fifo = join(f.pods, 'fifo', 'metadata.json');
    execFileSync('mkfifo', [fifo]);
    writeRecord(f, 'good', { workspace_root: f.root });
    try {
      const r = await scanner(f, { deadlineMs: 2000 }).scan({ limit: 256 });
      expect(r.status).toBe('ok');
      expect(names(r)).toEqual(['good']);
      expect(codes(r)).toEqual(['local_metadata_invalid']);
    } finally {
      // Were the open ever blocking, a writer lets it return (and frees the thread).
      try {
        const { openSync, closeSync, constants } = await import('node:fs');
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // ENXIO: nobody is blocked on it, as it should be
      }
    }
  });

  it('reports a missing data dir, an absent pods/, and a pods/ that is a file, naming nothing', async () => {
    const f = fixture();
    const missing = await new MetadataScanner(join(f.base, 'nope'), f.root, { fs: f.fs }).scan({ limit: 256 });
    expect(missing).toMatchObject({ status: 'ok', dataDirPresent: false, records: [], hasMore: false });
    expect(codes(missing)).toEqual(['local_data_dir_missing']);
    const noDataDir = await new MetadataScanner(join(f.base, 'nope'), f.root, { fs: f.fs }).recordsDirStatus();
    expect(noDataDir.state).toBe('absent');
    expect(codes(noDataDir)).toEqual(['local_data_dir_missing']);
    expect(await scanner(f).recordsDirStatus()).toEqual({ state: 'listable', diagnostics: [] });
    removeDir(f.pods);
    const absent = await scanner(f).scan({ limit: 256 });
    expect(absent).toMatchObject({ status: 'ok', dataDirPresent: true, records: [] });
    expect(codes(absent)).toEqual(['local_pods_dir_absent']);
    // No worker has left a record yet: nothing is wrong with the records dir.
    expect(await scanner(f).recordsDirStatus()).toEqual({ state: 'listable', diagnostics: [] });
    writeFileSync(f.pods, 'not a directory');
    expect(codes(await scanner(f).scan({ limit: 256 }))).toEqual(['local_pods_dir_unreadable']);
    const file = await scanner(f).recordsDirStatus();
    expect(file.state).toBe('unusable');
    expect(codes(file)).toEqual(['local_pods_dir_unreadable']);
    removeDir(f.pods);
    execFileSync('mkfifo', [f.pods]);
    expect(codes(await scanner(f).scan({ limit: 256 }))).toEqual(['local_pods_dir_unreadable']);
    expect(await scanner(f).recordsDirStatus()).toMatchObject({ state: 'unusable', diagnostics: [expect.objectContaining({ code: 'local_pods_dir_unreadable' })] });
    expect(JSON.stringify([noDataDir, file])).not.toContain(f.base);
  });
});

describe('MetadataScanner: records', () => {
  it('keeps only primitives: display hints, wrong-type markers and the state of `active`', async () => {
    const f = fixture();
    writeRecord(f, 'full', {
      workspace_root: `${f.root}//`,
      worker_name: `Bad/\\Name\u0000\u202e${'y'.repeat(500)}`,
      resolved_manifest_snapshot: { role: 'reviewer', profile_selector: 'builtin:reviewer', system_prompt: 'secret' },
      active: { segment_id: 'seg' },
      token: 'secret',
    });
    writeRecord(f, 'typed', { workspace_root: f.root, worker_name: 42, resolved_manifest_snapshot: { role: 5, profile_selector: [] }, active: 'yes' });
    writeRecord(f, 'bare', { workspace_root: f.root, resolved_manifest_snapshot: 'nope', active: null });
    writeRecord(f, 'pending', { workspace_root: f.root, worker_name: null, active: { segment_id: '' } });
    const r = await scanner(f).scan({ limit: 256 });
    const byName = Object.fromEntries(r.records.map((x) => [x.dirName.toString(), x])) as Record<string, LocalWorkerRecord>;
    expect(byName.full).toMatchObject({ workerName: 'BadName' + 'y'.repeat(73), role: 'reviewer', profileSelector: 'builtin:reviewer', snapshotIsObject: true, active: 'segment' });
    expect(byName.typed).toMatchObject({ workerName: WRONG_TYPE, role: WRONG_TYPE, profileSelector: WRONG_TYPE, snapshotIsObject: true, active: 'wrong_type' });
    expect(byName.bare).toMatchObject({ workerName: undefined, role: null, profileSelector: null, snapshotIsObject: false, active: 'null' });
    expect(byName.pending).toMatchObject({ workerName: WRONG_TYPE, active: 'pending_segment' });
    for (const record of r.records) {
      expect(Object.keys(record).sort()).toEqual(['active', 'dirName', 'mtimeMs', 'profileSelector', 'role', 'snapshotIsObject', 'workerName']);
      for (const value of Object.values(record)) expect(value === null || Buffer.isBuffer(value) || typeof value !== 'object').toBe(true);
    }
  });

  it('accepts a record that starts with a UTF-8 byte order mark', async () => {
    const f = fixture();
    writeRecord(f, 'bom', `\ufeff${JSON.stringify({ workspace_root: f.root, worker_name: 'With BOM' })}`);
    writeRecord(f, 'bom-only', '\ufeff');
    const r = await scanner(f).scan({ limit: 256 });
    expect(r.records.map((x) => x.workerName)).toEqual(['With BOM']);
    expect(codes(r)).toEqual(['local_metadata_invalid']);
  });

  it('refuses a record nested deeper than the bound, or with too many tokens, as invalid', async () => {
    const f = fixture();
    writeRecord(f, 'deep', `{"workspace_root":${JSON.stringify(f.root)},"worker_name":${'['.repeat(64)}${']'.repeat(64)}}`);
    writeRecord(f, 'ok', `{"workspace_root":${JSON.stringify(f.root)},"worker_name":${'['.repeat(63)}${']'.repeat(63)}}`);
    writeRecord(f, 'many', JSON.stringify({ workspace_root: f.root, worker_name: 'Many', pad: Array.from({ length: 100_000 }, () => 0) }));
    const r = await scanner(f).scan({ limit: 256 });
    expect(names(r)).toEqual(['ok']);
    expect(r.diagnostics).toContainEqual({ code: 'local_metadata_invalid', severity: 'warning', message: 'Skipped 2 worker records: metadata record is not a valid JSON object' });
  });

  it('re-reads a record only when it changed, and keeps a bounded cache', async () => {
    const f = fixture();
    for (let i = 0; i < 40; i++) writeRecord(f, `r${String(i).padStart(2, '0')}`, { workspace_root: f.root, worker_name: `v1-${i}` });
    const s = scanner(f, { cacheEntries: 25 });
    await s.scan({ limit: 20 });
    const readsPerRecord = f.fs.counts.read / 20;
    expect(readsPerRecord).toBeGreaterThanOrEqual(1);
    let reads = f.fs.counts.read;
    await s.scan({ limit: 20 });
    expect(f.fs.counts.read).toBe(reads); // unchanged: open + fstat + close, no read, no parse
    writeRecord(f, 'r03', { workspace_root: f.root, worker_name: 'v2 longer' });
    reads = f.fs.counts.read;
    const page = await s.scan({ limit: 20 });
    expect(page.records[3].workerName).toBe('v2 longer');
    expect(f.fs.counts.read - reads).toBe(readsPerRecord);
    await s.scan({ after: page.lastName, limit: 20 });
    expect(s.cachedEntries).toBe(25);
  });

  it('keeps nothing of unbounded size: 256 hostile records leave the heap as it was', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const f = fixture();
    const rootJson = JSON.stringify(f.root);
    const nested = `{"workspace_root":${rootJson},"worker_name":${'['.repeat(130_000)}${']'.repeat(130_000)}}`;
    const big = JSON.stringify({ workspace_root: f.root, worker_name: 'n'.repeat(120_000), resolved_manifest_snapshot: { role: 'r'.repeat(100_000) } });
    expect(Buffer.byteLength(nested)).toBeLessThan(256 * 1024);
    for (let i = 0; i < 128; i++) writeRecord(f, `nested${String(i).padStart(3, '0')}`, nested);
    for (let i = 0; i < 128; i++) writeRecord(f, `big${String(i).padStart(3, '0')}`, big);
    const s = scanner(f);
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const rss0 = process.memoryUsage().rss;
    const r = await s.scan({ limit: 256 });
    expect(r.records).toHaveLength(128);
    expect(codes(r)).toEqual(['local_metadata_invalid']);
    gc();
    const heapGrowth = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
    const rssGrowth = (process.memoryUsage().rss - rss0) / 2 ** 20;
    // Raw values would keep 128 × ~220 KB (27 MiB+) alive, the parsed nested arrays GiBs.
    expect(heapGrowth).toBeLessThan(8);
    expect(rssGrowth).toBeLessThan(256);
    expect(r.records.every((x) => typeof x.workerName === 'string' && x.workerName.length === 80)).toBe(true);
  });
});

describe('MetadataScanner: no path is resolved twice', () => {
  /**
   * A worker thread swaps `pods/swap` between a directory holding a record
   * and a symbolic link to a directory outside holding another one, as fast as
   * it can, while the scanner scans. No scan may list the outside record.
   */
  async function raceSwaps(f: Fixture, s: MetadataScanner, scans: number) {
    const outside = join(f.base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'metadata.json'), JSON.stringify({ workspace_root: f.root, worker_name: 'Outside' }));
    writeRecord(f, 'swap', { workspace_root: f.root, worker_name: 'Inside' });
    writeRecord(f, 'steady', { workspace_root: f.root, worker_name: 'Steady' });
    const dirStage = join(f.base, 'stage-dir');
    const linkStage = join(f.base, 'stage-link');
    symlinkSync(outside, linkStage);
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const swapper = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const fs = require('node:fs');
       const { entry, dirStage, linkStage, stop } = workerData;
       const flag = new Int32Array(stop);
       let swaps = 0;
       while (Atomics.load(flag, 0) === 0) {
         fs.renameSync(entry, dirStage); fs.renameSync(linkStage, entry);
         fs.renameSync(entry, linkStage); fs.renameSync(dirStage, entry);
         swaps++;
       }
       parentPort.postMessage(swaps);`,
      { eval: true, workerData: { entry: join(f.pods, 'swap'), dirStage, linkStage, stop: stop.buffer } },
    );
    const swapsDone = new Promise<number>((resolve, reject) => {
      swapper.once('message', resolve);
      swapper.once('error', reject);
    });
    const seen = { outside: 0, inside: 0, linkSkips: 0, steady: 0, scans: 0 };
    const until = Date.now() + 40_000; // bounded, however slow the machine
    try {
      while (seen.scans < scans && Date.now() < until) {
        const r = await s.scan({ limit: 256 });
        seen.scans++;
        for (const x of r.records) {
          if (x.workerName === 'Outside') seen.outside++;
          if (x.workerName === 'Inside') seen.inside++;
          if (x.workerName === 'Steady') seen.steady++;
        }
        if (codes(r).includes('local_metadata_symlink_skipped')) seen.linkSkips++;
      }
    } finally {
      Atomics.store(stop, 0, 1);
    }
    const swaps = await swapsDone;
    await swapper.terminate();
    if (process.env.SCANNER_RACE_REPORT) process.stdout.write(`swap race: ${JSON.stringify({ ...seen, swaps })}\n`);
    return { ...seen, swaps };
  }

  it('never lists a record from outside pods/ while an entry flips between a directory and a symlink', async () => {
    const f = fixture();
    const seen = await raceSwaps(f, scanner(f), 3000);
    expect(seen.scans).toBeGreaterThanOrEqual(1000);
    expect(seen.swaps).toBeGreaterThan(100);
    // The scans did see both states of the entry …
    expect(seen.inside).toBeGreaterThan(0);
    expect(seen.linkSkips).toBeGreaterThan(0);
    expect(seen.steady).toBe(seen.scans);
    // … and never what the link points to.
    expect(seen.outside).toBe(0);
  });

  it('falls back to path-based opens with a (dev, ino) check where /proc/self/fd is not used', async () => {
    const f = fixture();
    writeRecord(f, 'a', { workspace_root: f.root, worker_name: 'A' });
    const outside = join(f.base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'metadata.json'), JSON.stringify({ workspace_root: f.root, worker_name: 'Outside' }));
    symlinkSync(outside, join(f.pods, 'link'));
    const s = scanner(f, { procFd: false });
    const r = await s.scan({ limit: 256 });
    expect(r.records.map((x) => x.workerName)).toEqual(['A']);
    expect(codes(r)).toEqual(['local_metadata_symlink_skipped']);
    expect(f.fs.opened.some((p) => p.startsWith('/proc/'))).toBe(false);

    // The path naming another directory than the one opened (a swap) refuses the record.
    const lstat = f.fs.lstat.bind(f.fs);
    f.fs.lstat = async (path: Buffer): Promise<ScannerStats> => {
      const st = await lstat(path);
      return path.toString().endsWith('/a') ? Object.assign(Object.create(Object.getPrototypeOf(st)), st, { ino: st.ino + 1 }) : st;
    };
    const swapped = await s.scan({ limit: 256 });
    expect(swapped.records).toEqual([]);
    expect(codes(swapped)).toContain('local_metadata_unreadable');
  });
});

describe('MetadataScanner: sharing', () => {
  it('lets concurrent callers of the same page share one scan', async () => {
    const f = fixture();
    writeRecord(f, 'a', { workspace_root: f.root });
    const s = scanner(f);
    const [x, y] = await Promise.all([s.scan({ limit: 256 }), s.scan({ limit: 256 })]);
    expect(x).toBe(y);
    expect(f.fs.counts.opendir).toBe(1);
    await s.scan({ limit: 256 });
    expect(f.fs.counts.opendir).toBe(2);
  });

  it('notices a record changed in place between versions', async () => {
    const f = fixture();
    writeRecord(f, 'a', { workspace_root: f.root, worker_name: 'one' });
    const s = scanner(f);
    const v = await s.version();
    expect(await s.version()).toBe(v);
    const file = join(f.pods, 'a', 'metadata.json');
    writeFileSync(file, JSON.stringify({ workspace_root: f.root, worker_name: 'two' }));
    utimesSync(file, new Date(2000, 0, 1), new Date(2000, 0, 1));
    expect(await s.version()).not.toBe(v);
    const v2 = await s.version();
    unlinkSync(file);
    renameSync(join(f.pods, 'a'), join(f.pods, 'b'));
    expect(await s.version()).not.toBe(v2);
  });
});
