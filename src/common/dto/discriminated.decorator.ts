import { plainToInstance, Transform } from 'class-transformer';

type Ctor = new () => object;

/**
 * Turns a discriminated union field into the DTO class named by its
 * discriminator, for class-validator to check with `@ValidateNested()`.
 *
 * Used instead of class-transformer's `@Type({ discriminator })`, which
 * crashes with a TypeError (a 500) on input such as `"intent": [null]`.
 * Here anything that is not a plain object is left as is (so `@IsObject()`
 * rejects it), and an unknown discriminator value selects `base`, whose
 * `@IsIn` then rejects it instead of letting it pass as an empty object.
 */
export function DiscriminatedBy(property: string, base: Ctor, subTypes: Record<string, Ctor>): PropertyDecorator {
  return Transform(({ obj, key }) => {
    const raw = (obj as Record<string, unknown>)[key];
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
    const tag = (raw as Record<string, unknown>)[property];
    const target = typeof tag === 'string' && Object.prototype.hasOwnProperty.call(subTypes, tag) ? subTypes[tag] : base;
    return plainToInstance(target, raw);
  });
}
