import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/dto/error-response.dto';
import { type ListEnvelope, toListEnvelope } from '../common/dto/list-envelope.dto';
import { ListQueryDto } from '../common/dto/list-query.dto';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { RuntimeRegistry } from '../runtimes/runtime-registry';
import { DEFAULT_LIST_LIMIT } from '../runtimes/runtimes.constants';
import { toWorkerSummaryDto, WorkerListDto, type WorkerSummaryDto } from './dto/worker-summary.dto';

/** `GET /api/workers` */
@ApiTags('workers')
@Controller('workers')
export class WorkersController {
  constructor(
    @Inject(RuntimeRegistry) private readonly registry: RuntimeRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'listWorkers', summary: 'Workers of every runtime, in registration order (embedded, then local); page on with next_cursor' })
  @ApiOkResponse({ type: WorkerListDto })
  @ApiErrors('validation_failed', 'limit_too_large', 'invalid_cursor')
  async list(@Query() query: ListQueryDto): Promise<ListEnvelope<WorkerSummaryDto>> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const page = await this.registry.listWorkers({ limit, cursor: query.cursor });
    return toListEnvelope(WorkerListDto, toWorkerSummaryDto, page, { workspaceId: this.config.workspaceId, limit });
  }
}
