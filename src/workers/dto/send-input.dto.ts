import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsString, ValidateBy, ValidateIf } from 'class-validator';
import { ApiField } from '../../common/dto/api-field.decorator';
import { DiagnosticDto, toDiagnosticDtos } from '../../common/dto/diagnostic.dto';
import type { InputOutcome, InputRequest } from '../../runtimes/runtime-source';
import { MAX_INPUT_CONTENT_LENGTH } from '../../runtimes/runtimes.constants';

/**
 * Text every store keeps byte for byte: no U+0000 (Postgres TEXT cannot hold
 * it) and no lone surrogate (UTF-8 encoding would silently turn it into
 * U+FFFD). Refusing it is better than changing what the client sent.
 */
export function IsStorableText(): PropertyDecorator {
  return ValidateBy({
    name: 'isStorableText',
    validator: {
      validate: (value: unknown) => typeof value !== 'string' || (!value.includes('\u0000') && (value as string & { isWellFormed(): boolean }).isWellFormed()),
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
  @ApiPropertyOptional({ enum: ['user', 'system'], default: 'user' })
  @ValidateIf((o: SendInputDto) => o.kind !== undefined)
  @IsIn(['user', 'system'])
  kind?: 'user' | 'system';

  @ApiProperty({ minLength: 1, maxLength: MAX_INPUT_CONTENT_LENGTH, description: 'Not only whitespace; length in UTF-16 units; well-formed Unicode without U+0000' })
  @IsString()
  @IsBoundedText(MAX_INPUT_CONTENT_LENGTH)
  @IsStorableText()
  content: string;
}

export function toInputRequest(dto: SendInputDto): InputRequest {
  return { kind: dto.kind ?? 'user', content: dto.content };
}

export class InputResultDto {
  @ApiField({ enum: ['accepted'] }) state: 'accepted';
  @ApiField() runtime_id: string;
  @ApiField() worker_id: string;
  @ApiField({ type: 'integer', minimum: 0, required: false, description: "The input's index in the transcript" }) transcript_sequence?: number;
  @ApiField({ required: false, example: 'evt-1' }) event_id?: string;
  @ApiField({ nested: DiagnosticDto, isArray: true, maxItems: 16 }) diagnostics: DiagnosticDto[];
}

export function toInputResultDto(outcome: InputOutcome): InputResultDto {
  const dto = new InputResultDto();
  dto.state = outcome.state;
  dto.runtime_id = outcome.runtime_id;
  dto.worker_id = outcome.worker_id;
  dto.transcript_sequence = outcome.transcript_sequence;
  dto.event_id = outcome.event_id;
  dto.diagnostics = toDiagnosticDtos(outcome.diagnostics);
  return dto;
}
