import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { NULLABLE_NESTED_MODELS } from './common/dto/api-field.decorator';
import { errorResponse } from './common/dto/error-response.dto';

const BEARER = 'api_key';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Workspace Backend')
    .setDescription(
      'Hosts LLM agent workers in several runtimes. Every worker operation is addressed by runtime_id + worker_id. ' +
        'Responses are allow-listed projections: no endpoint, token, path, pid or credential is ever returned. ' +
        'Every error has the body ErrorResponseDto with a stable `error` code. ' +
        'Every route but /api/health needs `Authorization: Bearer <key>` (use Authorize).',
    )
    .setVersion('0.2.0')
    .addServer('/', 'This server')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key: API_KEY, the key printed at start-up, or one from POST /api/keys' }, BEARER)
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controllerKey, methodKey) => methodKey,
    extraModels: [...NULLABLE_NESTED_MODELS],
  });
  secureOperations(document);
  return document;
}

/**
 * Every operation but health needs a key: it declares the bearer scheme and
 * the answers auth adds (401, 403, 429), all in the one error shape. Done
 * here, over the whole document, so no controller can forget it.
 */
function secureOperations(document: OpenAPIObject): void {
  for (const [path, item] of Object.entries(document.paths)) {
    if (path.startsWith('/api/health')) continue;
    for (const op of Object.values(item) as Array<{ security?: unknown; responses: Record<string, unknown> }>) {
      if (!op || typeof op !== 'object' || !('responses' in op)) continue;
      op.security = [{ [BEARER]: [] }];
      for (const status of [401, 403, 429]) op.responses[String(status)] ??= errorResponse(status);
    }
  }
}

/** Explorer at /docs, document at /docs-json (SPEC §8). */
export function setupOpenApi(app: INestApplication): OpenAPIObject {
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
    // The key entered with Authorize survives a reload of the page.
    swaggerOptions: { persistAuthorization: true },
  });
  return document;
}
