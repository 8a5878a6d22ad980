import { Controller, Get, Headers, Inject, Query, Req, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { pipelineRequestOf } from '../common/http/middleware-chain';
import { ApiErrors } from '../common/dto/error-response.dto';
import { RuntimeRegistry } from '../runtimes/runtime-registry';
import { ApiEventStreamResponse } from './api-event-stream.decorator';
import { EventsQueryDto } from './dto/events-query.dto';
import { ALL_EVENTS_SCOPE, EventStreams, resumePosition } from './event-streams';

/** `GET /api/events`: the events of every worker, in one order, resumable (consoles that watch everything). */
@ApiTags('events')
@Controller('events')
export class EventsController {
  constructor(
    @Inject(RuntimeRegistry) private readonly registry: RuntimeRegistry,
    @Inject(EventStreams) private readonly streams: EventStreams,
  ) {}

  @Get()
  @ApiOperation({
    operationId: 'streamEvents',
    summary: "Every worker's events (Server-Sent Events) in one order; resume with Last-Event-ID / ?after= (the `log-<n>` ids of this stream)",
  })
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Resume after this position (log-<n>); wins over ?after=' })
  @ApiEventStreamResponse('Events of all workers; the SSE `id:` is a position over all of them (`log-<n>`), each event still carries its worker\'s `event_id`.')
  @ApiErrors('validation_failed', 'unknown_runtime', 'capability_unsupported', 'too_many_streams', 'service_unavailable', 'store_unavailable')
  async stream(@Query() query: EventsQueryDto, @Headers('last-event-id') lastEventId: string | undefined, @Req() req: FastifyRequest, @Res() res: FastifyReply): Promise<void> {
    const after = resumePosition(lastEventId, query.after, 'log-42');
    await this.streams.serve(pipelineRequestOf(req), res, ALL_EVENTS_SCOPE, (sink) => this.registry.openEvents(query.runtime_id, after, sink));
  }
}
