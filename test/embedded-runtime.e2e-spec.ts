import { IDENTIFIER_PATTERN } from '../src/config/app-config';
import { expectEnvelope, expectErrorShape, expectRuntimeShape, expectTranscriptShape, expectWorkerShape, SPAWN_KEYS, INPUT_KEYS } from './support/shapes';
import { COMPANION, createEmbeddedWorker, EMBEDDED, LOCAL, startTestApp, type TestApp, ticketRole } from './support/test-app';

describe('embedded worker runtime over HTTP', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  describe('registration', () => {
    it('is registered at start-up and listed with its summary, status and capabilities', async () => {
      const res = await t.get('/api/runtimes');
      expect(res.status).toBe(200);
      expectEnvelope(res.body, expectRuntimeShape);
      const embedded = (res.body as { items: any[] }).items.find((r) => r.runtime_id === 'embedded-worker-runtime');
      expect(embedded).toMatchObject({
        kind: 'embedded_worker_runtime',
        status: 'running',
        source: { kind: 'embedded_worker_runtime', status: 'active', identity_authority: 'runtime_registry_projection' },
        capabilities: {
          workspace_scope: 'backend_internal',
          local_pod_inspection: 'not_applicable',
          can_spawn_worker: true,
          can_accept_input: true,
          can_read_bounded_transcript: true,
          can_stop_worker: true,
          can_delete_worker: true,
          can_execute: false, // no MODEL_PROVIDER in this app
          can_stream_events: true,
        },
        diagnostics: expect.arrayContaining([expect.objectContaining({ code: 'execution_unavailable', severity: 'info' })]),
      });
      expect(embedded.host_ids).toHaveLength(1);
      expect(embedded.host_ids[0]).toMatch(/^embedded-default-[0-9a-f]{16}$/);
    });

    it('is reachable by its runtime id', async () => {
      const res = await t.get(EMBEDDED);
      expect(res.status).toBe(200);
      expectRuntimeShape(res.body);
      expect((res.body as any).runtime_id).toBe('embedded-worker-runtime');
    });

    it('answers 404 unknown_runtime for a runtime id nobody registered', async () => {
      for (const path of ['/api/runtimes/nope', '/api/runtimes/nope/workers', '/api/runtimes/nope/workers/w1', '/api/runtimes/nope/workers/w1/transcript']) {
        const res = await t.get(path);
        expect(res.status).toBe(404);
        expectErrorShape(res.body, 404, 'unknown_runtime');
      }
      const input = await t.post('/api/runtimes/nope/workers/w1/input', { content: 'hi' });
      expectErrorShape(input.body, 404, 'unknown_runtime');
    });
  });

  describe('create → detail → input → transcript', () => {
    it('works end to end and shows the worker in every list', async () => {
      const created = await t.post(`${EMBEDDED}/workers`, ticketRole('coder'));
      expect(created.status).toBe(201);
      const spawn = created.body as any;
      expect(Object.keys(spawn).sort()).toEqual(SPAWN_KEYS);
      expect(spawn.state).toBe('accepted');
      expect(spawn.acceptance_evidence).toEqual([{ kind: 'run_accepted', detail: expect.any(String) }]);
      expectWorkerShape(spawn.worker);
      const workerId: string = spawn.worker.worker_id;
      expect(workerId).toMatch(IDENTIFIER_PATTERN);
      expect(spawn.worker).toMatchObject({
        runtime_id: 'embedded-worker-runtime',
        label: workerId,
        role: 'coder',
        profile: 'builtin:coder',
        workspace: { visibility: 'backend_internal', identity: 'runtime_registry_worker' },
        state: 'running',
        status: 'running',
        implementation: { kind: 'embedded_worker_runtime' },
        activity: 'unavailable',
        current_run_id: null,
        capabilities: { can_accept_input: true, can_read_bounded_transcript: true, can_stop: true, can_delete: true, can_execute: false, can_cancel_run: false, can_stream_events: true },
      });
      expect(Date.parse(spawn.worker.created_at)).toBeGreaterThan(Date.now() - 60_000);
      expect(created.headers.location).toBe(`/api/runtimes/embedded-worker-runtime/workers/${spawn.worker.worker_id}`);

      const detail = await t.get(`${EMBEDDED}/workers/${workerId}`);
      expect(detail.status).toBe(200);
      expectWorkerShape(detail.body);
      expect((detail.body as any).worker_id).toBe(workerId);

      const input = await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: 'please review the diff' });
      expect(input.status).toBe(202);
      expect(Object.keys(input.body as object).sort()).toEqual(INPUT_KEYS);
      expect(input.body).toEqual({
        state: 'accepted',
        runtime_id: 'embedded-worker-runtime',
        worker_id: workerId,
        transcript_sequence: 0,
        event_id: 'evt-1',
        run: null,
        diagnostics: [{ code: 'execution_unavailable', severity: 'info', message: expect.any(String) }],
      });
      const system = await t.post(`${EMBEDDED}/workers/${workerId}/input`, { kind: 'system', content: 'be brief' });
      expect((system.body as any).transcript_sequence).toBe(1);

      const transcript = await t.get(`${EMBEDDED}/workers/${workerId}/transcript`);
      expect(transcript.status).toBe(200);
      expectTranscriptShape(transcript.body);
      expect(transcript.body).toEqual({
        state: 'available',
        runtime_id: 'embedded-worker-runtime',
        worker_id: workerId,
        start: 0,
        limit: 50,
        total_items: 2,
        items: [
          { sequence: 0, role: 'user', content: 'please review the diff', event_id: 'evt-1', run_id: null, truncated: false },
          { sequence: 1, role: 'system', content: 'be brief', event_id: 'evt-2', run_id: null, truncated: false },
        ],
        diagnostics: [],
      });

      const all = await t.get('/api/workers');
      expectEnvelope(all.body, expectWorkerShape);
      expect((all.body as any).items.map((w: any) => w.worker_id)).toContain(workerId);
      const scoped = await t.get(`${EMBEDDED}/workers`);
      expectEnvelope(scoped.body, expectWorkerShape);
      expect((scoped.body as any).items.map((w: any) => w.worker_id)).toContain(workerId);
      const hostId = spawn.worker.host_id;
      const onHost = await t.get(`/api/hosts/${hostId}/workers`);
      expect(onHost.status).toBe(200);
      expect((onHost.body as any).items.map((w: any) => w.worker_id)).toContain(workerId);
    });
  });

  describe('routing by runtime_id + worker_id', () => {
    it('never resolves a worker under another runtime id', async () => {
      const workerId = await createEmbeddedWorker(t);
      const detail = await t.get(`${LOCAL}/workers/${workerId}`);
      expect(detail.status).toBe(404);
      expectErrorShape(detail.body, 404, 'unknown_worker');
      const unknown = await t.get(`/api/runtimes/other-runtime/workers/${workerId}`);
      expectErrorShape(unknown.body, 404, 'unknown_runtime');
      // The local source cannot take input or show transcripts at all: 501 comes before unknown_worker.
      expectErrorShape((await t.post(`${LOCAL}/workers/${workerId}/input`, { content: 'x' })).body, 501, 'capability_unsupported');
      expectErrorShape((await t.get(`${LOCAL}/workers/${workerId}/transcript`)).body, 501, 'capability_unsupported');
    });

    it('answers unknown_worker for ids the embedded runtime never allocated', async () => {
      for (const path of [`${EMBEDDED}/workers/embedded-worker-00000000000000000000000000000000`, `${EMBEDDED}/workers/x/transcript`]) {
        expectErrorShape((await t.get(path)).body, 404, 'unknown_worker');
      }
      expectErrorShape((await t.post(`${EMBEDDED}/workers/x/input`, { content: 'x' })).body, 404, 'unknown_worker');
    });

    it.each([
      ['too long', 'a'.repeat(121)],
      ['encoded slash', 'a%2Fb'],
      ['dot', 'a.b'],
      ['space', 'a%20b'],
      ['unicode', '%C3%A9'],
      ['percent-encoded NUL', 'a%00b'],
      ['dot-dot', '..'],
    ])('rejects a malformed id (%s) with 400 invalid_identifier', async (_name, bad) => {
      for (const path of [`/api/runtimes/${bad}`, `/api/runtimes/${bad}/workers`, `${EMBEDDED}/workers/${bad}`, `${EMBEDDED}/workers/${bad}/transcript`, `/api/hosts/${bad}/workers`]) {
        const res = await t.get(path);
        if (bad === '..' && !path.includes('/workers/..') && res.status === 404) continue; // normalised away by the client
        expect(res.status).toBe(400);
        expectErrorShape(res.body, 400, 'invalid_identifier');
        expect((res.body as any).message.length).toBeLessThan(250);
      }
    });

    it('answers unknown_host for a host nobody has', async () => {
      expectErrorShape((await t.get('/api/hosts/nohost/workers')).body, 404, 'unknown_host');
    });
  });

  describe('create semantics', () => {
    it('rejects socket_ready acceptance with 422 and the spawn diagnostics', async () => {
      const before = (await t.get(`${EMBEDDED}/workers?limit=200`)).body as any;
      const res = await t.post(`${EMBEDDED}/workers`, { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'socket_ready' } });
      expect(res.status).toBe(422);
      expectErrorShape(res.body, 422, 'rejected');
      expect((res.body as any).diagnostics.map((d: any) => d.code)).toContain('embedded_socket_ready_unsupported');
      const after = (await t.get(`${EMBEDDED}/workers?limit=200`)).body as any;
      expect(after.items.length).toBe(before.items.length);
    });

    it('never uses requested_worker_name as the id, and says so', async () => {
      const res = await t.post(`${EMBEDDED}/workers`, { ...COMPANION, requested_worker_name: 'embedded-worker-mine' });
      expect(res.status).toBe(201);
      const body = res.body as any;
      expect(body.worker.worker_id).not.toBe('embedded-worker-mine');
      expect(body.worker.worker_id).not.toContain('mine');
      expect(body.worker.label).not.toContain('mine');
      expect(body.diagnostics).toContainEqual(expect.objectContaining({ code: 'embedded_worker_name_ignored', severity: 'info' }));
    });

    it.each(['intake', 'orchestrator', 'coder', 'reviewer'])('gives ticket role %s the built-in profile', async (role) => {
      const res = await t.post(`${EMBEDDED}/workers`, ticketRole(role));
      expect((res.body as any).worker).toMatchObject({ role, profile: `builtin:${role}` });
    });

    it.each([
      ['workspace_companion', 'workspace_companion'],
      ['workspace_orchestrator', 'workspace_orchestrator'],
    ])('gives %s the runtime default profile', async (kind, role) => {
      const res = await t.post(`${EMBEDDED}/workers`, { intent: { kind }, acceptance: { kind: 'run_accepted' } });
      expect(res.status).toBe(201);
      expect((res.body as any).worker).toMatchObject({ role, profile: 'runtime_default' });
    });

    it('allocates distinct unguessable ids', async () => {
      const ids = await Promise.all(Array.from({ length: 20 }, () => createEmbeddedWorker(t)));
      expect(new Set(ids).size).toBe(20);
      for (const id of ids) expect(id).toMatch(/^embedded-worker-[0-9a-f]{32}$/);
    });

    it.each([
      ['unknown intent kind', { intent: { kind: 'root_shell' }, acceptance: { kind: 'run_accepted' } }],
      ['missing intent', { acceptance: { kind: 'run_accepted' } }],
      ['null intent', { intent: null, acceptance: { kind: 'run_accepted' } }],
      ['intent as string', { intent: 'workspace_companion', acceptance: { kind: 'run_accepted' } }],
      ['intent as array', { intent: [{ kind: 'workspace_companion' }], acceptance: { kind: 'run_accepted' } }],
      ['missing acceptance', { intent: { kind: 'workspace_companion' } }],
      ['unknown acceptance kind', { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'eventually' } }],
      ['ticket_role without role', { intent: { kind: 'ticket_role', ticket_id: 'T1' }, acceptance: { kind: 'run_accepted' } }],
      ['ticket_role with unknown role', { intent: { kind: 'ticket_role', ticket_id: 'T1', role: 'admin' }, acceptance: { kind: 'run_accepted' } }],
      ['ticket_id with a slash', { intent: { kind: 'ticket_role', ticket_id: '../x', role: 'coder' }, acceptance: { kind: 'run_accepted' } }],
      ['extra field on intent', { intent: { kind: 'workspace_companion', socket_path: '/tmp/x' }, acceptance: { kind: 'run_accepted' } }],
      ['extra top-level field', { ...COMPANION, worker_id: 'mine' }],
      ['negative expected_segments', { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: -1 } }],
      ['requested_worker_name not a string', { ...COMPANION, requested_worker_name: 42 }],
      ['requested_worker_name with a lone surrogate', { ...COMPANION, requested_worker_name: '\udc00' }],
    ])('rejects %s with 400 validation_failed', async (_name, body) => {
      const res = await t.post(`${EMBEDDED}/workers`, body);
      expect(res.status).toBe(400);
      expectErrorShape(res.body, 400, 'validation_failed');
    });

    it('answers 501 capability_unsupported for create on the read-only local runtime', async () => {
      const res = await t.post(`${LOCAL}/workers`, COMPANION);
      expect(res.status).toBe(501);
      expectErrorShape(res.body, 501, 'capability_unsupported');
    });
  });

  describe('input validation', () => {
    let workerId: string;
    beforeAll(async () => {
      workerId = await createEmbeddedWorker(t);
    });

    it.each([
      ['empty content', { content: '' }],
      ['whitespace only', { content: ' \n\t\u00a0 ' }],
      ['missing content', {}],
      ['content not a string', { content: 5 }],
      ['unknown kind', { kind: 'assistant', content: 'x' }],
      ['null kind', { kind: null, content: 'x' }],
      ['unknown field', { content: 'x', priority: 1 }],
      ['content one over the maximum', { content: 'a'.repeat(262_145) }],
      ['content with U+0000 (no store could keep it exactly)', { content: 'a\u0000b' }],
      ['content with a lone surrogate', { content: 'a\ud800b' }],
    ])('rejects %s with 400 validation_failed and leaves the transcript alone', async (_name, body) => {
      const before = ((await t.get(`${EMBEDDED}/workers/${workerId}/transcript`)).body as any).total_items;
      const res = await t.post(`${EMBEDDED}/workers/${workerId}/input`, body);
      expect(res.status).toBe(400);
      expectErrorShape(res.body, 400, 'validation_failed');
      const after = ((await t.get(`${EMBEDDED}/workers/${workerId}/transcript`)).body as any).total_items;
      expect(after).toBe(before);
    });

    it('accepts content of exactly 262,144 characters, counted in UTF-16 units', async () => {
      const ok = await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: 'é'.repeat(262_144) });
      expect(ok.status).toBe(202);
      // 131,073 surrogate pairs are 262,146 units: over the limit though only 131,073 code points.
      const over = await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: '😀'.repeat(131_073) });
      expectErrorShape(over.body, 400, 'validation_failed');
    });

    it('refuses bodies that are not JSON or too large before anything else', async () => {
      const path = `${EMBEDDED}/workers/${workerId}/input`;
      expectErrorShape((await t.raw('POST', path, 'content=hi', 'application/x-www-form-urlencoded')).body, 415, 'unsupported_media_type');
      expectErrorShape((await t.raw('POST', path, 'hi', 'text/plain')).body, 415, 'unsupported_media_type');
      // No body and no content type is an empty body, `{}`: here it lacks `content`.
      expectErrorShape((await t.raw('POST', path)).body, 400, 'validation_failed');
      expectErrorShape((await t.raw('POST', path, '', 'text/plain')).body, 415, 'unsupported_media_type');
      expectErrorShape((await t.raw('POST', path, '{"content": "x"', 'application/json')).body, 400, 'validation_failed');
      expectErrorShape((await t.raw('POST', path, '"just a string"', 'application/json')).body, 400, 'validation_failed');
      expectErrorShape((await t.raw('POST', path, '[]', 'application/json')).body, 400, 'validation_failed');
      const big = JSON.stringify({ content: 'a'.repeat(1024 * 1024) });
      const res = await t.raw('POST', path, big, 'application/json');
      expect(res.status).toBe(413);
      expectErrorShape(res.body, 413, 'payload_too_large');
    });

    it('orders errors as SPEC §6 says', async () => {
      const big = JSON.stringify({ content: 'a'.repeat(1024 * 1024) });
      // 413/415 before a malformed id
      expectErrorShape((await t.raw('POST', `${EMBEDDED}/workers/bad.id/input`, big, 'application/json')).body, 413, 'payload_too_large');
      expectErrorShape((await t.raw('POST', `${EMBEDDED}/workers/bad.id/input`, 'x', 'text/plain')).body, 415, 'unsupported_media_type');
      // malformed id before a bad body
      expectErrorShape((await t.post(`${EMBEDDED}/workers/bad.id/input`, { content: '' })).body, 400, 'invalid_identifier');
      // a bad body before an unknown runtime
      expectErrorShape((await t.post('/api/runtimes/nope/workers/w/input', { content: '' })).body, 400, 'validation_failed');
      // unknown runtime before capability, capability before unknown worker
      expectErrorShape((await t.post('/api/runtimes/nope/workers', COMPANION)).body, 404, 'unknown_runtime');
      expectErrorShape((await t.post(`${LOCAL}/workers/nobody/input`, { content: 'x' })).body, 501, 'capability_unsupported');
    });
  });

  describe('transcript paging', () => {
    let workerId: string;
    const path = () => `${EMBEDDED}/workers/${workerId}/transcript`;

    beforeAll(async () => {
      workerId = await createEmbeddedWorker(t);
    });

    it('pages an empty transcript', async () => {
      const res = await t.get(path());
      expect(res.body).toMatchObject({ start: 0, limit: 50, total_items: 0, items: [] });
      expect(res.body).not.toHaveProperty('next_start');
    });

    it('pages at the exact end, past the end and mid-way', async () => {
      for (let i = 0; i < 5; i++) await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: `m${i}` });
      const first = await t.get(`${path()}?start=0&limit=2`);
      expectTranscriptShape(first.body);
      expect(first.body).toMatchObject({ start: 0, limit: 2, total_items: 5, next_start: 2 });
      expect((first.body as any).items.map((i: any) => i.sequence)).toEqual([0, 1]);

      const exactEnd = await t.get(`${path()}?start=3&limit=2`);
      expect(exactEnd.body).toMatchObject({ start: 3, total_items: 5 });
      expect((exactEnd.body as any).items.map((i: any) => i.content)).toEqual(['m3', 'm4']);
      expect(exactEnd.body).not.toHaveProperty('next_start');

      const atEnd = await t.get(`${path()}?start=5`);
      expect(atEnd.status).toBe(200);
      expect(atEnd.body).toMatchObject({ start: 5, total_items: 5, items: [] });
      expect(atEnd.body).not.toHaveProperty('next_start');

      const past = await t.get(`${path()}?start=1000000`);
      expect(past.status).toBe(200);
      expect(past.body).toMatchObject({ start: 1000000, total_items: 5, items: [] });

      const maxLimit = await t.get(`${path()}?limit=200`);
      expect(maxLimit.status).toBe(200);
      expect((maxLimit.body as any).items).toHaveLength(5);
    });

    it('refuses a limit over the maximum with 400 limit_too_large', async () => {
      const res = await t.get(`${path()}?limit=201`);
      expect(res.status).toBe(400);
      expectErrorShape(res.body, 400, 'limit_too_large');
      expectErrorShape((await t.get('/api/workers?limit=201')).body, 400, 'limit_too_large');
      expectErrorShape((await t.get('/api/workers?limit=99999999999999999999999')).body, 400, 'limit_too_large');
    });

    it.each(['start=-1', 'start=abc', 'start=1.5', 'limit=0', 'limit=-5', 'limit=NaN', 'limit=', 'limit=1&limit=2', 'cursor=3', 'start=1e3'])(
      'rejects %s with 400 validation_failed',
      async (query) => {
        const res = await t.get(`${path()}?${query}`);
        expect(res.status).toBe(400);
        expectErrorShape(res.body, 400, 'validation_failed');
      },
    );
  });

  describe('concurrency', () => {
    it('gives 100 concurrent inputs to one worker the sequences 0..99 with no gap or duplicate', async () => {
      const workerId = await createEmbeddedWorker(t);
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: `input ${i}` })),
      );
      expect(results.every((r) => r.status === 202)).toBe(true);
      const sequences = results.map((r) => (r.body as any).transcript_sequence).sort((a, b) => a - b);
      expect(sequences).toEqual(Array.from({ length: 100 }, (_, i) => i));
      const eventIds = new Set(results.map((r) => (r.body as any).event_id));
      expect(eventIds.size).toBe(100);

      const items: any[] = [];
      for (let start = 0; start < 100; start += 40) items.push(...((await t.get(`${EMBEDDED}/workers/${workerId}/transcript?start=${start}&limit=40`)).body as any).items);
      expect(items.map((i) => i.sequence)).toEqual(sequences);
      // each acknowledged input is in the transcript exactly once, at the sequence it was given
      for (const r of results) {
        const body = r.body as any;
        expect(items[body.transcript_sequence].event_id).toBe(body.event_id);
      }
      expect(new Set(items.map((i) => i.content)).size).toBe(100);
    });
  });

  describe('framework edges', () => {
    it('answers unknown routes and methods with the one error shape', async () => {
      expectErrorShape((await t.get('/api/nothing')).body, 404, 'not_found');
      const wrongMethod = await t.raw('DELETE', `${EMBEDDED}/workers/x/transcript`);
      expectErrorShape(wrongMethod.body, 405, 'method_not_allowed');
      expect(wrongMethod.headers.allow).toBe('GET, HEAD');
    });

    it('does not advertise the framework', async () => {
      const res = await t.get('/api/runtimes');
      expect(res.headers['x-powered-by']).toBeUndefined();
    });

    it('serves the OpenAPI explorer and document', async () => {
      expect((await t.get('/docs')).status).toBe(200);
      const doc = await t.get('/docs-json');
      expect(doc.status).toBe(200);
      expect(Object.keys((doc.body as any).paths)).toEqual(
        expect.arrayContaining([
          '/api/runtimes',
          '/api/runtimes/{runtime_id}',
          '/api/hosts',
          '/api/hosts/{host_id}/workers',
          '/api/workers',
          '/api/runtimes/{runtime_id}/workers',
          '/api/runtimes/{runtime_id}/workers/{worker_id}',
          '/api/runtimes/{runtime_id}/workers/{worker_id}/input',
          '/api/runtimes/{runtime_id}/workers/{worker_id}/transcript',
        ]),
      );
    });
  });
});
