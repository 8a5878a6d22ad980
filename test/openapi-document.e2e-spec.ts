import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildOpenApiDocument } from '../src/openapi';
import { serializeOpenApi } from '../scripts/write-openapi';
import { closeSchemas } from './support/contract';
import { committedContract, startTestApp, type TestApp } from './support/test-app';

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
    // 401/403/429 come with the API key on every secured route; 503 when the store cannot answer.
    expect(errorsOf('createWorker')).toEqual([400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 501, 503]);
    expect(errorsOf('sendWorkerInput')).toEqual([400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 501, 503]);
    expect(errorsOf('readWorkerTranscript')).toEqual([400, 401, 403, 404, 429, 500, 501, 503]);
    expect(errorsOf('getWorker')).toEqual([400, 401, 403, 404, 429, 500, 503]);
    expect(errorsOf('listWorkers')).toEqual([400, 401, 403, 429, 500]);
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
    const exchange = { method: 'GET', path: '/api/runtimes/r/workers/w', status: 404, headers: { 'content-type': 'application/json' }, text: '', body };
    expect(() => contract.check(exchange)).not.toThrow();
    expect(() => contract.check({ ...exchange, body: { ...body, socket_path: '/tmp/x' } })).toThrow(/must NOT have additional properties/);
    expect(() => contract.check({ ...exchange, status: 418 })).toThrow(/not documented/);
    expect(closeSchemas({ type: 'object', properties: { a: { type: 'object' } } })).toEqual({
      type: 'object',
      additionalProperties: false,
      properties: { a: { type: 'object', additionalProperties: false } },
    });
  });
});
