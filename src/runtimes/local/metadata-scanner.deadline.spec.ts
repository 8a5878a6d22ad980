import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, promises as fsp, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { derivePublicId } from '../../common/ids/public-id';
import { MetadataScanner, type MetadataScannerOptions, type ScanResult } from './metadata-scanner';
import { eventually, removeDir, tempDir, TestFs } from './scanner-fs.testing';

/*
 * Deadlines and the bound on fs calls in flight. Calls are held back by the
 * test fs (a hung NFS/FUSE mount never answers), or really block a threadpool
 * thread on a FIFO. Bounds are asserted (answered by the deadline + 500 ms,
 * "at once" = well before the deadline), never speed.
 */

interface Fixture {
  base: string;
  dataDir: string;
  pods: string;
  root: string;
  fs: TestFs;
  releases: Array<() => void>;
}

let fixtures: Fixture[] = [];

function fixture(): Fixture {
  const base = tempDir('wb-deadline-');
  const dataDir = join(base, 'data');
  const pods = join(dataDir, 'pods');
  const root = join(base, 'workspace');
  mkdirSync(pods, { recursive: true });
  mkdirSync(root);
  const f: Fixture = { base, dataDir, pods, root, fs: new TestFs(), releases: [] };
  fixtures.push(f);
  return f;
}

function scanner(f: Fixture, options: Partial<MetadataScannerOptions> = {}): MetadataScanner {
  return new MetadataScanner(f.dataDir, f.root, { fs: f.fs, ...options });
}

function writeRecord(f: Fixture, name: string): void {
  mkdirSync(join(f.pods, name));
  writeFileSync(join(f.pods, name, 'metadata.json'), JSON.stringify({ workspace_root: f.root, worker_name: name }));
}

function hold(f: Fixture, match: Parameters<TestFs['hold']>[0]): () => void {
  const { release } = f.fs.hold(match);
  f.releases.push(release);
  return release;
}

const entryOpen = (name: string) => (op: string, path: string) => op === 'open' && path.endsWith(`/${name}`);
const names = (r: ScanResult) => r.records.map((x) => x.dirName.toString());
const codes = (r: { diagnostics: Array<{ code: string }> }) => r.diagnostics.map((d) => d.code);

/** The promise's value, or 'late' when it has not settled within `ms` (the timer is always cleared). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function settled<T>(value: T | 'late'): T {
  if (value === 'late') throw new Error('did not answer within its bound');
  return value;
}

/** After every test: the held calls returned, and every descriptor they or the scans opened is closed. */
afterEach(async () => {
  const done = fixtures;
  fixtures = [];
  try {
    for (const f of done) {
      for (const release of f.releases) release();
      expect(await eventually(() => f.fs.inFlight === 0 && f.fs.openFds.size === 0 && f.fs.openDirs === 0, 5000)).toBe(true);
    }
  } finally {
    for (const f of done) removeDir(f.base);
  }
});

describe('MetadataScanner deadlines', () => {
  it('answers degraded by its deadline when an entry never answers, skips it until it does, then reads it again', async () => {
    const f = fixture();
    for (const name of ['a', 'b', 'c']) writeRecord(f, name);
    const release = hold(f, entryOpen('b'));
    const s = scanner(f, { deadlineMs: 300 });

    const [first, joined] = await Promise.all([within(s.scan({ limit: 256 }), 800), within(s.scan({ limit: 256 }), 800)]);
    const r1 = settled(first);
    expect(joined).toBe(r1); // a caller joining the scan waits no longer than it
    expect(r1.status).toBe('degraded');
    expect(codes(r1)).toContain('local_scan_deadline');
    // Only what was read without a gap: the next page would start right after it.
    expect(names(r1)).toEqual(['a']);
    expect(r1).toMatchObject({ hasMore: true, lastName: Buffer.from('a') });
    expect(JSON.stringify(r1.diagnostics)).not.toContain(f.base);

    // The call is still outstanding: its entry is skipped, the others are read.
    const r2 = settled(await within(s.scan({ limit: 256 }), 800));
    expect(r2.status).toBe('degraded');
    expect(names(r2)).toEqual(['a', 'c']);
    expect(r2.diagnostics).toContainEqual({
      code: 'local_metadata_stalled',
      severity: 'warning',
      message: "Skipped 1 worker record: the file system has not answered an earlier read; skipped until it does",
    });

    release();
    // The late open's descriptor is closed by the scanner, nobody waiting for it.
    expect(await eventually(() => s.outstandingFsCalls === 0 && f.fs.openFds.size === 0, 5000)).toBe(true);
    const r3 = settled(await within(s.scan({ limit: 256 }), 800));
    expect(r3.status).toBe('ok');
    expect(names(r3)).toEqual(['a', 'b', 'c']);
  });

  it('keeps at most 2 fs calls in flight, and answers at once while stuck calls hold both', async () => {
    const f = fixture();
    const good = ['g0', 'g1', 'g2', 'g3', 'g4'];
    const hung = ['h0', 'h1', 'h2', 'h3', 'h4'];
    for (const name of [...good, ...hung]) writeRecord(f, name);
    for (const name of hung) hold(f, entryOpen(name));
    const s = scanner(f, { deadlineMs: 2000 });

    // Three different pages at once: they share the 2 slots rather than take 2 each.
    const [r1, ...others] = (await Promise.all([256, 255, 254].map((limit) => within(s.scan({ limit }), 2500)))).map(settled);
    for (const r of [r1, ...others]) {
      expect(r.status).toBe('degraded');
      expect(names(r)).toEqual(good.slice(0, r.records.length)); // what was read before the hung entries, without a gap
    }
    expect(f.fs.peakInFlight).toBeLessThanOrEqual(2);
    expect(s.outstandingFsCalls).toBe(2);

    // Both slots are held by calls nobody waits for: no scan queues behind them.
    for (let i = 0; i < 5; i++) {
      const r = settled(await within(s.scan({ limit: 256 }), 1000));
      expect(r).toMatchObject({ status: 'degraded', records: [], hasMore: true });
      expect(codes(r)).toEqual(['local_scan_stalled']);
    }
    expect(settled(await within(s.scan({ after: Buffer.from('g2'), limit: 3 }), 1000)).status).toBe('degraded');
    expect(settled(await within(s.findByWorkerId(derivePublicId('local-worker', 'g1')), 1000))).toMatchObject({ status: 'degraded', record: undefined });
    expect(settled(await within(s.recordsDirStatus(), 1000)).state).toBe('unknown');
    expect(f.fs.peakInFlight).toBeLessThanOrEqual(2);
    const opens = f.fs.counts.open;

    expect(f.fs.counts.open).toBe(opens); // nothing was tried behind the stuck calls
    for (const release of f.releases) release();
    expect(await eventually(() => s.outstandingFsCalls === 0 && f.fs.openFds.size === 0, 5000)).toBe(true);
    const r3 = settled(await within(s.scan({ limit: 256 }), 2500));
    expect(r3.status).toBe('ok');
    expect(names(r3)).toEqual([...good, ...hung]);
    expect(f.fs.peakInFlight).toBeLessThanOrEqual(2);
  });

  it('answers degraded when the listing itself never answers, and at once while it is stuck', async () => {
    const f = fixture();
    writeRecord(f, 'a');
    const release = hold(f, (op) => op === 'dirRead');
    const s = scanner(f, { deadlineMs: 300 });
    const r1 = settled(await within(s.scan({ limit: 256 }), 800));
    expect(r1).toMatchObject({ status: 'degraded', records: [], hasMore: true, lastName: undefined });
    expect(codes(r1)).toEqual(['local_scan_deadline']);
    const r2 = settled(await within(s.scan({ limit: 256 }), 200));
    expect(codes(r2)).toEqual(['local_scan_stalled']);
    release();
    expect(await eventually(() => s.outstandingFsCalls === 0 && f.fs.openDirs === 0 && f.fs.openFds.size === 0, 5000)).toBe(true);
    expect(names(settled(await within(s.scan({ limit: 256 }), 800)))).toEqual(['a']);
  });

  it('closes a descriptor whose scan gave up while it was open', async () => {
    const f = fixture();
    writeRecord(f, 'a');
    const s = scanner(f, { deadlineMs: 300 });
    expect((await s.scan({ limit: 256 })).status).toBe('ok'); // the /proc probe is behind us
    const release = hold(f, (op) => op === 'fstat'); // metadata.json is open, its fstat hangs
    const r = settled(await within(s.scan({ limit: 256 }), 800));
    expect(r.status).toBe('degraded');
    expect(f.fs.openFds.size).toBe(2); // pods/ and metadata.json
    release();
    expect(await eventually(() => s.outstandingFsCalls === 0 && f.fs.openFds.size === 0, 5000)).toBe(true);
  });

  it('bounds the records dir check and a lookup by id by the deadline too', async () => {
    const f = fixture();
    writeRecord(f, 'a');
    writeRecord(f, 'b');
    const releasePods = hold(f, (op, path) => op === 'open' && path === f.pods);
    const s = scanner(f, { deadlineMs: 300 });
    expect(settled(await within(s.recordsDirStatus(), 800))).toMatchObject({ state: 'unknown', diagnostics: [expect.objectContaining({ code: 'local_scan_stalled' })] });
    releasePods();
    expect(await eventually(() => s.outstandingFsCalls === 0, 5000)).toBe(true);
    expect(await s.recordsDirStatus()).toEqual({ state: 'listable', diagnostics: [] });

    hold(f, entryOpen('b'));
    const found = settled(await within(s.findByWorkerId(derivePublicId('local-worker', 'b')), 800));
    expect(found).toMatchObject({ status: 'degraded', record: undefined });
    expect(codes(found)).toEqual(['local_scan_deadline']);
    const again = settled(await within(s.findByWorkerId(derivePublicId('local-worker', 'b')), 800));
    expect(again).toMatchObject({ status: 'degraded', record: undefined });
    expect(codes(again)).toEqual(['local_metadata_stalled']);
    expect((await s.findByWorkerId(derivePublicId('local-worker', 'a'))).record?.workerName).toBe('a');
  });

  it('leaves libuv threadpool threads to the rest of the process while five entries really block threads', async () => {
    const f = fixture();
    const fifo = join(f.base, 'hang.fifo');
    execFileSync('mkfifo', [fifo]);
    const hung = ['h0', 'h1', 'h2', 'h3', 'h4'];
    for (const name of ['a', ...hung]) writeRecord(f, name);
    const blocks = hung.map((name) => f.fs.blockOnFifo((op, path) => path.endsWith(`/${name}`), fifo));
    f.releases.push(() => {
      for (const b of blocks) b.release();
      // Keep a writer while unlinking, so any blocked or queued open returns and no later one can block.
      try {
        const writer = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
        unlinkSync(fifo);
        closeSync(writer);
      } catch {
        // already gone
      }
    });
    const s = scanner(f, { deadlineMs: 300 });
    // Concurrent scans of different pages, then more: without the bound each would block threads of its own.
    const firsts = await Promise.all([256, 255, 254, 253].map((limit) => within(s.scan({ limit }), 800)));
    for (const r of firsts) expect(settled(r).status).toBe('degraded');
    for (let i = 0; i < 3; i++) expect(settled(await within(s.scan({ limit: 256 }), 800)).status).toBe('degraded');
    expect(f.fs.peakInFlight).toBeLessThanOrEqual(2);
    // Another fs call of the app still gets a thread.
    const other = join(f.base, 'other.txt');
    writeFileSync(other, 'still served');
    expect(await within(fsp.readFile(other, 'utf8'), 1000)).toBe('still served');
  });
});
