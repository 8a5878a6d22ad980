import { Body, Controller, Delete, Get, Headers, HttpCode, HttpStatus, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiCreatedResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { pipelineRequestOf } from '../common/http/middleware-chain';
import { ApiErrors } from '../common/dto/error-response.dto';
import { type ListEnvelope, toListEnvelope } from '../common/dto/list-envelope.dto';
import { ListQueryDto } from '../common/dto/list-query.dto';
import { RejectQueryPipe } from '../common/pipes/reject-query.pipe';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ApiEventStreamResponse } from '../events/api-event-stream.decorator';
import { WorkerEventsQueryDto } from '../events/dto/events-query.dto';
import { EventStreams, resumePosition } from '../events/event-streams';
import { IDEMPOTENCY_KEY_HEADER } from '../idempotency/idempotency.constants';
import { IdempotentRequests } from '../idempotency/idempotent-requests';
import type { StoredJson } from '../common/serialization/stored-json';
import { RuntimeRegistry } from '../runtimes/runtime-registry';
import { RUNTIME_ID_PARAM, WORKER_ID_PARAM } from '../runtimes/runtimes.constants';
import { DEFAULT_LIST_LIMIT, DEFAULT_TRANSCRIPT_LIMIT } from '../runtimes/runtimes.constants';
import { CREATE_WORKER_EXAMPLES, CreateWorkerDto, SpawnResultDto, toSpawnRequest, toSpawnResultDto } from './dto/create-worker.dto';
import { InputResultDto, SEND_INPUT_EXAMPLES, SendInputDto, toInputRequest, toInputResultDto } from './dto/send-input.dto';
import { STOP_WORKER_EXAMPLES, StopWorkerDto } from './dto/stop-worker.dto';
import { toTranscriptPageDto, TranscriptPageDto, TranscriptQueryDto } from './dto/transcript.dto';
import { toWorkerSummaryDto, WorkerListDto, WorkerSummaryDto } from './dto/worker-summary.dto';

/**
 * Every worker operation addressed by `runtime_id` + `worker_id`:
 * `/api/runtimes/:runtime_id/workers[/:worker_id[/input|/transcript|/events|/stop]]`.
 * Runs are in worker-runs.controller.ts.
 */
@ApiTags('workers')
@ApiParam(RUNTIME_ID_PARAM)
@Controller('runtimes/:runtime_id/workers')
export class RuntimeWorkersController {
  constructor(
    @Inject(RuntimeRegistry) private readonly registry: RuntimeRegistry,
    @Inject(EventStreams) private readonly streams: EventStreams,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(IdempotentRequests) private readonly idempotent: IdempotentRequests,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'listRuntimeWorkers', summary: "One runtime's workers, oldest first" })
  @ApiOkResponse({ type: WorkerListDto })
  @ApiErrors('invalid_identifier', 'validation_failed', 'limit_too_large', 'invalid_cursor', 'unknown_runtime', 'store_unavailable')
  async list(@Param('runtime_id') runtimeId: string, @Query() query: ListQueryDto): Promise<ListEnvelope<WorkerSummaryDto>> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const page = await this.registry.listRuntimeWorkers(runtimeId, { limit, cursor: query.cursor });
    return toListEnvelope(WorkerListDto, toWorkerSummaryDto, page, { workspaceId: this.config.workspaceId, limit });
  }

  @Post()
  @HttpCode(HttpStatus.CREATED)
  @ApiHeader(IDEMPOTENCY_KEY_HEADER)
  @ApiOperation({ operationId: 'createWorker', summary: 'Create a worker in a runtime that can spawn (embedded)' })
  @ApiBody({ type: CreateWorkerDto, examples: CREATE_WORKER_EXAMPLES })
  @ApiCreatedResponse({ type: SpawnResultDto, description: "Created; `Location` is the new worker's URL" })
  @ApiErrors('invalid_identifier', 'validation_failed', 'unknown_runtime', 'payload_too_large', 'unsupported_media_type', 'rejected', 'capability_unsupported', 'idempotency_key_reused', 'idempotency_in_progress', 'store_unavailable')
  async create(
    @Param('runtime_id') runtimeId: string,
    @Query(RejectQueryPipe) _query: Record<string, never>,
    @Body() body: CreateWorkerDto,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) res: FastifyReply,
  ): Promise<SpawnResultDto | StoredJson> {
    return this.idempotent.run(req, res, HttpStatus.CREATED, async () => {
      const outcome = await this.registry.spawnWorker(runtimeId, toSpawnRequest(body));
      const worker = outcome.worker!;
      res.header('Location', `/api/runtimes/${runtimeId}/workers/${worker.workerId}`);
      return toSpawnResultDto({ ...outcome, worker });
    });
  }

  @Get(':worker_id')
  @ApiOperation({ operationId: 'getWorker', summary: 'One worker' })
  @ApiParam(WORKER_ID_PARAM)
  @ApiOkResponse({ type: WorkerSummaryDto })
  @ApiErrors('invalid_identifier', 'validation_failed', 'unknown_runtime', 'unknown_worker', 'store_unavailable')
  async get(@Param('runtime_id') runtimeId: string, @Param('worker_id') workerId: string, @Query(RejectQueryPipe) _query: Record<string, never>): Promise<WorkerSummaryDto> {
    return toWorkerSummaryDto(await this.registry.getWorker(runtimeId, workerId));
  }

  @Post(':worker_id/input')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiHeader(IDEMPOTENCY_KEY_HEADER)
  @ApiOperation({ operationId: 'sendWorkerInput', summary: "Append an input to the worker's transcript; a user input starts a run when a model provider is configured" })
  @ApiParam(WORKER_ID_PARAM)
  @ApiBody({ type: SendInputDto, examples: SEND_INPUT_EXAMPLES })
  @ApiAcceptedResponse({ type: InputResultDto })
  @ApiErrors('invalid_identifier', 'validation_failed', 'unknown_runtime', 'unknown_worker', 'payload_too_large', 'unsupported_media_type', 'capability_unsupported', 'worker_stopped', 'worker_busy', 'worker_queue_full', 'idempotency_key_reused', 'idempotency_in_progress', 'store_unavailable')
  async input(
    @Param('runtime_id') runtimeId: string,
    @Param('worker_id') workerId: string,
    @Query(RejectQueryPipe) _query: Record<string, never>,
    @Body() body: SendInputDto,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) res: FastifyReply,
  ): Promise<InputResultDto | StoredJson> {
    return this.idempotent.run(req, res, HttpStatus.ACCEPTED, async () => toInputResultDto(await this.registry.acceptInput(runtimeId, workerId, toInputRequest(body))));
  }

  @Get(':worker_id/transcript')
  @ApiOperation({ operationId: 'readWorkerTranscript', summary: 'A bounded page of the transcript: at most `limit` items and 1,048,576 UTF-16 units of content; O(limit)' })
  @ApiParam(WORKER_ID_PARAM)
  @ApiOkResponse({ type: TranscriptPageDto })
  @ApiErrors('invalid_identifier', 'validation_failed', 'limit_too_large', 'unknown_runtime', 'unknown_worker', 'capability_unsupported', 'store_unavailable')
  async transcript(@Param('runtime_id') runtimeId: string, @Param('worker_id') workerId: string, @Query() query: TranscriptQueryDto): Promise<TranscriptPageDto> {
    const page = { start: query.start ?? 0, limit: query.limit ?? DEFAULT_TRANSCRIPT_LIMIT };
    return toTranscriptPageDto(await this.registry.readTranscript(runtimeId, workerId, page));
  }

  @Post(':worker_id/stop')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ operationId: 'stopWorker', summary: 'Stop a worker: its running and queued runs are cancelled; it takes no more input. Idempotent' })
  @ApiParam(WORKER_ID_PARAM)
  @ApiBody({ type: StopWorkerDto, required: false, examples: STOP_WORKER_EXAMPLES })
  @ApiOkResponse({ type: WorkerSummaryDto })
  @ApiErrors('invalid_identifier', 'validation_failed', 'unknown_runtime', 'unknown_worker', 'payload_too_large', 'unsupported_media_type', 'capability_unsupported', 'store_unavailable')
  async stop(
    @Param('runtime_id') runtimeId: string,
    @Param('worker_id') workerId: string,
    @Query(RejectQueryPipe) _query: Record<string, never>,
    @Body() body: StopWorkerDto,
  ): Promise<WorkerSummaryDto> {
    return toWorkerSummaryDto(await this.registry.stopWorker(runtimeId, workerId, body.reason ?? null));
  }

  @Delete(':worker_id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'deleteWorker', summary: 'Stop the worker, then remove it with its transcript, runs and events' })
  @ApiParam(WORKER_ID_PARAM)
  @ApiNoContentResponse({ description: 'Deleted; every route now answers 404 unknown_worker for it' })
  @ApiErrors('invalid_identifier', 'validation_failed', 'unknown_runtime', 'unknown_worker', 'capability_unsupported', 'store_unavailable')
  async remove(@Param('runtime_id') runtimeId: string, @Param('worker_id') workerId: string, @Query(RejectQueryPipe) _query: Record<string, never>): Promise<void> {
    await this.registry.deleteWorker(runtimeId, workerId);
  }

  @Get(':worker_id/events')
  @ApiOperation({
    operationId: 'streamWorkerEvents',
    summary: "The worker's events (Server-Sent Events): live from now on, or resumed after Last-Event-ID / ?after= with everything stored since",
  })
  @ApiParam(WORKER_ID_PARAM)
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Resume after this event id (evt-<n>); wins over ?after=' })
  @ApiEventStreamResponse(
    'On resume, every stored event after the id comes first, then live ones, with no gap and no duplicate; an id this worker never issued gives stream.reset first. Ends after worker.deleted.',
  )
  @ApiErrors('invalid_identifier', 'validation_failed', 'unknown_runtime', 'unknown_worker', 'capability_unsupported', 'too_many_streams', 'service_unavailable', 'store_unavailable')
  async events(
    @Param('runtime_id') runtimeId: string,
    @Param('worker_id') workerId: string,
    @Query() query: WorkerEventsQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Req() req: FastifyRequest,
    @Res() res: FastifyReply,
  ): Promise<void> {
    const after = resumePosition(lastEventId, query.after, 'evt-3');
    await this.streams.serve(pipelineRequestOf(req), res, `${runtimeId}/${workerId}`, (sink) => this.registry.openWorkerEvents(runtimeId, workerId, after, sink));
  }
}
