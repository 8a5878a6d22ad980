import etag from 'etag';
import { weakETag } from './send-json';

describe('weakETag', () => {
  it('is the weak tag Express sends (the etag package), byte for byte', () => {
    const bodies = ['', 'a', '{"x":1}', 'é'.repeat(999), JSON.stringify({ items: Array.from({ length: 50 }, (_, i) => ({ i, text: `"${i}"\n` })) })];
    for (const body of bodies) {
      const bytes = Buffer.from(body);
      expect(weakETag(bytes)).toBe(etag(bytes, { weak: true }));
    }
  });
});
