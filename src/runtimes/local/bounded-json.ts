/**
 * A single pass over JSON bytes, before JSON.parse, that bounds what parsing
 * them could cost: nesting depth and the number of tokens (values and keys).
 * A 256 KiB record can otherwise nest 130,000 arrays deep or hold 130,000
 * values, and V8 parses both, slowly and into hundreds of MiB.
 *
 * It is a tokenizer, not a validator: for valid JSON its depth and token count
 * are exact; invalid JSON is left to JSON.parse to refuse. Iterative, O(n),
 * no allocation.
 */

export interface JsonBounds {
  /** Deepest nesting of arrays and objects allowed (the top-level value is depth 1). */
  maxDepth: number;
  /** Most tokens allowed: every string (keys included), number, literal, array and object counts one. */
  maxTokens: number;
}

export const DEFAULT_JSON_BOUNDS: Readonly<JsonBounds> = Object.freeze({ maxDepth: 64, maxTokens: 100_000 });

export type JsonBoundsVerdict = 'ok' | 'too_deep' | 'too_many_tokens';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/** Bytes that may continue a number or a literal (`true`, `false`, `null`, `-1.5e+3`). */
function isScalarByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2b || c === 0x2d || c === 0x2e;
}

export function checkJsonBounds(bytes: Uint8Array, bounds: JsonBounds = DEFAULT_JSON_BOUNDS): JsonBoundsVerdict {
  const { maxDepth, maxTokens } = bounds;
  const n = bytes.length;
  let depth = 0;
  let tokens = 0;
  let i = 0;
  while (i < n) {
    const c = bytes[i];
    if (c === QUOTE) {
      if (++tokens > maxTokens) return 'too_many_tokens';
      i++;
      while (i < n) {
        const d = bytes[i];
        if (d === BACKSLASH) i += 2;
        else if (d === QUOTE) break;
        else i++;
      }
      i++;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++tokens > maxTokens) return 'too_many_tokens';
      if (++depth > maxDepth) return 'too_deep';
      i++;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
      i++;
    } else if (isScalarByte(c)) {
      if (++tokens > maxTokens) return 'too_many_tokens';
      i++;
      while (i < n && isScalarByte(bytes[i])) i++;
    } else {
      i++; // whitespace, ':' and ',' (anything else makes JSON.parse fail anyway)
    }
  }
  return 'ok';
}
