import type { INestApplication } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { NULLABLE_NESTED_MODELS } from './common/dto/api-field.decorator';
import { errorExample, errorResponse } from './common/dto/error-response.dto';
import { headerRef, RESPONSE_HEADERS } from './common/dto/response-headers';
import type { ApiErrorCode } from './common/errors/api-error';
import { once } from './common/memo/once';
import { NO_QUERY_MESSAGE } from './common/pipes/reject-query.pipe';
import { UNKNOWN_FIELD_MESSAGE, UNKNOWN_QUERY_PARAMETER_MESSAGE } from './common/pipes/validation';

const BEARER = 'api_key';

/** Tags in the order the explorer shows them, each with what it groups. */
const TAGS: Array<[string, string]> = [
  ['runtimes', 'The registered runtimes: what each can do'],
  ['hosts', 'Hosts of every runtime and their workers'],
  ['workers', 'Create, feed, read, stop and delete workers; every worker operation is addressed by runtime_id + worker_id'],
  ['runs', "A worker's turns against the model provider"],
  ['events', 'Server-Sent Events streams: resumable with Last-Event-ID'],
  ['keys', 'API keys (admin scope)'],
  ['health', 'Liveness and readiness; no API key needed'],
];

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('Workspace Backend')
    .setDescription(
      'Hosts LLM agent workers in several runtimes. Every worker operation is addressed by runtime_id + worker_id. ' +
        'Responses are allow-listed projections: no endpoint, token, path, pid or credential is ever returned. ' +
        'Every error has the body ErrorResponseDto with a stable `error` code. ' +
        'Every route but /api/health needs `Authorization: Bearer <key>` (use Authorize). ' +
        'Every response carries `X-Request-Id`; JSON GET answers carry an `ETag` (send it back as `If-None-Match` for a 304). ' +
        'A method a documented path does not list is `405 method_not_allowed` with `Allow` (see components/responses/MethodNotAllowed).',
    )
    .setVersion('0.2.0')
    .addServer('/', 'This server')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key: API_KEY, the key printed at start-up, or one from POST /api/keys' }, BEARER);
  for (const [name, description] of TAGS) builder.addTag(name, description);
  const generated = SwaggerModule.createDocument(app, builder.build(), {
    operationIdFactory: (_controllerKey, methodKey) => methodKey,
    extraModels: [...NULLABLE_NESTED_MODELS],
  });
  // A deep copy: the steps below edit it, and @nestjs/swagger may share objects with decorator metadata.
  const document = JSON.parse(JSON.stringify(generated)) as OpenAPIObject;
  // API keys are opaque strings, not the JWTs @nestjs/swagger's addBearerAuth assumes.
  delete (document.components!.securitySchemes![BEARER] as { bearerFormat?: string }).bearerFormat;
  secureOperations(document);
  liftParameterExamples(document);
  fitValidationExamples(document);
  documentResponseHeaders(document);
  return document;
}

type Json = Record<string, any>;

function operationsOf(document: OpenAPIObject): Array<{ path: string; method: string; op: Json }> {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item as Json)
      .filter(([, op]) => op && typeof op === 'object' && 'responses' in op)
      .map(([method, op]) => ({ path, method, op: op as Json })),
  );
}

/**
 * What the request pipeline adds to every operation, documented over the
 * whole document so no controller can forget it: the Host check (403
 * host_not_allowed) everywhere; on every operation but health, the bearer
 * scheme and its answers (401, 403 forbidden, 429 rate_limited, and 503
 * store_unavailable: a stored key is read from the store). Health says
 * `security: []` (no key) against the document's default.
 */
function secureOperations(document: OpenAPIObject): void {
  document.security = [{ [BEARER]: [] }];
  for (const { path, op } of operationsOf(document)) {
    const secured = !path.startsWith('/api/health');
    op.security = secured ? [{ [BEARER]: [] }] : [];
    if (secured) op.responses['401'] ??= errorResponse(401, ['unauthorized']);
    op.responses['403'] = errorResponse(403, secured ? ['forbidden', 'host_not_allowed'] : ['host_not_allowed']);
    if (secured) op.responses['429'] = errorResponse(429, [...new Set([...codesDocumented(op.responses['429']), 'rate_limited' as const])]);
    if (secured) op.responses['503'] = errorResponse(503, [...new Set([...codesDocumented(op.responses['503']), 'store_unavailable' as const])]);
  }
}

/** The codes an already documented error response lists (its examples' keys). */
function codesDocumented(response: unknown): ApiErrorCode[] {
  const examples = (response as { content?: Record<string, { examples?: Record<string, unknown> }> } | undefined)?.content?.['application/json']?.examples;
  return Object.keys(examples ?? {}) as ApiErrorCode[];
}

/**
 * Parameter examples belong on the parameter, where dredd and Swagger UI's
 * "Try it out" look for them; @nestjs/swagger only keeps them inside `schema`.
 * Parameters without an example stay so on purpose: `cursor` (only a
 * next_cursor is valid), `after` and `Last-Event-ID` (a prefilled position
 * resets the stream), `Idempotency-Key` (a prefilled key would replay one
 * answer for 24 h), `If-None-Match`.
 */
function liftParameterExamples(document: OpenAPIObject): void {
  for (const { op } of operationsOf(document)) {
    for (const param of (op.parameters ?? []) as Json[]) {
      if (param.schema?.example === undefined) continue;
      param.example ??= param.schema.example;
      delete param.schema.example;
    }
  }
}

/**
 * `validation_failed` and `invalid_identifier` examples as this route would
 * send them: an unknown body field, query parameter or any query parameter
 * at all (routes that take none), and the route's own path parameter.
 */
function fitValidationExamples(document: OpenAPIObject): void {
  for (const { path, op } of operationsOf(document)) {
    const examples = op.responses['400']?.content?.['application/json']?.examples as Record<string, { value: Json }> | undefined;
    if (!examples) continue;
    const queryParams = ((op.parameters ?? []) as Json[]).filter((p) => p.in === 'query');
    const body = op.requestBody?.content?.['application/json']?.schema as Json | undefined;
    const detail = body
      ? body.$ref
        ? { path: 'colour', message: UNKNOWN_FIELD_MESSAGE }
        : { path: 'body', message: 'this route takes an empty body or {}' }
      : { path: 'colour', message: queryParams.length > 0 ? UNKNOWN_QUERY_PARAMETER_MESSAGE : NO_QUERY_MESSAGE };
    if (examples.validation_failed) examples.validation_failed.value = { ...errorExample('validation_failed'), details: [detail] };
    const lastId = [...path.matchAll(/\{([^}]+)\}/g)].pop()?.[1];
    if (examples.invalid_identifier && lastId) {
      examples.invalid_identifier.value = {
        ...errorExample('invalid_identifier'),
        message: `${lastId} "a?b" is not a valid identifier (expected ^[A-Za-z0-9_:-]{1,120}$)`,
      };
    }
  }
}

/**
 * Response headers, over the whole document: `X-Request-Id` on every
 * response; on JSON GETs an `ETag` with the 200, the `If-None-Match` request
 * header and the 304 answered when it matches (allow-list-fastify.adapter.ts); `Location` on every
 * 201; `Idempotency-Replayed` on the success of routes that take an
 * Idempotency-Key. (`Retry-After`, `WWW-Authenticate` and `Allow` come with
 * their error statuses, see error-response.dto.ts.) A 405 belongs to no
 * operation, only to a path: it is documented once, as a reusable response.
 */
function documentResponseHeaders(document: OpenAPIObject): void {
  document.components!.headers = JSON.parse(JSON.stringify(RESPONSE_HEADERS));
  for (const { method, op } of operationsOf(document)) {
    const jsonGet = method === 'get' && op.responses['200']?.content?.['application/json'] !== undefined;
    if (jsonGet) {
      op.parameters = [
        ...(op.parameters ?? []),
        {
          name: 'If-None-Match',
          in: 'header',
          required: false,
          description:
            'The ETag of an earlier answer: when the answer is unchanged it is a 304 without a body. ' +
            "A request that also says `Cache-Control: no-cache` is answered in full (fetch() adds that header to a request that sets If-None-Match itself, unless given `cache: 'no-cache'`)",
          schema: { type: 'string' },
        },
      ];
      op.responses['200'].headers = { ...op.responses['200'].headers, ETag: headerRef('ETag') };
      op.responses['304'] = { description: 'Not Modified: If-None-Match names the current ETag; no body', headers: { ETag: headerRef('ETag') } };
    }
    if (op.responses['201']) op.responses['201'].headers = { ...op.responses['201'].headers, Location: headerRef('Location') };
    const idempotent = ((op.parameters ?? []) as Json[]).some((p) => p.in === 'header' && p.name === 'Idempotency-Key');
    for (const [status, response] of Object.entries(op.responses as Record<string, Json>)) {
      if (!response.description) response.description = STATUS_CODES[status] ?? status;
      if (idempotent && status.startsWith('2')) response.headers = { ...response.headers, 'Idempotency-Replayed': headerRef('Idempotency-Replayed') };
      response.headers = { 'X-Request-Id': headerRef('X-Request-Id'), ...response.headers };
    }
    op.responses = Object.fromEntries(Object.entries(op.responses as Json).sort(([a], [b]) => a.localeCompare(b)));
  }
  const methodNotAllowed = errorResponse(405, ['method_not_allowed']);
  document.components!.responses = {
    MethodNotAllowed: {
      ...methodNotAllowed,
      description: 'Any method a documented path does not list (HEAD is answered wherever GET is): `method_not_allowed`, with `Allow`',
      headers: { 'X-Request-Id': headerRef('X-Request-Id'), ...methodNotAllowed.headers },
    },
  };
}

/**
 * Explorer at /docs, document at /docs-json (SPEC §8). Returns the document's
 * getter: it is built on first need (the explorer, or a request no route
 * matched, see app.factory.ts), not at start-up, where @nestjs/swagger's scan
 * of every controller and DTO took ~35 ms off the first answer (~70 ms in a
 * profile) of issue 16's one second.
 */
export function setupOpenApi(app: INestApplication): () => OpenAPIObject {
  const document = once(() => buildOpenApiDocument(app));
  // On Fastify, SwaggerModule serves the explorer's assets through @fastify/static: a runtime
  // dependency for that reason, though only Nest imports it (inside the bundle, scripts/build.mjs).
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
    // The key entered with Authorize survives a reload of the page.
    swaggerOptions: { persistAuthorization: true },
  });
  return document;
}
