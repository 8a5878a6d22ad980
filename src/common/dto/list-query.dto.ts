import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsString, Matches, Max, MaxLength, Min, ValidateIf } from 'class-validator';
import { MAX_CURSOR_LENGTH } from '../paging/cursor-codec';
import { ERROR_CODE_CONTEXT } from '../pipes/validation';

/** `"42"` → 42; anything not all digits stays as is and fails `IsInt`. */
export function digitsToInteger({ value }: { value: unknown }): unknown {
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
}

export const LIMIT_TOO_LARGE = { context: { [ERROR_CODE_CONTEXT]: 'limit_too_large' } };
export const INVALID_CURSOR = { context: { [ERROR_CODE_CONTEXT]: 'invalid_cursor' } };

/** Cursors are what next_cursor gave: base64url text (after a `~` when deflated, see CursorCodec) and one dot. */
export const CURSOR_PATTERN = /^~?[A-Za-z0-9_-]{1,500}\.[A-Za-z0-9_-]{1,64}$/;

export class ListQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 200, default: 100, example: 100, description: 'Most items to return; over 200 is `400 limit_too_large`' })
  @ValidateIf((o: ListQueryDto) => o.limit !== undefined)
  @Transform(digitsToInteger)
  @IsInt({ message: 'limit must be a whole number' })
  @Min(1)
  @Max(200, { message: 'limit must not be greater than 200', ...LIMIT_TOO_LARGE })
  limit?: number;

  @ApiPropertyOptional({ maxLength: MAX_CURSOR_LENGTH, pattern: CURSOR_PATTERN.source, description: "The previous page's `next_cursor`; opaque" })
  @ValidateIf((o: ListQueryDto) => o.cursor !== undefined)
  @IsString({ message: 'cursor must be a string', ...INVALID_CURSOR })
  @MaxLength(MAX_CURSOR_LENGTH, { message: `cursor must be at most ${MAX_CURSOR_LENGTH} characters`, ...INVALID_CURSOR })
  @Matches(CURSOR_PATTERN, { message: 'cursor must be a next_cursor value', ...INVALID_CURSOR })
  cursor?: string;
}
