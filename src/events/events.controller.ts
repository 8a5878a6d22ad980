import { Controller, Get, Headers, Inject, Query, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ApiErrorResponses } from '../common/dto/error-response.dto';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { RegistryService } from '../runtimes/registry.service';
import { ApiEventStreamResponse } from './api-event-stream.decorator';
import { EventsQueryDto } from './dto/events-query.dto';
import { createEventStream, sseSink } from './event-stream';

/** `GET /api/events`: live events of every runtime that can stream (consoles that watch everything). */
@ApiTags('events')
@Controller('events')
export class EventsController {
  constructor(
    @Inject(RegistryService) private readonly registry: RegistryService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({
    operationId: 'streamEvents',
    summary: 'Live events of all workers (Server-Sent Events); optional runtime_id filter. Live only: a Last-Event-ID gets stream.reset first',
  })
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Not resumable here: answered with a stream.reset event' })
  @ApiEventStreamResponse('Events of all workers of the selected runtimes.')
  @ApiErrorResponses(400, 404, 501)
  stream(@Query() query: EventsQueryDto, @Headers('last-event-id') lastEventId: string | undefined, @Res() res: Response): void {
    const stream = createEventStream(res, this.config.events);
    const sink = sseSink(stream);
    // Throws (404/501) before anything is written, so errors stay JSON.
    const unsubscribe = this.registry.openEvents(query.runtime_id, sink);
    stream.onClose(unsubscribe);
    stream.open();
    // A console reconnecting after a gap cannot be replayed across workers: tell it to re-read.
    if (lastEventId) sink.reset('not_resumable');
  }
}
