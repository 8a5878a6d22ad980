import fc from 'fast-check';
import { boundMessage, checkValueBounds, INPUT_BOUNDS, type InputBounds, scanJsonBounds } from './input-bounds';

const scan = (text: string, bounds?: InputBounds) => scanJsonBounds(Buffer.from(text, 'utf8'), bounds);
const members = (n: number, make: (i: number) => string) => Array.from({ length: n }, (_, i) => make(i)).join(',');

/** `{"a":[…]}` with exactly `n` values (the object and the array included), in arrays of at most maxArrayLength items. */
function withValues(n: number, b: InputBounds): string {
  const items: string[] = [];
  let remaining = n - 2;
  while (remaining > 0) {
    if (remaining === 1) {
      items.push('0');
      remaining = 0;
    } else {
      const count = Math.min(b.maxArrayLength, remaining - 1);
      items.push(`[${members(count, () => '0')}]`);
      remaining -= count + 1;
    }
  }
  return `{"a":[${items.join(',')}]}`;
}

/** `{"a":[…]}` with exactly `n` strings (keys and values), in objects of at most maxKeysPerObject members. */
function withStrings(n: number, b: InputBounds): string {
  const items: string[] = [];
  let remaining = n - 1; // the key "a"
  while (remaining >= 2) {
    const count = Math.min(b.maxKeysPerObject, Math.floor(remaining / 2));
    items.push(`{${members(count, (i) => `"k${i}":"v"`)}}`);
    remaining -= 2 * count;
  }
  if (remaining === 1) items.push('"v"');
  return `{"a":[${items.join(',')}]}`;
}

/** Bodies exactly at each bound (accepted) and one step past it (refused), with the violation expected. */
function edges(b: InputBounds): Array<[string, string, string, string]> {
  const nested = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
  const nestedArrays = (levels: number) => `{"a":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;
  return [
    ['depth (objects)', nested(b.maxDepth), nested(b.maxDepth + 1), 'depth'],
    ['depth (arrays)', nestedArrays(b.maxDepth), nestedArrays(b.maxDepth + 1), 'depth'],
    ['keys per object', `{${members(b.maxKeysPerObject, (i) => `"k${i}":0`)}}`, `{${members(b.maxKeysPerObject + 1, (i) => `"k${i}":0`)}}`, 'keys'],
    ['repeated keys count each time', `{${members(b.maxKeysPerObject, () => '"k":0')}}`, `{${members(b.maxKeysPerObject + 1, () => '"k":0')}}`, 'keys'],
    ['array length', `{"a":[${members(b.maxArrayLength, () => '0')}]}`, `{"a":[${members(b.maxArrayLength + 1, () => '0')}]}`, 'array'],
    ['values', withValues(b.maxNodes, b), withValues(b.maxNodes + 1, b), 'nodes'],
    ['strings', withStrings(b.maxStrings, b), withStrings(b.maxStrings + 1, b), 'strings'],
  ];
}

describe('INPUT_BOUNDS', () => {
  it('are the documented figures', () => {
    expect(INPUT_BOUNDS).toEqual({ maxDepth: 16, maxNodes: 512, maxKeysPerObject: 64, maxArrayLength: 256, maxStrings: 512 });
    expect(Object.isFrozen(INPUT_BOUNDS)).toBe(true);
  });

  it('messages are fixed and short', () => {
    for (const v of ['depth', 'nodes', 'keys', 'array', 'strings', 'forbidden_key', 'not_object'] as const) {
      for (const where of ['body', 'query'] as const) {
        expect(boundMessage(v, where).length).toBeLessThan(64);
        expect(boundMessage(v, where)).toMatch(new RegExp(where));
      }
    }
  });
});

describe('scanJsonBounds (raw bytes, before JSON.parse)', () => {
  it.each(edges(INPUT_BOUNDS))('%s: at the bound passes, one past is refused', (_name, ok, over, violation) => {
    expect(() => JSON.parse(ok)).not.toThrow();
    expect(() => JSON.parse(over)).not.toThrow();
    expect(scan(ok)).toBeNull();
    expect(scan(over)).toBe(violation);
  });

  const small: InputBounds = { maxDepth: 4, maxNodes: 12, maxKeysPerObject: 3, maxArrayLength: 4, maxStrings: 6 };

  const other: InputBounds = { maxDepth: 4, maxNodes: 40, maxKeysPerObject: 3, maxArrayLength: 8, maxStrings: 30 };

  it.each(edges(other))('with other bounds too: %s', (_name, ok, over, violation) => {
    const b = other;
    expect(scan(ok, b)).toBeNull();
    expect(scan(over, b)).toBe(violation);
  });

  it('counts keys and string values as strings, and every value as a node', () => {
    const five = { ...small, maxStrings: 5 };
    expect(scan('{"a":"x","b":"y","c":1}', five)).toBeNull(); // 5 strings, 4 values
    expect(scan('{"a":"x","b":"y","c":"z"}', five)).toBe('strings'); // 6 strings
    expect(scan('{"a":[1,2,3],"b":[1,2,3],"c":[1,2]}', small)).toBeNull(); // 1 + 3 + 8 = 12 values
    expect(scan('{"a":[1,2,3],"b":[1,2,3],"c":[1,2,3]}', small)).toBe('nodes'); // 13 values
  });

  it('refuses a top-level array without counting it', () => {
    expect(scan(`  [${'0,'.repeat(10)}0]`)).toBe('not_object');
  });

  it('sees structure exactly where JSON.parse does: quotes, escapes and structural characters inside strings', () => {
    const tricky = ['"{[,:]}"', '"\\"{[,"', '"\\\\"', '"\\\\\\"[["', '"\\u0022[["', '"é{ü["', '"\\/"'];
    for (const s of tricky) {
      const body = `{"k${s.slice(1)}:${s}}`;
      expect(() => JSON.parse(body)).not.toThrow();
      expect([s, scan(body, small)]).toEqual([s, null]);
      // The same string as an array item counts as exactly one value.
      expect(scan(`{"a":[${members(small.maxArrayLength, () => s)}]}`, { ...small, maxStrings: 10 })).toBeNull();
      expect(scan(`{"a":[${members(small.maxArrayLength + 1, () => s)}]}`, { ...small, maxStrings: 10 })).toBe('array');
    }
  });

  it('skips a UTF-8 byte order mark, which the decoder drops before JSON.parse', () => {
    const over = `\ufeff{${members(65, (i) => `"k${i}":0`)}}`;
    expect(scan(over)).toBe('keys');
    expect(scan(`\ufeff[1]`)).toBe('not_object');
  });

  it('returns null where the text cannot be JSON (JSON.parse fails there), never reading on', () => {
    for (const bad of ['{"a":1}}', '{"a" 1}', '{"a":1 2}', '{,,,,}', '{"a"::1}', '{"a":1}x', '{"a":[1,,2]}', '{"a":"unterminated']) {
      expect(() => JSON.parse(bad)).toThrow();
      expect([bad, scan(bad)]).toEqual([bad, null]);
    }
  });

  it('agrees with checkValueBounds on every JSON object, however it is spaced (property)', () => {
    const key = fc.oneof(fc.constantFrom('a', 'b', '"', '\\', '{', '[', ',', ':', 'é', '\u2028', ''), fc.string({ maxLength: 3 }));
    const value = fc.letrec((tie) => ({
      any: fc.oneof({ depthSize: 'small' }, fc.constant(null), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string({ maxLength: 4 }), tie('arr'), tie('obj')),
      arr: fc.array(tie('any'), { maxLength: 6 }),
      obj: fc.dictionary(key, tie('any'), { maxKeys: 5 }),
    }));
    const top = fc.dictionary(key, value.any, { maxKeys: 5 });
    fc.assert(
      fc.property(top, fc.constantFrom(undefined, 1, '\t', ' \r\n'), (v, space) => {
        const text = JSON.stringify(v, null, space);
        expect(scan(text, small) === null).toBe(checkValueBounds(JSON.parse(text), small) === null);
      }),
      { numRuns: 2000 },
    );
  });

  it('is linear: every hostile 1 MiB shape is scanned in a few milliseconds', () => {
    const MiB = 1024 * 1024;
    const shapes = {
      whitespace: `{${' '.repeat(MiB - 20)}"a":1}`,
      number: `{"a":${'1'.repeat(MiB - 10)}}`,
      escapedQuotes: `{"a":"${'\\"'.repeat((MiB - 10) / 2)}"}`,
      backslashes: `{"a":"${'\\\\'.repeat((MiB - 10) / 2)}"}`,
      longString: `{"a":"${'x'.repeat(MiB - 10)}"}`,
      deep: `{"a":${'['.repeat(MiB - 10)}`,
      wide: `{"a":[${'0,'.repeat(MiB / 2 - 10)}0]}`,
    };
    for (const [name, text] of Object.entries(shapes)) {
      const bytes = Buffer.from(text);
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        scanJsonBounds(bytes);
        best = Math.min(best, performance.now() - t0);
      }
      // Generous: about 5 ms here; a quadratic scan would take seconds.
      expect([name, best < 100]).toEqual([name, true]);
    }
  });

  it('stops at the first misplaced separator (a run of them is not walked one regex step at a time)', () => {
    const MiB = 1024 * 1024;
    for (const [name, text] of Object.entries({ commas: `{"a":1${','.repeat(MiB - 10)}}`, colons: `{"a"${':'.repeat(MiB - 10)}1}` })) {
      const bytes = Buffer.from(text);
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        expect(scanJsonBounds(bytes)).toBeNull();
        best = Math.min(best, performance.now() - t0);
      }
      // About 1 ms here (the scan stops at the second separator); walking the run takes 40–70 ms.
      expect([name, best < 20]).toEqual([name, true]);
    }
  });
});

describe('checkValueBounds (built values: parsed bodies, query objects)', () => {
  it.each(edges(INPUT_BOUNDS))('%s: at the bound passes, one past is refused', (name, ok, over, violation) => {
    expect(checkValueBounds(JSON.parse(ok))).toBeNull();
    // JSON.parse keeps the last of repeated keys: a built object cannot show them.
    if (name !== 'repeated keys count each time') expect(checkValueBounds(JSON.parse(over))).toBe(violation);
  });

  it('refuses nesting deeper than the limit without recursion', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(checkValueBounds({ a: deep })).toBe('depth');
  });

  it('refuses the forbidden keys at any depth, however they were written', () => {
    expect(checkValueBounds(JSON.parse('{"a":{"__proto__":{"x":1}}}'))).toBe('forbidden_key');
    expect(checkValueBounds(JSON.parse('{"a":{"\\u005f_proto__":1}}'))).toBe('forbidden_key');
    expect(checkValueBounds({ a: [{ constructor: 1 }] })).toBe('forbidden_key');
    expect(checkValueBounds(Object.assign(Object.create(null), { prototype: '1' }))).toBe('forbidden_key');
  });

  it('checks an array length before visiting it (a sparse array is not walked)', () => {
    const sparse: unknown[] = [];
    sparse[4_294_967_294] = 1;
    const t0 = performance.now();
    expect(checkValueBounds({ a: sparse })).toBe('array');
    expect(performance.now() - t0).toBeLessThan(50);
  });

  it('checks a key count before visiting the keys', () => {
    const big = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, { [`deep${i}`]: i }]));
    expect(checkValueBounds(big)).toBe('keys');
  });

  it('counts query values like any others: repeated keys are arrays', () => {
    expect(checkValueBounds({ limit: ['1', '2'] })).toBeNull();
    expect(checkValueBounds({ limit: Array(257).fill('1') })).toBe('array');
  });
});
