import { responseFieldsOf, type ResponseField } from './response-fields';

/** Thrown when a value that is not an allow-listed response DTO is about to be sent. */
export class UnserializableResponseError extends Error {}

type Serializer = (value: unknown) => unknown;
const compiled = new Map<Function, Serializer>();

/**
 * Serialises a response DTO to plain JSON-ready data, copying only the
 * properties its class allow-lists with `@ApiField` — the job class-
 * transformer's `instanceToPlain({ strategy: 'excludeAll' })` did, at a
 * fraction of the cost (see BENCHMARKS.md): each class's allow-list is
 * compiled once into a straight-line copy (see compile). The copy is then
 * written by `JSON.stringify`: a compiled JSON writer was slower.
 *
 * Fail closed: a plain object, or an instance of a class without an
 * allow-list, anywhere in the tree, throws instead of being sent.
 */
export function serializeResponse(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(serializeResponse);
  return serializerFor(value.constructor)(value);
}

function serializerFor(cls: Function): Serializer {
  let fn = compiled.get(cls);
  if (fn) return fn;
  const fields = responseFieldsOf(cls);
  if (!fields) {
    const what = cls === Object ? 'a plain object' : `an instance of ${cls?.name ?? 'an unknown class'}`;
    fn = () => {
      throw new UnserializableResponseError(`refusing to serialise ${what}: not a response DTO`);
    };
  } else {
    fn = compile(cls, fields);
  }
  compiled.set(cls, fn);
  return fn;
}

function isPrimitiveArray(v: unknown): boolean {
  return Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object');
}

/**
 * One straight-line function per class, each key written in it as a literal.
 * The loop over `fields` it replaces stored every key through one keyed
 * store that saw every key of every DTO (megamorphic): ~6× slower, 190 µs
 * against 29 µs for a 100-worker list (issue 16). Only keys are code, and
 * each is a JSON string literal (JSON.stringify quotes and escapes it), so
 * no key can break out of it; values are only ever data.
 *
 * The rules are the loop's: an undefined value is left out; a field that
 * declares a DTO class is serialised by that class's function (each item of
 * an array), so anything else there is refused; in any other field, an
 * object is refused unless it is an array of primitives, which is copied.
 */
function compile(cls: Function, fields: ResponseField[]): Serializer {
  const nested = fields.map(({ nested: dto }) => {
    if (!dto) return null;
    // Looked up at first use, not here: a DTO that nests its own class would otherwise compile itself forever.
    let serialize: Serializer | undefined;
    return (v: unknown) => {
      serialize ??= serializerFor(dto);
      return Array.isArray(v) ? v.map((item) => serialize!(item)) : serialize(v);
    };
  });
  const copyPrimitiveArray = (key: string, v: unknown) => {
    // Objects may only travel through fields that declare their DTO class.
    if (!isPrimitiveArray(v)) throw new UnserializableResponseError(`${cls.name}.${key} holds an object but declares no DTO class`);
    return [...(v as unknown[])];
  };
  const copies = fields.map(({ key, nested: dto }, i) => {
    const k = JSON.stringify(key);
    const convert = dto ? `if (x !== null) x = nested[${i}](x);` : `if (x !== null && typeof x === 'object') x = copyPrimitiveArray(${k}, x);`;
    return `x = v[${k}]; if (x !== undefined) { ${convert} o[${k}] = x; }`;
  });
  const body = `'use strict';
  return function serialize(v) {
    if (!(v instanceof cls)) throw new UnserializableResponseError(expected);
    const o = {};
    let x;
    ${copies.join('\n    ')}
    return o;
  };`;
  return new Function('cls', 'nested', 'copyPrimitiveArray', 'UnserializableResponseError', 'expected', body)(cls, nested, copyPrimitiveArray, UnserializableResponseError, `expected ${cls.name}`) as Serializer;
}
