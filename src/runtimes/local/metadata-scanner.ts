import { constants as fsConstants, type Dirent, promises as fs } from 'node:fs';
import { diagnostic, type Diagnostic } from '../../common/dto/diagnostic.dto';

/** SPEC §7: never scan more than this many entries of `pods/`. */
export const MAX_SCANNED_ENTRIES = 256;
/** Metadata records are a few KiB; a larger file is skipped unread past this. */
export const MAX_METADATA_BYTES = 256 * 1024;
/** fs operations in flight at once during a scan. */
const SCAN_CONCURRENCY = 16;

/** A record that belongs to this workspace: only the fields the projection may use. */
export interface LocalWorkerRecord {
  /** Raw directory name bytes: the id is derived from them. Internal. */
  dirName: Buffer;
  workerName: unknown;
  role: unknown;
  profileSelector: unknown;
  snapshotIsObject: boolean | null;
  active: unknown;
  hasActive: boolean;
  mtimeMs: number;
}

export interface ScanResult {
  dataDirPresent: boolean;
  records: LocalWorkerRecord[];
  diagnostics: Diagnostic[];
}

type SkipReason =
  | 'symlink'
  | 'not_directory'
  | 'missing'
  | 'unreadable'
  | 'too_large'
  | 'invalid'
  | 'no_workspace_root'
  | 'other_workspace';

/** Fixed texts: a diagnostic never quotes a record, a path or a parser message (SPEC §7). */
const SKIP_DIAGNOSTICS: Record<SkipReason, { code: string; severity: 'info' | 'warning'; text: string }> = {
  symlink: { code: 'local_metadata_symlink_skipped', severity: 'warning', text: 'symbolic link, not followed' },
  not_directory: { code: 'local_metadata_entry_not_directory', severity: 'warning', text: 'entry is not a directory' },
  missing: { code: 'local_metadata_missing', severity: 'warning', text: 'no metadata record' },
  unreadable: { code: 'local_metadata_unreadable', severity: 'warning', text: 'metadata record could not be read' },
  too_large: { code: 'local_metadata_too_large', severity: 'warning', text: `metadata record larger than ${MAX_METADATA_BYTES} bytes` },
  invalid: { code: 'local_metadata_invalid', severity: 'warning', text: 'metadata record is not a valid JSON object' },
  no_workspace_root: { code: 'local_metadata_missing_workspace_root', severity: 'warning', text: 'metadata record has no workspace_root' },
  other_workspace: { code: 'local_metadata_other_workspace', severity: 'info', text: 'record belongs to another workspace' },
};

/** Lexical comparison after trimming trailing `/` (SPEC §7). */
export function sameWorkspaceRoot(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

interface CachedRead {
  key: string;
  outcome: LocalWorkerRecord | SkipReason;
}

/**
 * Reads `<dataDir>/pods/<name>/metadata.json` records with async fs and
 * bounded work: at most 256 entries, 256 KiB per record, 16 fs calls at once.
 * Parsed records are cached by (inode, size, mtime), so a scan of unchanged
 * records costs one lstat/open/fstat per entry and no read or parse.
 * Entries that are symbolic links are never followed, and metadata.json is
 * opened with O_NOFOLLOW | O_NONBLOCK (a FIFO cannot stall the scan).
 */
export class MetadataScanner {
  private cache = new Map<string, CachedRead>();
  /**
   * Single flight: requests arriving while a scan runs share its result
   * instead of queueing more fs calls on libuv's threadpool. Nothing is
   * cached past the scan, so no answer is staler than the scan it waited for.
   */
  private inflightScan?: Promise<ScanResult>;
  private inflightStat?: Promise<boolean>;
  /** Bumped whenever a scan's outcome differs from the previous scan's. */
  private generation = 0;
  private lastSignature = '';

  constructor(
    private readonly dataDir: string,
    private readonly workspaceRoot: string,
  ) {}

  dataDirPresent(): Promise<boolean> {
    this.inflightStat ??= fs
      .stat(this.dataDir)
      .then((st) => st.isDirectory())
      .catch(() => false)
      .finally(() => (this.inflightStat = undefined));
    return this.inflightStat;
  }

  /** Scans, and returns a number that changes whenever the scan's outcome changes. */
  async version(): Promise<number> {
    await this.scan();
    return this.generation;
  }

  /** The result is shared between concurrent callers: treat it as read-only. */
  scan(): Promise<ScanResult> {
    this.inflightScan ??= this.scanOnce()
      .then((result) => {
        this.noteOutcome(result);
        return result;
      })
      .finally(() => (this.inflightScan = undefined));
    return this.inflightScan;
  }

  /** Entries are keyed by inode, size and mtime, so the signature changes with any record. */
  private noteOutcome(result: ScanResult): void {
    const signature = `${result.dataDirPresent}|${[...this.cache.keys()].map((k) => `${k}=${this.cache.get(k)!.key}`).join(',')}|${result.diagnostics.map((d) => d.message).join(',')}`;
    if (signature !== this.lastSignature) {
      this.lastSignature = signature;
      this.generation++;
    }
  }

  private async scanOnce(): Promise<ScanResult> {
    const diagnostics: Diagnostic[] = [];
    if (!(await this.dataDirPresent())) {
      diagnostics.push(diagnostic('local_data_dir_missing', 'warning', 'The local worker data directory does not exist; no local workers are listed'));
      return { dataDirPresent: false, records: [], diagnostics };
    }
    const podsDir = Buffer.from(`${this.dataDir}/pods/`);
    const entries: Dirent<Buffer>[] = [];
    let truncated = false;
    try {
      // Node's types omit 'buffer' for opendir, which supports it: names stay raw bytes.
      const dir = await fs.opendir(podsDir, { encoding: 'buffer' as BufferEncoding, bufferSize: 64 });
      for await (const entry of dir) {
        if (entries.length >= MAX_SCANNED_ENTRIES) {
          truncated = true;
          break; // leaving the loop early closes the handle
        }
        entries.push(entry as unknown as Dirent<Buffer>);
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        diagnostics.push(diagnostic('local_pods_dir_absent', 'info', 'No worker process has left a metadata record yet'));
      } else {
        diagnostics.push(diagnostic('local_pods_dir_unreadable', 'warning', 'The local worker records could not be listed'));
      }
      return { dataDirPresent: true, records: [], diagnostics };
    }
    if (truncated) {
      diagnostics.push(
        diagnostic('local_scan_truncated', 'warning', `More than ${MAX_SCANNED_ENTRIES} entries were found; only ${MAX_SCANNED_ENTRIES} were scanned`),
      );
    }
    entries.sort((a, b) => Buffer.compare(a.name, b.name));

    const outcomes = await mapBounded(entries, SCAN_CONCURRENCY, (entry) => this.readEntry(podsDir, entry));
    const nextCache = new Map<string, CachedRead>();
    const skipped = new Map<SkipReason, number>();
    const records: LocalWorkerRecord[] = [];
    outcomes.forEach((outcome, i) => {
      if (outcome.cache) nextCache.set(entries[i].name.toString('hex'), outcome.cache);
      const result = outcome.result;
      if (typeof result === 'string') skipped.set(result, (skipped.get(result) ?? 0) + 1);
      else records.push(result);
    });
    this.cache = nextCache; // bounded: only entries of this scan are kept
    for (const [reason, count] of skipped) {
      const d = SKIP_DIAGNOSTICS[reason];
      diagnostics.push(diagnostic(d.code, d.severity, `Skipped ${count} worker record${count === 1 ? '' : 's'}: ${d.text}`));
    }
    return { dataDirPresent: true, records, diagnostics };
  }

  private async readEntry(podsDir: Buffer, entry: Dirent<Buffer>): Promise<{ result: LocalWorkerRecord | SkipReason; cache?: CachedRead }> {
    const entryPath = Buffer.concat([podsDir, entry.name]);
    let isDir = entry.isDirectory();
    let isLink = entry.isSymbolicLink();
    if (!isDir && !isLink && !entry.isFile()) {
      // DT_UNKNOWN on some file systems: ask lstat, which never follows links.
      try {
        const st = await fs.lstat(entryPath);
        isDir = st.isDirectory();
        isLink = st.isSymbolicLink();
      } catch {
        return { result: 'unreadable' };
      }
    }
    if (isLink) return { result: 'symlink' };
    if (!isDir) return { result: 'not_directory' };

    const metadataPath = Buffer.concat([entryPath, Buffer.from('/metadata.json')]);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(metadataPath, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { result: 'missing' };
      if (code === 'ELOOP') return { result: 'symlink' };
      return { result: 'unreadable' };
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) return { result: 'invalid' };
      const key = `${st.ino}:${st.size}:${st.mtimeMs}`;
      const cached = this.cache.get(entry.name.toString('hex'));
      if (cached && cached.key === key) return { result: cached.outcome, cache: cached };
      if (st.size > MAX_METADATA_BYTES) return remember(key, 'too_large');
      // Bounded read: the file may grow between fstat and read.
      const buffer = Buffer.alloc(Math.min(st.size, MAX_METADATA_BYTES) + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > MAX_METADATA_BYTES) return remember(key, 'too_large');
      return remember(key, this.interpret(entry.name, buffer.subarray(0, bytesRead), st.mtimeMs));
    } catch {
      return { result: 'unreadable' };
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  private interpret(dirName: Buffer, bytes: Buffer, mtimeMs: number): LocalWorkerRecord | SkipReason {
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      return 'invalid';
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return 'invalid';
    const record = parsed as Record<string, unknown>;
    if (typeof record.workspace_root !== 'string' || record.workspace_root === '') return 'no_workspace_root';
    if (!sameWorkspaceRoot(record.workspace_root, this.workspaceRoot)) return 'other_workspace';
    const snapshot = record.resolved_manifest_snapshot;
    const snapshotIsObject = snapshot === undefined || snapshot === null ? null : typeof snapshot === 'object' && !Array.isArray(snapshot);
    const snap = snapshotIsObject ? (snapshot as Record<string, unknown>) : {};
    // Only the fields the projection uses are kept; internal ones (socket,
    // session, pid, endpoint, token, env …) are dropped here.
    return {
      dirName: Buffer.from(dirName),
      workerName: record.worker_name,
      role: snap.role,
      profileSelector: snap.profile_selector,
      snapshotIsObject,
      active: record.active,
      hasActive: Object.prototype.hasOwnProperty.call(record, 'active'),
      mtimeMs,
    };
  }
}

function remember(key: string, outcome: LocalWorkerRecord | SkipReason): { result: LocalWorkerRecord | SkipReason; cache: CachedRead } {
  return { result: outcome, cache: { key, outcome } };
}

async function mapBounded<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  });
  await Promise.all(workers);
  return results;
}
