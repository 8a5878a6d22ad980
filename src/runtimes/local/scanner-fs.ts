import { close, fstat, lstat, open, promises as fsp, read, stat, type Stats } from 'node:fs';
import { promisify } from 'node:util';

/**
 * The file-system seam of the metadata scanner: the few calls it makes, all
 * asynchronous (each is one libuv threadpool request with the default
 * implementation). Tests substitute an object whose calls can be made to hang,
 * fail or count, without touching the real file system.
 *
 * Paths are raw bytes (directory names are not necessarily UTF-8); files are
 * numeric descriptors, so a late-returning `open` can be closed by number.
 */
export interface ScannerFs {
  open(path: Buffer, flags: number): Promise<number>;
  close(fd: number): Promise<void>;
  fstat(fd: number): Promise<ScannerStats>;
  /** Resolves to the number of bytes read. */
  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  stat(path: Buffer): Promise<ScannerStats>;
  lstat(path: Buffer): Promise<ScannerStats>;
  opendir(path: Buffer): Promise<ScannerDir>;
}

export interface ScannerStats {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

/** What the directory listing says an entry is; only a hint, the opens decide. */
export type DirEntryType = 'directory' | 'symlink' | 'other' | 'unknown';

export interface ScannerDirEntry {
  name: Buffer;
  type: DirEntryType;
}

/** A streaming directory listing: `read` resolves null at the end. */
export interface ScannerDir {
  read(): Promise<ScannerDirEntry | null>;
  close(): Promise<void>;
}

const openAsync = promisify(open) as (path: Buffer, flags: number) => Promise<number>;
const closeAsync = promisify(close);
const fstatAsync = promisify(fstat) as (fd: number) => Promise<Stats>;
const statAsync = promisify(stat) as (path: Buffer) => Promise<Stats>;
const lstatAsync = promisify(lstat) as (path: Buffer) => Promise<Stats>;
const readAsync = (fd: number, buffer: Buffer, offset: number, length: number, position: number) =>
  new Promise<number>((resolve, reject) => read(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));

/** Entries fetched per threadpool request while listing. */
const LISTING_BATCH = 256;

/**
 * The real file system. The listing streams with `opendir` (one threadpool
 * request per batch of names, never the whole directory at once). Note that
 * Node's `Dir` cannot type an entry on file systems that report DT_UNKNOWN
 * when names are read as bytes (it tries to lstat a joined path and throws);
 * the listing then fails and the scanner reports `local_pods_dir_unreadable`.
 */
export const nodeScannerFs: ScannerFs = {
  open: (path, flags) => openAsync(path, flags),
  close: (fd) => closeAsync(fd),
  fstat: (fd) => fstatAsync(fd),
  read: readAsync,
  stat: (path) => statAsync(path),
  lstat: (path) => lstatAsync(path),
  async opendir(path) {
    // Node's types omit 'buffer' for opendir, which supports it: names stay raw bytes.
    const dir = await fsp.opendir(path as unknown as string, { encoding: 'buffer' as BufferEncoding, bufferSize: LISTING_BATCH });
    return {
      async read() {
        const entry = (await dir.read()) as unknown as import('node:fs').Dirent<Buffer> | null;
        if (entry === null) return null;
        const type: DirEntryType = entry.isDirectory() ? 'directory' : entry.isSymbolicLink() ? 'symlink' : 'other';
        return { name: entry.name, type };
      },
      close: () => dir.close(),
    };
  },
};

/** Why a gated call was refused or its result dropped. */
export class ScanAborted extends Error {
  constructor(readonly reason: 'deadline' | 'stalled') {
    super(reason === 'deadline' ? 'scan deadline passed' : 'file system calls are stalled');
    this.name = 'ScanAborted';
  }
}

/** One scan's claim on the gate; expiring it abandons its outstanding calls. */
export class ScanContext {
  expired = false;
  reason: 'deadline' | 'stalled' = 'deadline';
  /** Calls of this scan currently running on the file system. */
  readonly calls = new Set<GateCall>();
  /** Calls of this scan waiting for a slot. */
  readonly waiters = new Set<GateWaiter>();
}

interface GateCall {
  key: string;
  ctx: ScanContext | null;
  /** Outstanding past its scan's end: its key is skipped until it returns. */
  stuck: boolean;
}

interface GateWaiter {
  ctx: ScanContext | null;
  key: string;
  isClose: boolean;
  start(stuck: boolean): void;
  refuse(error: ScanAborted): void;
}

/**
 * Bounds the scanner's file-system calls: at most `maxInFlight` at once across
 * all scans (libuv's threadpool has 4 threads by default; the rest of the app
 * needs the others), and remembers calls still outstanding after their scan
 * ended ("stuck": a hung NFS/FUSE mount never answers) by a key (the entry),
 * so later scans skip those entries instead of queueing behind them.
 *
 * Closes are never refused: a descriptor opened by any call is always closed,
 * even when the open returns after its scan gave up on it.
 */
export class FsGate {
  private readonly inFlight = new Set<GateCall>();
  private readonly queue: GateWaiter[] = [];
  private readonly stuckKeys = new Map<string, number>();
  private stuckCount = 0;
  /** Most calls ever in flight at once; for tests and diagnostics. */
  peakInFlight = 0;

  constructor(
    readonly fs: ScannerFs,
    readonly maxInFlight: number,
  ) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError('maxInFlight must be a positive integer');
  }

  /** Whether a call for this key is still outstanding after its scan ended. */
  isStuck(key: string): boolean {
    return this.stuckKeys.has(key);
  }

  /** Every slot is held by a call nobody waits for any more: a new call would only queue behind them. */
  allSlotsStuck(): boolean {
    return this.stuckCount >= this.maxInFlight;
  }

  get outstanding(): number {
    return this.inFlight.size;
  }

  /**
   * Runs `op` once a slot is free. Rejects with ScanAborted when the scan
   * ended first, when the op returns after the scan ended (`discard` then
   * receives the value, e.g. to close a descriptor), or at once when all slots
   * are held by stuck calls.
   */
  run<T>(ctx: ScanContext, key: string, op: (fs: ScannerFs) => Promise<T>, discard?: (value: T) => void): Promise<T> {
    if (ctx.expired) return Promise.reject(new ScanAborted(ctx.reason));
    return new Promise<T>((resolve, reject) => {
      const start = (stuck: boolean) => {
        const call = this.begin(key, ctx, stuck);
        let promise: Promise<T>;
        try {
          promise = op(this.fs);
        } catch (err) {
          promise = Promise.reject(err);
        }
        promise.then(
          (value) => {
            this.end(call);
            if (ctx.expired) {
              if (discard) discard(value);
              reject(new ScanAborted(ctx.reason));
            } else resolve(value);
          },
          (err: unknown) => {
            this.end(call);
            reject(ctx.expired ? new ScanAborted(ctx.reason) : err);
          },
        );
      };
      if (this.inFlight.size < this.maxInFlight && this.queue.length === 0) return start(false);
      if (this.allSlotsStuck()) return reject(new ScanAborted('stalled'));
      const waiter: GateWaiter = { ctx, key, isClose: false, start, refuse: reject };
      ctx.waiters.add(waiter);
      this.queue.push(waiter);
    });
  }

  /**
   * Closes `fd`, never refused. The returned promise never rejects and
   * resolves when the close returned, or at once when the scan `ctx` (or none)
   * is no longer waiting: the close then goes on in the background, its key
   * counted as stuck until it returns.
   */
  close(ctx: ScanContext | null, key: string, fd: number): Promise<void> {
    return this.release(ctx, key, (fs) => fs.close(fd));
  }

  /** Like close, for any call that releases a resource (a directory listing's close). */
  release(ctx: ScanContext | null, key: string, op: (fs: ScannerFs) => Promise<void>): Promise<void> {
    return new Promise<void>((resolve) => {
      const background = ctx === null || ctx.expired;
      const start = (stuck: boolean) => {
        const call = this.begin(key, stuck ? null : ctx, stuck);
        let promise: Promise<void>;
        try {
          promise = op(this.fs);
        } catch (err) {
          promise = Promise.reject(err);
        }
        promise
          .catch(() => undefined) // EBADF and the like: nothing more can be done for this fd
          .then(() => {
            this.end(call);
            resolve();
          });
      };
      if (background) resolve();
      if (this.inFlight.size < this.maxInFlight) return start(background);
      const waiter: GateWaiter = { ctx: background ? null : ctx, key, isClose: true, start, refuse: () => resolve() };
      if (background) this.toBackground(waiter);
      else ctx.waiters.add(waiter);
      // Closes go first: they free descriptors and never start new work.
      const firstOp = this.queue.findIndex((w) => !w.isClose);
      this.queue.splice(firstOp === -1 ? this.queue.length : firstOp, 0, waiter);
    });
  }

  /**
   * The scan gave up (deadline) or was refused (stalled): its outstanding
   * calls become stuck, its queued calls are refused (queued closes go on in
   * the background). If every slot is now stuck, other scans' queued calls
   * are refused too: they would wait for nothing.
   */
  expire(ctx: ScanContext, reason: 'deadline' | 'stalled'): void {
    if (ctx.expired) return;
    ctx.expired = true;
    ctx.reason = reason;
    for (const call of ctx.calls) {
      call.ctx = null;
      if (!call.stuck) {
        call.stuck = true;
        this.stuckCount++;
        this.markStuck(call.key);
      }
    }
    ctx.calls.clear();
    for (const waiter of ctx.waiters) {
      if (waiter.isClose) {
        this.toBackground(waiter);
        waiter.refuse(new ScanAborted(reason)); // resolves the scan-facing promise; the close stays queued
      } else {
        this.queue.splice(this.queue.indexOf(waiter), 1);
        waiter.refuse(new ScanAborted(reason));
      }
    }
    ctx.waiters.clear();
    if (this.allSlotsStuck()) {
      for (let i = this.queue.length - 1; i >= 0; i--) {
        const waiter = this.queue[i];
        if (waiter.isClose || waiter.ctx === null) continue;
        this.queue.splice(i, 1);
        waiter.ctx.waiters.delete(waiter);
        waiter.refuse(new ScanAborted('stalled'));
      }
    }
  }

  /** A queued close nobody waits for: its key counts as stuck while it waits and while it runs. */
  private toBackground(waiter: GateWaiter): void {
    waiter.ctx = null;
    this.markStuck(waiter.key);
    const start = waiter.start;
    waiter.start = () => {
      this.unmarkStuck(waiter.key); // begin() marks it again for the running call
      start(true);
    };
  }

  private begin(key: string, ctx: ScanContext | null, stuck: boolean): GateCall {
    const call: GateCall = { key, ctx, stuck };
    this.inFlight.add(call);
    if (this.inFlight.size > this.peakInFlight) this.peakInFlight = this.inFlight.size;
    if (ctx) ctx.calls.add(call);
    if (stuck) {
      this.stuckCount++;
      this.markStuck(key);
    }
    return call;
  }

  private end(call: GateCall): void {
    this.inFlight.delete(call);
    call.ctx?.calls.delete(call);
    if (call.stuck) {
      this.stuckCount--;
      this.unmarkStuck(call.key);
    }
    this.pump();
  }

  private pump(): void {
    while (this.inFlight.size < this.maxInFlight && this.queue.length > 0) {
      const waiter = this.queue.shift()!;
      waiter.ctx?.waiters.delete(waiter);
      waiter.start(false);
    }
  }

  private markStuck(key: string): void {
    this.stuckKeys.set(key, (this.stuckKeys.get(key) ?? 0) + 1);
  }

  private unmarkStuck(key: string): void {
    const n = (this.stuckKeys.get(key) ?? 0) - 1;
    if (n <= 0) this.stuckKeys.delete(key);
    else this.stuckKeys.set(key, n);
  }
}
