import { ApiField } from '../../common/dto/api-field.decorator';
import { DiagnosticDto, toDiagnosticDtos } from '../../common/dto/diagnostic.dto';
import { ListEnvelopeDto, toRfc3339 } from '../../common/dto/list-envelope.dto';
import { RuntimeCapabilitiesDto, toRuntimeCapabilitiesDto } from '../../runtimes/dto/runtime-summary.dto';
import type { HostRecord } from '../../runtimes/runtime-source';

export class HostSummaryDto {
  @ApiField() runtime_id: string;
  @ApiField() host_id: string;
  @ApiField() label: string;
  @ApiField({ enum: ['embedded-worker-runtime-host', 'local-worker-host'] }) kind: HostRecord['kind'];
  @ApiField({ enum: ['available', 'degraded'] }) status: HostRecord['status'];
  @ApiField({ format: 'date-time' }) observed_at: string;
  @ApiField({ type: String, format: 'date-time', nullable: true }) last_seen_at: string | null;
  @ApiField({ nested: RuntimeCapabilitiesDto }) capabilities: RuntimeCapabilitiesDto;
  @ApiField({ nested: DiagnosticDto, isArray: true, maxItems: 16 }) diagnostics: DiagnosticDto[];
}

export const HostListDto = ListEnvelopeDto(HostSummaryDto, 'HostListDto');

export function toHostSummaryDto(h: HostRecord): HostSummaryDto {
  const dto = new HostSummaryDto();
  dto.runtime_id = h.runtimeId;
  dto.host_id = h.hostId;
  dto.label = h.label;
  dto.kind = h.kind;
  dto.status = h.status;
  dto.observed_at = toRfc3339(h.observedAt);
  dto.last_seen_at = toRfc3339(h.lastSeenAt);
  dto.capabilities = toRuntimeCapabilitiesDto(h.capabilities);
  dto.diagnostics = toDiagnosticDtos(h.diagnostics);
  return dto;
}
