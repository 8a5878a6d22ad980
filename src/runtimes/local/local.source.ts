import { arch, platform } from 'node:os';
import { diagnostic, type Diagnostic } from '../../common/dto/diagnostic.dto';
import { derivePublicId, toDisplayLabel } from '../../common/ids/public-id';
import type { HostRecord, Page, PageRequest, RuntimeCapabilities, RuntimeRecord, RuntimeSource, WorkerCapabilities, WorkerRecord } from '../runtime-source';
import { RuntimeSourceError } from '../runtime-source.errors';
import { LOCAL_RUNTIME_ID } from '../runtimes.constants';
import {
  type LocalWorkerRecord,
  localRecordsUnavailable,
  MAX_SCANNED_ENTRIES,
  MetadataScanner,
  type MetadataScannerOptions,
  WRONG_TYPE,
} from './metadata-scanner';

export interface LocalSourceOptions {
  workspaceId: string;
  /** Internal: compared with each record's workspace_root, never projected. */
  workspaceRoot: string;
  /** Internal: where `pods/` lives, never projected. */
  dataDir: string;
  /** Scanner knobs (deadline, fs calls in flight …); defaults otherwise. */
  scanner?: Partial<MetadataScannerOptions>;
}

const WORKER_PREFIX = 'local-worker';

/** The source is read-only: no worker operation works through it. */
const WORKER_CAPABILITIES: WorkerCapabilities = Object.freeze({
  canAcceptInput: false,
  canStreamEvents: false,
  canStop: false,
  canSpawnFollowup: false,
  canReadBoundedTranscript: false,
  canExecute: false,
  canCancelRun: false,
  canDelete: false,
});

/**
 * Read-only projection of the metadata records that worker processes on this
 * machine leave on disk (SPEC §7). It lists and describes them; it defines no
 * spawn, input or transcript operation, so the registry answers those with
 * `501 capability_unsupported`. Every scan has a deadline: past it the
 * source answers `degraded` with what it could read, never later.
 */
export class LocalSource implements RuntimeSource {
  readonly runtimeId = LOCAL_RUNTIME_ID;
  readonly hostId: string;
  private readonly scanner: MetadataScanner;
  private readonly caps: RuntimeCapabilities;

  constructor(options: LocalSourceOptions) {
    this.hostId = derivePublicId('local', options.workspaceId);
    this.scanner = new MetadataScanner(options.dataDir, options.workspaceRoot, options.scanner);
    this.caps = Object.freeze({
      canListHosts: true,
      canListWorkers: true,
      canGetWorker: true,
      canSpawnWorker: false,
      canStopWorker: false,
      canDeleteWorker: false,
      canAcceptInput: false,
      canStreamEvents: false,
      canReadBoundedTranscript: false,
      canExecute: false,
      hasWorkspaceFs: false,
      hasShell: false,
      hasGit: false,
      supportsWorktrees: false,
      supportsBackendInternalTools: false,
      localPodInspection: 'available',
      workspaceScope: 'current_workspace',
      maxWorkers: MAX_SCANNED_ENTRIES,
      os: platform(),
      arch: arch(),
    });
  }

  capabilities(): RuntimeCapabilities {
    return this.caps;
  }

  /**
   * `degraded`, with local_pod_inspection `unavailable`, whenever records
   * cannot be listed now: no data dir (SPEC §3), but also a `pods/` that is
   * not a readable directory, or no answer within the deadline (SPEC §3:
   * capabilities tell the truth).
   */
  async summary(): Promise<RuntimeRecord> {
    const records = await this.scanner.recordsDirStatus();
    const listable = records.state === 'listable';
    return {
      runtimeId: this.runtimeId,
      label: 'Local worker processes',
      kind: 'local_pod',
      status: listable ? 'available' : 'degraded',
      source: {
        kind: 'local_compatibility',
        status: 'active',
        note: 'Read-only view of worker processes on this machine, from the metadata records they leave on disk.',
      },
      hostIds: [this.hostId],
      capabilities: listable ? this.caps : { ...this.caps, localPodInspection: 'unavailable' },
      diagnostics: records.diagnostics,
    };
  }

  async listHosts(): Promise<{ items: HostRecord[]; diagnostics: Diagnostic[] }> {
    // The scan says whether the entries answered; the records dir status, like the runtime's, whether pods/ can be listed at all.
    const [scan, records] = await Promise.all([this.scanner.scan({ limit: MAX_SCANNED_ENTRIES }), this.scanner.recordsDirStatus()]);
    const listable = records.state === 'listable';
    const lastSeen = scan.records.reduce((max, r) => Math.max(max, r.mtimeMs), -Infinity);
    const host: HostRecord = {
      runtimeId: this.runtimeId,
      hostId: this.hostId,
      label: 'Local worker host',
      kind: 'local-worker-host',
      status: listable && scan.status === 'ok' ? 'available' : 'degraded',
      observedAt: Date.now(),
      lastSeenAt: Number.isFinite(lastSeen) ? lastSeen : null,
      capabilities: listable ? this.caps : { ...this.caps, localPodInspection: 'unavailable' },
      diagnostics: scan.diagnostics,
    };
    return { items: [host], diagnostics: [] };
  }

  /**
   * Records in directory-name byte order, at most 256 entries read per page
   * (until `limit` records are found); the position is the last name the
   * scan covered (hex), so paging reaches every record however many there
   * are. A page may hold fewer than `limit` records and still have a next
   * position: the entries it could read held no more.
   */
  async listWorkers(page: PageRequest & { hostId?: string }): Promise<Page<WorkerRecord>> {
    if (page.hostId !== undefined && page.hostId !== this.hostId) return { items: [], diagnostics: [], next: null };
    const after = page.after === undefined ? undefined : Buffer.from(page.after, 'hex');
    const scan = await this.scanner.scan({ after, limit: Math.min(page.limit, MAX_SCANNED_ENTRIES) });
    return {
      items: scan.records.map((r) => this.toWorkerRecord(r)),
      diagnostics: scan.diagnostics,
      next: scan.hasMore && scan.lastName ? scan.lastName.toString('hex') : null,
    };
  }

  async getWorker(workerId: string): Promise<WorkerRecord | undefined> {
    // Ids of other shapes cannot be ours: answer without touching the disk.
    if (!workerId.startsWith(`${WORKER_PREFIX}-`)) return undefined;
    const found = await this.scanner.findByWorkerId(workerId);
    if (found.record) return this.toWorkerRecord(found.record);
    // Not found within the deadline is not "does not exist": say the records cannot be read now (503).
    if (found.status === 'degraded') throw new RuntimeSourceError(localRecordsUnavailable(), new Error('local lookup missed its deadline'), true);
    return undefined;
  }

  /** Allow-list projection of a record (SPEC §3, local column; §7 for state). */
  private toWorkerRecord(record: LocalWorkerRecord): WorkerRecord {
    const diagnostics: Diagnostic[] = [];
    const dirLabel = toDisplayLabel(record.dirName.toString('utf8'), 'worker');
    let label = dirLabel;
    if (typeof record.workerName === 'string') label = toDisplayLabel(record.workerName, dirLabel);
    else diagnostics.push(fieldIgnored('worker_name', 'the directory name is shown instead'));
    if (record.snapshotIsObject === false) diagnostics.push(fieldIgnored('resolved_manifest_snapshot', 'role and profile are unknown'));
    const role = hint(record.role, 'role', diagnostics);
    const profile = hint(record.profileSelector, 'profile_selector', diagnostics);

    let state: 'active' | 'metadata_only' = 'metadata_only';
    let status = 'metadata_only';
    if (record.active === 'segment' || record.active === 'pending_segment') {
      state = 'active';
      status = record.active === 'segment' ? 'active:segment' : 'active:pending_segment';
    } else if (record.active === 'wrong_type') {
      diagnostics.push(fieldIgnored('active', 'the worker is shown as metadata_only'));
    }
    return {
      runtimeId: this.runtimeId,
      workerId: derivePublicId(WORKER_PREFIX, record.dirName),
      hostId: this.hostId,
      label,
      role,
      profile,
      workspace: { visibility: 'current_workspace', identity: 'runtime_workspace' },
      state,
      status,
      createdAt: null,
      lastSeenAt: record.mtimeMs,
      activity: 'not_applicable',
      currentRunId: null,
      implementation: { kind: 'local_pod', displayHint: dirLabel },
      capabilities: WORKER_CAPABILITIES,
      diagnostics,
    };
  }
}

function fieldIgnored(field: string, consequence: string): Diagnostic {
  return diagnostic('local_metadata_field_ignored', 'warning', `The record's ${field} has an unexpected type; ${consequence}`);
}

/** Manifest hints are display values (the scanner already made them display-safe); null when absent or unusable. */
function hint(value: string | typeof WRONG_TYPE | null, field: string, diagnostics: Diagnostic[]): string | null {
  if (value === null) return null;
  if (value === WRONG_TYPE) {
    diagnostics.push(fieldIgnored(field, `${field === 'role' ? 'role' : 'profile'} is shown as null`));
    return null;
  }
  return value === '' ? null : value;
}
