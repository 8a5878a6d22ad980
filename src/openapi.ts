import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { NULLABLE_NESTED_MODELS } from './common/dto/api-field.decorator';
import { errorResponse } from './common/dto/error-response.dto';
import type { ApiErrorCode } from './common/errors/api-error';

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
 * What the request pipeline adds to every operation, documented over the
 * whole document so no controller can forget it: the Host check (403
 * host_not_allowed) everywhere; on every operation but health, the bearer
 * scheme and its answers (401, 403 forbidden, 429 rate_limited).
 */
function secureOperations(document: OpenAPIObject): void {
  for (const [path, item] of Object.entries(document.paths)) {
    const secured = !path.startsWith('/api/health');
    for (const op of Object.values(item) as Array<{ security?: unknown; responses: Record<string, unknown> }>) {
      if (!op || typeof op !== 'object' || !('responses' in op)) continue;
      if (secured) op.security = [{ [BEARER]: [] }];
      op.responses['401'] ??= secured ? errorResponse(401, ['unauthorized']) : undefined;
      op.responses['403'] = errorResponse(403, secured ? ['forbidden', 'host_not_allowed'] : ['host_not_allowed']);
      if (secured) op.responses['429'] = errorResponse(429, [...new Set([...codesDocumented(op.responses['429']), 'rate_limited' as const])]);
      if (op.responses['401'] === undefined) delete op.responses['401'];
    }
  }
}

/** The codes an already documented error response lists (its examples' keys). */
function codesDocumented(response: unknown): ApiErrorCode[] {
  const examples = (response as { content?: Record<string, { examples?: Record<string, unknown> }> } | undefined)?.content?.['application/json']?.examples;
  return Object.keys(examples ?? {}) as ApiErrorCode[];
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
