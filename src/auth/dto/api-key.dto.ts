import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, ArrayUnique, IsArray, IsIn, IsString, Matches, MaxLength } from 'class-validator';
import { ApiField } from '../../common/dto/api-field.decorator';
import { ListEnvelopeDto, toRfc3339 } from '../../common/dto/list-envelope.dto';
import type { StoredApiKey } from '../../store/backend-store';
import { type Scope, SCOPES } from '../auth.constants';

export class CreateApiKeyDto {
  @ApiProperty({ minLength: 1, maxLength: 80, example: 'web console', description: 'A name for people: letters, digits, spaces and . _ - : only, not only spaces' })
  @IsString()
  @MaxLength(80)
  // Not only spaces, as an input's content may not be only whitespace: a name no one can read names nothing.
  @Matches(/^(?=.*[^ ])[A-Za-z0-9 ._:-]{1,80}$/, { message: 'name must be 1 to 80 letters, digits, spaces or . _ - :, not only spaces' })
  name: string;

  @ApiProperty({ enum: SCOPES, isArray: true, example: ['read', 'write'], description: 'read: GET; write: create, input, cancel, stop; admin: delete and keys. Each includes the ones before it.' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(3)
  @ArrayUnique()
  @IsIn(SCOPES, { each: true })
  scopes: Scope[];
}

/** Request examples (the first is what tools such as dredd send); each is valid against CreateApiKeyDto. */
export const CREATE_API_KEY_EXAMPLES = {
  read_write: { summary: 'A key for a web console: reads and writes', value: { name: 'web console', scopes: ['read', 'write'] } },
  read_only: { summary: 'A read-only key for a dashboard', value: { name: 'dashboard', scopes: ['read'] } },
};

export class ApiKeyDto {
  @ApiField({ example: 'key-5f0c2a6e9b1d4c7fa0e3b8d2' }) key_id: string;
  @ApiField() name: string;
  @ApiField({ enum: SCOPES, isArray: true }) scopes: Scope[];
  @ApiField({ format: 'date-time' }) created_at: string;
  @ApiField({ type: String, format: 'date-time', nullable: true, description: 'Updated at most once a minute' }) last_used_at: string | null;
}

export class CreatedApiKeyDto extends ApiKeyDto {
  @ApiField({ description: 'The key itself: shown this once, never again (only its hash is kept)', example: 'wbk_5f0c2a6e9b1d4c7fa0e3b8d2_…' }) secret: string;
}

export const ApiKeyListDto = ListEnvelopeDto(ApiKeyDto, 'ApiKeyListDto');

export function toApiKeyDto(key: StoredApiKey): ApiKeyDto {
  return Object.assign(new ApiKeyDto(), {
    key_id: key.keyId,
    name: key.name,
    scopes: [...key.scopes],
    created_at: toRfc3339(key.createdAtMs),
    last_used_at: toRfc3339(key.lastUsedAtMs),
  });
}

export function toCreatedApiKeyDto(key: StoredApiKey, secret: string): CreatedApiKeyDto {
  return Object.assign(new CreatedApiKeyDto(), toApiKeyDto(key), { secret });
}
