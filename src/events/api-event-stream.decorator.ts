import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, getSchemaPath } from '@nestjs/swagger';
import { EVENT_DTOS_BY_KIND } from './dto/worker-event.dto';

/**
 * Documents a `text/event-stream` 200 (content given explicitly: `@ApiProduces`
 * would move the JSON error bodies under the event-stream type too) whose
 * events' `data:` is one of the event DTOs, told apart by `kind`.
 */
export function ApiEventStreamResponse(description: string): MethodDecorator {
  return applyDecorators(
    ApiExtraModels(...Object.values(EVENT_DTOS_BY_KIND)),
    ApiOkResponse({
      description:
        `${description} Each event is \`id: <event_id>\` (worker events only), \`event: <kind>\`, \`data: <one JSON object>\`; ` +
        '`: heartbeat` comments keep the connection alive. A client that cannot keep up gets `stream.overflow` and is disconnected.',
      content: {
        'text/event-stream': {
          schema: {
            oneOf: Object.values(EVENT_DTOS_BY_KIND).map((dto) => ({ $ref: getSchemaPath(dto) })),
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
