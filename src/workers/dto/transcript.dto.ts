import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, Max, Min, ValidateIf } from 'class-validator';
import { ApiField } from '../../common/dto/api-field.decorator';
import { DiagnosticDto, toDiagnosticDtos } from '../../common/dto/diagnostic.dto';
import { digitsToInteger, LIMIT_TOO_LARGE } from '../../common/dto/list-query.dto';
import type { TranscriptItem, TranscriptPage } from '../../runtimes/runtime-source';
import { DEFAULT_TRANSCRIPT_LIMIT, MAX_TRANSCRIPT_LIMIT, TRANSCRIPT_PAGE_MAX_CHARS } from '../../runtimes/runtimes.constants';

export class TranscriptQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 0, default: 0, example: 0, description: 'First sequence to return; past the end gives no items' })
  @ValidateIf((o: TranscriptQueryDto) => o.start !== undefined)
  @Transform(digitsToInteger)
  @IsInt({ message: 'start must be a whole number' })
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  start?: number;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_TRANSCRIPT_LIMIT, default: DEFAULT_TRANSCRIPT_LIMIT, example: DEFAULT_TRANSCRIPT_LIMIT })
  @ValidateIf((o: TranscriptQueryDto) => o.limit !== undefined)
  @Transform(digitsToInteger)
  @IsInt({ message: 'limit must be a whole number' })
  @Min(1)
  @Max(MAX_TRANSCRIPT_LIMIT, { message: `limit must not be greater than ${MAX_TRANSCRIPT_LIMIT}`, ...LIMIT_TOO_LARGE })
  limit?: number;
}

export class TranscriptItemDto {
  @ApiField({ type: 'integer', minimum: 0 }) sequence: number;
  @ApiField({ enum: ['user', 'system', 'assistant'] }) role: TranscriptItem['role'];
  @ApiField() content: string;
  @ApiField({ example: 'evt-1', description: 'The event that published the item' }) event_id: string;
  @ApiField({ type: String, nullable: true, description: "The run that wrote an assistant item; null for inputs" }) run_id: string | null;
  @ApiField({ description: 'The reply of a run that did not complete (cancelled, failed, interrupted): what it produced' }) truncated: boolean;
}

export class TranscriptPageDto {
  @ApiField({ enum: ['available'] }) state: 'available';
  @ApiField() runtime_id: string;
  @ApiField() worker_id: string;
  @ApiField({ type: 'integer', minimum: 0 }) start: number;
  @ApiField({ type: 'integer', minimum: 1, maximum: MAX_TRANSCRIPT_LIMIT }) limit: number;
  @ApiField({ type: 'integer', minimum: 0 }) total_items: number;
  @ApiField({
    type: 'integer',
    minimum: 0,
    required: false,
    description:
      `Present only when items remain after this page: where the next page starts. A page may hold fewer than \`limit\` items: it stops before the item that would take its content past ${TRANSCRIPT_PAGE_MAX_CHARS.toLocaleString('en-US')} UTF-16 units (it always holds its first item)`,
  })
  next_start?: number;
  @ApiField({ nested: TranscriptItemDto, isArray: true }) items: TranscriptItemDto[];
  @ApiField({ nested: DiagnosticDto, isArray: true, maxItems: 16 }) diagnostics: DiagnosticDto[];
}

export function toTranscriptPageDto(page: TranscriptPage): TranscriptPageDto {
  const dto = new TranscriptPageDto();
  dto.state = page.state;
  dto.runtime_id = page.runtimeId;
  dto.worker_id = page.workerId;
  dto.start = page.start;
  dto.limit = page.limit;
  dto.total_items = page.totalItems;
  if (page.nextStart !== null) dto.next_start = page.nextStart;
  dto.items = page.items.map(toTranscriptItemDto);
  dto.diagnostics = toDiagnosticDtos(page.diagnostics);
  return dto;
}

/** One transcript item, as REST pages, `worker.input_accepted` and `message.completed` events carry it. */
export function toTranscriptItemDto(i: TranscriptItem): TranscriptItemDto {
  const item = new TranscriptItemDto();
  item.sequence = i.sequence;
  item.role = i.role;
  item.content = i.content;
  item.event_id = i.eventId;
  item.run_id = i.runId;
  item.truncated = i.truncated;
  return item;
}
