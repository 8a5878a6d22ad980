import { HttpStatus } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error';
import type { Response } from 'express';
import { SseStream } from '../common/http/sse-stream';
import type { EventStreamConfig } from '../config/app-config';
import type { EventStreamSink } from '../runtimes/runtime-source';
import { parseEventId } from '../runtimes/embedded/embedded-worker-runtime';
import { toStreamOverflowData, toStreamResetData, toWorkerEventData } from './dto/worker-event.dto';

/** An SSE response with the configured heartbeat and client buffer, and the overflow event built by the event DTOs. */
export function createEventStream(res: Response, config: EventStreamConfig): SseStream {
  return new SseStream(res, { heartbeatMs: config.heartbeatMs, maxBufferedBytes: config.clientBufferBytes, overflowData: toStreamOverflowData() });
}

/** Adapts a source's event sink to an SSE response: `id:` is the event id, `event:` the kind. */
export function sseSink(stream: SseStream): EventStreamSink {
  return {
    event: (event) => stream.send(event.kind, toWorkerEventData(event), event.event_id),
    reset: (reason) => stream.send('stream.reset', toStreamResetData(reason)),
  };
}

/**
 * The resume position: the Last-Event-ID header (what EventSource sends on
 * reconnect) wins over `?after=`; anything but `evt-<n>` is a 400.
 */
export function resumePosition(lastEventId: string | undefined, after: string | undefined): number | undefined {
  const raw = lastEventId !== undefined && lastEventId !== '' ? lastEventId : after;
  if (raw === undefined) return undefined;
  const eventNo = parseEventId(raw);
  if (eventNo === undefined) {
    throw new ApiError(HttpStatus.BAD_REQUEST, 'validation_failed', 'Last-Event-ID / after must be an event id such as evt-3', {
      details: [{ path: lastEventId ? 'Last-Event-ID' : 'after', message: 'must match ^evt-[0-9]{1,15}$' }],
    });
  }
  return eventNo;
}
