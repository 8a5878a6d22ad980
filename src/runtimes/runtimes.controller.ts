import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/dto/error-response.dto';
import { type ListEnvelope, toListEnvelope } from '../common/dto/list-envelope.dto';
import { ListQueryDto } from '../common/dto/list-query.dto';
import { RejectQueryPipe } from '../common/pipes/reject-query.pipe';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { RuntimeListDto, RuntimeSummaryDto, toRuntimeSummaryDto } from './dto/runtime-summary.dto';
import { RuntimeRegistry } from './runtime-registry';
import { DEFAULT_LIST_LIMIT, RUNTIME_ID_PARAM } from './runtimes.constants';

/** `GET /api/runtimes`, `GET /api/runtimes/:runtime_id` */
@ApiTags('runtimes')
@Controller('runtimes')
export class RuntimesController {
  constructor(
    @Inject(RuntimeRegistry) private readonly registry: RuntimeRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'listRuntimes', summary: 'Every registered runtime, in registration order' })
  @ApiOkResponse({ type: RuntimeListDto })
  @ApiErrors('validation_failed', 'limit_too_large', 'invalid_cursor')
  async list(@Query() query: ListQueryDto): Promise<ListEnvelope<RuntimeSummaryDto>> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const page = await this.registry.listRuntimes({ limit, cursor: query.cursor });
    return toListEnvelope(RuntimeListDto, toRuntimeSummaryDto, page, { workspaceId: this.config.workspaceId, limit });
  }

  @Get(':runtime_id')
  @ApiOperation({ operationId: 'getRuntime', summary: 'One runtime: summary, status and capabilities' })
  @ApiParam(RUNTIME_ID_PARAM)
  @ApiOkResponse({ type: RuntimeSummaryDto })
  @ApiErrors('invalid_identifier', 'validation_failed', 'unknown_runtime')
  async get(@Param('runtime_id') runtimeId: string, @Query(RejectQueryPipe) _query: Record<string, never>): Promise<RuntimeSummaryDto> {
    return toRuntimeSummaryDto(await this.registry.getRuntime(runtimeId));
  }
}
