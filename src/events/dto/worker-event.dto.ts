import { ApiField } from '../../common/dto/api-field.decorator';
import { toRfc3339 } from '../../common/dto/list-envelope.dto';
import { serializeResponse } from '../../common/serialization/serialize-response';
import type { StreamResetReason, WorkerEvent } from '../../runtimes/runtime-source';
import { RunSummaryDto, toRunSummaryDto } from '../../workers/dto/run-summary.dto';
import { toTranscriptItemDto, TranscriptItemDto } from '../../workers/dto/transcript.dto';
import { toWorkerSummaryDto, WorkerSummaryDto } from '../../workers/dto/worker-summary.dto';

/*
 * The `data:` of each SSE event. Built by the same allow-list mappers as the
 * REST responses and serialised by the same allow-list serializer as the
 * global interceptor, so an event can carry nothing a REST body could not.
 */

class WorkerEventBaseDto {
  @ApiField({ example: 'evt-3', description: "The worker's event id; on a worker's stream also the SSE `id:` (send it back as Last-Event-ID to resume)" })
  event_id: string;
  @ApiField() runtime_id: string;
  @ApiField() worker_id: string;
  @ApiField({ format: 'date-time', description: 'When the event was stored' }) at: string;
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
  @ApiField({ type: String, nullable: true, description: 'The stop reason (`idle` for idle stops)' }) reason: string | null;
}

const RUN_EVENT_KINDS = ['run.queued', 'run.started', 'run.completed', 'run.failed', 'run.cancelled', 'run.interrupted'] as const;
type RunEventKind = (typeof RUN_EVENT_KINDS)[number];

export class RunEventDto extends WorkerEventBaseDto {
  @ApiField({ enum: RUN_EVENT_KINDS }) kind: RunEventKind;
  @ApiField({ nested: RunSummaryDto, description: 'The run as it was at this event' }) run: RunSummaryDto;
}

export class MessageDeltaEventDto extends WorkerEventBaseDto {
  @ApiField({ enum: ['message.delta'] }) kind: 'message.delta';
  @ApiField() run_id: string;
  @ApiField({ description: "Reply text; a run's deltas concatenate to its assistant item's content" }) delta: string;
}

export class MessageCompletedEventDto extends WorkerEventBaseDto {
  @ApiField({ enum: ['message.completed'] }) kind: 'message.completed';
  @ApiField() run_id: string;
  @ApiField({ nested: TranscriptItemDto, description: 'The assistant item (truncated when the run did not complete)' }) item: TranscriptItemDto;
}

export class WorkerDeletedEventDto extends WorkerEventBaseDto {
  @ApiField({ enum: ['worker.deleted'] }) kind: 'worker.deleted';
}

export class StreamResetEventDto {
  @ApiField({ enum: ['stream.reset'] }) kind: 'stream.reset';
  @ApiField({ enum: ['unknown_position', 'history_unavailable'] }) reason: StreamResetReason;
  @ApiField() message: string;
}

export class StreamOverflowEventDto {
  @ApiField({ enum: ['stream.overflow'] }) kind: 'stream.overflow';
  @ApiField() message: string;
}

export class StreamClosingEventDto {
  @ApiField({ enum: ['stream.closing'] }) kind: 'stream.closing';
  @ApiField({ enum: ['shutdown', 'key_revoked'] }) reason: 'shutdown' | 'key_revoked';
  @ApiField() message: string;
}

export class HeartbeatEventDto {
  @ApiField({ enum: ['heartbeat'] }) kind: 'heartbeat';
  @ApiField({ format: 'date-time' }) at: string;
}

/** Every event's `data:` DTO, by its `kind` (= the SSE `event:` name). */
export const EVENT_DTOS_BY_KIND = {
  'worker.created': WorkerCreatedEventDto,
  'worker.input_accepted': WorkerInputAcceptedEventDto,
  'worker.state_changed': WorkerStateChangedEventDto,
  ...Object.fromEntries(RUN_EVENT_KINDS.map((k) => [k, RunEventDto])),
  'message.delta': MessageDeltaEventDto,
  'message.completed': MessageCompletedEventDto,
  'worker.deleted': WorkerDeletedEventDto,
  'stream.reset': StreamResetEventDto,
  'stream.overflow': StreamOverflowEventDto,
  'stream.closing': StreamClosingEventDto,
  heartbeat: HeartbeatEventDto,
} as Record<string, new () => object>;

const RESET_MESSAGES: Record<StreamResetReason, string> = {
  unknown_position: 'The given event id was not issued by this stream; re-read the transcript, then continue with this stream',
  history_unavailable: 'Events after the given id are no longer stored; re-read the transcript, then continue with this stream',
};

export function toWorkerEventData(event: WorkerEvent): Record<string, unknown> {
  const base = { event_id: event.eventId, runtime_id: event.runtimeId, worker_id: event.workerId, at: toRfc3339(event.at) };
  let dto: object;
  switch (event.kind) {
    case 'worker.created':
      dto = Object.assign(new WorkerCreatedEventDto(), base, { kind: event.kind, worker: toWorkerSummaryDto(event.worker) });
      break;
    case 'worker.input_accepted':
      dto = Object.assign(new WorkerInputAcceptedEventDto(), base, { kind: event.kind, item: toTranscriptItemDto(event.item) });
      break;
    case 'worker.state_changed':
      dto = Object.assign(new WorkerStateChangedEventDto(), base, { kind: event.kind, state: event.state, status: event.status, reason: event.reason });
      break;
    case 'message.delta':
      dto = Object.assign(new MessageDeltaEventDto(), base, { kind: event.kind, run_id: event.runId, delta: event.delta });
      break;
    case 'message.completed':
      dto = Object.assign(new MessageCompletedEventDto(), base, { kind: event.kind, run_id: event.runId, item: toTranscriptItemDto(event.item) });
      break;
    case 'worker.deleted':
      dto = Object.assign(new WorkerDeletedEventDto(), base, { kind: event.kind });
      break;
    default:
      dto = Object.assign(new RunEventDto(), base, { kind: event.kind, run: toRunSummaryDto(event.run) });
  }
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

export function toStreamClosingData(reason: 'shutdown' | 'key_revoked'): Record<string, unknown> {
  const message = reason === 'shutdown' ? 'The server is shutting down; reconnect with Last-Event-ID to resume' : 'The API key of this stream was revoked';
  return serializeResponse(Object.assign(new StreamClosingEventDto(), { kind: 'stream.closing', reason, message })) as Record<string, unknown>;
}

export function toHeartbeatData(): Record<string, unknown> {
  return serializeResponse(Object.assign(new HeartbeatEventDto(), { kind: 'heartbeat', at: new Date().toISOString() })) as Record<string, unknown>;
}
