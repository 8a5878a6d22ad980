import { Body, Controller, Get, Headers, HttpCode, HttpStatus, Inject, Param, Post, Query, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBody, ApiCreatedResponse, ApiHeader, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ApiErrorResponses } from '../common/dto/error-response.dto';
import { ApiEventStreamResponse } from '../events/api-event-stream.decorator';
import { WorkerEventsQueryDto } from '../events/dto/events-query.dto';
import { createEventStream, resumePosition, sseSink } from '../events/event-stream';
import { type ListEnvelope, toListEnvelope } from '../common/dto/list-envelope.dto';
import { ListQueryDto } from '../common/dto/list-query.dto';
import { RejectQueryPipe } from '../common/pipes/reject-query.pipe';
import { APP_CONFIG, type AppConfig, IDENTIFIER_PATTERN } from '../config/app-config';
import { RegistryService } from '../runtimes/registry.service';
import { RUNTIME_ID_PARAM } from '../runtimes/runtimes.controller';
import { DEFAULT_LIST_LIMIT, DEFAULT_TRANSCRIPT_LIMIT } from '../runtimes/runtimes.constants';
import { CreateWorkerDto, SpawnResultDto, toSpawnRequest, toSpawnResultDto } from './dto/create-worker.dto';
import { InputResultDto, SendInputDto, toInputRequest, toInputResultDto } from './dto/send-input.dto';
import { toTranscriptPageDto, TranscriptPageDto, TranscriptQueryDto } from './dto/transcript.dto';
import { toWorkerSummaryDto, WorkerListDto, WorkerSummaryDto } from './dto/worker-summary.dto';

const WORKER_ID_PARAM = { name: 'worker_id', schema: { type: 'string' as const, pattern: IDENTIFIER_PATTERN.source } };

/**
 * Every worker operation addressed by `runtime_id` + `worker_id`:
 * `/api/runtimes/:runtime_id/workers[/:worker_id[/input|/transcript|/events]]`.
 */
@ApiTags('workers')
@ApiParam(RUNTIME_ID_PARAM)
@Controller('runtimes/:runtime_id/workers')
export class RuntimeWorkersController {
  constructor(
    @Inject(RegistryService) private readonly registry: RegistryService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'listRuntimeWorkers', summary: "One runtime's workers" })
  @ApiOkResponse({ type: WorkerListDto })
  @ApiErrorResponses(400, 404)
  async list(@Param('runtime_id') runtimeId: string, @Query() query: ListQueryDto): Promise<ListEnvelope<WorkerSummaryDto>> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const listing = await this.registry.listRuntimeWorkers(runtimeId, limit);
    return toListEnvelope(WorkerListDto, toWorkerSummaryDto, listing, { workspaceId: this.config.workspaceId, limit });
  }

  @Post()
  @HttpCode(HttpStatus.CREATED)
  @ApiOperation({ operationId: 'createWorker', summary: 'Create a worker in a runtime that can spawn (embedded)' })
  @ApiBody({ type: CreateWorkerDto })
  @ApiCreatedResponse({ type: SpawnResultDto })
  @ApiErrorResponses(400, 404, 413, 415, 422, 501)
  async create(
    @Param('runtime_id') runtimeId: string,
    @Query(RejectQueryPipe) _query: Record<string, never>,
    @Body() body: CreateWorkerDto,
  ): Promise<SpawnResultDto> {
    return toSpawnResultDto(await this.registry.spawnWorker(runtimeId, toSpawnRequest(body)));
  }

  @Get(':worker_id')
  @ApiOperation({ operationId: 'getWorker', summary: 'One worker' })
  @ApiParam(WORKER_ID_PARAM)
  @ApiOkResponse({ type: WorkerSummaryDto })
  @ApiErrorResponses(400, 404)
  async get(
    @Param('runtime_id') runtimeId: string,
    @Param('worker_id') workerId: string,
    @Query(RejectQueryPipe) _query: Record<string, never>,
  ): Promise<WorkerSummaryDto> {
    return toWorkerSummaryDto(await this.registry.getWorker(runtimeId, workerId));
  }

  @Post(':worker_id/input')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({ operationId: 'sendWorkerInput', summary: "Append an input to the worker's transcript" })
  @ApiParam(WORKER_ID_PARAM)
  @ApiBody({ type: SendInputDto })
  @ApiAcceptedResponse({ type: InputResultDto })
  @ApiErrorResponses(400, 404, 413, 415, 501)
  async input(
    @Param('runtime_id') runtimeId: string,
    @Param('worker_id') workerId: string,
    @Query(RejectQueryPipe) _query: Record<string, never>,
    @Body() body: SendInputDto,
  ): Promise<InputResultDto> {
    return toInputResultDto(await this.registry.acceptInput(runtimeId, workerId, toInputRequest(body)));
  }

  @Get(':worker_id/transcript')
  @ApiOperation({ operationId: 'readWorkerTranscript', summary: 'A bounded page of the transcript; O(limit)' })
  @ApiParam(WORKER_ID_PARAM)
  @ApiOkResponse({ type: TranscriptPageDto })
  @ApiErrorResponses(400, 404, 501)
  async transcript(
    @Param('runtime_id') runtimeId: string,
    @Param('worker_id') workerId: string,
    @Query() query: TranscriptQueryDto,
  ): Promise<TranscriptPageDto> {
    const page = { start: query.start ?? 0, limit: query.limit ?? DEFAULT_TRANSCRIPT_LIMIT };
    return toTranscriptPageDto(await this.registry.readTranscript(runtimeId, workerId, page));
  }

  @Get(':worker_id/events')
  @ApiOperation({
    operationId: 'streamWorkerEvents',
    summary: "The worker's events from now on (Server-Sent Events); resume with Last-Event-ID or ?after=",
  })
  @ApiParam(WORKER_ID_PARAM)
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Resume after this event id (evt-<n>); wins over ?after=' })
  @ApiEventStreamResponse(
    'worker.created, worker.input_accepted (with the transcript item), worker.state_changed. On resume, every retained event after the id comes first, then live ones, with no gap and no duplicate; if the id is too old (or unknown), the first event is stream.reset.',
  )
  @ApiErrorResponses(400, 404, 501)
  async events(
    @Param('runtime_id') runtimeId: string,
    @Param('worker_id') workerId: string,
    @Query() query: WorkerEventsQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() res: Response,
  ): Promise<void> {
    const after = resumePosition(lastEventId, query.after);
    const stream = createEventStream(res, this.config.events);
    // Errors (404, 501, store) are thrown before the first write, so they stay JSON.
    const unsubscribe = await this.registry.openWorkerEvents(runtimeId, workerId, after, sseSink(stream), { replayLimit: this.config.events.replayLimit });
    stream.onClose(unsubscribe);
    stream.open();
  }
}
