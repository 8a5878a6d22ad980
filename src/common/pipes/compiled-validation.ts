import { TransformationType } from 'class-transformer';
// class-transformer exposes its decorators' metadata only from this path (no package "exports" map; pinned by the lockfile).
import { defaultMetadataStorage as untypedStorage } from 'class-transformer/cjs/storage';
import type { MetadataStorage as TransformerMetadataStorage } from 'class-transformer/types/MetadataStorage';
import { getMetadataStorage, ValidationTypes, type ValidationArguments } from 'class-validator';

/**
 * Answers, for a DTO class, "is this plain value valid, and what instance
 * would the ValidationPipe make of it?" in one loop, from the same
 * decorators the pipe reads; or `undefined` when it cannot be sure (then
 * the full class-transformer + class-validator path runs and makes the
 * exact error). It never decides that a value is invalid, so errors cannot
 * differ; `compiled-validation.spec.ts` checks that what it accepts is
 * exactly what the full path accepts, with the same instance.
 *
 * Why: the full path costs ~15–20% of a cheap GET (issue 16 profile):
 * class-transformer walks the value with reflection, class-validator builds
 * an executor, promises and error objects per request. Query DTOs are small
 * and hot.
 *
 * A class gets no plan (always the full path) if any of its rules is not
 * one this understands: nested, promise or `isDefined` rules, `each`,
 * groups, `always`, async constraints, `@Type`/`@Expose`/`@Exclude`.
 */
export type CompiledCheck = (value: object) => object | undefined;

interface PropertyPlan {
  name: string;
  transforms: Array<(params: { value: unknown; key: string; obj: object; type: TransformationType; options: object }) => unknown>;
  conditions: Array<(object: object, value: unknown) => boolean>;
  validators: Array<{ validate: (value: unknown, args: ValidationArguments) => unknown; constraints: unknown[] }>;
}

const defaultMetadataStorage = untypedStorage as TransformerMetadataStorage;

const plans = new Map<Function, CompiledCheck | null>();

/** The check for a DTO class, built once; null if the class has rules it does not understand. */
export function compiledCheckFor(cls: Function): CompiledCheck | null {
  let plan = plans.get(cls);
  if (plan === undefined) {
    plan = buildPlan(cls);
    plans.set(cls, plan);
  }
  return plan;
}

/** Keys the pipe would strip or that class-transformer treats specially: the full path decides. */
const SPECIAL_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function buildPlan(cls: Function): CompiledCheck | null {
  // Same arguments as class-validator's executor with the pipe's options (no groups, always: false, strictGroups: false).
  const metadatas = getMetadataStorage().getTargetValidationMetadatas(cls, '', false, false, undefined);
  if (metadatas.length === 0) return null; // forbidUnknownValues makes that an error: the full path says so
  if (defaultMetadataStorage.getExposedMetadatas(cls).length > 0 || defaultMetadataStorage.getExcludedMetadatas(cls).length > 0) return null;
  const byName = new Map<string, PropertyPlan>();
  for (const meta of metadatas) {
    if (meta.each || (meta.groups && meta.groups.length > 0) || meta.always !== undefined) return null;
    let property = byName.get(meta.propertyName);
    if (!property) {
      if (defaultMetadataStorage.findTypeMetadata(cls, meta.propertyName)) return null;
      property = {
        name: meta.propertyName,
        transforms: defaultMetadataStorage.findTransformMetadatas(cls, meta.propertyName, TransformationType.PLAIN_TO_CLASS).map((t) => t.transformFn as PropertyPlan['transforms'][number]),
        conditions: [],
        validators: [],
      };
      byName.set(meta.propertyName, property);
    }
    if (meta.type === ValidationTypes.CONDITIONAL_VALIDATION) {
      property.conditions.push(meta.constraints[0] as (object: object, value: unknown) => boolean);
    } else if (meta.type === ValidationTypes.CUSTOM_VALIDATION) {
      for (const constraint of getMetadataStorage().getTargetValidatorConstraints(meta.constraintCls)) {
        if (constraint.async) return null;
        const instance = constraint.instance as { validate: PropertyPlan['validators'][number]['validate'] };
        property.validators.push({ validate: instance.validate.bind(instance), constraints: meta.constraints });
      }
    } else {
      return null;
    }
  }
  const properties = [...byName.values()];
  const known = new Set(byName.keys());
  const targetName = cls.name;
  const Ctor = cls as new () => object;

  return (value: object): object | undefined => {
    const plain = value as Record<string, unknown>;
    const entity = new Ctor() as Record<string, unknown>;
    // class-transformer: every own key of the value, through the property's @Transform functions.
    for (const key of Object.keys(plain)) {
      if (!known.has(key) || SPECIAL_KEYS.has(key)) return undefined; // unknown field: the full path makes the error
      const raw = plain[key];
      if (raw !== null && typeof raw === 'object') return undefined; // arrays and objects: the full path copies them its way
      let v: unknown = raw;
      for (const fn of byName.get(key)!.transforms) v = fn({ value: v, key, obj: plain, type: TransformationType.PLAIN_TO_CLASS, options: {} });
      entity[key] = v;
    }
    // class-validator: per property, ValidateIf first, then every constraint, all synchronous.
    for (const property of properties) {
      const v = entity[property.name];
      let applies = true;
      for (const condition of property.conditions) applies = condition(entity, v) && applies;
      if (!applies) continue;
      for (const { validate, constraints } of property.validators) {
        const ok = validate(v, { targetName, property: property.name, object: entity, value: v, constraints });
        if (ok !== true) return undefined; // false, or a promise: the full path decides
      }
    }
    return entity;
  };
}
