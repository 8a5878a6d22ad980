import fc from 'fast-check';
import { SmallestNames } from './smallest-names';

const item = (bytes: number[]) => ({ name: Buffer.from(bytes) });

describe('SmallestNames', () => {
  it('keeps the k smallest names after `after`, in byte order, and counts the rest', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 6 }), { maxLength: 400 }),
        fc.integer({ min: 0, max: 300 }),
        fc.option(fc.uint8Array({ minLength: 1, maxLength: 3 }), { nil: undefined }),
        (names, k, after) => {
          const afterBuf = after ? Buffer.from(after) : undefined;
          const sel = new SmallestNames<{ name: Buffer }>(k, afterBuf);
          let peak = 0;
          for (const n of names) {
            sel.offer(item([...n]));
            peak = Math.max(peak, sel.size);
          }
          const distinct = [...new Set(names.map((n) => Buffer.from(n).toString('hex')))]
            .map((h) => Buffer.from(h, 'hex'))
            .filter((b) => !afterBuf || Buffer.compare(b, afterBuf) > 0)
            .sort(Buffer.compare);
          expect(sel.items().map((i) => i.name.toString('hex'))).toEqual(distinct.slice(0, k).map((b) => b.toString('hex')));
          expect(sel.dropped > 0).toBe(distinct.length > k);
          expect(peak).toBeLessThanOrEqual(k);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('holds at most its capacity while 100,000 names stream through', () => {
    const sel = new SmallestNames<{ name: Buffer }>(256);
    let peak = 0;
    // Descending order: every name is the smallest so far, the worst case for insertion.
    for (let i = 100_000; i > 0; i--) {
      sel.offer({ name: Buffer.from(`w${String(i).padStart(6, '0')}`) });
      peak = Math.max(peak, sel.size);
    }
    expect(peak).toBe(256);
    expect(sel.items()[0].name.toString()).toBe('w000001');
    expect(sel.items()[255].name.toString()).toBe('w000256');
    expect(sel.dropped).toBe(100_000 - 256);
  });
});
