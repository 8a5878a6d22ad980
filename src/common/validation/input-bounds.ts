/**
 * Bounds on the shape of client input (bodies and query objects), checked
 * before class-transformer and class-validator see it, and for bodies before
 * JSON.parse builds it (SPEC §13: any body up to 1 MiB, of any shape, is
 * answered within 50 ms of event-loop time).
 *
 * Why before: JSON.parse alone takes 50–110 ms on this class of machine for
 * some 1 MiB bodies (half a million nested arrays, 75,000 objects each with a
 * new key, 130,000 distinct keys), and class-transformer is quadratic in the
 * number of keys of an object (90,000 unknown keys took 7.6 s) and slow per
 * value even within bounds: 10,000 values under a known field took 95–230 ms
 * to transform and validate, 1,000 took 10–30 ms (80 ms at worst on a loaded
 * machine), 512 take 5–15 ms. Hence 512 values. No
 * request of this API comes anywhere near these bounds: the largest valid
 * body is a handful of values, whatever the size of its strings, and no
 * route takes an array longer than a few items.
 *
 * Both checks are single linear passes (no recursion), and they stop at the
 * first bound passed. Refusals carry a fixed message that echoes nothing of
 * the input.
 */
export interface InputBounds {
  /** Nesting of objects and arrays; the top-level object is level 1. */
  readonly maxDepth: number;
  /** Values of every kind (objects, arrays, strings, numbers, literals), the top level included. */
  readonly maxNodes: number;
  /** Members of one object, a repeated key counted each time. */
  readonly maxKeysPerObject: number;
  /** Items of one array. */
  readonly maxArrayLength: number;
  /** Strings: keys and string values. */
  readonly maxStrings: number;
}

export const INPUT_BOUNDS: InputBounds = Object.freeze({
  maxDepth: 16,
  maxNodes: 512,
  maxKeysPerObject: 64,
  maxArrayLength: 256,
  maxStrings: 512,
});

export type BoundViolation = 'depth' | 'nodes' | 'keys' | 'array' | 'strings' | 'forbidden_key' | 'not_object';

/** Keys that could reach an object's prototype through a careless copy; refused wherever they appear. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The fixed, short text of a refusal (`where` is `body` or `query`). */
export function boundMessage(violation: BoundViolation, where: 'body' | 'query', bounds: InputBounds = INPUT_BOUNDS): string {
  switch (violation) {
    case 'depth':
      return `${where} nests deeper than ${bounds.maxDepth} levels`;
    case 'nodes':
      return `${where} has more than ${bounds.maxNodes} values`;
    case 'keys':
      return where === 'query' ? `query has more than ${bounds.maxKeysPerObject} parameters` : `an object in the body has more than ${bounds.maxKeysPerObject} fields`;
    case 'array':
      return `an array in the ${where} has more than ${bounds.maxArrayLength} items`;
    case 'strings':
      return `${where} has more than ${bounds.maxStrings} strings`;
    case 'forbidden_key':
      return `${where} contains a forbidden property name`;
    case 'not_object':
      return `${where} must be a JSON object`;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
/** The bytes EF BB BF read as latin1: a UTF-8 byte order mark, which the decoder drops before JSON.parse. */
const UTF8_BOM_AS_LATIN1 = '\u00ef\u00bb\u00bf';

// Both run in the regular expression engine's compiled code: whitespace and
// number/literal runs are skipped without a JavaScript loop per byte.
const STRUCTURAL = /[{}[\],:"]/g;
const NON_SPACE = /[^ \t\n\r]/g;

/**
 * Index just past the closing quote of the string whose contents start at
 * `from` (or the end). The first quote is found with a native search; only
 * when it might be escaped is the string walked character by character
 * (skipping each escape), so a string full of `\"` costs one linear walk,
 * not one search per quote.
 */
function skipString(text: string, from: number): number {
  const quote = text.indexOf('"', from);
  if (quote < 0) return text.length;
  if (text.charCodeAt(quote - 1) !== BACKSLASH) return quote + 1;
  for (let j = from; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === BACKSLASH) j++;
    else if (c === QUOTE) return j + 1;
  }
  return text.length;
}

/** Index of the first match of a global regular expression at or after `from`, or -1. */
function searchFrom(re: RegExp, text: string, from: number): number {
  re.lastIndex = from;
  const m = re.exec(text);
  return m ? m.index : -1;
}

/**
 * Checks the raw UTF-8 text of a JSON body against the bounds without parsing
 * it: one pass that counts structure only. The bytes are read as latin1 (one
 * character per byte, no decoding); UTF-8 never has an ASCII byte inside a
 * multibyte sequence, so structural characters are seen exactly where
 * JSON.parse will see them.
 *
 * It does not validate JSON, but it stops (returns null) at the first place
 * where the text cannot be JSON (two values in a row, a separator without a
 * value, a close without an open), because JSON.parse fails there too; so the
 * parser never builds more than the bounds allow, and a run of separators
 * cannot make this scan do work per byte in JavaScript. Every step of the
 * loop consumes a token that is counted against a bound, or ends the scan.
 */
export function scanJsonBounds(bytes: Buffer, bounds: InputBounds = INPUT_BOUNDS): BoundViolation | null {
  const text = bytes.toString('latin1');
  const n = text.length;
  const items = new Uint32Array(bounds.maxDepth + 1); // members / items of each open container
  const isObject = new Uint8Array(bounds.maxDepth + 1);
  let depth = 0;
  let nodes = 0;
  let strings = 0;
  let keyNext = false; // in an object, after `{` or `,`: the next string is a key
  let afterValue = false; // the last token was a value (or a key): a separator or a close must follow
  let i = text.startsWith(UTF8_BOM_AS_LATIN1) ? UTF8_BOM_AS_LATIN1.length : 0;
  const first = searchFrom(NON_SPACE, text, i);
  if (first >= 0 && text.charCodeAt(first) === OPEN_ARRAY) return 'not_object';

  const countValue = (): BoundViolation | null => {
    if (++nodes > bounds.maxNodes) return 'nodes';
    if (depth > 0 && isObject[depth] === 0 && ++items[depth] > bounds.maxArrayLength) return 'array';
    return null;
  };

  for (;;) {
    const next = searchFrom(STRUCTURAL, text, i);
    const end = next < 0 ? n : next;
    // Between two structural characters: whitespace, or one number or literal.
    if (end > i) {
      const content = searchFrom(NON_SPACE, text, i);
      if (content >= 0 && content < end) {
        if (afterValue) return null;
        const violation = countValue();
        if (violation) return violation;
        afterValue = true;
      }
    }
    if (next < 0) return null;
    const c = text.charCodeAt(next);
    i = next + 1;
    if (c === COMMA || c === COLON) {
      if (!afterValue) return null;
      afterValue = false;
      keyNext = c === COMMA && depth > 0 && isObject[depth] === 1;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth === 0) return null;
      depth--;
      keyNext = false;
      afterValue = true;
    } else if (afterValue) {
      return null;
    } else if (c === QUOTE) {
      if (++strings > bounds.maxStrings) return 'strings';
      i = skipString(text, i);
      afterValue = true;
      if (keyNext) {
        keyNext = false;
        if (++items[depth] > bounds.maxKeysPerObject) return 'keys';
      } else {
        const violation = countValue();
        if (violation) return violation;
      }
    } else {
      // `{` or `[`
      const violation = countValue();
      if (violation) return violation;
      if (++depth > bounds.maxDepth) return 'depth';
      items[depth] = 0;
      isObject[depth] = c === OPEN_OBJECT ? 1 : 0;
      keyNext = c === OPEN_OBJECT;
      afterValue = false;
    }
  }
}

/**
 * The same bounds on a value that is already built (a parsed body, a query
 * object from any parser), plus the forbidden keys, which only the parsed
 * value shows (`"\u005f_proto__"` is `__proto__`). Array lengths and key
 * counts are checked before their items are visited, so a sparse array or a
 * huge object is refused without being walked.
 */
export function checkValueBounds(value: unknown, bounds: InputBounds = INPUT_BOUNDS): BoundViolation | null {
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 1 }];
  let nodes = 0;
  let strings = 0;
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (++nodes > bounds.maxNodes) return 'nodes';
    if (typeof v === 'string') {
      if (++strings > bounds.maxStrings) return 'strings';
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth > bounds.maxDepth) return 'depth';
    if (Array.isArray(v)) {
      if (v.length > bounds.maxArrayLength) return 'array';
      for (let i = 0; i < v.length; i++) stack.push({ v: v[i], depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(v);
    if (keys.length > bounds.maxKeysPerObject) return 'keys';
    strings += keys.length;
    if (strings > bounds.maxStrings) return 'strings';
    for (const key of keys) {
      if (FORBIDDEN_KEYS.has(key)) return 'forbidden_key';
      stack.push({ v: (v as Record<string, unknown>)[key], depth: depth + 1 });
    }
  }
  return null;
}
