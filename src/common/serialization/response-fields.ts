/**
 * The allow-list of every response DTO: which properties may be serialised,
 * and which DTO class a nested property holds. Filled by `@ApiField` (the same
 * decorator that documents the field for OpenAPI), read by `serializeResponse`.
 */
export interface ResponseField {
  key: string;
  nested?: new () => unknown;
}

const FIELDS = new Map<Function, ResponseField[]>();

export function registerResponseField(target: Function, field: ResponseField): void {
  const list = FIELDS.get(target) ?? [];
  if (!list.some((f) => f.key === field.key)) list.push(field);
  FIELDS.set(target, list);
}

/** Own and inherited allow-listed fields of a DTO class (base class first), or undefined if it is not a response DTO. */
export function responseFieldsOf(cls: Function): ResponseField[] | undefined {
  const chain: Function[] = [];
  for (let c: any = cls; c && c !== Object && c !== Function.prototype; c = Object.getPrototypeOf(c)) chain.unshift(c);
  let found: ResponseField[] | undefined;
  for (const c of chain) {
    const own = FIELDS.get(c);
    if (!own) continue;
    found = [...(found ?? []).filter((f) => !own.some((g) => g.key === f.key)), ...own];
  }
  return found;
}
