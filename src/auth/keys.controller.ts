import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Inject, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBody, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiErrors } from '../common/dto/error-response.dto';
import { type ListEnvelope, toListEnvelope } from '../common/dto/list-envelope.dto';
import { ListQueryDto } from '../common/dto/list-query.dto';
import { ApiError } from '../common/errors/api-error';
import { CursorCodec } from '../common/paging/cursor-codec';
import { RejectQueryPipe } from '../common/pipes/reject-query.pipe';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { DEFAULT_LIST_LIMIT } from '../runtimes/runtimes.constants';
import { ApiKeys } from './api-keys.service';
import { type ApiKeyDto, ApiKeyListDto, CREATE_API_KEY_EXAMPLES, ApiKeyDto as ApiKeyDtoClass, CreateApiKeyDto, CreatedApiKeyDto, toApiKeyDto, toCreatedApiKeyDto } from './dto/api-key.dto';

// The example sits in `schema`: @nestjs/swagger drops a parameter-level `example` next to `schema`; openapi.ts lifts it to the parameter.
const KEY_ID_PARAM = { name: 'key_id', schema: { type: 'string' as const, pattern: '^[A-Za-z0-9_:-]{1,120}$', example: 'key-5f0c2a6e9b1d4c7fa0e3b8d2' } };

const unknownKey = () => new ApiError(HttpStatus.NOT_FOUND, 'unknown_key', 'No API key with this key_id exists');

/** `/api/keys[/:key_id]`: API keys (admin scope). */
@ApiTags('keys')
@Controller('keys')
export class KeysController {
  constructor(
    @Inject(ApiKeys) private readonly keys: ApiKeys,
    @Inject(CursorCodec) private readonly cursors: CursorCodec,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post()
  @HttpCode(HttpStatus.CREATED)
  @ApiOperation({ operationId: 'createApiKey', summary: 'Create an API key; its secret is in this answer only' })
  @ApiBody({ type: CreateApiKeyDto, examples: CREATE_API_KEY_EXAMPLES })
  @ApiCreatedResponse({ type: CreatedApiKeyDto, description: "Created; `Location` is the key's URL. The secret is in this answer only" })
  @ApiErrors('validation_failed', 'payload_too_large', 'unsupported_media_type', 'store_unavailable')
  async create(@Query(RejectQueryPipe) _query: Record<string, never>, @Body() body: CreateApiKeyDto, @Res({ passthrough: true }) res: FastifyReply): Promise<CreatedApiKeyDto> {
    const { key, token } = await this.keys.create(body.name, body.scopes);
    res.header('Location', `/api/keys/${key.keyId}`);
    res.header('Cache-Control', 'no-store');
    return toCreatedApiKeyDto(key, token);
  }

  @Get()
  @ApiOperation({ operationId: 'listApiKeys', summary: 'Every API key (never its secret), by key_id' })
  @ApiOkResponse({ type: ApiKeyListDto })
  @ApiErrors('validation_failed', 'limit_too_large', 'invalid_cursor')
  async list(@Query() query: ListQueryDto): Promise<ListEnvelope<ApiKeyDto>> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const after = query.cursor === undefined ? '' : this.cursors.decode<{ k: string }>('keys', query.cursor).k;
    const { keys, more } = await this.keys.list(after, limit);
    const next = more && keys.length > 0 ? this.cursors.encode('keys', { k: keys[keys.length - 1].keyId }) : null;
    return toListEnvelope(ApiKeyListDto, toApiKeyDto, { items: keys, diagnostics: [], next }, { workspaceId: this.config.workspaceId, limit });
  }

  @Get(':key_id')
  @ApiOperation({ operationId: 'getApiKey', summary: 'One API key (never its secret)' })
  @ApiParam(KEY_ID_PARAM)
  @ApiOkResponse({ type: ApiKeyDtoClass })
  @ApiErrors('invalid_identifier', 'validation_failed', 'unknown_key')
  async get(@Param('key_id') keyId: string, @Query(RejectQueryPipe) _query: Record<string, never>): Promise<ApiKeyDto> {
    const key = await this.keys.get(keyId);
    if (!key) throw unknownKey();
    return toApiKeyDto(key);
  }

  @Delete(':key_id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'revokeApiKey', summary: "Revoke an API key: it is refused from now on and its open event streams end within a second" })
  @ApiParam(KEY_ID_PARAM)
  @ApiNoContentResponse({ description: 'Revoked' })
  @ApiErrors('invalid_identifier', 'validation_failed', 'unknown_key')
  async revoke(@Param('key_id') keyId: string, @Query(RejectQueryPipe) _query: Record<string, never>): Promise<void> {
    if (!(await this.keys.revoke(keyId))) throw unknownKey();
  }
}
