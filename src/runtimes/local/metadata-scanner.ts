import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { diagnostic, type Diagnostic } from '../../common/dto/diagnostic.dto';
import { derivePublicId, toDisplayLabel } from '../../common/ids/public-id';
import { checkJsonBounds, DEFAULT_JSON_BOUNDS, type JsonBounds } from './bounded-json';
import { FsGate, nodeScannerFs, ScanAborted, ScanContext, type ScannerDir, type ScannerDirEntry, type ScannerFs, type ScannerStats } from './scanner-fs';
import { SmallestNames } from './smallest-names';

/** SPEC §7: never read more than this many entries of `pods/` in one scan (one page). */
export const MAX_SCANNED_ENTRIES = 256;
/** Metadata records are a few KiB; a larger file is skipped unread past this. */
export const MAX_METADATA_BYTES = 256 * 1024;
/** The public id prefix of local workers (SPEC §5). */
export const LOCAL_WORKER_ID_PREFIX = 'local-worker';

export interface MetadataScannerOptions {
  /** A scan (or lookup) answers by then, `degraded` if the file system has not. */
  deadlineMs: number;
  /** fs calls of all scans in flight at once (libuv's threadpool has 4 threads by default). */
  maxFsCalls: number;
  /** Names of `pods/` looked at per scan; past this the scan says `local_scan_truncated`. */
  maxListedNames: number;
  /** Parsed outcomes kept, by entry, across recent scans (least recently used dropped first). */
  cacheEntries: number;
  /** Nesting depth and token count a record may have before it is parsed. */
  jsonBounds: JsonBounds;
  /** The file-system seam; the real one by default. */
  fs: ScannerFs;
  /**
   * Open entries through `/proc/self/fd/<fd>/…` so that no path is resolved
   * twice. 'auto' probes once; false forces the path-based fallback.
   */
  procFd: 'auto' | boolean;
}

export const DEFAULT_SCANNER_OPTIONS: Readonly<MetadataScannerOptions> = Object.freeze({
  deadlineMs: 2000,
  maxFsCalls: 2,
  maxListedNames: 100_000,
  cacheEntries: 4 * MAX_SCANNED_ENTRIES,
  jsonBounds: DEFAULT_JSON_BOUNDS,
  fs: nodeScannerFs,
  procFd: 'auto' as const,
});

/** A field present with a type the projection cannot use. */
export const WRONG_TYPE: unique symbol = Symbol('local_metadata_wrong_type');
export type WrongType = typeof WRONG_TYPE;

/** `active`: absent, null, an object with a non-empty string `segment_id`, another object, or anything else. */
export type ActiveState = 'absent' | 'null' | 'segment' | 'pending_segment' | 'wrong_type';

/**
 * A record that belongs to this workspace, reduced to the primitives the
 * projection uses; nothing of the parsed document is retained. Strings are
 * already display hints (`toDisplayLabel(value, '')`: at most 80 UTF-16
 * units, control characters, `/` and `\` removed; '' when nothing was left),
 * so passing them through `toDisplayLabel` again changes nothing.
 */
export interface LocalWorkerRecord {
  /** Raw directory name bytes (≤ 255 on Linux): the id is derived from them. Internal. */
  readonly dirName: Buffer;
  /** undefined: absent. */
  readonly workerName: string | WrongType | undefined;
  /** null: absent or null, or no snapshot object. */
  readonly role: string | WrongType | null;
  readonly profileSelector: string | WrongType | null;
  /** null: no snapshot; false: a snapshot that is not an object. */
  readonly snapshotIsObject: boolean | null;
  readonly active: ActiveState;
  readonly mtimeMs: number;
}

export interface ScanPage {
  /** Only names strictly greater (byte order) than this are considered. */
  after?: Buffer;
  /**
   * Records wanted; capped at MAX_SCANNED_ENTRIES. Entries are read in name
   * order until they hold this many records or MAX_SCANNED_ENTRIES were read.
   */
  limit: number;
}

export interface ScanResult {
  /** 'degraded': the file system did not answer in time; what is here is incomplete. */
  status: 'ok' | 'degraded';
  /** false only when the data dir is known not to exist. */
  dataDirPresent: boolean;
  /** In byte order of their directory names. */
  records: LocalWorkerRecord[];
  diagnostics: Diagnostic[];
  /**
   * Names after `lastName` exist (or may: the listing was cut short). The
   * next page is `{ after: lastName }`, which may be past the last record:
   * skipped entries count as covered.
   */
  hasMore: boolean;
  /** The greatest name this page covered; undefined when it covered none (continue from the same `after`). */
  lastName: Buffer | undefined;
}

export interface FindResult {
  status: 'ok' | 'degraded';
  dataDirPresent: boolean;
  /** undefined: no such entry, or its record was skipped (diagnostics say why). */
  record: LocalWorkerRecord | undefined;
  diagnostics: Diagnostic[];
}

/**
 * Whether records can be listed now: 'listable' (`pods/` opens as a
 * directory, or is absent from a data dir that exists: no worker has left a
 * record yet), 'absent' (no data dir), 'unusable' (`pods/` is a file, a FIFO,
 * a symbolic link or unreadable), 'unknown' (no answer within the deadline).
 */
export interface RecordsDirStatus {
  state: 'listable' | 'absent' | 'unusable' | 'unknown';
  /** Why it is not 'listable'; empty when it is. */
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
  | 'other_workspace'
  | 'stalled';

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
  stalled: { code: 'local_metadata_stalled', severity: 'warning', text: 'the file system has not answered an earlier read; skipped until it does' },
};

const DATA_DIR_MISSING = () => diagnostic('local_data_dir_missing', 'warning', 'The local worker data directory does not exist; no local workers are listed');
const PODS_ABSENT = () => diagnostic('local_pods_dir_absent', 'info', 'No worker process has left a metadata record yet');
const PODS_UNREADABLE = () => diagnostic('local_pods_dir_unreadable', 'warning', 'The local worker records could not be listed');
const PODS_SYMLINK = () =>
  diagnostic('local_pods_dir_symlink', 'warning', 'The local worker records directory is a symbolic link, which is not followed; no local workers are listed');
const SCAN_DEADLINE = () =>
  diagnostic('local_scan_deadline', 'warning', 'The local worker records did not all answer within the scan deadline; the list may be incomplete');
const SCAN_STALLED = () =>
  diagnostic('local_scan_stalled', 'warning', 'Earlier reads of the local worker records have not returned yet; the records were not scanned');

/** The diagnostic of a data dir whose state could not be learnt in time. */
export function localRecordsUnavailable(): Diagnostic {
  return SCAN_STALLED();
}

/** Lexical comparison after trimming trailing `/` (SPEC §7). */
export function sameWorkspaceRoot(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = fsConstants;
/**
 * Directories: never through a symbolic link (ELOOP/ENOTDIR instead), never a
 * non-directory (ENOTDIR before anything is opened, so a FIFO cannot block).
 */
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK;
/** metadata.json: never through a symbolic link; a FIFO opens without waiting for a writer. */
const FILE_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;

/** Gate keys: entries use their name in hex, so these cannot collide with one. */
const PODS_KEY = '/pods';
const DATA_KEY = '/data';
const METADATA_NAME = Buffer.from('/metadata.json');
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

interface Outcome {
  result: LocalWorkerRecord | SkipReason;
  /** Identifies the file's version ((dev, ino, size, mtime, ctime)), when it was stat'ed. */
  version?: string;
}

interface CachedRead {
  version: string;
  outcome: LocalWorkerRecord | SkipReason;
}

/** An open `pods/` and how to reach its entries without resolving its path again. */
interface PodsHandle {
  fd: number;
  /** Prefix of an entry's path (the entry name is appended). */
  entryBase: Buffer;
  /** Entries and their metadata are opened through /proc/self/fd. */
  viaProc: boolean;
}

interface PageState {
  dataDirPresent: boolean;
  diagnostics: Diagnostic[];
  /** The listing finished and `entries` are the ones to read. */
  listed: boolean;
  entries: readonly ScannerDirEntry[];
  outcomes: Array<Outcome | undefined>;
  /** Records wanted: no entry is read once the entries read and being read could hold this many. */
  wanted: number;
  dropped: number;
  truncated: boolean;
}

type RunEnd = 'done' | 'deadline' | 'stalled';

interface SharedScan {
  result: ScanResult;
  signature: string;
}

/**
 * Reads `<dataDir>/pods/<name>/metadata.json` records (SPEC §7), in pages, by
 * byte order of the directory names, with bounded work and a deadline:
 *
 * - A page lists `pods/` as a stream (at most `maxListedNames` names), keeps
 *   the 256 smallest names after `after` (at most 257 names in memory) and
 *   reads those entries in order until they hold `limit` records. Skipped
 *   entries (other workspaces, no record …) thus cost no extra listing as
 *   long as 256 entries hold a page's records: the listing is the part of a
 *   page that grows with `pods/`.
 * - Every fs call goes through an FsGate: at most `maxFsCalls` at once across
 *   scans, so libuv's threadpool always has threads for the rest of the app.
 *   A scan answers by its deadline (`degraded`, with what it has); calls still
 *   outstanding then are remembered, and their entries skipped until they
 *   return. When stuck calls hold every slot, a scan answers at once.
 * - Nothing is opened through a symbolic link, and no path is resolved twice:
 *   `pods/` is opened with O_DIRECTORY|O_NOFOLLOW (a symlinked `pods/` is not
 *   followed either: whoever can replace it can as well point it anywhere),
 *   then each entry as `/proc/self/fd/<pods>/<name>` with
 *   O_DIRECTORY|O_NOFOLLOW, then `/proc/self/fd/<entry>/metadata.json` with
 *   O_NOFOLLOW|O_NONBLOCK. `/proc/self/fd/N` is a magic link to the open
 *   directory itself, so swapping an entry for a symlink between the listing
 *   and the opens changes nothing. Without /proc, see `readEntry`.
 * - Records over 256 KiB are skipped unread; the bytes are checked for depth
 *   and token count before JSON.parse; only the projected fields are kept, as
 *   primitives, cached by (dev, ino, size, mtime, ctime).
 */
export class MetadataScanner {
  private readonly options: MetadataScannerOptions;
  private readonly gate: FsGate;
  private readonly podsPath: Buffer;
  private readonly dataDirPath: Buffer;
  /** LRU: insertion order is recency. */
  private readonly cache = new Map<string, CachedRead>();
  /** Decided by the first probe that got an answer. */
  private viaProc?: boolean;
  /**
   * Single flight: callers asking for the same page (or the same id) while it
   * is being read share it instead of queueing more fs calls. Nothing is kept
   * past the scan, so no answer is staler than the scan it waited for.
   */
  private readonly inflight = new Map<string, Promise<unknown>>();
  /** Bumped whenever the first page's outcome differs from the previous one's. */
  private generation = 0;
  private lastSignature = '';
  /** What each result's page looked like (entries' versions included), for version(). */
  private readonly signatures = new WeakMap<ScanResult, string>();

  constructor(
    private readonly dataDir: string,
    private readonly workspaceRoot: string,
    options: Partial<MetadataScannerOptions> = {},
  ) {
    this.options = { ...DEFAULT_SCANNER_OPTIONS, ...options };
    this.gate = new FsGate(this.options.fs, this.options.maxFsCalls);
    this.dataDirPath = Buffer.from(dataDir);
    this.podsPath = Buffer.from(`${dataDir.replace(/\/+$/, '')}/pods`);
    if (this.options.procFd !== 'auto') this.viaProc = this.options.procFd;
  }

  /** Parsed outcomes currently cached (bounded by `cacheEntries`). */
  get cachedEntries(): number {
    return this.cache.size;
  }

  /** fs calls of this scanner not returned yet, stuck ones included. */
  get outstandingFsCalls(): number {
    return this.gate.outstanding;
  }

  /**
   * Whether records can be listed, learnt within the deadline by opening
   * `pods/` as a scan does (without listing it): the data dir existing is not
   * enough, a `pods/` that is a file lists nothing either.
   */
  recordsDirStatus(): Promise<RecordsDirStatus> {
    return this.shared('records-dir', async () => {
      const state: PageState = { dataDirPresent: true, diagnostics: [], listed: false, entries: [], outcomes: [], wanted: 0, dropped: 0, truncated: false };
      const end = await this.withDeadline(async (ctx) => {
        const pods = await this.openPods(ctx, state);
        if (pods) await this.gate.close(ctx, PODS_KEY, pods.fd);
      });
      if (end !== 'done') return { state: 'unknown', diagnostics: [localRecordsUnavailable()] };
      if (!state.dataDirPresent) return { state: 'absent', diagnostics: state.diagnostics };
      const problems = state.diagnostics.filter((d) => d.code !== PODS_ABSENT().code);
      return problems.length === 0 ? { state: 'listable', diagnostics: [] } : { state: 'unusable', diagnostics: problems };
    });
  }

  /** Scans the first page and returns a number that changes whenever its outcome changes. */
  async version(): Promise<number> {
    // Through scan(), so the version fails whenever the listing does.
    const signature = this.signatures.get(await this.scan({ limit: MAX_SCANNED_ENTRIES }));
    if (signature === undefined) throw new Error('scan result of unknown origin');
    if (signature !== this.lastSignature) {
      this.lastSignature = signature;
      this.generation++;
    }
    return this.generation;
  }

  /** One page of records. The result is shared between concurrent callers: treat it as read-only. */
  async scan(page: ScanPage = { limit: MAX_SCANNED_ENTRIES }): Promise<ScanResult> {
    const { result, signature } = await this.scanShared(page);
    this.signatures.set(result, signature);
    return result;
  }

  /**
   * The record of the first entry (byte order) whose name satisfies
   * `predicate`. Lists names only (bounded like a scan) and reads that one
   * entry, within the deadline.
   */
  find(predicate: (name: Buffer) => boolean): Promise<FindResult> {
    return this.findOnce(predicate);
  }

  /**
   * The record whose public id is `workerId` (SPEC §5). Ids are computed from
   * names alone (a SHA-256 of each name, the full id only when its digest
   * matches), so only the matching entry is read. Ids of other shapes answer
   * without touching the disk.
   */
  findByWorkerId(workerId: string): Promise<FindResult> {
    const match = /^local-worker-.+-([0-9a-f]{16})$/.exec(workerId);
    if (!match) return Promise.resolve({ status: 'ok', dataDirPresent: true, record: undefined, diagnostics: [] });
    const hex16 = match[1];
    return this.shared(`id:${workerId}`, () =>
      this.findOnce((name) => createHash('sha256').update(name).digest('hex').slice(0, 16) === hex16 && derivePublicId(LOCAL_WORKER_ID_PREFIX, name) === workerId),
    );
  }

  private scanShared(page: ScanPage): Promise<SharedScan> {
    const limit = Math.max(0, Math.min(Math.floor(page.limit), MAX_SCANNED_ENTRIES));
    const after = page.after === undefined ? undefined : Buffer.from(page.after);
    return this.shared(`page:${after?.toString('hex') ?? ''}:${limit}`, () => this.scanOnce(after, limit));
  }

  private shared<T>(key: string, run: () => Promise<T>): Promise<T> {
    let promise = this.inflight.get(key) as Promise<T> | undefined;
    if (!promise) {
      promise = run().finally(() => this.inflight.delete(key));
      this.inflight.set(key, promise);
    }
    return promise;
  }

  /**
   * Runs `work` against a fresh scan context and answers by the deadline:
   * 'done', 'deadline' (the context is then expired, its outstanding calls
   * remembered as stuck) or 'stalled' (stuck calls held every slot). `work`
   * may go on in the background after a deadline; every call it then makes is
   * refused and every late result dropped (descriptors closed).
   */
  private async withDeadline(work: (ctx: ScanContext) => Promise<void>): Promise<RunEnd> {
    const ctx = new ScanContext();
    if (this.gate.allSlotsStuck()) {
      this.gate.expire(ctx, 'stalled');
      return 'stalled';
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<RunEnd>((resolve, reject) => {
        timer = setTimeout(() => {
          this.gate.expire(ctx, 'deadline');
          resolve('deadline');
        }, this.options.deadlineMs);
        timer.unref();
        work(ctx).then(
          () => resolve('done'),
          (err: unknown) => {
            if (err instanceof ScanAborted) {
              this.gate.expire(ctx, err.reason);
              resolve(err.reason);
            } else {
              this.gate.expire(ctx, 'deadline');
              reject(err);
            }
          },
        );
      });
    } finally {
      clearTimeout(timer);
    }
  }

  private async scanOnce(after: Buffer | undefined, limit: number): Promise<SharedScan> {
    const state: PageState = { dataDirPresent: true, diagnostics: [], listed: false, entries: [], outcomes: [], wanted: limit, dropped: 0, truncated: false };
    const end = await this.withDeadline(async (ctx) => {
      const pods = await this.openPods(ctx, state);
      if (!pods) return;
      try {
        const selection = new SmallestNames<ScannerDirEntry>(limit === 0 ? 0 : MAX_SCANNED_ENTRIES, after);
        if (!(await this.listNames(ctx, state, pods, (entry) => selection.offer(entry)))) return;
        state.entries = selection.items();
        state.dropped = selection.dropped;
        state.outcomes = new Array<Outcome | undefined>(state.entries.length);
        state.listed = true;
        await this.readEntries(ctx, state, pods);
      } finally {
        await this.gate.close(ctx, PODS_KEY, pods.fd);
      }
    });
    return this.pageResult(state, end);
  }

  private pageResult(state: PageState, end: RunEnd): SharedScan {
    const diagnostics: Diagnostic[] = [];
    if (end === 'deadline') diagnostics.push(SCAN_DEADLINE());
    if (end === 'stalled') diagnostics.push(SCAN_STALLED());
    diagnostics.push(...state.diagnostics);
    // Only the entries read in name order without a gap count as covered, so
    // that the next page (after the last of them) misses none.
    let covered = 0;
    while (covered < state.outcomes.length && state.outcomes[covered] !== undefined) covered++;
    const records: LocalWorkerRecord[] = [];
    const skipped = new Map<SkipReason, number>();
    const parts: string[] = [];
    for (let i = 0; i < covered; i++) {
      const outcome = state.outcomes[i]!;
      parts.push(`${state.entries[i].name.toString('hex')}=${typeof outcome.result === 'string' ? outcome.result : ''}@${outcome.version ?? ''}`);
      if (typeof outcome.result === 'string') skipped.set(outcome.result, (skipped.get(outcome.result) ?? 0) + 1);
      else records.push(outcome.result);
    }
    diagnostics.push(...skipDiagnostics(skipped));
    const complete = end === 'done';
    const hasMore = !complete && !state.listed ? true : covered < state.entries.length || state.dropped > 0 || state.truncated;
    const status = complete && !skipped.has('stalled') ? 'ok' : 'degraded';
    const lastName = covered > 0 ? Buffer.from(state.entries[covered - 1].name) : undefined;
    const result: ScanResult = { status, dataDirPresent: state.dataDirPresent, records, diagnostics, hasMore, lastName };
    const signature = [status, state.dataDirPresent, hasMore, parts.join(','), diagnostics.map((d) => d.code + d.message).join(',')].join('|');
    return { result, signature };
  }

  private async findOnce(predicate: (name: Buffer) => boolean): Promise<FindResult> {
    const state: PageState = { dataDirPresent: true, diagnostics: [], listed: false, entries: [], outcomes: [], wanted: 0, dropped: 0, truncated: false };
    let outcome: Outcome | undefined;
    const end = await this.withDeadline(async (ctx) => {
      const pods = await this.openPods(ctx, state);
      if (!pods) return;
      try {
        let best: ScannerDirEntry | undefined;
        const listed = await this.listNames(ctx, state, pods, (entry) => {
          if ((best === undefined || Buffer.compare(entry.name, best.name) < 0) && predicate(entry.name)) best = { name: Buffer.from(entry.name), type: entry.type };
        });
        if (!listed || !best) return;
        outcome = await this.readEntry(ctx, pods, best);
      } finally {
        await this.gate.close(ctx, PODS_KEY, pods.fd);
      }
    });
    const diagnostics: Diagnostic[] = [];
    if (end === 'deadline') diagnostics.push(SCAN_DEADLINE());
    if (end === 'stalled') diagnostics.push(SCAN_STALLED());
    diagnostics.push(...state.diagnostics);
    let record: LocalWorkerRecord | undefined;
    let degraded = end !== 'done';
    const found = outcome?.result;
    if (typeof found === 'string') {
      diagnostics.push(...skipDiagnostics(new Map([[found, 1]])));
      if (found === 'stalled') degraded = true;
    } else record = found;
    return { status: degraded ? 'degraded' : 'ok', dataDirPresent: state.dataDirPresent, record, diagnostics };
  }

  /** Opens `pods/` without following a link; on failure says why in `state` and returns undefined. */
  private async openPods(ctx: ScanContext, state: PageState): Promise<PodsHandle | undefined> {
    if (this.gate.isStuck(PODS_KEY) || this.gate.isStuck(DATA_KEY)) throw new ScanAborted('stalled');
    let fd: number;
    try {
      fd = await this.gate.run(ctx, PODS_KEY, (fs) => fs.open(this.podsPath, DIR_FLAGS), (late) => void this.gate.close(null, PODS_KEY, late));
    } catch (err) {
      if (err instanceof ScanAborted) throw err;
      const code = errorCode(err);
      if (code === 'ENOENT') {
        const st = await this.gate.run(ctx, DATA_KEY, (fs) => fs.stat(this.dataDirPath)).catch((e: unknown) => {
          if (e instanceof ScanAborted) throw e;
          return undefined;
        });
        if (st?.isDirectory()) state.diagnostics.push(PODS_ABSENT());
        else {
          state.dataDirPresent = false;
          state.diagnostics.push(DATA_DIR_MISSING());
        }
      } else if (code === 'ENOTDIR' || code === 'ELOOP') {
        const st = await this.gate.run(ctx, PODS_KEY, (fs) => fs.lstat(this.podsPath)).catch((e: unknown) => {
          if (e instanceof ScanAborted) throw e;
          return undefined;
        });
        state.diagnostics.push(st?.isSymbolicLink() ? PODS_SYMLINK() : PODS_UNREADABLE());
      } else {
        state.diagnostics.push(PODS_UNREADABLE());
      }
      return undefined;
    }
    try {
      this.viaProc ??= await this.probeProcFd(ctx, fd);
    } catch (err) {
      await this.gate.close(ctx, PODS_KEY, fd);
      throw err;
    }
    const entryBase = this.viaProc ? Buffer.from(`/proc/self/fd/${fd}/`) : Buffer.concat([this.podsPath, Buffer.from('/')]);
    return { fd, entryBase, viaProc: this.viaProc };
  }

  /** Whether `/proc/self/fd/<fd>` reaches the very directory `fd` is open on. */
  private async probeProcFd(ctx: ScanContext, fd: number): Promise<boolean> {
    const probe = async () => {
      const [viaPath, viaFd] = [
        await this.gate.run(ctx, PODS_KEY, (fs) => fs.stat(Buffer.from(`/proc/self/fd/${fd}`))),
        await this.gate.run(ctx, PODS_KEY, (fs) => fs.fstat(fd)),
      ];
      return viaPath.isDirectory() && viaPath.dev === viaFd.dev && viaPath.ino === viaFd.ino;
    };
    return probe().catch((err: unknown) => {
      if (err instanceof ScanAborted) throw err;
      return false;
    });
  }

  /**
   * Streams the names of `pods/` to `onName`, at most `maxListedNames`.
   * Returns false (with a diagnostic in `state`) when the listing failed.
   */
  private async listNames(ctx: ScanContext, state: PageState, pods: PodsHandle, onName: (entry: ScannerDirEntry) => void): Promise<boolean> {
    // Through /proc the listing opens the directory `pods.fd` is open on, not whatever the path names now.
    const listPath = pods.viaProc ? Buffer.from(`/proc/self/fd/${pods.fd}`) : this.podsPath;
    let dir: ScannerDir;
    try {
      dir = await this.gate.run(ctx, PODS_KEY, (fs) => fs.opendir(listPath), (late) => void this.gate.release(null, PODS_KEY, () => late.close()));
    } catch (err) {
      if (err instanceof ScanAborted) throw err;
      state.diagnostics.push(PODS_UNREADABLE());
      return false;
    }
    try {
      let count = 0;
      for (;;) {
        const entry = await this.gate.run(ctx, PODS_KEY, () => dir.read());
        if (entry === null) return true;
        if (++count > this.options.maxListedNames) {
          state.truncated = true;
          state.diagnostics.push(
            diagnostic(
              'local_scan_truncated',
              'warning',
              `More than ${this.options.maxListedNames} entries were found; only the first ${this.options.maxListedNames} listed were considered`,
            ),
          );
          return true;
        }
        onName(entry);
      }
    } catch (err) {
      if (err instanceof ScanAborted) throw err;
      state.diagnostics.push(PODS_UNREADABLE());
      return false;
    } finally {
      await this.gate.release(ctx, PODS_KEY, () => dir.close().catch(() => undefined));
    }
  }

  /**
   * Reads the selected entries in order, `maxFsCalls` at a time, until they
   * hold `state.wanted` records. An entry is started only while the records
   * found plus the entries in flight are fewer than wanted, so the records
   * never exceed it and the entries read form a prefix (the page covers all
   * of them): a page of records reads no entry past its last record.
   */
  private readEntries(ctx: ScanContext, state: PageState, pods: PodsHandle): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let next = 0;
      let running = 0;
      let found = 0;
      let failed = false;
      const pump = () => {
        while (!failed && running < this.options.maxFsCalls && next < state.entries.length && found + running < state.wanted) {
          const i = next++;
          running++;
          this.readEntry(ctx, pods, state.entries[i]).then(
            (outcome) => {
              state.outcomes[i] = outcome;
              if (typeof outcome.result !== 'string') found++;
              running--;
              pump();
            },
            (err: unknown) => {
              failed = true;
              reject(err);
            },
          );
        }
        if (running === 0) resolve();
      };
      pump();
    });
  }

  /**
   * One entry: never through a symbolic link at any step, every descriptor
   * closed on every path (a late-returning open is closed by the gate).
   *
   * Through /proc (Linux): the entry is opened relative to the open `pods/`
   * and metadata.json relative to the open entry, so there is nothing to
   * re-resolve. Fallback (no /proc/self/fd): path-based opens, each with
   * O_NOFOLLOW, and the entry's (dev, ino) from fstat must still be what lstat
   * of its path says after metadata.json was opened (and metadata.json must be
   * on the same device). This narrows but does not close the race: an entry
   * swapped for a link and back between the two opens and the lstat is not seen.
   */
  private async readEntry(ctx: ScanContext, pods: PodsHandle, entry: ScannerDirEntry): Promise<Outcome> {
    const key = entry.name.toString('hex');
    if (this.gate.isStuck(key)) return { result: 'stalled' };
    // The listing's type is a hint that saves opens; the opens below decide.
    if (entry.type === 'symlink') return { result: 'symlink' };
    if (entry.type === 'other') return { result: 'not_directory' };
    const closeLate = (fd: number) => void this.gate.close(null, key, fd);
    const run = <T>(op: (fs: ScannerFs) => Promise<T>, discard?: (value: T) => void) => this.gate.run(ctx, key, op, discard);
    const entryPath = Buffer.concat([pods.entryBase, entry.name]);

    let entryFd: number;
    try {
      entryFd = await run((fs) => fs.open(entryPath, DIR_FLAGS), closeLate);
    } catch (err) {
      if (err instanceof ScanAborted) throw err;
      const code = errorCode(err);
      if (code === 'ELOOP') return { result: 'symlink' };
      if (code === 'ENOENT') return { result: 'missing' };
      if (code !== 'ENOTDIR') return { result: 'unreadable' };
      // O_DIRECTORY|O_NOFOLLOW gives ENOTDIR for a symlink as for a file: ask lstat (which follows nothing).
      const st = await run((fs) => fs.lstat(entryPath)).catch((e: unknown) => {
        if (e instanceof ScanAborted) throw e;
        return undefined;
      });
      return { result: st === undefined ? 'unreadable' : st.isSymbolicLink() ? 'symlink' : 'not_directory' };
    }

    let fd: number;
    let entryStat: ScannerStats | undefined;
    try {
      if (!pods.viaProc) entryStat = await run((fs) => fs.fstat(entryFd));
      const metadataPath = pods.viaProc ? Buffer.from(`/proc/self/fd/${entryFd}/metadata.json`) : Buffer.concat([entryPath, METADATA_NAME]);
      fd = await run((fs) => fs.open(metadataPath, FILE_FLAGS), closeLate);
    } catch (err) {
      if (err instanceof ScanAborted) throw err;
      const code = errorCode(err);
      return { result: code === 'ENOENT' ? 'missing' : code === 'ELOOP' ? 'symlink' : 'unreadable' };
    } finally {
      await this.gate.close(ctx, key, entryFd);
    }

    try {
      if (entryStat) {
        // Fallback only: the path must still name the directory that was opened.
        const now = await run((fs) => fs.lstat(entryPath));
        if (!now.isDirectory() || now.dev !== entryStat.dev || now.ino !== entryStat.ino) return { result: 'unreadable' };
      }
      const st = await run((fs) => fs.fstat(fd));
      if (entryStat && st.dev !== entryStat.dev) return { result: 'unreadable' };
      if (!st.isFile()) return { result: 'invalid' };
      const version = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      const cached = this.cache.get(key);
      if (cached && cached.version === version) {
        this.remember(key, cached); // refreshes recency
        return { result: cached.outcome, version };
      }
      let outcome: LocalWorkerRecord | SkipReason;
      if (st.size > MAX_METADATA_BYTES) outcome = 'too_large';
      else {
        // Bounded read: the file may have grown since fstat; one byte more tells.
        const buffer = Buffer.alloc(Math.min(st.size, MAX_METADATA_BYTES) + 1);
        let length = 0;
        // Usually one read; short reads (network file systems) go on up to the size fstat saw.
        do {
          const n = await run((fs) => fs.read(fd, buffer, length, buffer.length - length, length));
          if (n <= 0) break;
          length += n;
        } while (length < st.size);
        outcome = length > MAX_METADATA_BYTES ? 'too_large' : this.interpret(entry.name, buffer.subarray(0, length), st.mtimeMs);
      }
      this.remember(key, { version, outcome });
      return { result: outcome, version };
    } catch (err) {
      if (err instanceof ScanAborted) throw err;
      return { result: 'unreadable' };
    } finally {
      await this.gate.close(ctx, key, fd);
    }
  }

  private remember(key: string, read: CachedRead): void {
    this.cache.delete(key);
    this.cache.set(key, read);
    while (this.cache.size > this.options.cacheEntries) this.cache.delete(this.cache.keys().next().value!);
  }

  private interpret(dirName: Buffer, raw: Buffer, mtimeMs: number): LocalWorkerRecord | SkipReason {
    // Editors on some systems start UTF-8 files with a byte order mark, which JSON.parse refuses.
    const bytes = raw.subarray(0, UTF8_BOM.length).equals(UTF8_BOM) ? raw.subarray(UTF8_BOM.length) : raw;
    // Before parsing: a record may not nest deeper or hold more tokens than the bounds.
    if (checkJsonBounds(bytes, this.options.jsonBounds) !== 'ok') return 'invalid';
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      return 'invalid';
    }
    if (!isPlainObject(parsed)) return 'invalid';
    const root = parsed.workspace_root;
    if (typeof root !== 'string' || root === '') return 'no_workspace_root';
    if (!sameWorkspaceRoot(root, this.workspaceRoot)) return 'other_workspace';
    const snapshot = parsed.resolved_manifest_snapshot;
    const snapshotIsObject = snapshot === undefined || snapshot === null ? null : isPlainObject(snapshot);
    const snap = snapshotIsObject ? (snapshot as Record<string, unknown>) : {};
    // Only the fields the projection uses are kept, as primitives; internal
    // ones (socket, session, pid, endpoint, token, env …) are dropped here.
    const workerName = parsed.worker_name;
    return Object.freeze({
      dirName: Buffer.from(dirName),
      workerName: workerName === undefined ? undefined : typeof workerName === 'string' ? toDisplayLabel(workerName, '') : WRONG_TYPE,
      role: hintOf(snap.role),
      profileSelector: hintOf(snap.profile_selector),
      snapshotIsObject,
      active: activeOf(parsed),
      mtimeMs,
    });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function hintOf(value: unknown): string | WrongType | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? toDisplayLabel(value, '') : WRONG_TYPE;
}

function activeOf(record: Record<string, unknown>): ActiveState {
  if (!Object.prototype.hasOwnProperty.call(record, 'active')) return 'absent';
  const active = record.active;
  if (active === null) return 'null';
  if (!isPlainObject(active)) return 'wrong_type';
  return typeof active.segment_id === 'string' && active.segment_id !== '' ? 'segment' : 'pending_segment';
}

function skipDiagnostics(skipped: Map<SkipReason, number>): Diagnostic[] {
  return [...skipped].map(([reason, count]) => {
    const d = SKIP_DIAGNOSTICS[reason];
    return diagnostic(d.code, d.severity, `Skipped ${count} worker record${count === 1 ? '' : 's'}: ${d.text}`);
  });
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as NodeJS.ErrnoException).code : undefined;
}
