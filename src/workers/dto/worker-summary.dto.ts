import { ApiField } from '../../common/dto/api-field.decorator';
import { DiagnosticDto, toDiagnosticDtos } from '../../common/dto/diagnostic.dto';
import { ListEnvelopeDto } from '../../common/dto/list-envelope.dto';
import type { WorkerCapabilities, WorkerSummary } from '../../runtimes/runtime-source';

export class WorkerWorkspaceDto {
  @ApiField({ enum: ['backend_internal', 'current_workspace'] }) visibility: WorkerSummary['workspace']['visibility'];
  @ApiField({ enum: ['runtime_registry_worker', 'runtime_workspace'] }) identity: WorkerSummary['workspace']['identity'];
}

export class WorkerImplementationDto {
  @ApiField({ enum: ['embedded_worker_runtime', 'local_pod'] }) kind: WorkerSummary['implementation']['kind'];
  @ApiField() display_hint: string;
}

export class WorkerCapabilitiesDto implements WorkerCapabilities {
  @ApiField() can_accept_input: boolean;
  @ApiField() can_stream_events: boolean;
  @ApiField() can_stop: boolean;
  @ApiField() can_spawn_followup: boolean;
  @ApiField() can_read_bounded_transcript: boolean;
}

export class WorkerSummaryDto {
  @ApiField({ example: 'embedded-worker-runtime' }) runtime_id: string;
  @ApiField({ example: 'embedded-worker-5f0c2a6e9b1d4c7fa0e3b8d2c6f1a9e4' }) worker_id: string;
  @ApiField() host_id: string;
  @ApiField({ maxLength: 80 }) label: string;
  @ApiField({ type: String, nullable: true, example: 'coder' }) role: string | null;
  @ApiField({ type: String, nullable: true, example: 'builtin:coder' }) profile: string | null;
  @ApiField({ nested: WorkerWorkspaceDto }) workspace: WorkerWorkspaceDto;
  @ApiField({ example: 'running', description: 'embedded: running|stopped|cancelled; local: active|metadata_only' }) state: string;
  @ApiField({ example: 'running', description: 'embedded: same as state; local: active:segment|active:pending_segment|metadata_only' }) status: string;
  @ApiField({ type: String, format: 'date-time', nullable: true }) last_seen_at: string | null;
  @ApiField({ nested: WorkerImplementationDto }) implementation: WorkerImplementationDto;
  @ApiField({ nested: WorkerCapabilitiesDto }) capabilities: WorkerCapabilitiesDto;
  @ApiField({ nested: DiagnosticDto, isArray: true, maxItems: 16 }) diagnostics: DiagnosticDto[];
}

export const WorkerListDto = ListEnvelopeDto(WorkerSummaryDto, 'WorkerListDto');

export function toWorkerSummaryDto(w: WorkerSummary): WorkerSummaryDto {
  const dto = new WorkerSummaryDto();
  dto.runtime_id = w.runtime_id;
  dto.worker_id = w.worker_id;
  dto.host_id = w.host_id;
  dto.label = w.label;
  dto.role = w.role;
  dto.profile = w.profile;
  const workspace = new WorkerWorkspaceDto();
  workspace.visibility = w.workspace.visibility;
  workspace.identity = w.workspace.identity;
  dto.workspace = workspace;
  dto.state = w.state;
  dto.status = w.status;
  dto.last_seen_at = w.last_seen_at;
  const implementation = new WorkerImplementationDto();
  implementation.kind = w.implementation.kind;
  implementation.display_hint = w.implementation.display_hint;
  dto.implementation = implementation;
  const caps = new WorkerCapabilitiesDto();
  caps.can_accept_input = w.capabilities.can_accept_input;
  caps.can_stream_events = w.capabilities.can_stream_events;
  caps.can_stop = w.capabilities.can_stop;
  caps.can_spawn_followup = w.capabilities.can_spawn_followup;
  caps.can_read_bounded_transcript = w.capabilities.can_read_bounded_transcript;
  dto.capabilities = caps;
  dto.diagnostics = toDiagnosticDtos(w.diagnostics);
  return dto;
}
