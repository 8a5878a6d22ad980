import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { IDENTIFIER_PATTERN } from '../../config/app-config';
import { derivePublicId, toDisplayLabel } from './public-id';

const hex16 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex').slice(0, 16);

describe('derivePublicId', () => {
  it('follows the SPEC §5 example', () => {
    expect(derivePublicId('local-worker', 'Reviewer Beta é')).toBe(`local-worker-reviewer-beta-${hex16('Reviewer Beta é')}`);
  });

  it('turns every other code point into exactly one dash and keeps - and _', () => {
    expect(derivePublicId('local-worker', 'a😀b_c-d')).toBe(`local-worker-a-b_c-d-${hex16('a😀b_c-d')}`);
    expect(derivePublicId('local-worker', 'a  b')).toBe(`local-worker-a--b-${hex16('a  b')}`);
  });

  it('uses "id" when nothing of the name survives', () => {
    expect(derivePublicId('local', '///')).toBe(`local-id-${hex16('///')}`);
    expect(derivePublicId('local', '')).toBe(`local-id-${hex16('')}`);
  });

  it('cuts long names to 120 characters and trims again', () => {
    const id = derivePublicId('local-worker', `${'a'.repeat(89)}-${'b'.repeat(200)}`);
    expect(id.length).toBeLessThanOrEqual(120);
    expect(id).toBe(`local-worker-${'a'.repeat(89)}-${hex16(`${'a'.repeat(89)}-${'b'.repeat(200)}`)}`);
  });

  it('hashes raw bytes when given a buffer', () => {
    const bytes = Buffer.from([0x66, 0xff, 0x6f]);
    expect(derivePublicId('local-worker', bytes)).toBe(`local-worker-f-o-${hex16(bytes)}`);
  });

  it('is deterministic, bounded, well-formed and collision-free over arbitrary names', () => {
    const seen = new Map<string, string>();
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (name) => {
        const id = derivePublicId('local-worker', name);
        expect(IDENTIFIER_PATTERN.test(id)).toBe(true);
        expect(id.length).toBeLessThanOrEqual(120);
        expect(derivePublicId('local-worker', name)).toBe(id);
        const earlier = seen.get(id);
        if (earlier !== undefined) expect(earlier).toBe(name);
        seen.set(id, name);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('toDisplayLabel', () => {
  it('removes control characters, bidi overrides and slashes', () => {
    expect(toDisplayLabel('a/b\\c\u0000d\u202ee\nf', 'x')).toBe('abcdef');
  });

  it('caps length at 80 without splitting a surrogate pair', () => {
    const label = toDisplayLabel(`${'a'.repeat(79)}😀`, 'x');
    expect(label).toBe('a'.repeat(79));
    expect(toDisplayLabel('é'.repeat(200), 'x')).toHaveLength(80);
  });

  it('falls back when nothing printable is left', () => {
    expect(toDisplayLabel('\u0001//', 'fallback')).toBe('fallback');
  });
});
