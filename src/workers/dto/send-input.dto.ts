import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsString, ValidateBy, ValidateIf } from 'class-validator';
import { ApiField } from '../../common/dto/api-field.decorator';
import { DiagnosticDto, toDiagnosticDtos } from '../../common/dto/diagnostic.dto';
import { isStorableText } from '../../common/validation/storable-text';
import type { InputOutcome, InputRequest, OnBusy } from '../../runtimes/runtime-source';
import { RunSummaryDto, toRunSummaryDto } from './run-summary.dto';

const ON_BUSY = ['enqueue', 'reject', 'interrupt'] as const;
import { MAX_INPUT_CONTENT_LENGTH } from '../../runtimes/runtimes.constants';

/** Only text every store keeps byte for byte (isStorableText): refusing it is better than changing what the client sent. */
export function IsStorableText(): PropertyDecorator {
  return ValidateBy({
    name: 'isStorableText',
    validator: {
      validate: (value: unknown) => typeof value !== 'string' || isStorableText(value),
      defaultMessage: () => '$property must be well-formed Unicode without U+0000',
    },
  });
}

/**
 * Bounds in JavaScript string length (SPEC §4), which class-validator's
 * MaxLength does not use (it counts a surrogate pair as one).
 */
function IsBoundedText(max: number): PropertyDecorator {
  return ValidateBy({
    name: 'isBoundedText',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && value.length >= 1 && value.length <= max && /\S/u.test(value),
      defaultMessage: () => `$property must be 1 to ${max} characters and not only whitespace`,
    },
  });
}

export class SendInputDto {
  // Defaults are stated in the description, not as `default`: openapi-typescript makes a component property with a `default` required, request bodies included.
  @ApiPropertyOptional({ enum: ['user', 'system'], description: 'Default `user`. `system` inputs are context only: they start no run' })
  @ValidateIf((o: SendInputDto) => o.kind !== undefined)
  @IsIn(['user', 'system'])
  kind?: 'user' | 'system';

  @ApiPropertyOptional({
    enum: ON_BUSY,
    description:
      'Default `enqueue`. When the worker is busy: `enqueue` behind its runs; `reject` with 409 worker_busy (nothing recorded); `interrupt`: cancel the running run and run this one next',
  })
  @ValidateIf((o: SendInputDto) => o.on_busy !== undefined)
  @IsIn(ON_BUSY)
  on_busy?: OnBusy;

  @ApiProperty({
    minLength: 1,
    maxLength: MAX_INPUT_CONTENT_LENGTH,
    example: 'Review the diff please',
    description: 'Not only whitespace; length in UTF-16 units; well-formed Unicode without U+0000',
  })
  @IsString()
  @IsBoundedText(MAX_INPUT_CONTENT_LENGTH)
  @IsStorableText()
  content: string;
}

/** Request examples (the first is what tools such as dredd send); each is valid against SendInputDto. */
export const SEND_INPUT_EXAMPLES = {
  user: { summary: 'A user input (starts a run when a model provider is configured)', value: { content: 'Review the diff please' } },
  system: { summary: 'Context only: starts no run', value: { kind: 'system', content: 'The ticket is 00001KVZSGT0Q; the diff is on branch fix-42' } },
  reject_when_busy: { summary: 'Refused with 409 worker_busy instead of queued', value: { kind: 'user', content: 'Summarise the review', on_busy: 'reject' } },
};

export function toInputRequest(dto: SendInputDto): InputRequest {
  return { kind: dto.kind ?? 'user', content: dto.content, onBusy: dto.on_busy ?? 'enqueue' };
}

export class InputResultDto {
  @ApiField({ enum: ['accepted'] }) state: 'accepted';
  @ApiField() runtime_id: string;
  @ApiField() worker_id: string;
  @ApiField({ type: 'integer', minimum: 0, description: "The input's index in the transcript" }) transcript_sequence: number;
  @ApiField({ example: 'evt-1', description: 'The `worker.input_accepted` event of this input' }) event_id: string;
  @ApiField({ nested: RunSummaryDto, nullable: true, description: 'The run this input started; null for system inputs and when no model provider is configured' })
  run: RunSummaryDto | null;
  @ApiField({ nested: DiagnosticDto, isArray: true, maxItems: 16 }) diagnostics: DiagnosticDto[];
}

export function toInputResultDto(outcome: InputOutcome): InputResultDto {
  const dto = new InputResultDto();
  dto.state = outcome.state;
  dto.runtime_id = outcome.runtimeId;
  dto.worker_id = outcome.workerId;
  dto.transcript_sequence = outcome.transcriptSequence;
  dto.event_id = outcome.eventId;
  dto.run = outcome.run && toRunSummaryDto(outcome.run);
  dto.diagnostics = toDiagnosticDtos(outcome.diagnostics);
  return dto;
}
