import { committedContract, COMPANION, createEmbeddedWorker, EMBEDDED, startTestApp, type TestApp } from './support/test-app';
import { expectErrorShape } from './support/shapes';
import { SseClient } from './support/sse-client';
import { redactText } from '../src/common/logging/redact';
import { loadAppConfig } from '../src/config/app-config';

/**
 * SPEC §11 over HTTP: keys with scopes on every route (from the committed
 * OpenAPI document, so a new route cannot be forgotten), revocation, the
 * DNS-rebinding guard, CORS, security headers, rate limits and the order in
 * which these answer.
 */

type Op = { method: 'GET' | 'POST' | 'DELETE'; path: string; secured: boolean };

/** Every operation of the document, with its path parameters filled in. */
function everyOperation(params: Record<string, string>): Op[] {
  const doc = committedContract().document;
  const ops: Op[] = [];
  for (const [template, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    const path = template.replace(/\{([^}]+)\}/g, (_, name: string) => params[name] ?? 'x');
    for (const [method, op] of Object.entries(item)) {
      ops.push({ method: method.toUpperCase() as Op['method'], path, secured: Array.isArray(op.security) && op.security.length > 0 });
    }
  }
  return ops;
}

const neededScope = (op: Op) => (op.path.startsWith('/api/keys') || op.method === 'DELETE' ? 'admin' : op.method === 'GET' ? 'read' : 'write');

describe('API keys and scopes', () => {
  let t: TestApp;
  let base: string;
  let keys: Record<'read' | 'write' | 'admin', string>;
  let ops: Op[];
  let workerId: string;

  // Streams that will be granted are asked with HEAD (same checks, then the headers and the end) so the answer ends.
  const send = (op: Op, headers: Record<string, string>, streamAsHead = false) =>
    streamAsHead && op.path.endsWith('/events')
      ? t.raw('HEAD', op.path, undefined, undefined, headers)
      : op.method === 'GET'
        ? t.get(op.path, headers)
        : op.method === 'DELETE'
          ? t.delete(op.path, headers)
          : t.raw('POST', op.path, undefined, undefined, headers);

  beforeAll(async () => {
    t = await startTestApp({ RUNTIME_STORE_URL: 'memory:', CORS_ORIGINS: 'http://console.test:5173' });
    base = await t.listen();
    keys = {} as typeof keys;
    for (const scope of ['read', 'write', 'admin'] as const) {
      const res = await t.post('/api/keys', { name: `${scope} key`, scopes: [scope] });
      expect(res.status).toBe(201);
      expect(res.headers.location).toBe(`/api/keys/${(res.body as any).key_id}`);
      expect((res.body as any).secret).toMatch(/^wbk_[0-9a-f]{24}_[A-Za-z0-9_-]{43}$/);
      keys[scope] = (res.body as any).secret;
    }
    workerId = await createEmbeddedWorker(t);
    ops = everyOperation({ runtime_id: 'embedded-worker-runtime', worker_id: workerId, host_id: 'h', run_id: 'run-x', key_id: 'key-x' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('documents the bearer scheme on every operation but health', () => {
    expect(ops.length).toBeGreaterThanOrEqual(22);
    for (const op of ops) expect([op.path, op.secured]).toEqual([op.path, !op.path.startsWith('/api/health')]);
  });

  it('refuses every secured route without a key, with a wrong key, and with a key in the query string (401, WWW-Authenticate)', async () => {
    for (const op of ops.filter((o) => o.secured)) {
      for (const headers of [{ authorization: '' }, { authorization: 'Bearer wrong-key' }, { authorization: `Bearer ${keys.admin}x` }, { authorization: `Basic ${keys.admin}` }]) {
        const res = await send(op, headers);
        expect([op.method, op.path, res.status]).toEqual([op.method, op.path, 401]);
        expectErrorShape(res.body, 401, 'unauthorized');
        expect(res.headers['www-authenticate']).toBe('Bearer realm="workspace-backend"');
      }
      const inQuery = await send({ ...op, path: `${op.path}${op.path.includes('?') ? '&' : '?'}api_key=${encodeURIComponent(keys.admin)}&access_token=${encodeURIComponent(keys.admin)}` }, { authorization: '' });
      expect([op.path, inQuery.status]).toEqual([op.path, 401]);
    }
  });

  it('routes one spelling only: a path in another letter case is no route, with or without a key', async () => {
    for (const op of ops.filter((o) => o.secured)) {
      const rest = op.path.slice('/api/'.length);
      for (const path of [`/API/${rest}`, `/Api/${rest}`, `/api/${rest.replace(/^[a-z]+/, (w) => w.toUpperCase())}`]) {
        const underPrefix = path.startsWith('/api/');
        // Under the real prefix the key and scope checks come first (401/403 before 404): the admin key reaches routing.
        const keyed = underPrefix ? [`Bearer ${keys.admin}`] : [`Bearer ${keys.read}`, `Bearer ${keys.admin}`];
        for (const authorization of ['', ...keyed]) {
          const res = await send({ ...op, path }, { authorization }, true);
          // Never served: 404 for the wrong spelling (401 before it under the real prefix without a key).
          expect([op.method, path, authorization !== '', res.status]).toEqual([op.method, path, authorization !== '', underPrefix && authorization === '' ? 401 : 404]);
        }
      }
    }
  });

  it('answers health without a key', async () => {
    for (const op of ops.filter((o) => !o.secured)) expect([op.path, (await send(op, { authorization: '' })).status]).toEqual([op.path, 200]);
  });

  it('refuses a key without the scope with 403 forbidden; each scope includes the ones before it', async () => {
    // DELETE last: an admin key really deletes; the worker is recreated afterwards.
    const ordered = [...ops.filter((o) => o.secured && o.method !== 'DELETE'), ...ops.filter((o) => o.secured && o.method === 'DELETE')];
    for (const op of ordered) {
      const needed = neededScope(op);
      for (const scope of ['read', 'write', 'admin'] as const) {
        const res = await send(op, { authorization: `Bearer ${keys[scope]}` }, true);
        const allowed = ['read', 'write', 'admin'].indexOf(scope) >= ['read', 'write', 'admin'].indexOf(needed);
        if (allowed) expect([op.method, op.path, scope, res.status === 403]).toEqual([op.method, op.path, scope, false]);
        else {
          expect([op.method, op.path, scope, res.status]).toEqual([op.method, op.path, scope, 403]);
          expectErrorShape(res.body, 403, 'forbidden');
        }
      }
    }
    workerId = await createEmbeddedWorker(t);
  });

  it('never shows a secret again: list and get show the key without it', async () => {
    const list = (await t.get('/api/keys')).body as any;
    expect(list.items.length).toBeGreaterThanOrEqual(3);
    for (const k of list.items) expect(Object.keys(k).sort()).toEqual(['created_at', 'key_id', 'last_used_at', 'name', 'scopes']);
    const text = JSON.stringify(list);
    for (const secret of Object.values(keys)) expect(text).not.toContain(secret);
    expect(t.logs.join('\n')).not.toContain(keys.admin);
  });

  it('revokes a key: it is refused at once and its open streams end within 1 s', async () => {
    const created = (await t.post('/api/keys', { name: 'short lived', scopes: ['read'] })).body as any;
    const stream = await SseClient.connect(t, base, `${EMBEDDED}/workers/${workerId}/events`, { authorization: `Bearer ${created.secret}` });
    const other = await SseClient.connect(t, base, `${EMBEDDED}/workers/${workerId}/events`);
    expect(stream.status).toBe(200);
    const revokedAt = Date.now();
    expect((await t.delete(`/api/keys/${created.key_id}`)).status).toBe(204);
    await stream.waitFor((c) => c.ended, 1000);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    expect(stream.events.filter((e) => e.event === 'stream.closing').map((e) => e.data.reason)).toEqual(['key_revoked']);
    expect(other.ended).toBe(false);
    other.close();
    expectErrorShape((await t.get('/api/runtimes', { authorization: `Bearer ${created.secret}` })).body, 401, 'unauthorized');
    expectErrorShape((await t.delete(`/api/keys/${created.key_id}`)).body, 404, 'unknown_key');
    expectErrorShape((await t.post('/api/keys', { name: 'x', scopes: ['root'] })).body, 400, 'validation_failed');
    expectErrorShape((await t.post('/api/keys', { name: 'x', scopes: [] })).body, 400, 'validation_failed');
    for (const name of ['', ' ', '  ', ' '.repeat(80)]) {
      const refused = (await t.post('/api/keys', { name, scopes: ['read'] })).body as any;
      expectErrorShape(refused, 400, 'validation_failed');
      expect(refused.details).toEqual([{ path: 'name', message: 'name must be 1 to 80 letters, digits, spaces or . _ - :, not only spaces' }]);
    }
    expect((await t.post('/api/keys', { name: ' a ', scopes: ['read'] })).status).toBe(201);
  });

  it('answers 403 host_not_allowed for a foreign Host on every route, before anything else', async () => {
    for (const op of ops) {
      for (const host of ['evil.example', 'evil.example:3000', '127.0.0.1.evil.example']) {
        const res = await send(op, { host });
        expect([op.path, host, res.status]).toEqual([op.path, host, 403]);
        expectErrorShape(res.body, 403, 'host_not_allowed');
      }
    }
    expect((await t.get('/docs', { host: 'evil.example' })).status).toBe(403);
    // An allowed name with a port that is not digits is no Host of ours either.
    for (const host of ['localhost:abc', '127.0.0.1:80:80', '[::1]x', '[::1]:8o']) expect([host, (await t.get('/api/runtimes', { host })).status]).toEqual([host, 403]);
    for (const host of ['localhost:3000', '127.0.0.1', '[::1]:8080', 'LOCALHOST']) expect((await t.get('/api/runtimes', { host })).status).toBe(200);
  });

  it('grants CORS to listed origins only, and answers their preflights with the headers a console needs', async () => {
    const preflight = await t.raw('OPTIONS', `${EMBEDDED}/workers`, undefined, undefined, {
      origin: 'http://console.test:5173',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type, idempotency-key',
      authorization: '',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('http://console.test:5173');
    expect(preflight.headers['access-control-allow-headers']).toBe('Authorization, Content-Type, Last-Event-ID, Idempotency-Key, X-Request-Id');
    expect(preflight.headers['access-control-allow-methods']).toContain('POST');
    const denied = await t.raw('OPTIONS', `${EMBEDDED}/workers`, undefined, undefined, { origin: 'http://evil.test', 'access-control-request-method': 'POST', authorization: '' });
    expect(denied.headers['access-control-allow-origin']).toBeUndefined();
    expect(denied.status).toBe(403);
    const actual = await t.get('/api/runtimes', { origin: 'http://console.test:5173' });
    expect(actual.headers['access-control-allow-origin']).toBe('http://console.test:5173');
    expect(actual.headers['access-control-expose-headers']).toContain('X-Request-Id');
    expect((await t.get('/api/runtimes', { origin: 'http://evil.test' })).headers['access-control-allow-origin']).toBeUndefined();
  });

  it('sends security headers everywhere: a CSP /docs works under, the REST set on every other answer', async () => {
    const explorer = ['/docs', '/docs/swagger-ui.css', '/docs-json', '/docs-yaml'];
    const elsewhere = ['/api/runtimes', '/api/nothing', '/api/health', '/api', '/', '/favicon.ico', '//api/runtimes', '/api/runtimes/%zz', '/docsx'];
    for (const path of [...explorer, ...elsewhere]) {
      const res = await t.get(path);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      if (explorer.includes(path)) expect(res.headers['content-security-policy']).toContain("script-src 'self'");
      else expect({ path, csp: res.headers['content-security-policy'], xss: res.headers['x-xss-protection'] }).toEqual({ path, csp: "default-src 'none'; frame-ancestors 'none'", xss: undefined });
    }
  });

  it('echoes a safe X-Request-Id, generates one otherwise, and names it in the access log', async () => {
    const echoed = await t.get('/api/runtimes', { 'x-request-id': 'client-req-42' });
    expect(echoed.headers['x-request-id']).toBe('client-req-42');
    const unsafe = await t.get('/api/runtimes', { 'x-request-id': 'bad id <script>' });
    // Not echoed: a fresh UUID instead (a UUID's hex may itself spell "bad", so look for the id's form, not a word).
    expect(unsafe.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(unsafe.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
    await new Promise((r) => setTimeout(r, 50));
    const line = t.logs.map((l) => JSON.parse(l)).find((l) => l.reqId === 'client-req-42');
    expect(line).toMatchObject({ method: 'GET', status: 200, url: '/api/runtimes' });
  });

  it('decides in SPEC §11 order: host, key, scope, method, body, then validation', async () => {
    const path = `${EMBEDDED}/workers/${workerId}/input`;
    expectErrorShape((await t.raw('POST', path, 'x', 'text/plain', { host: 'evil.example', authorization: '' })).body, 403, 'host_not_allowed');
    expectErrorShape((await t.raw('POST', path, 'x', 'text/plain', { authorization: '' })).body, 401, 'unauthorized');
    expectErrorShape((await t.raw('POST', path, 'x', 'text/plain', { authorization: `Bearer ${keys.read}` })).body, 403, 'forbidden');
    expectErrorShape((await t.raw('PUT', path, 'x', 'text/plain')).body, 405, 'method_not_allowed');
    expectErrorShape((await t.raw('POST', path, 'x', 'text/plain')).body, 415, 'unsupported_media_type');
    expectErrorShape((await t.post(`${EMBEDDED}/workers/bad.id/input`, {})).body, 400, 'invalid_identifier');
    expectErrorShape((await t.post('/api/runtimes/nope/workers', COMPANION)).body, 404, 'unknown_runtime');
  });
});

describe('rate limit and AUTH=off', () => {
  it('answers 429 rate_limited with Retry-After past RATE_LIMIT_PER_MINUTE per key, before the scope check', async () => {
    const t = await startTestApp({ RUNTIME_STORE_URL: 'memory:', RATE_LIMIT_PER_MINUTE: '5' });
    try {
      for (let i = 0; i < 5; i++) expect((await t.get('/api/runtimes')).status).toBe(200);
      const limited = await t.get('/api/runtimes');
      expectErrorShape(limited.body, 429, 'rate_limited');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      // Health is not limited; another key has its own budget.
      expect((await t.get('/api/health/live')).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('serves without keys when AUTH=off, which is refused unless the listen address is loopback', async () => {
    expect(() => loadAppConfig({ AUTH: 'off', HOST: '0.0.0.0' } as NodeJS.ProcessEnv)).toThrow(/AUTH set to off/);
    // The refusal is printed through the redacting logger: it must survive it readable.
    const refusal = (() => {
      try {
        loadAppConfig({ AUTH: 'off', HOST: '0.0.0.0' } as NodeJS.ProcessEnv);
      } catch (err) {
        return (err as Error).message;
      }
    })()!;
    expect(redactText(refusal)).toBe(refusal);
    expect(() => loadAppConfig({ AUTH: 'off', HOST: '::1' } as NodeJS.ProcessEnv)).not.toThrow();
    const t = await startTestApp({ RUNTIME_STORE_URL: 'memory:', AUTH: 'off' });
    try {
      expect((await t.get('/api/runtimes', { authorization: '' })).status).toBe(200);
      expect((await t.post(`${EMBEDDED}/workers`, COMPANION, { authorization: '' })).status).toBe(201);
    } finally {
      await t.close();
    }
  });
});
