import { Controller, Get, Header, Inject, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponses } from '../common/dto/error-response.dto';
import { type ListEnvelope, toListEnvelope } from '../common/dto/list-envelope.dto';
import { ListQueryDto } from '../common/dto/list-query.dto';
import { SerializedResponseCache, type SerializedJson } from '../common/serialization/serialized-json';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { RegistryService } from '../runtimes/registry.service';
import { DEFAULT_LIST_LIMIT } from '../runtimes/runtimes.constants';
import { toWorkerSummaryDto, WorkerListDto, type WorkerSummaryDto } from './dto/worker-summary.dto';

/** `GET /api/workers` */
@ApiTags('workers')
@Controller('workers')
export class WorkersController {
  /** Serialised lists of unchanged state (see BENCHMARKS.md: building and stringifying 100 workers per request was most of the cost). */
  private readonly cache = new SerializedResponseCache();

  constructor(
    @Inject(RegistryService) private readonly registry: RegistryService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'listWorkers', summary: 'Workers of every runtime, embedded ones included, in registration order' })
  @ApiOkResponse({ type: WorkerListDto })
  @ApiErrorResponses(400)
  @Header('content-type', 'application/json; charset=utf-8')
  async list(@Query() query: ListQueryDto): Promise<ListEnvelope<WorkerSummaryDto> | SerializedJson> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const build = async () => toListEnvelope(WorkerListDto, toWorkerSummaryDto, await this.registry.listWorkers(limit), { workspaceId: this.config.workspaceId, limit });
    // The version is read before the list is built, so a cached body is never older than its key.
    const version = await this.registry.workersVersion();
    if (version === undefined) return build();
    // A list reporting a failing source is not cached: the next request tries again.
    return this.cache.get(`${limit}|${version}`, build, (dto) => dto.diagnostics.every((d) => d.severity !== 'error'));
  }
}
