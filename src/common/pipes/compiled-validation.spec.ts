import { type ArgumentMetadata, ValidationPipe } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import fc from 'fast-check';
import { KeysController } from '../../auth/keys.controller';
import { EventsController } from '../../events/events.controller';
import { HealthController } from '../../health/health.controller';
import { HostsController } from '../../hosts/hosts.controller';
import { RuntimesController } from '../../runtimes/runtimes.controller';
import { RuntimeWorkersController } from '../../workers/runtime-workers.controller';
import { WorkerRunsController } from '../../workers/worker-runs.controller';
import { WorkersController } from '../../workers/workers.controller';
import { ListQueryDto } from '../dto/list-query.dto';
import { compiledCheckFor } from './compiled-validation';
import { createValidationPipe, precheckInput } from './validation';

const CONTROLLERS = [KeysController, EventsController, HealthController, HostsController, RuntimesController, RuntimeWorkersController, WorkerRunsController, WorkersController];

/** Every DTO class a route binds with `@Query()` or `@Body()`, read from the controllers' own metadata. */
function boundDtos(): Array<{ cls: Function; type: 'query' | 'body' }> {
  const found = new Map<Function, 'query' | 'body'>();
  for (const controller of CONTROLLERS) {
    for (const name of Object.getOwnPropertyNames(controller.prototype)) {
      const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, name) ?? {}) as Record<string, { index: number; data?: unknown; pipes?: unknown[] }>;
      const types = (Reflect.getMetadata('design:paramtypes', controller.prototype, name) ?? []) as Function[];
      for (const [key, arg] of Object.entries(args)) {
        const paramtype = Number(key.split(':')[0]);
        if ((paramtype !== RouteParamtypes.QUERY && paramtype !== RouteParamtypes.BODY) || arg.data !== undefined || arg.pipes?.length) continue;
        const cls = types[arg.index];
        if (typeof cls === 'function' && cls !== Object) found.set(cls, paramtype === RouteParamtypes.QUERY ? 'query' : 'body');
      }
    }
  }
  return [...found].map(([cls, type]) => ({ cls, type }));
}

const CURSORISH = ['eyJhIjoiMSJ9.abc', 'a.b', 'a..b', '.x', 'x.', `${'A'.repeat(500)}.b`, `${'A'.repeat(501)}.b`];
const STRINGS = ['', ' ', '0', '00', '1', '5', '007', '199', '200', '201', '1000', '-1', '1.5', '1e3', ' 1', '1 ', '0x10', '9007199254740991', '9007199254740992', 'NaN', 'true',
  'user', 'system', 'assistant', 'enqueue', 'reject', 'interrupt', 'cancel', 'read', 'write', 'admin', 'evt-3', 'log-42', 'embedded-worker-runtime', 'a/b', 'x'.repeat(200), '\u0000', '\ud800', 'é', ...CURSORISH];

const anyValue = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...STRINGS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.integer({ min: -5, max: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom(true, false, null, 1.5, Number.MAX_SAFE_INTEGER + 1) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom('1', 'a'), { maxLength: 2 }) },
  { weight: 1, arbitrary: fc.constant({ a: '1' }) },
);

function propertiesOf(cls: Function): string[] {
  const { getMetadataStorage } = jest.requireActual<typeof import('class-validator')>('class-validator');
  return [...new Set(getMetadataStorage().getTargetValidationMetadatas(cls, '', false, false, undefined).map((m) => m.propertyName))];
}

async function fullPath(pipe: ValidationPipe, value: unknown, metadata: ArgumentMetadata): Promise<{ ok: true; entity: unknown } | { ok: false }> {
  try {
    // Nest's own ValidationPipe.transform: the path the compiled check stands in for.
    return { ok: true, entity: await ValidationPipe.prototype.transform.call(pipe, value, metadata) };
  } catch {
    return { ok: false };
  }
}

describe('compiled validation agrees with class-transformer + class-validator', () => {
  const dtos = boundDtos();

  it('finds the DTOs the routes bind, and compiles the hot ones', () => {
    const names = dtos.map((d) => d.cls.name);
    expect(names).toEqual(expect.arrayContaining(['ListQueryDto', 'TranscriptQueryDto', 'EventsQueryDto', 'WorkerEventsQueryDto', 'SendInputDto', 'StopWorkerDto', 'CreateWorkerDto', 'CreateApiKeyDto']));
    for (const hot of ['ListQueryDto', 'TranscriptQueryDto', 'EventsQueryDto', 'WorkerEventsQueryDto', 'SendInputDto']) {
      expect(compiledCheckFor(dtos.find((d) => d.cls.name === hot)!.cls)).not.toBeNull();
    }
  });

  it('accepts exactly what the full path accepts, with an equal instance, for every bound DTO', async () => {
    const pipe = createValidationPipe();
    for (const { cls, type } of dtos) {
      const check = compiledCheckFor(cls);
      if (!check) continue; // full path only: nothing to compare
      const keys = [...propertiesOf(cls), 'unknown_field'];
      let accepted = 0;
      await fc.assert(
        fc.asyncProperty(fc.dictionary(fc.constantFrom(...keys), anyValue, { maxKeys: keys.length }), async (value) => {
          const metadata: ArgumentMetadata = { type, metatype: cls as never, data: undefined };
          if (type === 'query' && Object.values(value).some((v) => typeof v !== 'string')) return; // a query holds strings (others are refused before either path)
          if (precheckInput(value, metadata)) return; // refused before either path runs
          const fast = check(structuredClone(value));
          const full = await fullPath(pipe, structuredClone(value), metadata);
          expect({ cls: cls.name, value, fastAccepts: fast !== undefined }).toEqual({ cls: cls.name, value, fastAccepts: full.ok });
          if (fast && full.ok) {
            accepted++;
            expect(fast.constructor).toBe(cls);
            expect(Object.keys(fast).sort()).toEqual(Object.keys(full.entity as object).sort());
            expect({ ...fast }).toEqual({ ...(full.entity as object) });
          }
        }),
        { numRuns: 600, seed: 42 },
      );
      expect({ cls: cls.name, accepted: accepted > 10 }).toEqual({ cls: cls.name, accepted: true });
    }
  });

  it('is what the global pipe answers valid input with', async () => {
    const pipe = createValidationPipe();
    const metadata: ArgumentMetadata = { type: 'query', metatype: ListQueryDto, data: undefined };
    const entity = await pipe.transform({ limit: '5' }, metadata);
    expect(entity).toBeInstanceOf(ListQueryDto);
    expect((entity as ListQueryDto).limit).toBe(5);
    await expect(pipe.transform({ limit: '500' }, metadata)).rejects.toMatchObject({ body: { error: 'limit_too_large' } });
    await expect(pipe.transform({ limit: 'x' }, metadata)).rejects.toMatchObject({ body: { error: 'validation_failed' } });
  });
});
