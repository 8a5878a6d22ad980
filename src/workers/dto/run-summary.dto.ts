import { ApiField } from '../../common/dto/api-field.decorator';
import { ListEnvelopeDto, toRfc3339 } from '../../common/dto/list-envelope.dto';
import type { RunRecord, RunState } from '../../runtimes/runtime-source';
import { RUN_ERROR_MESSAGES } from '../../runtimes/run-errors';

export class RunUsageDto {
  @ApiField({ type: 'integer', minimum: 0 }) input_tokens: number;
  @ApiField({ type: 'integer', minimum: 0 }) output_tokens: number;
}

export class RunErrorDto {
  @ApiField({ enum: Object.keys(RUN_ERROR_MESSAGES), description: 'Stable code; the message is fixed per code and never quotes the provider' }) code: string;
  @ApiField() message: string;
}

export class RunSummaryDto {
  @ApiField({ example: 'run-3f1e0c9a7b2d4e6f8a0b1c2d3e4f5a6b', description: 'Opaque, 128 random bits' }) run_id: string;
  @ApiField({ example: 'embedded-worker-runtime' }) runtime_id: string;
  @ApiField() worker_id: string;
  @ApiField({ enum: ['queued', 'running', 'completed', 'failed', 'cancelled', 'interrupted'] }) state: RunState;
  @ApiField({ type: 'integer', minimum: 0, description: "The transcript sequence of the run's input" }) input_sequence: number;
  @ApiField({ type: 'integer', minimum: 0, nullable: true, description: "The transcript sequence of the run's reply, once it has one" }) output_sequence: number | null;
  @ApiField({ format: 'date-time' }) created_at: string;
  @ApiField({ type: String, format: 'date-time', nullable: true }) started_at: string | null;
  @ApiField({ type: String, format: 'date-time', nullable: true }) ended_at: string | null;
  @ApiField({ nested: RunUsageDto, nullable: true, description: 'As reported by the provider' }) usage: RunUsageDto | null;
  @ApiField({ nested: RunErrorDto, nullable: true }) error: RunErrorDto | null;
}

export const RunListDto = ListEnvelopeDto(RunSummaryDto, 'RunListDto');

export function toRunSummaryDto(r: RunRecord): RunSummaryDto {
  const dto = new RunSummaryDto();
  dto.run_id = r.runId;
  dto.runtime_id = r.runtimeId;
  dto.worker_id = r.workerId;
  dto.state = r.state;
  dto.input_sequence = r.inputSequence;
  dto.output_sequence = r.outputSequence;
  dto.created_at = toRfc3339(r.createdAt);
  dto.started_at = toRfc3339(r.startedAt);
  dto.ended_at = toRfc3339(r.endedAt);
  dto.usage = r.usage && Object.assign(new RunUsageDto(), { input_tokens: r.usage.inputTokens, output_tokens: r.usage.outputTokens });
  dto.error = r.error && Object.assign(new RunErrorDto(), { code: r.error.code, message: r.error.message });
  return dto;
}
