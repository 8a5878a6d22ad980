import { Body, Controller, Get, HttpCode, HttpStatus, Inject, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/dto/error-response.dto';
import { type ListEnvelope, toListEnvelope } from '../common/dto/list-envelope.dto';
import { ListQueryDto } from '../common/dto/list-query.dto';
import { EMPTY_BODY_EXAMPLES, EMPTY_BODY_SCHEMA, RejectBodyPipe } from '../common/pipes/reject-body.pipe';
import { RejectQueryPipe } from '../common/pipes/reject-query.pipe';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { RuntimeRegistry } from '../runtimes/runtime-registry';
import { DEFAULT_LIST_LIMIT, RUN_ID_PARAM, RUNTIME_ID_PARAM, WORKER_ID_PARAM } from '../runtimes/runtimes.constants';
import { RunListDto, RunSummaryDto, toRunSummaryDto } from './dto/run-summary.dto';

/** `/api/runtimes/:runtime_id/workers/:worker_id/runs[/:run_id[/cancel]]`: a worker's runs (SPEC §9). */
@ApiTags('runs')
@ApiParam(RUNTIME_ID_PARAM)
@ApiParam(WORKER_ID_PARAM)
@Controller('runtimes/:runtime_id/workers/:worker_id/runs')
export class WorkerRunsController {
  constructor(
    @Inject(RuntimeRegistry) private readonly registry: RuntimeRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'listWorkerRuns', summary: "The worker's runs, newest first" })
  @ApiOkResponse({ type: RunListDto })
  @ApiErrors('invalid_identifier', 'validation_failed', 'limit_too_large', 'invalid_cursor', 'unknown_runtime', 'unknown_worker', 'capability_unsupported', 'store_unavailable')
  async list(@Param('runtime_id') runtimeId: string, @Param('worker_id') workerId: string, @Query() query: ListQueryDto): Promise<ListEnvelope<RunSummaryDto>> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const page = await this.registry.listRuns(runtimeId, workerId, { limit, cursor: query.cursor });
    return toListEnvelope(RunListDto, toRunSummaryDto, page, { workspaceId: this.config.workspaceId, limit });
  }

  @Get(':run_id')
  @ApiOperation({ operationId: 'getWorkerRun', summary: 'One run' })
  @ApiParam(RUN_ID_PARAM)
  @ApiOkResponse({ type: RunSummaryDto })
  @ApiErrors('invalid_identifier', 'validation_failed', 'unknown_runtime', 'unknown_worker', 'unknown_run', 'capability_unsupported', 'store_unavailable')
  async get(
    @Param('runtime_id') runtimeId: string,
    @Param('worker_id') workerId: string,
    @Param('run_id') runId: string,
    @Query(RejectQueryPipe) _query: Record<string, never>,
  ): Promise<RunSummaryDto> {
    return toRunSummaryDto(await this.registry.getRun(runtimeId, workerId, runId));
  }

  @Post(':run_id/cancel')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    operationId: 'cancelWorkerRun',
    summary: 'Cancel a queued or running run (its provider request is aborted; text produced so far is kept, truncated). Idempotent',
  })
  @ApiParam(RUN_ID_PARAM)
  @ApiBody({ schema: EMPTY_BODY_SCHEMA, required: false, examples: EMPTY_BODY_EXAMPLES })
  @ApiOkResponse({ type: RunSummaryDto, description: 'The run, `cancelled`' })
  @ApiErrors('invalid_identifier', 'validation_failed', 'unknown_runtime', 'unknown_worker', 'unknown_run', 'payload_too_large', 'unsupported_media_type', 'capability_unsupported', 'run_finished', 'store_unavailable')
  async cancel(
    @Param('runtime_id') runtimeId: string,
    @Param('worker_id') workerId: string,
    @Param('run_id') runId: string,
    @Query(RejectQueryPipe) _query: Record<string, never>,
    @Body(RejectBodyPipe) _body: Record<string, never>,
  ): Promise<RunSummaryDto> {
    return toRunSummaryDto(await this.registry.cancelRun(runtimeId, workerId, runId));
  }
}
