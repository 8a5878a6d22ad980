import { ApiField } from '../../common/dto/api-field.decorator';
import { DiagnosticDto, toDiagnosticDtos } from '../../common/dto/diagnostic.dto';
import { ListEnvelopeDto, toRfc3339 } from '../../common/dto/list-envelope.dto';
import type { WorkerActivity, WorkerRecord } from '../../runtimes/runtime-source';

export class WorkerWorkspaceDto {
  @ApiField({ enum: ['backend_internal', 'current_workspace'] }) visibility: WorkerRecord['workspace']['visibility'];
  @ApiField({ enum: ['runtime_registry_worker', 'runtime_workspace'] }) identity: WorkerRecord['workspace']['identity'];
}

export class WorkerImplementationDto {
  @ApiField({ enum: ['embedded_worker_runtime', 'local_pod'] }) kind: WorkerRecord['implementation']['kind'];
  @ApiField() display_hint: string;
}

export class WorkerCapabilitiesDto {
  @ApiField() can_accept_input: boolean;
  @ApiField() can_stream_events: boolean;
  @ApiField() can_stop: boolean;
  @ApiField() can_spawn_followup: boolean;
  @ApiField() can_read_bounded_transcript: boolean;
  @ApiField() can_execute: boolean;
  @ApiField() can_cancel_run: boolean;
  @ApiField() can_delete: boolean;
}

export class WorkerSummaryDto {
  @ApiField({ example: 'embedded-worker-runtime' }) runtime_id: string;
  @ApiField({ example: 'embedded-worker-5f0c2a6e9b1d4c7fa0e3b8d2c6f1a9e4' }) worker_id: string;
  @ApiField() host_id: string;
  @ApiField({ maxLength: 80 }) label: string;
  @ApiField({ type: String, nullable: true, example: 'coder' }) role: string | null;
  @ApiField({ type: String, nullable: true, example: 'builtin:coder' }) profile: string | null;
  @ApiField({ nested: WorkerWorkspaceDto }) workspace: WorkerWorkspaceDto;
  @ApiField({ example: 'running', description: 'embedded: running|stopped; local: active|metadata_only' }) state: string;
  @ApiField({ example: 'running', description: 'embedded: same as state; local: active:segment|active:pending_segment|metadata_only' }) status: string;
  @ApiField({ type: String, format: 'date-time', nullable: true, description: 'null for local workers' }) created_at: string | null;
  @ApiField({ type: String, format: 'date-time', nullable: true }) last_seen_at: string | null;
  @ApiField({
    enum: ['idle', 'busy', 'stopped', 'unavailable', 'not_applicable'],
    description: 'busy: a run is running or queued; unavailable: no model provider is configured; stopped wins over unavailable; not_applicable: local workers',
  })
  activity: WorkerActivity;
  @ApiField({ type: String, nullable: true, description: 'The running run, if any' }) current_run_id: string | null;
  @ApiField({ nested: WorkerImplementationDto }) implementation: WorkerImplementationDto;
  @ApiField({ nested: WorkerCapabilitiesDto }) capabilities: WorkerCapabilitiesDto;
  @ApiField({ nested: DiagnosticDto, isArray: true, maxItems: 16 }) diagnostics: DiagnosticDto[];
}

export const WorkerListDto = ListEnvelopeDto(WorkerSummaryDto, 'WorkerListDto');

export function toWorkerSummaryDto(w: WorkerRecord): WorkerSummaryDto {
  const dto = new WorkerSummaryDto();
  dto.runtime_id = w.runtimeId;
  dto.worker_id = w.workerId;
  dto.host_id = w.hostId;
  dto.label = w.label;
  dto.role = w.role;
  dto.profile = w.profile;
  dto.workspace = Object.assign(new WorkerWorkspaceDto(), { visibility: w.workspace.visibility, identity: w.workspace.identity });
  dto.state = w.state;
  dto.status = w.status;
  dto.created_at = toRfc3339(w.createdAt);
  dto.last_seen_at = toRfc3339(w.lastSeenAt);
  dto.activity = w.activity;
  dto.current_run_id = w.currentRunId;
  dto.implementation = Object.assign(new WorkerImplementationDto(), { kind: w.implementation.kind, display_hint: w.implementation.displayHint });
  const c = w.capabilities;
  dto.capabilities = Object.assign(new WorkerCapabilitiesDto(), {
    can_accept_input: c.canAcceptInput,
    can_stream_events: c.canStreamEvents,
    can_stop: c.canStop,
    can_spawn_followup: c.canSpawnFollowup,
    can_read_bounded_transcript: c.canReadBoundedTranscript,
    can_execute: c.canExecute,
    can_cancel_run: c.canCancelRun,
    can_delete: c.canDelete,
  });
  dto.diagnostics = toDiagnosticDtos(w.diagnostics);
  return dto;
}
