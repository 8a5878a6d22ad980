import fc from 'fast-check';
import { checkJsonBounds, DEFAULT_JSON_BOUNDS } from './bounded-json';

const bytes = (s: string) => Buffer.from(s, 'utf8');
const nested = (depth: number, inner = '') => '['.repeat(depth) + inner + ']'.repeat(depth);

/** Depth and token count of a parsed value, the way the checker counts them in its text. */
function measure(value: unknown, depth = 1): { depth: number; tokens: number } {
  if (Array.isArray(value)) {
    return value.reduce<{ depth: number; tokens: number }>(
      (acc, v) => {
        const m = measure(v, depth + 1);
        return { depth: Math.max(acc.depth, m.depth), tokens: acc.tokens + m.tokens };
      },
      { depth, tokens: 1 },
    );
  }
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).reduce<{ depth: number; tokens: number }>(
      (acc, [, v]) => {
        const m = measure(v, depth + 1);
        return { depth: Math.max(acc.depth, m.depth), tokens: acc.tokens + 1 + m.tokens }; // the key is a token
      },
      { depth, tokens: 1 },
    );
  }
  return { depth: depth - 1, tokens: 1 };
}

describe('checkJsonBounds', () => {
  it('allows 64 levels of nesting and refuses 65', () => {
    expect(checkJsonBounds(bytes(nested(64)))).toBe('ok');
    expect(checkJsonBounds(bytes(nested(65)))).toBe('too_deep');
    expect(checkJsonBounds(bytes(`{"a":${nested(63)}}`))).toBe('ok');
    expect(checkJsonBounds(bytes(`{"a":${nested(64)}}`))).toBe('too_deep');
  });

  it('refuses the 130,000-level record of the attack at once', () => {
    expect(checkJsonBounds(bytes(`{"workspace_root":"/w","worker_name":${nested(130_000)}}`))).toBe('too_deep');
  });

  it('counts values and keys, and refuses past the token bound', () => {
    const values = (n: number) => `[${Array.from({ length: n }, () => '0').join(',')}]`;
    expect(checkJsonBounds(bytes(values(DEFAULT_JSON_BOUNDS.maxTokens - 1)))).toBe('ok'); // + the array itself
    expect(checkJsonBounds(bytes(values(DEFAULT_JSON_BOUNDS.maxTokens)))).toBe('too_many_tokens');
    expect(checkJsonBounds(bytes('{"a":1,"b":[true,null,"x"]}'), { maxDepth: 64, maxTokens: 8 })).toBe('ok');
    expect(checkJsonBounds(bytes('{"a":1,"b":[true,null,"x"]}'), { maxDepth: 64, maxTokens: 7 })).toBe('too_many_tokens');
  });

  it('does not count brackets or quotes inside strings', () => {
    const s = JSON.stringify({ a: '[[[[{{{{"\\"\\\\' + '['.repeat(200), b: '\\"]]]' });
    expect(checkJsonBounds(bytes(s), { maxDepth: 1, maxTokens: 5 })).toBe('ok');
  });

  it('agrees with the parsed value on depth and token count for any JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        const text = JSON.stringify(value);
        const m = measure(JSON.parse(text));
        const depth = Math.max(m.depth, 0);
        expect(checkJsonBounds(bytes(text), { maxDepth: depth, maxTokens: m.tokens })).toBe('ok');
        if (depth > 0) expect(checkJsonBounds(bytes(text), { maxDepth: depth - 1, maxTokens: m.tokens })).toBe('too_deep');
        expect(checkJsonBounds(bytes(text), { maxDepth: depth, maxTokens: m.tokens - 1 })).toBe('too_many_tokens');
      }),
      { numRuns: 300 },
    );
  });
});
