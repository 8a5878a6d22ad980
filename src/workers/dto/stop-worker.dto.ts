import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsString, MaxLength, ValidateIf } from 'class-validator';
import { IsStorableText } from './send-input.dto';

/** `POST …/stop` body: empty, `{}`, or a reason (SPEC §10). */
export class StopWorkerDto {
  @ApiPropertyOptional({ maxLength: 200, example: 'done with this ticket', description: 'Recorded with the worker.state_changed event' })
  @ValidateIf((o: StopWorkerDto) => o.reason !== undefined)
  @IsString()
  @MaxLength(200)
  @IsStorableText()
  reason?: string;
}

/** Request examples (the first is what tools such as dredd send); each is valid against StopWorkerDto. */
export const STOP_WORKER_EXAMPLES = {
  with_reason: { summary: 'Stop with a reason', value: { reason: 'done with this ticket' } },
  empty: { summary: 'Stop without a reason', value: {} },
};
