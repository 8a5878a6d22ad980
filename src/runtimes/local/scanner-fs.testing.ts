/*
 * Test support for the metadata scanner's specs (no Jest imports, so it
 * compiles anywhere): a ScannerFs over the real one that counts calls, tracks
 * open descriptors and calls in flight, and can hold chosen calls back.
 */
import { closeSync, constants, mkdtempSync, open as openCb, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeScannerFs, type ScannerDir, type ScannerFs, type ScannerStats } from './scanner-fs';

export type FsOp = 'open' | 'close' | 'fstat' | 'read' | 'stat' | 'lstat' | 'opendir' | 'dirRead' | 'dirClose';

/** Decides whether a call is held back: op and path (as UTF-8 text; '' for fd-based calls). */
export type CallMatcher = (op: FsOp, path: string) => boolean;

interface Hold {
  match: CallMatcher;
  /** Resolves when the held calls may go on (to the real file system). */
  released: Promise<void>;
  release: () => void;
  /** Instead of waiting in JS, block a real threadpool thread on this FIFO. */
  fifo?: string;
}

export class TestFs implements ScannerFs {
  readonly counts: Record<FsOp, number> = { open: 0, close: 0, fstat: 0, read: 0, stat: 0, lstat: 0, opendir: 0, dirRead: 0, dirClose: 0 };
  /** Paths given to successful and failed opens, in order. */
  readonly opened: string[] = [];
  readonly openFds = new Set<number>();
  openDirs = 0;
  inFlight = 0;
  peakInFlight = 0;
  private holds: Hold[] = [];

  constructor(private readonly real: ScannerFs = nodeScannerFs) {}

  /** Holds matching calls until `release()`: the call then runs and returns late. */
  hold(match: CallMatcher): { release: () => void } {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const hold: Hold = { match, released, release };
    this.holds.push(hold);
    return {
      release: () => {
        this.holds = this.holds.filter((h) => h !== hold);
        release();
      },
    };
  }

  /**
   * Matching `open` calls really block a libuv threadpool thread: they open
   * `fifo` for reading without O_NONBLOCK, which waits for a writer (a hung
   * mount does the same to a thread). `release()` opens the writer end.
   */
  blockOnFifo(match: CallMatcher, fifo: string): { release: () => void } {
    let released = false;
    const hold: Hold = { match: (op, path) => op === 'open' && match(op, path), released: Promise.resolve(), release: () => undefined, fifo };
    this.holds.push(hold);
    return {
      release: () => {
        this.holds = this.holds.filter((h) => h !== hold);
        if (released) return;
        released = true;
        // A writer lets every blocked reader's open return; O_NONBLOCK: never blocks this thread.
        try {
          closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
        } catch {
          // ENXIO: no reader is blocked on it (any more)
        }
      },
    };
  }

  private async call<T>(op: FsOp, path: Buffer | undefined, run: () => Promise<T>): Promise<T> {
    this.counts[op]++;
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    try {
      const text = path ? path.toString('utf8') : '';
      const hold = this.holds.find((h) => h.match(op, text));
      if (hold?.fifo) {
        const fifo = hold.fifo;
        return (await new Promise<number>((resolve, reject) => openCb(fifo, constants.O_RDONLY, (err, fd) => (err ? reject(err) : resolve(fd))))) as T;
      }
      if (hold) await hold.released;
      return await run();
    } finally {
      this.inFlight--;
    }
  }

  async open(path: Buffer, flags: number): Promise<number> {
    this.opened.push(path.toString('utf8'));
    const fd = await this.call('open', path, () => this.real.open(path, flags));
    this.openFds.add(fd);
    return fd;
  }

  async close(fd: number): Promise<void> {
    await this.call('close', undefined, () => this.real.close(fd));
    this.openFds.delete(fd);
  }

  fstat(fd: number): Promise<ScannerStats> {
    return this.call('fstat', undefined, () => this.real.fstat(fd));
  }

  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    return this.call('read', undefined, () => this.real.read(fd, buffer, offset, length, position));
  }

  stat(path: Buffer): Promise<ScannerStats> {
    return this.call('stat', path, () => this.real.stat(path));
  }

  lstat(path: Buffer): Promise<ScannerStats> {
    return this.call('lstat', path, () => this.real.lstat(path));
  }

  async opendir(path: Buffer): Promise<ScannerDir> {
    const dir = await this.call('opendir', path, () => this.real.opendir(path));
    this.openDirs++;
    let closed = false;
    return {
      read: () => this.call('dirRead', path, () => dir.read()),
      close: async () => {
        await this.call('dirClose', path, () => dir.close());
        if (!closed) this.openDirs--;
        closed = true;
      },
    };
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Waits until `predicate` holds, polling; gives up (returns false) after `ms`. */
export async function eventually(predicate: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}
