import { ApiField } from '../../common/dto/api-field.decorator';
import { DiagnosticDto, toDiagnosticDtos } from '../../common/dto/diagnostic.dto';
import { ListEnvelopeDto } from '../../common/dto/list-envelope.dto';
import type { RuntimeCapabilities, RuntimeRecord } from '../runtime-source';

export class RuntimeCapabilitiesDto {
  @ApiField() can_list_hosts: boolean;
  @ApiField() can_list_workers: boolean;
  @ApiField() can_get_worker: boolean;
  @ApiField() can_spawn_worker: boolean;
  @ApiField() can_stop_worker: boolean;
  @ApiField() can_delete_worker: boolean;
  @ApiField() can_accept_input: boolean;
  @ApiField() can_stream_events: boolean;
  @ApiField() can_read_bounded_transcript: boolean;
  @ApiField({ description: 'A model provider is configured: user inputs start runs' }) can_execute: boolean;
  @ApiField() has_workspace_fs: boolean;
  @ApiField() has_shell: boolean;
  @ApiField() has_git: boolean;
  @ApiField() supports_worktrees: boolean;
  @ApiField() supports_backend_internal_tools: boolean;
  @ApiField({ enum: ['available', 'unavailable', 'not_applicable'] }) local_pod_inspection: RuntimeCapabilities['localPodInspection'];
  @ApiField({ enum: ['backend_internal', 'current_workspace'] }) workspace_scope: RuntimeCapabilities['workspaceScope'];
  @ApiField({ type: 'integer', minimum: 0 }) max_workers: number;
  @ApiField({ example: 'linux' }) os: string;
  @ApiField({ example: 'x64' }) arch: string;
}

export class RuntimeSourceInfoDto {
  @ApiField({ enum: ['embedded_worker_runtime', 'local_compatibility'] }) kind: RuntimeRecord['source']['kind'];
  @ApiField({ enum: ['active', 'reserved'] }) status: RuntimeRecord['source']['status'];
  @ApiField({ enum: ['runtime_registry_projection'] }) identity_authority: 'runtime_registry_projection';
  @ApiField() note: string;
}

export class RuntimeSummaryDto {
  @ApiField({ example: 'embedded-worker-runtime' }) runtime_id: string;
  @ApiField() label: string;
  @ApiField({ enum: ['embedded_worker_runtime', 'local_pod'] }) kind: RuntimeRecord['kind'];
  @ApiField({ enum: ['running', 'available', 'degraded'] }) status: RuntimeRecord['status'];
  @ApiField({ nested: RuntimeSourceInfoDto }) source: RuntimeSourceInfoDto;
  @ApiField({ type: [String] }) host_ids: string[];
  @ApiField({ nested: RuntimeCapabilitiesDto }) capabilities: RuntimeCapabilitiesDto;
  @ApiField({ nested: DiagnosticDto, isArray: true, maxItems: 16 }) diagnostics: DiagnosticDto[];
}

export const RuntimeListDto = ListEnvelopeDto(RuntimeSummaryDto, 'RuntimeListDto');

export function toRuntimeCapabilitiesDto(c: RuntimeCapabilities): RuntimeCapabilitiesDto {
  return Object.assign(new RuntimeCapabilitiesDto(), {
    can_list_hosts: c.canListHosts,
    can_list_workers: c.canListWorkers,
    can_get_worker: c.canGetWorker,
    can_spawn_worker: c.canSpawnWorker,
    can_stop_worker: c.canStopWorker,
    can_delete_worker: c.canDeleteWorker,
    can_accept_input: c.canAcceptInput,
    can_stream_events: c.canStreamEvents,
    can_read_bounded_transcript: c.canReadBoundedTranscript,
    can_execute: c.canExecute,
    has_workspace_fs: c.hasWorkspaceFs,
    has_shell: c.hasShell,
    has_git: c.hasGit,
    supports_worktrees: c.supportsWorktrees,
    supports_backend_internal_tools: c.supportsBackendInternalTools,
    local_pod_inspection: c.localPodInspection,
    workspace_scope: c.workspaceScope,
    max_workers: c.maxWorkers,
    os: c.os,
    arch: c.arch,
  });
}

export function toRuntimeSummaryDto(r: RuntimeRecord): RuntimeSummaryDto {
  const dto = new RuntimeSummaryDto();
  dto.runtime_id = r.runtimeId;
  dto.label = r.label;
  dto.kind = r.kind;
  dto.status = r.status;
  dto.source = Object.assign(new RuntimeSourceInfoDto(), {
    kind: r.source.kind,
    status: r.source.status,
    identity_authority: 'runtime_registry_projection' as const,
    note: r.source.note,
  });
  dto.host_ids = [...r.hostIds];
  dto.capabilities = toRuntimeCapabilitiesDto(r.capabilities);
  dto.diagnostics = toDiagnosticDtos(r.diagnostics);
  return dto;
}
