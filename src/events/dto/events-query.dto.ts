import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsString, Matches, ValidateIf } from 'class-validator';
import { IDENTIFIER_PATTERN } from '../../config/app-config';
import { EVENT_ID_PATTERN } from '../../runtimes/embedded/embedded-worker-runtime';

export class WorkerEventsQueryDto {
  @ApiPropertyOptional({ pattern: '^evt-[0-9]{1,15}$', example: 'evt-3', description: 'Resume after this event id (the Last-Event-ID header wins)' })
  @ValidateIf((o: WorkerEventsQueryDto) => o.after !== undefined)
  @IsString()
  @Matches(EVENT_ID_PATTERN, { message: 'after must be an event id such as evt-3' })
  after?: string;
}

export class EventsQueryDto {
  @ApiPropertyOptional({ pattern: IDENTIFIER_PATTERN.source, description: 'Only this runtime' })
  @ValidateIf((o: EventsQueryDto) => o.runtime_id !== undefined)
  @IsString()
  @Matches(IDENTIFIER_PATTERN, { message: 'runtime_id must match ^[A-Za-z0-9_:-]{1,120}$' })
  runtime_id?: string;
}
