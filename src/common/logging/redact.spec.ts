import { isSensitiveName, redactJsonLine, redactText, redactUrl } from './redact';
import { REDACTED, SecretRegistry } from './secret-registry';

const R = REDACTED;

describe('redactText: one rule per credential shape', () => {
  it('known secret values, wherever they are', () => {
    const registry = new SecretRegistry(['s3cr3t-value']);
    expect(redactText('x=s3cr3t-value/ys3cr3t-valuez', registry)).toBe(`x=${R}/y${R}z`);
  });

  it('credentials inside URLs: the password goes, user and host stay', () => {
    expect(redactText('connect postgres://app:hunter2@db.internal:5432/x failed')).toBe(`connect postgres://app:${R}@db.internal:5432/x failed`);
    expect(redactText('redis://:onlypass@cache:6379')).toBe(`redis://:${R}@cache:6379`);
    // an unencoded @ in the password: the last @ of the authority ends it, as URL parsers read it
    expect(redactText('postgresql://u:p@ss@host/db?x=1')).toBe(`postgresql://u:${R}@host/db?x=1`);
    expect(redactText('see https://example.com:8080/a@b and http://user@host/')).toBe('see https://example.com:8080/a@b and http://user@host/');
  });

  it('Authorization, Proxy-Authorization, Cookie and Set-Cookie values, whole', () => {
    expect(redactText('Authorization: Bearer abc.def')).toBe(`Authorization: ${R}`);
    expect(redactText('proxy-authorization=Digest username="u", response="r"')).toBe(`proxy-authorization=${R}`);
    expect(redactText('Cookie: sid=abc; theme=dark\nnext line')).toBe(`Cookie: ${R}\nnext line`);
    expect(redactText('set-cookie: wb=1; HttpOnly')).toBe(`set-cookie: ${R}`);
    expect(redactText('{"authorization":"Basic dTpw","x":1}')).toBe(`{"authorization":${R},"x":1}`);
  });

  it('Bearer tokens anywhere', () => {
    expect(redactText('sent bearer eyJhbGciOi.payload.sig, then')).toBe(`sent bearer ${R}, then`);
    expect(redactText('Bearer abc/def+ghi=')).toBe(`Bearer ${R}`);
  });

  it('Basic credentials, but not the word "basic"', () => {
    const creds = Buffer.from('user:pa55').toString('base64');
    expect(redactText(`got Basic ${creds} from client`)).toBe(`got Basic ${R} from client`);
    expect(redactText('basic validation failed')).toBe('basic validation failed');
  });

  it('named values: tokens, passwords, API keys, secrets, sessions, env assignments', () => {
    const cases: [string, string][] = [
      ['GET /cb?access_token=abc123&state=ok', `GET /cb?access_token=${R}&state=ok`],
      ['refresh_token=r1 id_token=i1', `refresh_token=${R} id_token=${R}`],
      ['sessionToken=s1; other=2', `sessionToken=${R}; other=2`],
      ['host=db sslpassword=sslpw sslmode=verify-full', `host=db sslpassword=${R} sslmode=verify-full`],
      ['password=pw1', `password=${R}`],
      ["password='two words'", `password=${R}`],
      ['apikey=k1&api_key=k2&x-api-key: k3', `apikey=${R}&api_key=${R}&x-api-key: ${R}`],
      ['OPENAI_API_KEY=sk-abc GH_TOKEN=ghx AWS_SECRET=aws DB_PASSWORD=dbp', `OPENAI_API_KEY=${R} GH_TOKEN=${R} AWS_SECRET=${R} DB_PASSWORD=${R}`],
      ['client_secret: "cs"', `client_secret: ${R}`],
      ['{"password":"pw"}', `{"password":${R}}`],
      ['password="unterminated', `password=${R}`],
    ];
    for (const [input, expected] of cases) expect(redactText(input)).toBe(expected);
  });

  it('well-known key shapes and private keys', () => {
    expect(redactText('key sk-ant-api03-abcdefghijklmnopqrstuv rejected')).toBe(`key ${R} rejected`);
    expect(redactText('jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.abc_def')).toBe(`jwt ${R}`);
    expect(redactText('-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- ok')).toBe(`${R} private key ok`);
  });

  it('leaves ordinary text, paths and counters alone', () => {
    for (const text of [
      "EACCES: permission denied, open '/data/pods/x/metadata.json'",
      'Mapped {/api/keys/:key_id, DELETE} route',
      'max_tokens=1024 input_tokens: 12 key_id=k_123 tokenCount=3',
      'Nest application successfully started',
      'at Object.<anonymous> (/app/src/auth/token.ts:12:5)',
      'duplicate key value violates unique constraint; Key (worker_id)=(w1) already exists.',
    ]) {
      expect(redactText(text)).toBe(text);
    }
  });

  it('stays linear on long input', () => {
    const long = `${'a'.repeat(1 << 20)}token${'='.repeat(3)}`;
    expect(redactText(long)).toBe(`${'a'.repeat(1 << 20)}token=${R}`);
    const manyUrls = 'x://a:'.repeat(1 << 17);
    expect(redactText(manyUrls)).toBe(manyUrls);
    const words = 'x'.repeat(1 << 20);
    expect(redactText(words)).toBe(words);
  });

  it('names', () => {
    for (const n of ['password', 'sslpassword', 'DB_PASSWORD', 'access_token', 'sessionToken', 'x-api-key', 'apiKey', 'client_secret', 'set-cookie', 'connect.sid', 'authorization']) {
      expect(isSensitiveName(n)).toBe(true);
    }
    for (const n of ['key_id', 'max_tokens', 'user-agent', 'content-length', 'context', 'msg', 'reqId', 'url']) expect(isSensitiveName(n)).toBe(false);
  });
});

describe('redactUrl', () => {
  it('redacts query values by name, decoded names included, and keeps the rest', () => {
    expect(redactUrl('/api/x?access_token=abc&limit=10')).toBe(`/api/x?access_token=${R}&limit=10`);
    expect(redactUrl('/api/x?api%5Fkey=abc&Sig=zz&q=ok')).toBe(`/api/x?api%5Fkey=${R}&Sig=${R}&q=ok`);
    // a name whose encoding hides it from the text patterns
    expect(redactUrl('/cb?access%5Ftok%65n=abc&pass%77ord=pw')).toBe(`/cb?access%5Ftok%65n=${R}&pass%77ord=${R}`);
    // an invalid escape elsewhere in the name does not stop the decoding of the valid ones
    expect(redactUrl('/cb?%zz%5Ftok%65n=abc&%E0%A4%A=x')).toBe(`/cb?%zz%5Ftok%65n=${R}&%E0%A4%A=x`);
  });

  it('redacts a value that decodes to something credential-shaped, and registered secrets in path or query', () => {
    const registry = new SecretRegistry(['my-key-value']);
    expect(redactUrl('/a?q=Bearer%20xyz&n=1')).toBe(`/a?q=${R}&n=1`);
    expect(redactUrl('/keys/my-key-value?x=my-key-value', registry)).toBe(`/keys/${R}?x=${R}`);
    expect(redactUrl('/plain/path')).toBe('/plain/path');
  });

  it('redacts an escaped path segment that decodes to a secret or a credential, with or without a query', () => {
    const registry = new SecretRegistry(['attack-key-0123456789abcdef']);
    expect(redactUrl('/api/runtimes/%61ttack-key-0123456789abcdef', registry)).toBe(`/api/runtimes/${R}`);
    expect(redactUrl('/api/runtimes/%61ttack-key-0123456789abcdef/workers?limit=5', registry)).toBe(`/api/runtimes/${R}/workers?limit=5`);
    expect(redactUrl('/api/x/Bearer%20abc/y')).toBe(`/api/x/${R}/y`);
    // Escapes that hide nothing, and an invalid one, are kept as sent.
    expect(redactUrl('/api/runtimes/caf%C3%A9/%zz?limit=5', registry)).toBe('/api/runtimes/caf%C3%A9/%zz?limit=5');
    expect(redactUrl('/api/a+b%41', registry)).toBe('/api/a+b%41');
  });

  it('takes the fast path only when nothing could be redacted: names in any case, a + for a space, secrets', () => {
    const registry = new SecretRegistry(['s3cr3t-value-1']);
    const target = '/api/runtimes/embedded-worker-runtime/workers?limit=5&cursor=abc';
    expect(redactUrl(target, registry)).toBe(target);
    expect(redactUrl('/a?ACCESS_TOKEN=abc&Api-Key=k', registry)).toBe(`/a?ACCESS_TOKEN=${R}&Api-Key=${R}`);
    expect(redactUrl('/a?q=s3cr3t-value-1', registry)).toBe(`/a?q=${R}`);
    expect(redactUrl('/a?q=s3cr3t%2Dvalue-1', registry)).toBe(`/a?q=${R}`);
    expect(redactUrl('/a?q=Bearer+xyz&n=1')).toBe(`/a?q=${R}&n=1`);
  });
});

describe('redactJsonLine', () => {
  const line = (obj: unknown) => `${JSON.stringify(obj)}\n`;

  it('redacts every string literal and keeps the line valid JSON', () => {
    const registry = new SecretRegistry(['sekrit"\\val']);
    const input = line({ msg: 'a "sekrit"\\val" b', err: { stack: 'Error: x\n  at postgres://u:pw@h/db' }, n: 1, list: ['Bearer t0k', true, null] });
    const out = redactJsonLine(input, registry);
    expect(out.endsWith('\n')).toBe(true);
    const parsed = JSON.parse(out);
    expect(parsed).toEqual({ msg: `a "${R}" b`, err: { stack: `Error: x\n  at postgres://u:${R}@h/db` }, n: 1, list: [`Bearer ${R}`, true, null] });
  });

  it('does not skip a line whose only credential is hidden by JSON escaping', () => {
    // a registered secret with characters JSON escapes, and nothing else to trigger any rule
    const registry = new SecretRegistry(['quo"te\\back\nline']);
    const input = line({ msg: 'value quo"te\\back\nline end' });
    expect(JSON.parse(redactJsonLine(input, registry)).msg).toBe(`value ${R} end`);
    // a key shape right after an escaped newline (no word boundary in the serialized text)
    expect(JSON.parse(redactJsonLine(line({ msg: 'got\nsk-ant-api03-abcdefghijklmnopqrstuv' }))).msg).toBe(`got\n${R}`);
    // a credential-named key whose value is a number
    expect(JSON.parse(redactJsonLine(line({ pin: 1, password: 5 })))).toEqual({ pin: 1, password: R });
  });

  it('returns the same line when nothing is redactable', () => {
    const input = line({ level: 'info', msg: 'hello', n: 3 });
    expect(redactJsonLine(input)).toBe(input);
  });

  it('redacts the values of credential-named keys at any depth, objects and numbers included', () => {
    const input = line({
      a: { b: { c: { apiKey: 'k1', password: 12345, Token: ['x', { y: 'z' }], secret: { deep: 'v', n: 1 } } } },
      after: 'kept',
      key_id: 'kept-too',
      nothing: null,
    });
    expect(JSON.parse(redactJsonLine(input))).toEqual({
      a: { b: { c: { apiKey: R, password: R, Token: [R, { y: R }], secret: { deep: R, n: R } } } },
      after: 'kept',
      key_id: 'kept-too',
      nothing: null,
    });
  });

  it('redacts secrets used as keys', () => {
    const registry = new SecretRegistry(['opaque-value-9']);
    expect(JSON.parse(redactJsonLine(line({ 'opaque-value-9': 1 }), registry))).toEqual({ [R]: 1 });
  });
});
