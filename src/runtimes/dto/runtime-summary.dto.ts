import { ApiField } from '../../common/dto/api-field.decorator';
import { DiagnosticDto, toDiagnosticDtos } from '../../common/dto/diagnostic.dto';
import { ListEnvelopeDto } from '../../common/dto/list-envelope.dto';
import type { RuntimeCapabilities, RuntimeSummary } from '../runtime-source';

export class RuntimeCapabilitiesDto implements RuntimeCapabilities {
  @ApiField() can_list_hosts: boolean;
  @ApiField() can_list_workers: boolean;
  @ApiField() can_get_worker: boolean;
  @ApiField() can_spawn_worker: boolean;
  @ApiField() can_stop_worker: boolean;
  @ApiField() can_accept_input: boolean;
  @ApiField() can_stream_events: boolean;
  @ApiField() can_read_bounded_transcript: boolean;
  @ApiField() has_workspace_fs: boolean;
  @ApiField() has_shell: boolean;
  @ApiField() has_git: boolean;
  @ApiField() supports_worktrees: boolean;
  @ApiField() supports_backend_internal_tools: boolean;
  @ApiField({ enum: ['available', 'unavailable', 'not_applicable'] }) local_pod_inspection: RuntimeCapabilities['local_pod_inspection'];
  @ApiField({ enum: ['backend_internal', 'current_workspace'] }) workspace_scope: RuntimeCapabilities['workspace_scope'];
  @ApiField({ type: 'integer', minimum: 0 }) max_workers: number;
  @ApiField({ example: 'linux' }) os: string;
  @ApiField({ example: 'x64' }) arch: string;
}

export class RuntimeSourceInfoDto {
  @ApiField({ enum: ['embedded_worker_runtime', 'local_compatibility'] }) kind: RuntimeSummary['source']['kind'];
  @ApiField({ enum: ['active', 'reserved'] }) status: RuntimeSummary['source']['status'];
  @ApiField({ enum: ['runtime_registry_projection'] }) identity_authority: 'runtime_registry_projection';
  @ApiField() note: string;
}

export class RuntimeSummaryDto {
  @ApiField({ example: 'embedded-worker-runtime' }) runtime_id: string;
  @ApiField() label: string;
  @ApiField({ enum: ['embedded_worker_runtime', 'local_pod'] }) kind: RuntimeSummary['kind'];
  @ApiField({ enum: ['running', 'available', 'degraded'] }) status: RuntimeSummary['status'];
  @ApiField({ nested: RuntimeSourceInfoDto }) source: RuntimeSourceInfoDto;
  @ApiField({ type: [String] }) host_ids: string[];
  @ApiField({ nested: RuntimeCapabilitiesDto }) capabilities: RuntimeCapabilitiesDto;
  @ApiField({ nested: DiagnosticDto, isArray: true, maxItems: 16 }) diagnostics: DiagnosticDto[];
}

export const RuntimeListDto = ListEnvelopeDto(RuntimeSummaryDto, 'RuntimeListDto');

export function toRuntimeCapabilitiesDto(c: RuntimeCapabilities): RuntimeCapabilitiesDto {
  const dto = new RuntimeCapabilitiesDto();
  dto.can_list_hosts = c.can_list_hosts;
  dto.can_list_workers = c.can_list_workers;
  dto.can_get_worker = c.can_get_worker;
  dto.can_spawn_worker = c.can_spawn_worker;
  dto.can_stop_worker = c.can_stop_worker;
  dto.can_accept_input = c.can_accept_input;
  dto.can_stream_events = c.can_stream_events;
  dto.can_read_bounded_transcript = c.can_read_bounded_transcript;
  dto.has_workspace_fs = c.has_workspace_fs;
  dto.has_shell = c.has_shell;
  dto.has_git = c.has_git;
  dto.supports_worktrees = c.supports_worktrees;
  dto.supports_backend_internal_tools = c.supports_backend_internal_tools;
  dto.local_pod_inspection = c.local_pod_inspection;
  dto.workspace_scope = c.workspace_scope;
  dto.max_workers = c.max_workers;
  dto.os = c.os;
  dto.arch = c.arch;
  return dto;
}

export function toRuntimeSummaryDto(r: RuntimeSummary): RuntimeSummaryDto {
  const dto = new RuntimeSummaryDto();
  dto.runtime_id = r.runtime_id;
  dto.label = r.label;
  dto.kind = r.kind;
  dto.status = r.status;
  const source = new RuntimeSourceInfoDto();
  source.kind = r.source.kind;
  source.status = r.source.status;
  source.identity_authority = r.source.identity_authority;
  source.note = r.source.note;
  dto.source = source;
  dto.host_ids = [...r.host_ids];
  dto.capabilities = toRuntimeCapabilitiesDto(r.capabilities);
  dto.diagnostics = toDiagnosticDtos(r.diagnostics);
  return dto;
}
