import { request } from 'node:http';
import { SseStream } from '../src/common/http/sse-stream';
import { EmbeddedWorkerRuntime } from '../src/runtimes/embedded/embedded-worker-runtime';
import { expectErrorShape } from './support/shapes';
import { SseClient } from './support/sse-client';
import { createEmbeddedWorker, EMBEDDED, LOCAL, startTestApp, type TestApp } from './support/test-app';

const eventsPath = (workerId: string) => `${EMBEDDED}/workers/${workerId}/events`;

describe('worker event stream (SSE)', () => {
  let t: TestApp;
  let base: string;
  let runtime: EmbeddedWorkerRuntime;
  const clients: SseClient[] = [];
  const connect = async (path: string, headers: Record<string, string> = {}) => {
    const c = await SseClient.connect(t, base, path, headers);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    t = await startTestApp({ SSE_HEARTBEAT_MS: '40', EVENT_REPLAY_LIMIT: '25', SSE_CLIENT_BUFFER_BYTES: '65536', RUNTIME_STORE_URL: 'memory:' });
    base = await t.listen();
    runtime = t.app.get(EmbeddedWorkerRuntime);
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await t.close();
  });

  const send = (workerId: string, content: string) => t.post(`${EMBEDDED}/workers/${workerId}/input`, { content });

  it('is text/event-stream, says so in the capabilities, and sends heartbeats', async () => {
    const workerId = await createEmbeddedWorker(t);
    expect(((await t.get(`${EMBEDDED}/workers/${workerId}`)).body as any).capabilities.can_stream_events).toBe(true);
    expect(((await t.get(EMBEDDED)).body as any).capabilities.can_stream_events).toBe(true);
    const c = await connect(eventsPath(workerId));
    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(c.headers['cache-control']).toBe('no-cache, no-transform');
    await c.waitFor((x) => x.comments.filter((m) => m === 'heartbeat').length >= 2);
  });

  it('delivers events of concurrent inputs in order, with the transcript item projection', async () => {
    const workerId = await createEmbeddedWorker(t);
    const c = await connect(eventsPath(workerId));
    await Promise.all(Array.from({ length: 100 }, (_, i) => send(workerId, `concurrent ${i}`)));
    await c.waitFor((x) => x.events.length >= 100);
    const events = c.events;
    expect(events.map((e) => e.id)).toEqual(Array.from({ length: 100 }, (_, i) => `evt-${i + 1}`));
    expect(events.every((e) => e.event === 'worker.input_accepted')).toBe(true);
    expect(events.map((e) => e.data.item.sequence)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Object.keys(events[0].data).sort()).toEqual(['event_id', 'item', 'kind', 'runtime_id', 'worker_id']);
    expect(Object.keys(events[0].data.item).sort()).toEqual(['content', 'event_id', 'role', 'sequence']);
    const transcript = (await t.get(`${EMBEDDED}/workers/${workerId}/transcript?limit=100`)).body as any;
    expect(events.map((e) => e.data.item)).toEqual(transcript.items);
  });

  it('resumes after a dropped connection with no gap and no duplicate (Last-Event-ID and ?after=)', async () => {
    const workerId = await createEmbeddedWorker(t);
    const first = await connect(eventsPath(workerId));
    for (let i = 0; i < 6; i++) await send(workerId, `m${i}`);
    await first.waitFor((x) => x.events.length >= 6);
    const lastSeen = first.events[3].id!; // pretend only 4 were processed before the drop
    first.close();
    for (let i = 6; i < 12; i++) await send(workerId, `m${i}`);

    const resumed = await connect(eventsPath(workerId), { 'last-event-id': lastSeen });
    await resumed.waitFor((x) => x.events.length >= 8);
    for (let i = 12; i < 15; i++) await send(workerId, `m${i}`);
    await resumed.waitFor((x) => x.events.length >= 11);
    expect(resumed.events.map((e) => e.data.item.content)).toEqual(Array.from({ length: 11 }, (_, i) => `m${i + 4}`));

    const viaQuery = await connect(`${eventsPath(workerId)}?after=evt-13`);
    await viaQuery.waitFor((x) => x.events.length >= 2);
    expect(viaQuery.events.map((e) => e.id)).toEqual(['evt-14', 'evt-15']);
    // the header wins over the query, as EventSource reconnects keep the URL
    const both = await connect(`${eventsPath(workerId)}?after=evt-1`, { 'last-event-id': 'evt-14' });
    await both.waitFor((x) => x.events.length >= 1);
    expect(both.events.map((e) => e.id)).toEqual(['evt-15']);
  });

  it('never loses or repeats an event produced while the replay is being read', async () => {
    const workerId = await createEmbeddedWorker(t);
    for (let i = 0; i < 10; i++) await send(workerId, `early ${i}`);
    const inFlight = Promise.all(Array.from({ length: 20 }, (_, i) => send(workerId, `racing ${i}`)));
    const c = await connect(eventsPath(workerId), { 'last-event-id': 'evt-5' });
    await inFlight;
    await c.waitFor((x) => x.events.length >= 25);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.events.map((e) => e.id)).toEqual(Array.from({ length: 25 }, (_, i) => `evt-${i + 6}`));
  });

  it('starts with stream.reset when the id is older than what can be replayed, or unknown', async () => {
    const workerId = await createEmbeddedWorker(t);
    for (let i = 0; i < 40; i++) await send(workerId, `x${i}`);
    const old = await connect(eventsPath(workerId), { 'last-event-id': 'evt-2' });
    await old.waitFor((x) => x.events.length >= 1);
    expect(old.events[0]).toMatchObject({ event: 'stream.reset', id: undefined, data: { kind: 'stream.reset', reason: 'history_unavailable' } });
    await send(workerId, 'live after reset');
    await old.waitFor((x) => x.events.length >= 2);
    expect(old.events[1]).toMatchObject({ id: 'evt-41', data: { item: { content: 'live after reset' } } });

    const ahead = await connect(eventsPath(workerId), { 'last-event-id': 'evt-999' });
    await ahead.waitFor((x) => x.events.length >= 1);
    expect(ahead.events[0].data).toMatchObject({ kind: 'stream.reset', reason: 'unknown_position' });

    const within = await connect(eventsPath(workerId), { 'last-event-id': 'evt-20' });
    await within.waitFor((x) => x.events.length >= 21);
    expect(within.events[0].id).toBe('evt-21');
  });

  it('disconnects a client too slow to keep up with a final stream.overflow, bounding memory', async () => {
    const workerId = await createEmbeddedWorker(t);
    const baseline = runtime.listenerCount();
    const slow = await connect(eventsPath(workerId));
    slow.pause();
    const big = 'y'.repeat(60_000);
    for (let i = 0; i < 400 && !slow.ended; i++) {
      await runtime.sendInput(workerId, { kind: 'user', content: `${i} ${big}` });
      if (runtime.listenerCount() === baseline) break; // the server already cut it off
    }
    expect(runtime.listenerCount()).toBe(baseline);
    slow.resume();
    await slow.waitFor((x) => x.ended, 15_000);
    const events = slow.events;
    expect(events[events.length - 1]).toMatchObject({ event: 'stream.overflow', data: { kind: 'stream.overflow' } });
    expect(events.length).toBeLessThan(400);
  });

  it('answers 501 for the local runtime, 404 for unknown workers and runtimes, 400 for bad ids — as JSON', async () => {
    for (const [path, status, error] of [
      [`${LOCAL}/workers/local-worker-x-0000000000000000/events`, 501, 'capability_unsupported'],
      ['/api/events?runtime_id=local-worker-runtime', 501, 'capability_unsupported'],
      [`${EMBEDDED}/workers/nobody/events`, 404, 'unknown_worker'],
      ['/api/runtimes/nope/workers/w/events', 404, 'unknown_runtime'],
      ['/api/events?runtime_id=nope', 404, 'unknown_runtime'],
      [`${EMBEDDED}/workers/bad.id/events`, 400, 'invalid_identifier'],
      [`${EMBEDDED}/workers/w/events?after=7`, 400, 'validation_failed'],
      [`${EMBEDDED}/workers/w/events?since=evt-1`, 400, 'validation_failed'],
    ] as const) {
      const res = await t.get(path);
      expect([path, res.status]).toEqual([path, status]);
      expectErrorShape(res.body, status, error);
    }
    const workerId = await createEmbeddedWorker(t);
    const badHeader = await t.get(eventsPath(workerId), { 'last-event-id': 'yesterday' });
    expectErrorShape(badHeader.body, 400, 'validation_failed');
  });

  it('streams every worker on /api/events, with the runtime filter, live only', async () => {
    const all = await connect('/api/events');
    const embeddedOnly = await connect('/api/events?runtime_id=embedded-worker-runtime');
    const a = await createEmbeddedWorker(t);
    const b = await createEmbeddedWorker(t);
    await send(a, 'to a');
    await send(b, 'to b');
    for (const c of [all, embeddedOnly]) {
      await c.waitFor((x) => x.events.length >= 4);
      expect(c.events.map((e) => [e.event, e.data.worker_id])).toEqual([
        ['worker.created', a],
        ['worker.created', b],
        ['worker.input_accepted', a],
        ['worker.input_accepted', b],
      ]);
      expect(Object.keys(c.events[0].data.worker).sort()).toContain('capabilities');
    }
    const reconnect = await connect('/api/events', { 'last-event-id': 'evt-3' });
    await reconnect.waitFor((x) => x.events.length >= 1);
    expect(reconnect.events[0].data).toMatchObject({ kind: 'stream.reset', reason: 'not_resumable' });
  });

  it('releases every listener and timer when 1,000 clients connect and drop', async () => {
    const workerId = await createEmbeddedWorker(t);
    const baseline = runtime.listenerCount();
    const baseActive = SseStream.active;
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          new Promise<void>((resolve, reject) => {
            const path = i % 5 === 0 ? '/api/events' : `${eventsPath(workerId)}${i % 3 === 0 ? '?after=evt-0' : ''}`;
            const req = request(`${base}${path}`, (res) => {
              res.once('data', () => {
                req.destroy();
                resolve();
              });
            });
            req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(err)));
            req.end();
          }),
        ),
      );
    }
    const deadline = Date.now() + 5000;
    while ((runtime.listenerCount() !== baseline || SseStream.active !== baseActive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(runtime.listenerCount()).toBe(baseline);
    expect(SseStream.active).toBe(baseActive);
  });

  it('lets the app close with streams open, releasing everything', async () => {
    const other = await startTestApp({ RUNTIME_STORE_URL: 'memory:' });
    const url = await other.listen();
    const otherRuntime = other.app.get(EmbeddedWorkerRuntime);
    const workerId = await createEmbeddedWorker(other);
    const open = await Promise.all([SseClient.connect(other, url, eventsPath(workerId)), SseClient.connect(other, url, '/api/events')]);
    expect(otherRuntime.listenerCount()).toBe(2);
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(3000);
    for (const c of open) await c.waitFor((x) => x.ended, 3000);
    expect(otherRuntime.listenerCount()).toBe(0);
  });
});
