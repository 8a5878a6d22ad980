import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildOpenApiDocument } from '../src/openapi';
import { serializeOpenApi } from '../scripts/write-openapi';
import { ERROR_CODES } from '../src/common/dto/error-response.dto';
import type { ApiErrorCode } from '../src/common/errors/api-error';
import { closeSchemas } from './support/contract';
import { committedContract, createEmbeddedWorker, EMBEDDED, startTestApp, type TestApp } from './support/test-app';

describe('OpenAPI document', () => {
  let t: TestApp;
  let generated: any;

  beforeAll(async () => {
    t = await startTestApp();
    generated = JSON.parse(serializeOpenApi(buildOpenApiDocument(t.app)));
  });
  afterAll(async () => {
    await t.close();
  });

  it('is committed and current: run `npm run openapi` after changing the API', () => {
    const committed = JSON.parse(readFileSync(join(__dirname, '..', 'openapi.json'), 'utf8'));
    expect(committed).toEqual(generated);
  });

  it('is what /docs-json serves', async () => {
    expect((await t.get('/docs-json')).body).toEqual(generated);
  });

  const operations = () =>
    Object.entries(generated.paths).flatMap(([path, ops]: [string, any]) => Object.entries(ops).map(([method, op]: [string, any]) => ({ path, method, op })));

  it('gives every operation a stable, unique operationId', () => {
    const ids = operations().map(({ op }) => op.operationId);
    expect(ids).toEqual(
      expect.arrayContaining([
        'listRuntimes',
        'getRuntime',
        'listHosts',
        'listHostWorkers',
        'listWorkers',
        'listRuntimeWorkers',
        'createWorker',
        'getWorker',
        'sendWorkerInput',
        'readWorkerTranscript',
        'streamWorkerEvents',
        'streamEvents',
        'getHealth',
      ]),
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('documents every error response of SPEC §6 with the one error body', () => {
    const errorsOf = (id: string) => {
      const op = operations().find((o) => o.op.operationId === id)!.op;
      return Object.entries(op.responses)
        .filter(([status]) => Number(status) >= 400)
        .map(([status, r]: [string, any]) => {
          expect(r.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ErrorResponseDto' });
          return Number(status);
        })
        .sort();
    };
    // 401/403/429 come with the API key on every secured route, and 503 when the store cannot answer
    // (a stored key is read from it), even on an aggregate list that otherwise reports a failed runtime in place.
    expect(errorsOf('createWorker')).toEqual([400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 501, 503]);
    expect(errorsOf('sendWorkerInput')).toEqual([400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 501, 503]);
    expect(errorsOf('readWorkerTranscript')).toEqual([400, 401, 403, 404, 429, 500, 501, 503]);
    expect(errorsOf('getWorker')).toEqual([400, 401, 403, 404, 429, 500, 503]);
    expect(errorsOf('listWorkers')).toEqual([400, 401, 403, 429, 500, 503]);
    expect(errorsOf('getLiveness')).toEqual([400, 403, 500]); // 403 host_not_allowed applies everywhere
  });

  it('describes the intent and acceptance unions with oneOf and a discriminator', () => {
    const create = generated.components.schemas.CreateWorkerDto;
    expect(create.properties.intent.oneOf).toHaveLength(3);
    expect(create.properties.intent.discriminator.propertyName).toBe('kind');
    expect(Object.keys(create.properties.intent.discriminator.mapping).sort()).toEqual(['ticket_role', 'workspace_companion', 'workspace_orchestrator']);
    expect(create.properties.acceptance.oneOf).toHaveLength(2);
    expect(create.required.sort()).toEqual(['acceptance', 'intent']);
  });

  it('documents the event streams as text/event-stream with every event schema, and their errors as JSON', () => {
    for (const id of ['streamWorkerEvents', 'streamEvents']) {
      const op = operations().find((o) => o.op.operationId === id)!.op;
      const stream = op.responses['200'].content['text/event-stream'].schema;
      expect(stream.oneOf.map((r: any) => r.$ref.split('/').pop()).sort()).toEqual(
        [
          'HeartbeatEventDto',
          'MessageCompletedEventDto',
          'MessageDeltaEventDto',
          'RunEventDto',
          'StreamClosingEventDto',
          'StreamOverflowEventDto',
          'StreamResetEventDto',
          'WorkerCreatedEventDto',
          'WorkerDeletedEventDto',
          'WorkerInputAcceptedEventDto',
          'WorkerStateChangedEventDto',
        ].sort(),
      );
      expect(op.responses['501'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ErrorResponseDto' });
    }
  });

  it('documents every path parameter with the identifier pattern', () => {
    for (const { op } of operations()) {
      for (const p of (op.parameters ?? []).filter((p: any) => p.in === 'path')) {
        expect(p.schema.pattern).toBe('^[A-Za-z0-9_:-]{1,120}$');
      }
    }
  });

  it('has no dangling schema references', () => {
    const refs = JSON.stringify(generated).match(/"\$ref":"#\/components\/schemas\/[^"]*"/g) ?? [];
    for (const ref of refs) {
      const name = ref.slice('"$ref":"#/components/schemas/'.length, -1);
      expect(generated.components.schemas).toHaveProperty(name);
    }
  });

  it('closes object schemas for the contract check, so an extra field fails', () => {
    const contract = committedContract();
    const body = { statusCode: 404, error: 'unknown_worker', message: 'x', diagnostics: [] };
    const exchange = { method: 'GET', path: '/api/runtimes/r/workers/w', status: 404, headers: { 'content-type': 'application/json', 'x-request-id': 'r-1' }, text: '', body };
    expect(() => contract.check(exchange)).not.toThrow();
    expect(() => contract.check({ ...exchange, body: { ...body, socket_path: '/tmp/x' } })).toThrow(/must NOT have additional properties/);
    expect(() => contract.check({ ...exchange, status: 418 })).toThrow(/not documented/);
    expect(closeSchemas({ type: 'object', properties: { a: { type: 'object' } } })).toEqual({
      type: 'object',
      additionalProperties: false,
      properties: { a: { type: 'object', additionalProperties: false } },
    });
  });
  // ---- Issue 13: what real client tools (openapi-typescript, Redocly, dredd, Swagger UI) need ----

  const jsonContent = (r: any) => r?.content?.['application/json'];
  const errorResponsesOf = (op: any) => Object.entries(op.responses).filter(([status]) => Number(status) >= 400) as Array<[string, any]>;
  const streamIds = ['streamWorkerEvents', 'streamEvents'];
  const resolveHeader = (h: any) => (h.$ref ? generated.components.headers[h.$ref.split('/').pop()] : h);

  it('shows each documented error status with its own examples, one per code that status can carry', () => {
    const validateError = committedContract().validatorFor({ $ref: '#/components/schemas/ErrorResponseDto' });
    const responses = [
      ...operations().flatMap(({ op }) => errorResponsesOf(op).map(([status, r]) => ({ where: `${op.operationId} ${status}`, status: Number(status), r }))),
      { where: 'MethodNotAllowed', status: 405, r: generated.components.responses.MethodNotAllowed },
    ];
    expect(responses.length).toBeGreaterThan(100);
    for (const { where, status, r } of responses) {
      const examples = Object.entries(jsonContent(r).examples ?? {}) as Array<[string, any]>;
      expect([where, examples.length > 0]).toEqual([where, true]);
      expect(jsonContent(r).example).toBeUndefined();
      for (const [name, example] of examples) {
        const code = example.value.error as ApiErrorCode;
        // The example's code is the one it is named for, belongs to this status, and the body is a valid error body.
        expect([where, name, code, ERROR_CODES[code]?.status, example.value.statusCode]).toEqual([where, name, name, status, status]);
        if (!validateError(example.value)) throw new Error(`${where} ${name}: ${JSON.stringify(validateError.errors)}`);
      }
      // The description names exactly the codes shown.
      expect([where, r.description.match(/`[a-z_]+`/g).map((c: string) => c.slice(1, -1))]).toEqual([where, examples.map(([n]) => n)]);
    }
    // No two examples on one operation are the same body (the old document showed one example everywhere).
    for (const { op } of operations()) {
      const bodies = errorResponsesOf(op).flatMap(([, r]) => Object.values(jsonContent(r).examples).map((e: any) => JSON.stringify(e.value)));
      expect(new Set(bodies).size).toBe(bodies.length);
    }
  });

  it('lists on each route only error codes that route can give', () => {
    for (const { path, op } of operations()) {
      const codes = new Set(errorResponsesOf(op).flatMap(([, r]) => Object.keys(jsonContent(r).examples)));
      const params = (op.parameters ?? []).map((p: any) => `${p.in}:${p.name}`);
      const where = `${op.operationId}: `;
      const expectIf = (code: string, condition: boolean) => expect(where + code + (codes.has(code) ? ' listed' : ' not listed')).toBe(where + code + (condition ? ' listed' : ' not listed'));
      expectIf('invalid_identifier', /\{/.test(path));
      expectIf('limit_too_large', params.includes('query:limit'));
      expectIf('invalid_cursor', params.includes('query:cursor'));
      expectIf('unknown_worker', path.includes('{worker_id}'));
      expectIf('unknown_run', path.includes('{run_id}'));
      expectIf('unknown_host', path.includes('{host_id}'));
      expectIf('unknown_key', path.includes('{key_id}'));
      expectIf('unknown_runtime', path.includes('{runtime_id}') || params.includes('query:runtime_id'));
      expectIf('payload_too_large', op.requestBody !== undefined);
      expectIf('unsupported_media_type', op.requestBody !== undefined);
      expectIf('idempotency_key_reused', params.includes('header:Idempotency-Key'));
      expectIf('unauthorized', !path.startsWith('/api/health'));
      expect(codes.has('not_found')).toBe(false); // only unknown routes, which no operation is
      expect(codes.has('internal_error')).toBe(true);
    }
    // The validation_failed example fits the route: a body field, a query parameter, or any query parameter at all.
    const detailOf = (id: string) => jsonContent(operations().find((o) => o.op.operationId === id)!.op.responses['400']).examples.validation_failed.value.details;
    expect(detailOf('createWorker')).toEqual([{ path: 'colour', message: 'unknown field' }]);
    expect(detailOf('listWorkers')).toEqual([{ path: 'colour', message: 'unknown query parameter' }]);
    expect(detailOf('getWorker')).toEqual([{ path: 'colour', message: 'this route takes no query parameters' }]);
    expect(detailOf('cancelWorkerRun')).toEqual([{ path: 'body', message: 'this route takes an empty body or {}' }]);
    const identifierMessage = (id: string) => jsonContent(operations().find((o) => o.op.operationId === id)!.op.responses['400']).examples.invalid_identifier.value.message;
    expect(identifierMessage('getRuntime')).toMatch(/^runtime_id "/);
    expect(identifierMessage('getWorkerRun')).toMatch(/^run_id "/);
  });

  it('gives every request body examples that validate against its own schema', () => {
    const contract = committedContract();
    const bodies = operations().filter(({ op }) => op.requestBody);
    expect(bodies.map(({ op }) => op.operationId).sort()).toEqual(['cancelWorkerRun', 'createApiKey', 'createWorker', 'sendWorkerInput', 'stopWorker']);
    for (const { path, method, op } of bodies) {
      expect(Object.keys(op.requestBody.content)).toEqual(['application/json']);
      const media = op.requestBody.content['application/json'];
      const examples = Object.entries(media.examples ?? {}) as Array<[string, any]>;
      expect([op.operationId, examples.length > 0]).toEqual([op.operationId, true]);
      const validate = contract.requestBodyValidator(method, path);
      for (const [name, example] of examples) {
        if (!validate(example.value)) throw new Error(`${op.operationId} example ${name}: ${JSON.stringify(validate.errors)}`);
      }
      // The contract's validator is strict: a wrong body fails it.
      expect(validate({ ...examples[0][1].value, colour: 'red' })).toBe(false);
    }
    // Optional request fields carry no `default` keyword (their default is in the description):
    // openapi-typescript makes a component property with a `default` required, request bodies included.
    const requestSchemas = bodies.map(({ op }) => op.requestBody.content['application/json'].schema.$ref?.split('/').pop()).filter(Boolean);
    requestSchemas.push('WorkspaceCompanionIntentDto', 'WorkspaceOrchestratorIntentDto', 'TicketRoleIntentDto', 'RunAcceptedAcceptanceDto', 'SocketReadyAcceptanceDto');
    for (const name of requestSchemas) {
      for (const [prop, schema] of Object.entries(generated.components.schemas[name].properties) as Array<[string, any]>) expect(`${name}.${prop}: ${schema.default}`).toBe(`${name}.${prop}: undefined`);
    }
    // The create body's unions: every intent kind and the run_accepted acceptance are shown.
    const create = operations().find((o) => o.op.operationId === 'createWorker')!.op.requestBody.content['application/json'].examples;
    expect(Object.values(create).map((e: any) => e.value.intent.kind).sort()).toEqual(['ticket_role', 'workspace_companion', 'workspace_orchestrator']);
  });

  it('request body examples do what they say on a running server', async () => {
    const bodyExamples = (id: string) => Object.values(operations().find((o) => o.op.operationId === id)!.op.requestBody.content['application/json'].examples).map((e: any) => e.value);
    for (const body of bodyExamples('createWorker')) expect((await t.post(`${EMBEDDED}/workers`, body)).status).toBe(201);
    const workerId = await createEmbeddedWorker(t);
    for (const body of bodyExamples('sendWorkerInput')) expect((await t.post(`${EMBEDDED}/workers/${workerId}/input`, body)).status).toBe(202);
    for (const body of bodyExamples('stopWorker')) expect((await t.post(`${EMBEDDED}/workers/${workerId}/stop`, body)).status).toBe(200);
    for (const body of bodyExamples('createApiKey')) expect((await t.post('/api/keys', body)).status).toBe(201);
    expect(bodyExamples('cancelWorkerRun')).toEqual([{}]);
  });

  it('gives every path parameter a parameter-level example, and every query example is valid', () => {
    const contract = committedContract();
    let pathParams = 0;
    for (const { op } of operations()) {
      for (const p of op.parameters ?? []) {
        expect(p.schema.example).toBeUndefined(); // lifted to the parameter, where tools look
        if (p.in === 'path') {
          pathParams++;
          expect([op.operationId, p.name, p.required, typeof p.example]).toEqual([op.operationId, p.name, true, 'string']);
        }
        if (p.example !== undefined) {
          const validate = contract.validatorFor(p.schema);
          expect([op.operationId, p.name, validate(p.example)]).toEqual([op.operationId, p.name, true]);
        }
      }
    }
    expect(pathParams).toBeGreaterThan(20);
    // Examples prefilled by "Try it out" must not change what a request means: no position, cursor, key or ETag.
    for (const { op } of operations()) {
      for (const p of op.parameters ?? []) {
        if (['after', 'cursor', 'Last-Event-ID', 'Idempotency-Key', 'If-None-Match'].includes(p.name)) {
          expect([op.operationId, p.name, p.example, p.examples, p.schema.default]).toEqual([op.operationId, p.name, undefined, undefined, undefined]);
        }
      }
    }
    const listWorkers = operations().find((o) => o.op.operationId === 'listWorkers')!.op;
    expect(listWorkers.parameters.find((p: any) => p.name === 'limit').example).toBe(100);
  });

  it('types the stream routes as text/event-stream only, with no resume position prefilled', () => {
    for (const id of streamIds) {
      const op = operations().find((o) => o.op.operationId === id)!.op;
      expect(Object.keys(op.responses['200'].content)).toEqual(['text/event-stream']);
      for (const [, r] of errorResponsesOf(op)) expect(Object.keys(r.content)).toEqual(['application/json']);
      expect(op.responses['304']).toBeUndefined(); // a stream has no ETag
      expect(JSON.stringify(op.parameters)).not.toMatch(/evt-\d|log-\d/);
    }
    // Every other 2xx is JSON or has no body.
    for (const { op } of operations().filter((o) => !streamIds.includes(o.op.operationId))) {
      for (const [status, r] of Object.entries(op.responses) as Array<[string, any]>) {
        if (status.startsWith('2') && r.content) expect(Object.keys(r.content)).toEqual(['application/json']);
      }
    }
  });

  it('names a server, the bearer scheme as an opaque key, and health as open', () => {
    expect(generated.servers).toEqual([{ url: '/', description: 'This server' }]);
    expect(generated.security).toEqual([{ api_key: [] }]);
    expect(generated.components.securitySchemes.api_key).toEqual({ type: 'http', scheme: 'bearer', description: expect.any(String) });
    for (const { path, op } of operations()) expect(op.security).toEqual(path.startsWith('/api/health') ? [] : [{ api_key: [] }]);
  });

  it('marks every field a response always has as required; nullable fields are required too', () => {
    const schemas = generated.components.schemas;
    const reachable = new Set<string>();
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(visit);
      if (node === null || typeof node !== 'object') return;
      for (const [k, v] of Object.entries(node)) {
        if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) {
          const name = v.split('/').pop()!;
          if (!reachable.has(name)) {
            reachable.add(name);
            visit(schemas[name]);
          }
        } else visit(v);
      }
    };
    visit(operations().map(({ op }) => op.responses));
    expect(reachable.has('CreateWorkerDto')).toBe(false); // request schemas are not response schemas
    const optional: string[] = [];
    for (const name of reachable) {
      for (const [prop, schema] of Object.entries(schemas[name].properties ?? {}) as Array<[string, any]>) {
        const required = (schemas[name].required ?? []).includes(prop);
        if (!required) optional.push(`${name}.${prop}`);
        const nullable = schema.nullable === true || (schema.oneOf ?? []).some((s: any) => s.nullable === true);
        if (nullable) expect(`${name}.${prop} required: ${required}`).toBe(`${name}.${prop} required: true`);
      }
    }
    // Only these are really absent sometimes: next_start on the last page, details on errors other than validation.
    expect(optional.sort()).toEqual(['ErrorResponseDto.details', 'TranscriptPageDto.next_start']);
    expect(schemas.SpawnResultDto.required).toContain('worker');
    expect(schemas.InputResultDto.required).toEqual(expect.arrayContaining(['transcript_sequence', 'event_id', 'run']));
  });

  it('documents the response headers: X-Request-Id, ETag and 304, Location, Retry-After, Allow, WWW-Authenticate, Idempotency-Replayed', () => {
    const headers = generated.components.headers;
    expect(Object.keys(headers).sort()).toEqual(['Allow', 'ETag', 'Idempotency-Replayed', 'Location', 'Retry-After', 'WWW-Authenticate', 'X-Request-Id']);
    const has = (r: any, name: string) => r.headers?.[name] !== undefined && resolveHeader(r.headers[name]) !== undefined;
    for (const { method, op } of operations()) {
      const jsonGet = method === 'get' && !streamIds.includes(op.operationId);
      for (const [status, r] of Object.entries(op.responses) as Array<[string, any]>) {
        const where = `${op.operationId} ${status}`;
        expect([where, has(r, 'X-Request-Id')]).toEqual([where, true]);
        expect([where, 'ETag', has(r, 'ETag')]).toEqual([where, 'ETag', jsonGet && (status === '200' || status === '304')]);
        expect([where, 'Location', has(r, 'Location')]).toEqual([where, 'Location', status === '201']);
        expect([where, 'WWW-Authenticate', has(r, 'WWW-Authenticate')]).toEqual([where, 'WWW-Authenticate', status === '401']);
        if (status === '429' || status === '503') expect([where, resolveHeader(r.headers['Retry-After']).required]).toEqual([where, true]);
        if (status === '409') expect([where, has(r, 'Retry-After')]).toEqual([where, Object.keys(jsonContent(r).examples).includes('idempotency_in_progress')]);
        const idempotent = ['createWorker', 'sendWorkerInput'].includes(op.operationId) && status.startsWith('2');
        expect([where, 'Idempotency-Replayed', has(r, 'Idempotency-Replayed')]).toEqual([where, 'Idempotency-Replayed', idempotent]);
      }
      expect([op.operationId, op.responses['304'] !== undefined]).toEqual([op.operationId, jsonGet]);
      if (jsonGet) {
        expect(op.responses['304'].content).toBeUndefined();
        expect(op.parameters.find((p: any) => p.name === 'If-None-Match')).toMatchObject({ in: 'header', required: false });
      }
    }
    const methodNotAllowed = generated.components.responses.MethodNotAllowed;
    expect(Object.keys(methodNotAllowed.headers).sort()).toEqual(['Allow', 'X-Request-Id']);
  });

  it('sends the documented headers: the contract check asserts them on every response', async () => {
    const contract = committedContract();
    const list = await t.get('/api/workers');
    expect(list.headers.etag).toMatch(/^W\/"/);
    const notModified = await t.get('/api/workers', { 'if-none-match': String(list.headers.etag) });
    expect([notModified.status, notModified.text]).toEqual([304, '']);
    expect(notModified.headers.etag).toBe(list.headers.etag);
    // …unless the request asks for a fresh answer (what fetch() sends with its own If-None-Match).
    const forced = await t.get('/api/workers', { 'if-none-match': String(list.headers.etag), 'cache-control': 'no-cache' });
    expect([forced.status, forced.text]).toEqual([200, list.text]);
    expect((await t.raw('PUT', '/api/workers', '{}', 'application/json')).headers.allow).toBe('GET, HEAD');
    expect((await t.get('/api/workers', { authorization: '' })).headers['www-authenticate']).toMatch(/^Bearer/);
    const created = await t.post(`${EMBEDDED}/workers`, { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted' } }, { 'idempotency-key': 'doc-headers-1' });
    const replayed = await t.post(`${EMBEDDED}/workers`, { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted' } }, { 'idempotency-key': 'doc-headers-1' });
    expect([created.headers['idempotency-replayed'], replayed.headers['idempotency-replayed']]).toEqual([undefined, 'true']);
    expect(replayed.headers.location).toBe(created.headers.location);
    // The contract refuses a response without a documented required header.
    const withoutEtag = { method: 'GET', path: '/api/workers', status: 200, headers: { ...list.headers, etag: undefined }, text: list.text, body: list.body };
    expect(() => contract.check(withoutEtag)).toThrow(/header ETag is missing/);
    const withoutId = { method: 'GET', path: '/api/workers', status: 304, headers: { etag: 'W/"1"' }, text: '', body: {} };
    expect(() => contract.check(withoutId)).toThrow(/header X-Request-Id is missing/);
  });
});
