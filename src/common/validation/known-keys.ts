import { TransformationType } from 'class-transformer';
import type { MetadataStorage as TransformerMetadataStorage } from 'class-transformer/types/MetadataStorage';
import type { TransformMetadata } from 'class-transformer/types/interfaces/metadata/transform-metadata.interface';
import type { TypeMetadata } from 'class-transformer/types/interfaces/metadata/type-metadata.interface';
import { getMetadataStorage, ValidationTypes } from 'class-validator';
import { safeExcerpt } from '../errors/api-error';

// The storage the @Type/@Transform decorators write to (the same module instance
// that `class-transformer`'s entry point uses; @nestjs/mapped-types reads it the same way).
const transformerStorage = (require('class-transformer/cjs/storage') as { defaultMetadataStorage: TransformerMetadataStorage }).defaultMetadataStorage;

/**
 * The fields a DTO class accepts, read once per class from class-validator's
 * metadata storage: a property is known when it carries at least one
 * class-validator decorator (the rule class-validator's `whitelist` means to
 * apply). Held in a Set and checked against the value's OWN keys, so names of
 * `Object.prototype` members (`toString`, `__proto__`, `hasOwnProperty` …) are
 * unknown like any other name; class-validator's own check looks names up on
 * a plain object and lets several of them through.
 */
export interface KnownShape {
  readonly fields: ReadonlySet<string>;
  /** Properties validated with `@ValidateNested()`, and how to find the DTO class of their value. */
  readonly nested: ReadonlyMap<string, NestedField>;
}

interface NestedField {
  /** `@ValidateNested({ each: true })`: the value is an array of nested objects. */
  readonly each: boolean;
  /** A `@Type` discriminator property: class-transformer consumes it, so it is allowed besides the class's fields. */
  readonly discriminator?: string;
  /** The DTO classes class-transformer will build for `raw` (one per item when `each`); undefined where it builds none. */
  readonly classesOf: (raw: unknown, parent: object) => Array<Function | undefined>;
}

type Ctor = Function;

const shapes = new WeakMap<Ctor, KnownShape | null>();

/** The known shape of a DTO class, or undefined when class-validator has no rule for it (not a DTO). */
export function knownShapeOf(cls: Ctor): KnownShape | undefined {
  let shape = shapes.get(cls);
  if (shape === undefined) {
    shape = buildShape(cls);
    shapes.set(cls, shape);
  }
  return shape ?? undefined;
}

function buildShape(cls: Ctor): KnownShape | null {
  // The same lookup class-validator makes for `validate(instance)` without groups (own and inherited rules).
  const metadatas = getMetadataStorage().getTargetValidationMetadatas(cls, '', false, false, undefined);
  if (metadatas.length === 0) return null;
  const fields = new Set<string>();
  const nested = new Map<string, NestedField>();
  for (const m of metadatas) {
    fields.add(m.propertyName);
    if (m.type === ValidationTypes.NESTED_VALIDATION && !nested.has(m.propertyName)) {
      const field = nestedField(cls, m.propertyName, Boolean(m.each));
      if (field) nested.set(m.propertyName, field);
    }
  }
  return { fields, nested };
}

/**
 * How class-transformer picks the class of a nested value, asked of its own
 * metadata: `@Type(() => X)` (with or without a discriminator), or a
 * `@Transform` that builds the instance (as `DiscriminatedBy` does). For a
 * transform the only way to know the class is to run it; it is run on the
 * raw value here exactly as `plainToInstance` will run it, and only the class
 * of what it returns is kept, so the allow-list follows the same choice as
 * validation, by construction.
 */
function nestedField(cls: Ctor, property: string, each: boolean): NestedField | undefined {
  const type = transformerStorage.findTypeMetadata(cls, property);
  if (type) {
    const classOf = (item: unknown, parent: object) => classByType(type, item, parent, property);
    return {
      each,
      discriminator: type.options?.discriminator?.property || undefined,
      classesOf: (raw, parent) => (each && Array.isArray(raw) ? raw.map((item) => classOf(item, parent)) : [classOf(raw, parent)]),
    };
  }
  const transforms = transformerStorage.findTransformMetadatas(cls, property, TransformationType.PLAIN_TO_CLASS);
  if (transforms.length > 0) {
    return {
      each,
      classesOf: (raw, parent) => {
        const built = runTransforms(transforms, raw, parent, property);
        return each && Array.isArray(built) ? built.map(instanceClass) : [instanceClass(built)];
      },
    };
  }
  return undefined;
}

function classByType(type: TypeMetadata, item: unknown, parent: object, property: string): Ctor | undefined {
  if (!isPlainRecord(item)) return undefined;
  const discriminator = type.options?.discriminator;
  if (discriminator?.property && discriminator.subTypes) {
    const tag = Object.hasOwn(item, discriminator.property) ? item[discriminator.property] : undefined;
    const sub = discriminator.subTypes.find((s) => s.name === tag);
    if (sub) return sub.value;
  }
  return type.typeFunction({ newObject: {}, object: parent as Record<string, unknown>, property });
}

function runTransforms(transforms: TransformMetadata[], raw: unknown, parent: object, property: string): unknown {
  try {
    let value = raw;
    for (const t of transforms) value = t.transformFn({ value, key: property, obj: parent, type: TransformationType.PLAIN_TO_CLASS, options: {} });
    return value;
  } catch {
    // Validation will meet the same error and answer for it; here the value simply has no known class.
    return undefined;
  }
}

function instanceClass(value: unknown): Ctor | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const proto: unknown = Object.getPrototypeOf(value);
  const ctor = proto && typeof proto === 'object' ? (proto as { constructor?: unknown }).constructor : undefined;
  return typeof ctor === 'function' && ctor !== Object ? ctor : undefined;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Paths of the fields of `value` that its DTO class `cls` does not know, at
 * the top level and in every nested DTO (discriminated ones included), at
 * most `limit` of them. A path names the field by a short safe excerpt of its
 * key (`intent.toString`, `a?b?c`), never the key as sent.
 *
 * Iterative; each object is visited once and each of its own keys looked up
 * once in a Set, so the cost is linear in the size of the value (which the
 * input bounds keep small before this runs).
 */
export function findUnknownFields(value: unknown, cls: Ctor, limit: number): string[] {
  const out: string[] = [];
  const stack: Array<{ value: unknown; cls: Ctor; path: string; also?: string }> = [{ value, cls, path: '' }];
  while (stack.length > 0 && out.length < limit) {
    const current = stack.pop()!;
    const shape = knownShapeOf(current.cls);
    if (!shape || !isPlainRecord(current.value)) continue;
    const record = current.value;
    const prefix = current.path ? `${current.path}.` : '';
    for (const key of Object.keys(record)) {
      if (!shape.fields.has(key) && key !== current.also) {
        out.push(`${prefix}${safeExcerpt(key)}`);
        if (out.length >= limit) break;
      }
    }
    for (const [property, field] of shape.nested) {
      if (!Object.hasOwn(record, property)) continue;
      const raw = record[property];
      const classes = field.classesOf(raw, record);
      if (field.each && Array.isArray(raw)) {
        raw.forEach((item, i) => {
          const itemClass = classes[i];
          if (itemClass) stack.push({ value: item, cls: itemClass, path: `${prefix}${property}.${i}`, also: field.discriminator });
        });
      } else if (classes[0]) {
        stack.push({ value: raw, cls: classes[0], path: `${prefix}${property}`, also: field.discriminator });
      }
    }
  }
  return out;
}
