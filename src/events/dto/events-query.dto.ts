import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsString, Matches, ValidateIf } from 'class-validator';
import { IDENTIFIER_PATTERN } from '../../config/app-config';

const POSITION = /^[A-Za-z0-9_.:-]{1,128}$/;

export class WorkerEventsQueryDto {
  @ApiPropertyOptional({
    pattern: POSITION.source,
    description: 'Resume after this event id (an `evt-<n>` this stream sent); the Last-Event-ID header wins. Leave empty for live events from now on.',
  })
  @ValidateIf((o: WorkerEventsQueryDto) => o.after !== undefined)
  @IsString()
  @Matches(POSITION, { message: 'after must be an event id this stream sent, such as evt-3' })
  after?: string;
}

export class EventsQueryDto {
  @ApiPropertyOptional({ pattern: IDENTIFIER_PATTERN.source, description: 'Only this runtime', example: 'embedded-worker-runtime' })
  @ValidateIf((o: EventsQueryDto) => o.runtime_id !== undefined)
  @IsString()
  @Matches(IDENTIFIER_PATTERN, { message: 'runtime_id must match ^[A-Za-z0-9_:-]{1,120}$' })
  runtime_id?: string;

  @ApiPropertyOptional({
    pattern: POSITION.source,
    description: 'Resume after this position (a `log-<n>` id this stream sent); the Last-Event-ID header wins. Leave empty for live events from now on.',
  })
  @ValidateIf((o: EventsQueryDto) => o.after !== undefined)
  @IsString()
  @Matches(POSITION, { message: 'after must be an id this stream sent, such as log-42' })
  after?: string;
}
