import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, Max, Min, ValidateIf } from 'class-validator';
import { ERROR_CODE_CONTEXT } from '../pipes/validation';

/** `"42"` → 42; anything not all digits stays as is and fails `IsInt`. */
export function digitsToInteger({ value }: { value: unknown }): unknown {
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
}

export const LIMIT_TOO_LARGE = { context: { [ERROR_CODE_CONTEXT]: 'limit_too_large' } };

export class ListQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 200, default: 100, description: 'Most items to return; over 200 is `400 limit_too_large`' })
  @ValidateIf((o: ListQueryDto) => o.limit !== undefined)
  @Transform(digitsToInteger)
  @IsInt({ message: 'limit must be a whole number' })
  @Min(1)
  @Max(200, { message: 'limit must not be greater than 200', ...LIMIT_TOO_LARGE })
  limit?: number;
}
