import { ApiField } from '../../common/dto/api-field.decorator';
import { serializeResponse } from '../../common/serialization/serialize-response';
import type { StreamResetReason, WorkerEvent } from '../../runtimes/runtime-source';
import { toTranscriptItemDto, TranscriptItemDto } from '../../workers/dto/transcript.dto';
import { toWorkerSummaryDto, WorkerSummaryDto } from '../../workers/dto/worker-summary.dto';

/*
 * The `data:` of each SSE event. Built by the same allow-list mappers as the
 * REST responses and serialised by the same allow-list serializer as the
 * global interceptor, so an event can carry nothing a REST body could not.
 */

class WorkerEventBaseDto {
  @ApiField({ example: 'evt-3', description: 'Also the SSE `id:`; send it back as Last-Event-ID to resume' }) event_id: string;
  @ApiField() runtime_id: string;
  @ApiField() worker_id: string;
}

export class WorkerCreatedEventDto extends WorkerEventBaseDto {
  @ApiField({ enum: ['worker.created'] }) kind: 'worker.created';
  @ApiField({ nested: WorkerSummaryDto }) worker: WorkerSummaryDto;
}

export class WorkerInputAcceptedEventDto extends WorkerEventBaseDto {
  @ApiField({ enum: ['worker.input_accepted'] }) kind: 'worker.input_accepted';
  @ApiField({ nested: TranscriptItemDto }) item: TranscriptItemDto;
}

export class WorkerStateChangedEventDto extends WorkerEventBaseDto {
  @ApiField({ enum: ['worker.state_changed'] }) kind: 'worker.state_changed';
  @ApiField() state: string;
  @ApiField() status: string;
}

export class StreamResetEventDto {
  @ApiField({ enum: ['stream.reset'] }) kind: 'stream.reset';
  @ApiField({ enum: ['history_unavailable', 'unknown_position', 'not_resumable'] }) reason: StreamResetReason;
  @ApiField() message: string;
}

export class StreamOverflowEventDto {
  @ApiField({ enum: ['stream.overflow'] }) kind: 'stream.overflow';
  @ApiField() message: string;
}

/** Every event's `data:` DTO, by its `kind` (= the SSE `event:` name). */
export const EVENT_DTOS_BY_KIND = {
  'worker.created': WorkerCreatedEventDto,
  'worker.input_accepted': WorkerInputAcceptedEventDto,
  'worker.state_changed': WorkerStateChangedEventDto,
  'stream.reset': StreamResetEventDto,
  'stream.overflow': StreamOverflowEventDto,
} as const;

const RESET_MESSAGES: Record<StreamResetReason, string> = {
  history_unavailable: 'Events after the given id are no longer replayable; re-read the transcript, then continue with this stream',
  unknown_position: 'The given event id was not issued by this worker; re-read the transcript, then continue with this stream',
  not_resumable: 'This stream cannot resume; re-read state, then continue with this stream',
};

export function toWorkerEventData(event: WorkerEvent): Record<string, unknown> {
  let dto: WorkerCreatedEventDto | WorkerInputAcceptedEventDto | WorkerStateChangedEventDto;
  switch (event.kind) {
    case 'worker.created':
      dto = Object.assign(new WorkerCreatedEventDto(), { kind: event.kind, worker: toWorkerSummaryDto(event.worker) });
      break;
    case 'worker.input_accepted':
      dto = Object.assign(new WorkerInputAcceptedEventDto(), { kind: event.kind, item: toTranscriptItemDto(event.item) });
      break;
    case 'worker.state_changed':
      dto = Object.assign(new WorkerStateChangedEventDto(), { kind: event.kind, state: event.state, status: event.status });
      break;
  }
  dto.event_id = event.event_id;
  dto.runtime_id = event.runtime_id;
  dto.worker_id = event.worker_id;
  return serializeResponse(dto) as Record<string, unknown>;
}

export function toStreamResetData(reason: StreamResetReason): Record<string, unknown> {
  return serializeResponse(Object.assign(new StreamResetEventDto(), { kind: 'stream.reset', reason, message: RESET_MESSAGES[reason] })) as Record<string, unknown>;
}

export function toStreamOverflowData(): Record<string, unknown> {
  return serializeResponse(
    Object.assign(new StreamOverflowEventDto(), { kind: 'stream.overflow', message: 'The client did not keep up; reconnect with Last-Event-ID to resume' }),
  ) as Record<string, unknown>;
}
