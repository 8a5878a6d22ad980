import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { NULLABLE_NESTED_MODELS } from './common/dto/api-field.decorator';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Workspace Backend')
    .setDescription(
      'Hosts LLM agent workers in several runtimes. Every worker operation is addressed by runtime_id + worker_id. ' +
        'Responses are allow-listed projections: no endpoint, token, path, pid or credential is ever returned. ' +
        'Every error has the body ErrorResponseDto with a stable `error` code.',
    )
    .setVersion('0.1.0')
    .build();
  return SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controllerKey, methodKey) => methodKey,
    extraModels: [...NULLABLE_NESTED_MODELS],
  });
}

/** Explorer at /docs, document at /docs-json (SPEC §8). */
export function setupOpenApi(app: INestApplication): OpenAPIObject {
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', yamlDocumentUrl: 'docs-yaml' });
  return document;
}
