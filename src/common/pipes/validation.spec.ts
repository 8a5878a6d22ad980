import type { ArgumentMetadata, ValidationError } from '@nestjs/common';
import { CreateWorkerDto } from '../../workers/dto/create-worker.dto';
import { SendInputDto } from '../../workers/dto/send-input.dto';
import { TranscriptQueryDto } from '../../workers/dto/transcript.dto';
import { ListQueryDto } from '../dto/list-query.dto';
import { ApiError } from '../errors/api-error';
import { INPUT_BOUNDS } from '../validation/input-bounds';
import { createValidationPipe, MAX_DETAILS, precheckInput, QUERY_VALUE_MESSAGE, UNKNOWN_FIELD_MESSAGE, UNKNOWN_QUERY_PARAMETER_MESSAGE, validationErrorToApiError } from './validation';

const body = (metatype: Function): ArgumentMetadata => ({ type: 'body', metatype: metatype as ArgumentMetadata['metatype'], data: undefined });
const query = (metatype: Function): ArgumentMetadata => ({ type: 'query', metatype: metatype as ArgumentMetadata['metatype'], data: undefined });
/** A query object as Node's parser builds it: no prototype. */
const q = (entries: Record<string, unknown>) => Object.assign(Object.create(null) as Record<string, unknown>, entries);
const HAZARD = /[\p{Cc}\p{Cf}<>/\\]/u;

function error(property: string, constraints: Record<string, string>, children: ValidationError[] = []): ValidationError {
  return { property, constraints, children } as ValidationError;
}

async function refusal(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('validationErrorToApiError', () => {
  it('names an unknown key by a short safe excerpt and does not repeat it in the message', () => {
    const key = `\u001b[2J<svg onload=x>/etc/${'k'.repeat(20_000)}`;
    const err = validationErrorToApiError([error(key, { whitelistValidation: `property ${key} should not exist` })]);
    const [detail] = err.body.details!;
    expect(detail.message).toBe(UNKNOWN_FIELD_MESSAGE);
    expect(detail.path.length).toBeLessThanOrEqual(65);
    expect(detail.path).not.toMatch(HAZARD);
  });

  it('sanitises nested paths and every message', () => {
    const err = validationErrorToApiError([
      error('intent', {}, [error('ki\u202end', { isIn: `kind \u001b[31mmust\u001b[0m be <b>one</b> of ${'x'.repeat(1000)}` })]),
    ]);
    const [detail] = err.body.details!;
    expect(detail.path).toBe('intent.ki?nd');
    expect(detail.message.startsWith('kind must be ?b?one??b? of xxx')).toBe(true);
    expect(detail.message.length).toBeLessThanOrEqual(160);
  });

  it(`returns at most ${MAX_DETAILS} details, even when one error has several constraints`, () => {
    const errors = Array.from({ length: 40 }, (_, i) => error(`p${i}`, { a: 'one', b: 'two', c: 'three' }));
    expect(validationErrorToApiError(errors).body.details).toHaveLength(MAX_DETAILS);
    const one = [error('p', Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`c${i}`, 'm'])))];
    expect(validationErrorToApiError(one).body.details).toHaveLength(MAX_DETAILS);
  });

  it('keeps limit_too_large when it is the only problem', () => {
    const e = { property: 'limit', constraints: { max: 'limit must not be greater than 200' }, contexts: { max: { errorCode: 'limit_too_large' } }, children: [] } as unknown as ValidationError;
    expect(validationErrorToApiError([e]).body.error).toBe('limit_too_large');
    expect(validationErrorToApiError([e, error('x', { whitelistValidation: 'property x should not exist' })]).body.error).toBe('validation_failed');
  });
});

describe('precheckInput', () => {
  it('passes valid bodies and queries through', () => {
    expect(precheckInput({ content: 'x', kind: 'user' }, body(SendInputDto))).toBeNull();
    expect(precheckInput({ intent: { kind: 'ticket_role', ticket_id: 'T', role: 'coder' }, acceptance: { kind: 'run_accepted' } }, body(CreateWorkerDto))).toBeNull();
    expect(precheckInput(q({ limit: '5' }), query(ListQueryDto))).toBeNull();
    expect(precheckInput(q({}), query(TranscriptQueryDto))).toBeNull();
  });

  it('leaves alone what is not a DTO-typed body or query', () => {
    expect(precheckInput({ toString: 1 }, body(Object))).toBeNull();
    expect(precheckInput({ toString: 1 }, { type: 'body', metatype: SendInputDto, data: 'content' })).toBeNull();
    expect(precheckInput({ toString: 1 }, { type: 'param', metatype: SendInputDto, data: undefined })).toBeNull();
    expect(precheckInput({ toString: 1 }, { type: 'custom', metatype: SendInputDto, data: undefined })).toBeNull();
  });

  it('refuses a body that is not an object, and leaves a missing one to Nest', () => {
    for (const v of [[], [{ content: 'x' }], 'x', 1, true]) {
      expect(precheckInput(v, body(SendInputDto))!.body.details).toEqual([{ path: 'body', message: 'body must be a JSON object' }]);
    }
    expect(precheckInput(undefined, body(SendInputDto))).toBeNull();
    expect(precheckInput(null, body(SendInputDto))).toBeNull();
  });

  it('refuses unknown fields by own key, prototype names included', () => {
    for (const name of ['toString', 'valueOf', 'hasOwnProperty', '__proto__', '__defineGetter__', 'constructor', 'isPrototypeOf']) {
      const err = precheckInput(JSON.parse(`{"content":"x",${JSON.stringify(name)}:1}`), body(SendInputDto));
      // The forbidden names are refused by the bounds check, the others as unknown fields: both are 400 validation_failed.
      expect([name, err?.body.error]).toEqual([name, 'validation_failed']);
      const inQuery = precheckInput(q({ [name]: '1' }), query(ListQueryDto));
      expect([name, inQuery?.body.error]).toEqual([name, 'validation_failed']);
    }
    expect(precheckInput({ content: 'x', toString: 1 }, body(SendInputDto))!.body.details).toEqual([{ path: 'toString', message: UNKNOWN_FIELD_MESSAGE }]);
    expect(precheckInput(q({ valueOf: '1' }), query(ListQueryDto))!.body.details).toEqual([{ path: 'valueOf', message: UNKNOWN_QUERY_PARAMETER_MESSAGE }]);
  });

  it('refuses a repeated or nested query value, never picking one', () => {
    expect(precheckInput(q({ limit: ['1', '2'] }), query(ListQueryDto))!.body.details).toEqual([{ path: 'limit', message: QUERY_VALUE_MESSAGE }]);
    expect(precheckInput(q({ limit: { a: '1' } }), query(ListQueryDto))!.body.details).toEqual([{ path: 'limit', message: QUERY_VALUE_MESSAGE }]);
    expect(precheckInput(q({ start: '1', limit: ['1'] }), query(TranscriptQueryDto))!.body.details).toEqual([{ path: 'limit', message: QUERY_VALUE_MESSAGE }]);
  });

  it('applies the input bounds before anything else looks at the value', () => {
    const wide = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i]));
    // One bound detail, not 32 unknown-field details: the allow-list (and class-transformer) never saw the object.
    expect(precheckInput({ content: 'x', ...wide }, body(SendInputDto))!.body.details).toEqual([{ path: 'body', message: `an object in the body has more than ${INPUT_BOUNDS.maxKeysPerObject} fields` }]);
    expect(precheckInput(q(wide), query(ListQueryDto))!.body.details).toEqual([{ path: 'query', message: `query has more than ${INPUT_BOUNDS.maxKeysPerObject} parameters` }]);
    expect(precheckInput({ content: 'x', a: { constructor: 1 } }, body(SendInputDto))!.body.details).toEqual([{ path: 'body', message: 'body contains a forbidden property name' }]);
  });

  it(`returns at most ${MAX_DETAILS} details`, () => {
    const many = q(Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, '1'])));
    expect(precheckInput(many, query(TranscriptQueryDto))!.body.details!.length).toBeLessThanOrEqual(MAX_DETAILS);
    expect(precheckInput({ content: 'x', ...Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, 1])) }, body(SendInputDto))!.body.details).toHaveLength(MAX_DETAILS);
  });
});

describe('createValidationPipe', () => {
  const pipe = createValidationPipe();

  it('still transforms and validates valid input into DTO instances', async () => {
    const dto = await pipe.transform({ content: 'hello' }, body(SendInputDto));
    expect(dto).toBeInstanceOf(SendInputDto);
    expect(await pipe.transform(q({ limit: '7' }), query(ListQueryDto))).toEqual(Object.assign(new ListQueryDto(), { limit: 7 }));
  });

  it('refuses prototype-named keys that class-validator alone lets through or Nest strips silently', async () => {
    for (const [value, meta] of [
      [{ content: 'x', toString: 1 }, body(SendInputDto)],
      [{ content: 'x', hasOwnProperty: 1 }, body(SendInputDto)],
      [{ intent: { kind: 'workspace_companion', valueOf: 1 }, acceptance: { kind: 'run_accepted' } }, body(CreateWorkerDto)],
      [q({ constructor: '1' }), query(ListQueryDto)],
      [q({ ['__proto__']: '1' }), query(ListQueryDto)],
      [q({ isPrototypeOf: '1' }), query(TranscriptQueryDto)],
    ] as const) {
      const err = await refusal(pipe.transform(value, meta));
      expect(err.body.error).toBe('validation_failed');
    }
  });

  it.each(['-5', 'abc', '1e309', '0x10', ' 5 ', '-0'])('says only that limit=%p is not a whole number, not that it is out of range', async (limit) => {
    const err = await refusal(pipe.transform(q({ limit }), query(ListQueryDto)));
    expect(err.body.error).toBe('validation_failed');
    expect(err.body.details).toEqual([{ path: 'limit', message: 'limit must be a whole number' }]);
  });

  it('gives the range failure of a value of the right type (limit=201: limit_too_large), the type failure of start=-1 alone', async () => {
    const err = await refusal(pipe.transform(q({ limit: '201' }), query(ListQueryDto)));
    expect(err.body.error).toBe('limit_too_large');
    expect(err.body.details).toEqual([{ path: 'limit', message: 'limit must not be greater than 200' }]);
    const start = await refusal(pipe.transform(q({ start: '-1' }), query(TranscriptQueryDto)));
    expect(start.body.details).toEqual([{ path: 'start', message: 'start must be a whole number' }]);
  });

  it('says a missing required object is missing, not also that it is no object', async () => {
    const err = await refusal(pipe.transform({ acceptance: { kind: 'run_accepted' } }, body(CreateWorkerDto)));
    expect(err.body.details).toEqual([{ path: 'intent', message: 'intent should not be null or undefined' }]);
  });

  it('keeps its own validation errors safe', async () => {
    const err = await refusal(pipe.transform({ content: 'x', kind: 'assistant' }, body(SendInputDto)));
    expect(err.body.details).toEqual([{ path: 'kind', message: 'kind must be one of the following values: user, system' }]);
  });
});
