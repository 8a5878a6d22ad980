import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponses } from '../common/dto/error-response.dto';
import { type ListEnvelope, toListEnvelope } from '../common/dto/list-envelope.dto';
import { ListQueryDto } from '../common/dto/list-query.dto';
import { APP_CONFIG, type AppConfig, IDENTIFIER_PATTERN } from '../config/app-config';
import { RegistryService } from '../runtimes/registry.service';
import { DEFAULT_LIST_LIMIT } from '../runtimes/runtimes.constants';
import { toWorkerSummaryDto, WorkerListDto, type WorkerSummaryDto } from '../workers/dto/worker-summary.dto';
import { HostListDto, type HostSummaryDto, toHostSummaryDto } from './dto/host-summary.dto';

/** `GET /api/hosts`, `GET /api/hosts/:host_id/workers` */
@ApiTags('hosts')
@Controller('hosts')
export class HostsController {
  constructor(
    @Inject(RegistryService) private readonly registry: RegistryService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'listHosts', summary: 'Hosts of every runtime' })
  @ApiOkResponse({ type: HostListDto })
  @ApiErrorResponses(400)
  async list(@Query() query: ListQueryDto): Promise<ListEnvelope<HostSummaryDto>> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const listing = await this.registry.listHosts(limit);
    return toListEnvelope(HostListDto, toHostSummaryDto, listing, { workspaceId: this.config.workspaceId, limit });
  }

  @Get(':host_id/workers')
  @ApiOperation({ operationId: 'listHostWorkers', summary: 'Workers on one host' })
  @ApiParam({ name: 'host_id', schema: { type: 'string', pattern: IDENTIFIER_PATTERN.source } })
  @ApiOkResponse({ type: WorkerListDto })
  @ApiErrorResponses(400, 404)
  async listWorkers(@Param('host_id') hostId: string, @Query() query: ListQueryDto): Promise<ListEnvelope<WorkerSummaryDto>> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const listing = await this.registry.listHostWorkers(hostId, limit);
    return toListEnvelope(WorkerListDto, toWorkerSummaryDto, listing, { workspaceId: this.config.workspaceId, limit });
  }
}
