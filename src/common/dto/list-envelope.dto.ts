import type { Page } from '../../runtimes/runtime-source';
import { boundedMemo } from '../memo/bounded-memo';
import { ApiField } from './api-field.decorator';
import { DiagnosticDto, toDiagnosticDtos } from './diagnostic.dto';

export interface ListEnvelope<T> {
  workspace_id: string;
  limit: number;
  source: 'worker_runtime_registry';
  items: T[];
  next_cursor: string | null;
  diagnostics: DiagnosticDto[];
}

type Ctor<T> = new () => T;

/**
 * Builds the list envelope DTO class for one item type (SPEC §3, §10), named
 * for OpenAPI, with the same exposure rules as every other response DTO.
 */
export function ListEnvelopeDto<T>(item: Ctor<T>, name: string): Ctor<ListEnvelope<T>> {
  class Envelope implements ListEnvelope<T> {
    @ApiField({ example: 'default' })
    workspace_id: string;

    @ApiField({ type: 'integer', minimum: 1, maximum: 200 })
    limit: number;

    @ApiField({ enum: ['worker_runtime_registry'] })
    source: 'worker_runtime_registry';

    @ApiField({ nested: item, isArray: true })
    items: T[];

    @ApiField({ type: String, nullable: true, maxLength: 512, description: 'Pass as `cursor` to get the next page; null on the last page. A page may hold fewer than `limit` items, even none, and still have one: page on until it is null' })
    next_cursor: string | null;

    @ApiField({ nested: DiagnosticDto, isArray: true, maxItems: 16 })
    diagnostics: DiagnosticDto[];
  }
  Object.defineProperty(Envelope, 'name', { value: name });
  return Envelope;
}

export function toListEnvelope<R, T>(Dto: Ctor<ListEnvelope<T>>, mapItem: (record: R) => T, page: Page<R>, context: { workspaceId: string; limit: number }): ListEnvelope<T> {
  const dto = new Dto();
  dto.workspace_id = context.workspaceId;
  dto.limit = context.limit;
  dto.source = 'worker_runtime_registry';
  dto.items = page.items.map(mapItem);
  dto.next_cursor = page.next;
  dto.diagnostics = toDiagnosticDtos(page.diagnostics);
  return dto;
}

/**
 * The same times (a worker's creation, its last activity) go out on every
 * list, and a Date and its ISO string per time cost more than the rest of a
 * worker's mapping.
 */
const formatTime = boundedMemo(4096, (ms: number) => new Date(ms).toISOString());

/** RFC 3339 (UTC, milliseconds) for epoch-millisecond domain times. */
export function toRfc3339(ms: number): string;
export function toRfc3339(ms: number | null): string | null;
export function toRfc3339(ms: number | null): string | null {
  return ms === null ? null : formatTime(ms);
}
