import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/dto/error-response.dto';
import { type ListEnvelope, toListEnvelope } from '../common/dto/list-envelope.dto';
import { ListQueryDto } from '../common/dto/list-query.dto';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { RuntimeRegistry } from '../runtimes/runtime-registry';
import { DEFAULT_LIST_LIMIT, HOST_ID_PARAM } from '../runtimes/runtimes.constants';
import { toWorkerSummaryDto, WorkerListDto, type WorkerSummaryDto } from '../workers/dto/worker-summary.dto';
import { HostListDto, type HostSummaryDto, toHostSummaryDto } from './dto/host-summary.dto';

/** `GET /api/hosts`, `GET /api/hosts/:host_id/workers` */
@ApiTags('hosts')
@Controller('hosts')
export class HostsController {
  constructor(
    @Inject(RuntimeRegistry) private readonly registry: RuntimeRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'listHosts', summary: 'Hosts of every runtime' })
  @ApiOkResponse({ type: HostListDto })
  @ApiErrors('validation_failed', 'limit_too_large', 'invalid_cursor')
  async list(@Query() query: ListQueryDto): Promise<ListEnvelope<HostSummaryDto>> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const page = await this.registry.listHosts({ limit, cursor: query.cursor });
    return toListEnvelope(HostListDto, toHostSummaryDto, page, { workspaceId: this.config.workspaceId, limit });
  }

  @Get(':host_id/workers')
  @ApiOperation({ operationId: 'listHostWorkers', summary: 'Workers on one host' })
  @ApiParam(HOST_ID_PARAM)
  @ApiOkResponse({ type: WorkerListDto })
  @ApiErrors('invalid_identifier', 'validation_failed', 'limit_too_large', 'invalid_cursor', 'unknown_host', 'store_unavailable')
  async listWorkers(@Param('host_id') hostId: string, @Query() query: ListQueryDto): Promise<ListEnvelope<WorkerSummaryDto>> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const page = await this.registry.listHostWorkers(hostId, { limit, cursor: query.cursor });
    return toListEnvelope(WorkerListDto, toWorkerSummaryDto, page, { workspaceId: this.config.workspaceId, limit });
  }
}
