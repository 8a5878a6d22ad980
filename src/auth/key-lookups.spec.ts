import type { StoredApiKey } from '../store/backend-store';
import { KeyLookups } from './api-keys.service';

const key = (keyId: string): StoredApiKey => ({ keyId, name: 'k', scopes: ['read'], secretHash: '00', createdAtMs: 0, lastUsedAtMs: null, revokedAtMs: null });

describe('KeyLookups (the 1 s key cache)', () => {
  it('keeps a key in use while a flood of ids that name no key comes and goes', () => {
    const cache = new KeyLookups();
    cache.remember('key-good', key('key-good'), 0);
    for (let i = 0; i < 25_000; i++) cache.remember(`key-random-${i}`, undefined, 10);
    expect(cache.get('key-good', 20)).toEqual(key('key-good'));
    // The flood's own entries stay bounded: the oldest were dropped when the map filled.
    expect(cache.get('key-random-0', 20)).toBeUndefined();
    expect(cache.get('key-random-24999', 20)).toBeNull();
  });

  it('answers for 1 s, then asks again; forget and a revocation take effect at once', () => {
    const cache = new KeyLookups();
    cache.remember('key-a', key('key-a'), 1000);
    expect(cache.get('key-a', 1999)).toEqual(key('key-a'));
    expect(cache.get('key-a', 2000)).toBeUndefined();
    cache.remember('key-a', key('key-a'), 3000);
    cache.remember('key-a', undefined, 3001); // revoked
    expect(cache.get('key-a', 3002)).toBeNull();
    cache.forget('key-a');
    expect(cache.get('key-a', 3003)).toBeUndefined();
  });
});
