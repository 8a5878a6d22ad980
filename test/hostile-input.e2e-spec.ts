import fc from 'fast-check';
import { expectErrorShape } from './support/shapes';
import { createEmbeddedWorker, EMBEDDED, LOCAL, startTestApp, type Exchange, type TestApp } from './support/test-app';

/**
 * Property tests over HTTP: whatever a client sends, the answer is a 2xx
 * (when the input happens to be valid) or a 4xx with the documented error
 * body — never a 5xx — the process keeps serving, and a rejected request
 * changes no state. Every response also passes the OpenAPI contract check.
 */
describe('hostile input', () => {
  let t: TestApp;
  let workerId: string;
  let cases = 0;
  const RUNS = Number(process.env.HOSTILE_RUNS ?? 200);

  beforeAll(async () => {
    t = await startTestApp();
    workerId = await createEmbeddedWorker(t);
  });
  afterAll(async () => {
    console.log(`hostile-input: ${cases} cases ran over HTTP, ${t.exchanges.length} requests, no 5xx but documented 501s`);
    await t.close();
  });

  /** What a rejected request must not change. */
  async function state(): Promise<string> {
    const workers = (await t.get(`${EMBEDDED}/workers?limit=200`)).body as any;
    const transcript = (await t.get(`${EMBEDDED}/workers/${workerId}/transcript?limit=1`)).body as any;
    return `${workers.items.length}/${transcript.total_items}`;
  }

  function expectSane(res: Exchange, okStatuses: number[]): void {
    cases++;
    // 501 is a documented answer (a capability the runtime lacks), not a failure.
    if (res.status >= 500 && !okStatuses.includes(res.status)) throw new Error(`${res.method} ${res.path} → ${res.status}: ${res.text.slice(0, 300)}`);
    if (okStatuses.includes(res.status)) return;
    expect(res.status).toBeGreaterThanOrEqual(400);
    expectErrorShape(res.body, res.status, (res.body as any).error);
    expectSafeEcho(res.body as any);
  }

  /** SPEC §13: an error echoes at most a short, control-free excerpt of what was sent. */
  function expectSafeEcho(body: { message: string; details?: Array<{ path: string; message: string }> }): void {
    expect(body.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(body.message.length).toBeLessThanOrEqual(250);
    expect((body.details ?? []).length).toBeLessThanOrEqual(32);
    for (const d of body.details ?? []) {
      expect(d.path).toMatch(/^[A-Za-z0-9_:?.-]*…?$/);
      expect(d.path.length).toBeLessThanOrEqual(200);
      expect(d.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069<>/\\]/);
      expect(d.message.length).toBeLessThanOrEqual(160);
    }
  }

  const kinds = fc.constantFrom('workspace_companion', 'workspace_orchestrator', 'ticket_role', 'run_accepted', 'socket_ready', '', 'KIND', '__proto__');
  const nastyString = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom('../../etc/passwd', '/tmp/x', 'C:\\\\Windows', '\u0000', '\u202e', '%00', '${jndi:x}', '<script>', "' OR 1=1 --", '..', '.'),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
  );
  const hostileValue = fc.oneof(fc.jsonValue({ maxDepth: 4 }), nastyString, fc.constant(null), fc.integer(), fc.double());
  const intentish = fc.oneof(
    hostileValue,
    fc.record({ kind: fc.oneof(kinds, hostileValue) }, { requiredKeys: [] }),
    fc.record({ kind: fc.constant('ticket_role'), ticket_id: hostileValue, role: fc.oneof(fc.constantFrom('coder', 'admin'), hostileValue) }, { requiredKeys: [] }),
  );
  const acceptanceish = fc.oneof(
    hostileValue,
    fc.record({ kind: fc.oneof(kinds, hostileValue), expected_segments: fc.oneof(fc.integer(), fc.double(), hostileValue) }, { requiredKeys: [] }),
  );

  it('create: arbitrary bodies never give a 5xx and rejected ones create nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue({ maxDepth: 6 }),
          fc.record({ intent: intentish, acceptance: acceptanceish, requested_worker_name: hostileValue, extra: hostileValue }, { requiredKeys: [] }),
          fc.record({ intent: intentish, acceptance: acceptanceish }),
        ),
        async (body) => {
          const before = await state();
          const res = await t.raw('POST', `${EMBEDDED}/workers`, JSON.stringify(body) ?? 'null', 'application/json');
          expectSane(res, [201]);
          if (res.status !== 201) expect(await state()).toBe(before);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('input: arbitrary bodies, huge and unicode strings never give a 5xx and rejected ones append nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue({ maxDepth: 5 }),
          fc.record({ kind: fc.oneof(fc.constantFrom('user', 'system', 'assistant'), hostileValue), content: fc.oneof(nastyString, hostileValue) }, { requiredKeys: [] }),
          fc.record({ content: fc.constantFrom(' ', '\n\t', '\u00a0\u2003', 'a'.repeat(262_145), '😀'.repeat(131_073)) }),
        ),
        async (body) => {
          const before = await state();
          const res = await t.raw('POST', `${EMBEDDED}/workers/${workerId}/input`, JSON.stringify(body) ?? 'null', 'application/json');
          expectSane(res, [202]);
          if (res.status !== 202) expect(await state()).toBe(before);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('invalid JSON, deep nesting and wrong content types are 4xx', async () => {
    const deep = fc.integer({ min: 17, max: 20_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`);
    const deepObject = fc.integer({ min: 17, max: 5_000 }).map((n) => `{"content":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), deep, deepObject),
        fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/merge-patch+json'),
        async (text, contentType) => {
          const before = await state();
          const res = await t.raw('POST', `${EMBEDDED}/workers/${workerId}/input`, text, contentType);
          expectSane(res, [202]);
          if (res.status !== 202) expect(await state()).toBe(before);
          if (!contentType.startsWith('application/json')) expect(res.status).toBe(415);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('ids: unicode, control characters and path-like strings are 400 or 404, never a 5xx', async () => {
    const id = fc.oneof(nastyString, fc.stringMatching(/^[A-Za-z0-9_:-]{1,130}$/), fc.string({ minLength: 118, maxLength: 130 }));
    await fc.assert(
      fc.asyncProperty(id, fc.constantFrom('runtime', 'worker', 'transcript', 'host', 'input'), async (raw, where) => {
        const enc = encodeURIComponent(raw);
        const path = {
          runtime: `/api/runtimes/${enc}`,
          worker: `${EMBEDDED}/workers/${enc}`,
          transcript: `${LOCAL}/workers/${enc}/transcript`,
          host: `/api/hosts/${enc}/workers`,
          input: `/api/runtimes/${enc}/workers/${enc}/input`,
        }[where];
        const res = where === 'input' ? await t.post(path, { content: 'x' }) : await t.get(path);
        expectSane(res, [200, 501]);
        expect([200, 400, 404, 501]).toContain(res.status);
      }),
      { numRuns: RUNS },
    );
  });

  it('query parameters: negative, NaN, huge, repeated and unknown are 400; valid ones page correctly', async () => {
    const value = fc.oneof(fc.integer({ min: -1e6, max: 1e6 }).map(String), fc.constantFrom('NaN', 'Infinity', '-0', '1e3', '0x10', '', ' 5', '99999999999999999999', '1.5'), nastyString);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('start', 'limit', 'offset', 'limit[]'), value, fc.boolean(), async (name, v, repeat) => {
        const q = `${encodeURIComponent(name)}=${encodeURIComponent(v)}${repeat ? `&${encodeURIComponent(name)}=1` : ''}`;
        const res = await t.get(`${EMBEDDED}/workers/${workerId}/transcript?${q}`);
        expectSane(res, [200]);
        if (res.status === 200) {
          const body = res.body as any;
          expect(body.items.length).toBeLessThanOrEqual(body.limit);
          expect(body.limit).toBeLessThanOrEqual(200);
        }
        const list = await t.get(`/api/workers?${q}`);
        expectSane(list, [200]);
      }),
      { numRuns: RUNS },
    );
  });

  // Names every plain object has through its prototype, which a careless lookup takes for known fields.
  const prototypeNames = fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype));
  const unknownKey = fc.oneof(prototypeNames, fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }));
  const KNOWN: Record<string, string[]> = {
    create: ['intent', 'acceptance', 'requested_worker_name'],
    intent: ['kind', 'ticket_id', 'role'],
    acceptance: ['kind', 'expected_segments'],
    input: ['kind', 'content'],
  };
  /** JSON text of `base` with `key` added to the object at `where` (spliced in as text, so `__proto__` is a real key). */
  function withKey(base: Record<string, any>, where: string | null, key: string): string {
    const copy = JSON.parse(JSON.stringify(base));
    (where ? copy[where] : copy).__SPLICE__ = 1;
    return JSON.stringify(copy).replace('"__SPLICE__":1', `${JSON.stringify(key)}:1`);
  }

  it('unknown keys, prototype-named ones included, anywhere in a valid body are 400 validation_failed and change nothing', async () => {
    const bases = [
      { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: 0 } },
      { intent: { kind: 'ticket_role', ticket_id: 'T1', role: 'coder' }, acceptance: { kind: 'run_accepted' }, requested_worker_name: 'n' },
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(0, 1), fc.constantFrom(null, 'intent', 'acceptance', 'input'), unknownKey, async (b, where, key) => {
        fc.pre(!KNOWN[where ?? 'create'].includes(key));
        const before = await state();
        const res =
          where === 'input'
            ? await t.raw('POST', `${EMBEDDED}/workers/${workerId}/input`, withKey({ content: 'x' }, null, key), 'application/json')
            : await t.raw('POST', `${EMBEDDED}/workers`, withKey(bases[b], where, key), 'application/json');
        expectSane(res, []);
        expect(res.status).toBe(400);
        expect((res.body as any).error).toBe('validation_failed');
        expect(await state()).toBe(before);
      }),
      { numRuns: RUNS },
    );
  });

  it('unknown query parameters, prototype-named ones included, are 400 validation_failed on every kind of route', async () => {
    await fc.assert(
      fc.asyncProperty(unknownKey, fc.constantFrom('list', 'transcript', 'detail', 'health'), async (key, route) => {
        fc.pre(!['limit', 'start'].includes(key));
        const path = { list: '/api/workers', transcript: `${EMBEDDED}/workers/${workerId}/transcript`, detail: `${EMBEDDED}/workers/${workerId}`, health: '/api/health' }[route];
        const res = await t.get(`${path}?${encodeURIComponent(key)}=1`);
        expectSane(res, []);
        expect(res.status).toBe(400);
        expect((res.body as any).error).toBe('validation_failed');
      }),
      { numRuns: RUNS },
    );
  });

  it('is still serving afterwards', async () => {
    expect((await t.get('/api/runtimes')).status).toBe(200);
    expect((await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: 'still here' })).status).toBe(202);
  });
});
