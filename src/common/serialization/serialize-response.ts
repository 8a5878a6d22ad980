import { responseFieldsOf, type ResponseField } from './response-fields';

/** Thrown when a value that is not an allow-listed response DTO is about to be sent. */
export class UnserializableResponseError extends Error {}

type Serializer = (value: unknown) => unknown;
const compiled = new Map<Function, Serializer>();

/**
 * Serialises a response DTO to plain JSON-ready data, copying only the
 * properties its class allow-lists with `@ApiField` — the job class-
 * transformer's `instanceToPlain({ strategy: 'excludeAll' })` did, at a
 * fraction of the cost (see BENCHMARKS.md): the per-class field list is
 * resolved once, then each object is a loop of property copies.
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

function compile(cls: Function, fields: ResponseField[]): Serializer {
  return (value: unknown) => {
    if (!(value instanceof cls)) throw new UnserializableResponseError(`expected ${cls.name}`);
    const source = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const { key, nested } of fields) {
      const v = source[key];
      if (v === undefined) continue;
      if (nested && v !== null) {
        const serialize = serializerFor(nested);
        out[key] = Array.isArray(v) ? v.map((item) => serialize(item)) : serialize(v);
      } else if (v !== null && typeof v === 'object' && !isPrimitiveArray(v)) {
        // Objects may only travel through fields that declare their DTO class.
        throw new UnserializableResponseError(`${cls.name}.${key} holds an object but declares no DTO class`);
      } else {
        out[key] = Array.isArray(v) ? [...v] : v;
      }
    }
    return out;
  };
}
