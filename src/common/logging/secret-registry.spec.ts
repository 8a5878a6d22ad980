import { compileSecrets, REDACTED, registerSecret, SecretRegistry, sharedSecretRegistry } from './secret-registry';

const R = REDACTED;

describe('SecretRegistry', () => {
  it('replaces every occurrence of every secret, and ignores empty values', () => {
    const registry = new SecretRegistry(['alpha-secret', '', null, undefined, 'beta-secret']);
    expect(registry.size).toBe(2);
    expect(registry.redact('alpha-secret/beta-secret alpha-secretalpha-secret')).toBe(`${REDACTED}/${REDACTED} ${REDACTED}${REDACTED}`);
    expect(registry.redact('nothing here')).toBe('nothing here');
  });

  it('an empty registry leaves text alone', () => {
    const registry = new SecretRegistry();
    expect(registry.pattern()).toBeNull();
    expect(registry.redact('text')).toBe('text');
  });

  it('secrets added at run time apply to the next redaction', () => {
    const registry = new SecretRegistry(['first-secret']);
    expect(registry.redact('later-secret')).toBe('later-secret');
    const before = registry.version;
    registry.add('later-secret');
    expect(registry.version).toBeGreaterThan(before);
    expect(registry.redact('first-secret later-secret')).toBe(`${REDACTED} ${REDACTED}`);
    expect(registry.delete('later-secret')).toBe(true);
    expect(registry.redact('later-secret')).toBe('later-secret');
  });

  it('escapes every regular-expression character of a secret', () => {
    const nasty = 'a.b*c+d?e^f$g(h)i[j]k{l}m|n\\o/p-q';
    const registry = new SecretRegistry([nasty, '.*', '(?:x)|']);
    expect(registry.redact(`<${nasty}>`)).toBe(`<${REDACTED}>`);
    // `.*` must match only itself, not everything
    expect(registry.redact('abc .* def')).toBe(`abc ${REDACTED} def`);
    expect(registry.redact('x|(?:x)|')).toBe(`x|${REDACTED}`);
    expect(registry.redact('a-b-c')).toBe('a-b-c');
  });

  it('prefers the longest secret when one is a prefix of another', () => {
    const registry = new SecretRegistry(['tok', 'token-123', 'token-12']);
    expect(registry.redact('token-1234')).toBe(`${REDACTED}4`);
    expect(registry.redact('token-12x')).toBe(`${REDACTED}x`);
    expect(registry.redact('tokx')).toBe(`${REDACTED}x`);
  });

  it('matches URL-encoded forms of a secret (query strings, URLs)', () => {
    const registry = new SecretRegistry(['p@ss w/rd']);
    expect(registry.redact('q=p%40ss%20w%2Frd')).toBe(`q=${REDACTED}`);
    expect(registry.redact('q=p%40ss+w%2Frd')).toBe(`q=${REDACTED}`);
    expect(registry.redact('raw p@ss w/rd')).toBe(`raw ${REDACTED}`);
  });

  it('handles non-ASCII secrets and a thousand secrets in one expression', () => {
    const secrets = Array.from({ length: 1000 }, (_, i) => `key-${i.toString(36)}-${'é😀'.repeat(i % 3)}-${(i * 7919).toString(16)}`);
    const registry = new SecretRegistry(secrets);
    for (const s of [secrets[0], secrets[499], secrets[999]]) expect(registry.redact(`[${s}]`)).toBe(`[${REDACTED}]`);
    expect(compileSecrets(secrets)?.flags).toBe('g');
  });

  it('redacts secrets by shape, with or without known values, in the same expression', () => {
    const registry = new SecretRegistry(['known-value']);
    registry.addPattern(/wbk_[A-Za-z0-9_-]{22,}/);
    expect(() => registry.addPattern('(unclosed')).toThrow();
    expect(registry.redact('old key wbk_AAAAAAAAAAAAAAAAAAAAAAAA, known-value, short wbk_abc')).toBe(`old key ${R}, ${R}, short wbk_abc`);
    expect(registry.test('x wbk_BBBBBBBBBBBBBBBBBBBBBBBBBB y')).toBe(true);
    const onlyShapes = new SecretRegistry();
    onlyShapes.addPattern('tok_[0-9]{6}');
    expect(onlyShapes.redact('tok_123456 tok_12')).toBe(`${R} tok_12`);
  });

  it('registerSecret feeds the shared registry', () => {
    const value = `shared-${Math.random()}`;
    registerSecret(value);
    expect(sharedSecretRegistry.has(value)).toBe(true);
    expect(sharedSecretRegistry.redact(`x ${value} y`)).toBe(`x ${REDACTED} y`);
    sharedSecretRegistry.delete(value);
  });
});
