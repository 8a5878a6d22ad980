import { arch, platform } from 'node:os';
import { diagnostic, type Diagnostic } from '../../common/dto/diagnostic.dto';
import { derivePublicId, toDisplayLabel } from '../../common/ids/public-id';
import type {
  HostSummary,
  Listing,
  RuntimeCapabilities,
  RuntimeSource,
  RuntimeSummary,
  WorkerCapabilities,
  WorkerSummary,
} from '../runtime-source';
import { LOCAL_RUNTIME_ID } from '../runtimes.constants';
import {
  type LocalWorkerRecord,
  localRecordsUnavailable,
  MAX_SCANNED_ENTRIES,
  MetadataScanner,
  type MetadataScannerOptions,
  type ScanResult,
} from './metadata-scanner';

export interface LocalRuntimeSourceOptions {
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
  can_accept_input: false,
  can_stream_events: false,
  can_stop: false,
  can_spawn_followup: false,
  can_read_bounded_transcript: false,
});

/**
 * Read-only projection of the metadata records that worker processes on this
 * machine leave on disk (SPEC §7). It lists and describes them; it defines no
 * spawn, input or transcript operation, so the registry answers those with
 * `501 capability_unsupported`.
 */
export class LocalRuntimeSource implements RuntimeSource {
  readonly runtimeId = LOCAL_RUNTIME_ID;
  readonly hostId: string;
  private readonly scanner: MetadataScanner;
  private readonly caps: RuntimeCapabilities;

  constructor(options: LocalRuntimeSourceOptions) {
    this.hostId = derivePublicId('local', options.workspaceId);
    this.scanner = new MetadataScanner(options.dataDir, options.workspaceRoot, options.scanner);
    this.caps = Object.freeze({
      can_list_hosts: true,
      can_list_workers: true,
      can_get_worker: true,
      can_spawn_worker: false,
      can_stop_worker: false,
      can_accept_input: false,
      can_stream_events: false,
      can_read_bounded_transcript: false,
      has_workspace_fs: false,
      has_shell: false,
      has_git: false,
      supports_worktrees: false,
      supports_backend_internal_tools: false,
      local_pod_inspection: 'available',
      workspace_scope: 'current_workspace',
      max_workers: MAX_SCANNED_ENTRIES,
      os: platform(),
      arch: arch(),
    });
  }

  capabilities(): RuntimeCapabilities {
    return this.caps;
  }

  async summary(): Promise<RuntimeSummary> {
    const dataDir = await this.scanner.dataDirStatus();
    const present = dataDir === 'present';
    return {
      runtime_id: this.runtimeId,
      label: 'Local worker processes',
      kind: 'local_pod',
      status: present ? 'available' : 'degraded',
      source: {
        kind: 'local_compatibility',
        status: 'active',
        identity_authority: 'runtime_registry_projection',
        note: 'Read-only view of worker processes on this machine, from the metadata records they leave on disk.',
      },
      host_ids: [this.hostId],
      capabilities: present ? this.caps : { ...this.caps, local_pod_inspection: 'unavailable' },
      diagnostics: present ? [] : [dataDir === 'absent' ? dataDirMissing() : localRecordsUnavailable()],
    };
  }

  async listHosts(): Promise<Listing<HostSummary>> {
    const scan = await this.firstPage();
    const lastSeen = scan.records.reduce((max, r) => Math.max(max, r.mtimeMs), -Infinity);
    return {
      items: [
        {
          runtime_id: this.runtimeId,
          host_id: this.hostId,
          label: 'Local worker host',
          kind: 'local-worker-host',
          status: scan.dataDirPresent && scan.status === 'ok' ? 'available' : 'degraded',
          observed_at: new Date().toISOString(),
          last_seen_at: Number.isFinite(lastSeen) ? new Date(lastSeen).toISOString() : null,
          capabilities: scan.dataDirPresent ? this.caps : { ...this.caps, local_pod_inspection: 'unavailable' },
          diagnostics: scan.diagnostics,
        },
      ],
      diagnostics: [],
    };
  }

  async listWorkers(options: { limit: number; hostId?: string }): Promise<Listing<WorkerSummary>> {
    if (options.hostId !== undefined && options.hostId !== this.hostId) return { items: [], diagnostics: [] };
    const scan = await this.firstPage();
    const diagnostics = [...scan.diagnostics];
    if (scan.records.length > options.limit) {
      diagnostics.push(diagnostic('list_truncated', 'info', `${this.runtimeId} has ${scan.records.length} workers; ${options.limit} are listed`));
    }
    return { items: scan.records.slice(0, options.limit).map((r) => this.toWorkerSummary(r)), diagnostics };
  }

  async listVersion(): Promise<string | undefined> {
    return String(await this.scanner.version());
  }

  async getWorker(workerId: string): Promise<WorkerSummary | undefined> {
    // Ids of other shapes cannot be ours: answer without touching the disk.
    if (!workerId.startsWith(`${WORKER_PREFIX}-`)) return undefined;
    const found = await this.scanner.findByWorkerId(workerId);
    return found.record ? this.toWorkerSummary(found.record) : undefined;
  }

  /** The first page of records; says so when more entries exist than one page reads. */
  private async firstPage(): Promise<ScanResult> {
    const scan = await this.scanner.scan({ limit: MAX_SCANNED_ENTRIES });
    if (!scan.hasMore || scan.diagnostics.some((d) => d.code === 'local_scan_truncated')) return scan;
    const truncated = diagnostic('local_scan_truncated', 'warning', `More than ${MAX_SCANNED_ENTRIES} entries were found; only ${MAX_SCANNED_ENTRIES} were scanned`);
    return { ...scan, diagnostics: [...scan.diagnostics, truncated] };
  }

  /** Allow-list projection of a record (SPEC §3, local column; §7 for state). */
  private toWorkerSummary(record: LocalWorkerRecord): WorkerSummary {
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
      runtime_id: this.runtimeId,
      worker_id: derivePublicId(WORKER_PREFIX, record.dirName),
      host_id: this.hostId,
      label,
      role,
      profile,
      workspace: { visibility: 'current_workspace', identity: 'runtime_workspace' },
      state,
      status,
      last_seen_at: new Date(record.mtimeMs).toISOString(),
      implementation: { kind: 'local_pod', display_hint: dirLabel },
      capabilities: WORKER_CAPABILITIES,
      diagnostics,
    };
  }
}

function dataDirMissing(): Diagnostic {
  return diagnostic('local_data_dir_missing', 'warning', 'The local worker data directory does not exist; no local workers are listed');
}

function fieldIgnored(field: string, consequence: string): Diagnostic {
  return diagnostic('local_metadata_field_ignored', 'warning', `The record's ${field} has an unexpected type; ${consequence}`);
}

/** Manifest hints are display values: sanitized like labels, null when absent or unusable. */
function hint(value: unknown, field: string, diagnostics: Diagnostic[]): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    diagnostics.push(fieldIgnored(field, `${field === 'role' ? 'role' : 'profile'} is shown as null`));
    return null;
  }
  const label = toDisplayLabel(value, '');
  return label === '' ? null : label;
}
