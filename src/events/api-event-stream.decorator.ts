import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, getSchemaPath } from '@nestjs/swagger';
import { EVENT_DTOS } from './dto/worker-event.dto';

/**
 * Documents a `text/event-stream` 200 (content given explicitly: `@ApiProduces`
 * would move the JSON error bodies under the event-stream type too) whose
 * events' `data:` is one of the event DTOs, told apart by `kind`.
 */
export function ApiEventStreamResponse(description: string): MethodDecorator {
  return applyDecorators(
    ApiExtraModels(...EVENT_DTOS),
    ApiOkResponse({
      description:
        `${description} Each event is \`id: <event_id>\` (worker events only), \`event: <kind>\`, \`data: <one JSON object>\`; ` +
        '`: heartbeat` comments keep the connection alive. A client that cannot keep up gets `stream.overflow` and is disconnected.',
      content: {
        'text/event-stream': {
          schema: {
            oneOf: EVENT_DTOS.map((dto) => ({ $ref: getSchemaPath(dto) })),
            discriminator: {
              propertyName: 'kind',
              mapping: {
                'worker.created': getSchemaPath(EVENT_DTOS[0]),
                'worker.input_accepted': getSchemaPath(EVENT_DTOS[1]),
                'worker.state_changed': getSchemaPath(EVENT_DTOS[2]),
                'stream.reset': getSchemaPath(EVENT_DTOS[3]),
                'stream.overflow': getSchemaPath(EVENT_DTOS[4]),
              },
            },
          },
        },
      },
    }),
  );
}
