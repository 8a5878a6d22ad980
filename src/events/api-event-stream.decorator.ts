import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, getSchemaPath } from '@nestjs/swagger';
import { EVENT_DTOS_BY_KIND } from './dto/worker-event.dto';

/**
 * Documents a `text/event-stream` 200 (content given explicitly: `@ApiProduces`
 * would move the JSON error bodies under the event-stream type too) whose
 * events' `data:` is one of the event DTOs, told apart by `kind`.
 */
export function ApiEventStreamResponse(description: string): MethodDecorator {
  const dtos = [...new Set(Object.values(EVENT_DTOS_BY_KIND))];
  return applyDecorators(
    ApiExtraModels(...dtos),
    ApiOkResponse({
      description:
        `${description} Each event is \`id: <event_id>\` (worker events only), \`event: <kind>\`, \`data: <one JSON object>\`; ` +
        'A named `heartbeat` event comes every SSE_HEARTBEAT_MS. A client that stays too far behind gets `stream.overflow` and is disconnected; ' +
        'on shutdown every stream gets `stream.closing`. Reconnect with Last-Event-ID: nothing is lost.',
      content: {
        'text/event-stream': {
          schema: {
            oneOf: dtos.map((dto) => ({ $ref: getSchemaPath(dto) })),
            discriminator: {
              propertyName: 'kind',
              mapping: Object.fromEntries(Object.entries(EVENT_DTOS_BY_KIND).map(([kind, dto]) => [kind, getSchemaPath(dto)])),
            },
          },
        },
      },
    }),
  );
}
