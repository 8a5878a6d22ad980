import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponses } from '../common/dto/error-response.dto';
import { type ListEnvelope, toListEnvelope } from '../common/dto/list-envelope.dto';
import { ListQueryDto } from '../common/dto/list-query.dto';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { RegistryService } from '../runtimes/registry.service';
import { DEFAULT_LIST_LIMIT } from '../runtimes/runtimes.constants';
import { toWorkerSummaryDto, WorkerListDto, type WorkerSummaryDto } from './dto/worker-summary.dto';

/** `GET /api/workers` */
@ApiTags('workers')
@Controller('workers')
export class WorkersController {
  constructor(
    @Inject(RegistryService) private readonly registry: RegistryService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'listWorkers', summary: 'Workers of every runtime, embedded ones included, in registration order' })
  @ApiOkResponse({ type: WorkerListDto })
  @ApiErrorResponses(400)
  async list(@Query() query: ListQueryDto): Promise<ListEnvelope<WorkerSummaryDto>> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const listing = await this.registry.listWorkers(limit);
    return toListEnvelope(WorkerListDto, toWorkerSummaryDto, listing, { workspaceId: this.config.workspaceId, limit });
  }
}
