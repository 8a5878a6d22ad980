import { request } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EventStreams } from '../src/events/event-streams';
import { EventLog } from '../src/runtimes/embedded/event-log';
import { WorkerRuntime } from '../src/runtimes/embedded/worker-runtime';
import { BackendStore } from '../src/store/backend-store';
import { expectErrorShape } from './support/shapes';
import { SseClient, type SseEvent } from './support/sse-client';
import { STORE_FIXTURES, type StoreFixture } from './support/stores';
import { createEmbeddedWorker, EMBEDDED, LOCAL, startTestApp, type TestApp } from './support/test-app';

const eventsPath = (workerId: string) => `${EMBEDDED}/workers/${workerId}/events`;
/** Events without heartbeats. */
const named = (c: SseClient): SseEvent[] => c.events.filter((e) => e.event !== 'heartbeat');

async function until(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('worker event streams (SSE)', () => {
  let t: TestApp;
  let base: string;
  const clients: SseClient[] = [];
  const connect = async (path: string, headers: Record<string, string> = {}, app = t, url = base) => {
    const c = await SseClient.connect(app, url, path, headers);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    t = await startTestApp({ SSE_HEARTBEAT_MS: '40', SSE_CLIENT_BUFFER_BYTES: '65536', RUNTIME_STORE_URL: 'memory:', SSE_MAX_STREAMS_PER_WORKER: '1500' });
    base = await t.listen();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await t.close();
  });

  const send = (workerId: string, content: string, app = t) => app.post(`${EMBEDDED}/workers/${workerId}/input`, { content });

  it('is text/event-stream, says so in the capabilities, and sends named heartbeat events', async () => {
    const workerId = await createEmbeddedWorker(t);
    expect(((await t.get(`${EMBEDDED}/workers/${workerId}`)).body as any).capabilities.can_stream_events).toBe(true);
    const c = await connect(eventsPath(workerId));
    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(c.headers['cache-control']).toBe('no-cache, no-transform');
    await c.waitFor((x) => x.events.filter((e) => e.event === 'heartbeat').length >= 2);
    const beat = c.events.find((e) => e.event === 'heartbeat')!;
    expect(beat.id).toBeUndefined(); // a heartbeat never moves the resume position
    expect(Object.keys(beat.data).sort()).toEqual(['at', 'kind']);
  });

  it('delivers events of 100 concurrent inputs in order, once, with the transcript projection', async () => {
    const workerId = await createEmbeddedWorker(t);
    const c = await connect(eventsPath(workerId));
    await Promise.all(Array.from({ length: 100 }, (_, i) => send(workerId, `concurrent ${i}`)));
    await c.waitFor((x) => named(x).length >= 100);
    const events = named(c);
    expect(events.map((e) => e.id)).toEqual(Array.from({ length: 100 }, (_, i) => `evt-${i + 1}`));
    expect(events.every((e) => e.event === 'worker.input_accepted')).toBe(true);
    expect(Object.keys(events[0].data).sort()).toEqual(['at', 'event_id', 'item', 'kind', 'runtime_id', 'worker_id']);
    const transcript = (await t.get(`${EMBEDDED}/workers/${workerId}/transcript?limit=100`)).body as any;
    expect(events.map((e) => e.data.item)).toEqual(transcript.items);
  });

  it('resumes after a dropped connection with no gap and no duplicate (Last-Event-ID wins over ?after=)', async () => {
    const workerId = await createEmbeddedWorker(t);
    const first = await connect(eventsPath(workerId));
    for (let i = 0; i < 6; i++) await send(workerId, `m${i}`);
    await first.waitFor((x) => named(x).length >= 6);
    const lastSeen = named(first)[3].id!; // only 4 were processed before the drop
    first.close();
    for (let i = 6; i < 12; i++) await send(workerId, `m${i}`);
    const resumed = await connect(eventsPath(workerId), { 'last-event-id': lastSeen });
    await resumed.waitFor((x) => named(x).length >= 8);
    for (let i = 12; i < 15; i++) await send(workerId, `m${i}`);
    await resumed.waitFor((x) => named(x).length >= 11);
    expect(named(resumed).map((e) => e.data.item.content)).toEqual(Array.from({ length: 11 }, (_, i) => `m${i + 4}`));
    const viaQuery = await connect(`${eventsPath(workerId)}?after=evt-13`);
    await viaQuery.waitFor((x) => named(x).length >= 2);
    expect(named(viaQuery).map((e) => e.id)).toEqual(['evt-14', 'evt-15']);
    const both = await connect(`${eventsPath(workerId)}?after=evt-1`, { 'last-event-id': 'evt-14' });
    await both.waitFor((x) => named(x).length >= 1);
    expect(named(both).map((e) => e.id)).toEqual(['evt-15']);
  });

  it('replays the whole history however long (no replay limit), then goes live', async () => {
    const workerId = await createEmbeddedWorker(t);
    for (let i = 0; i < 300; i++) await send(workerId, `h${i}`);
    const c = await connect(eventsPath(workerId), { 'last-event-id': 'evt-0' });
    await c.waitFor((x) => named(x).length >= 300);
    await send(workerId, 'live');
    await c.waitFor((x) => named(x).length >= 301);
    expect(named(c).map((e) => e.id)).toEqual(Array.from({ length: 301 }, (_, i) => `evt-${i + 1}`));
  });

  it('starts with stream.reset for an id this worker never issued, then streams live', async () => {
    const workerId = await createEmbeddedWorker(t);
    await send(workerId, 'x');
    const ahead = await connect(eventsPath(workerId), { 'last-event-id': 'evt-999' });
    await ahead.waitFor((x) => named(x).length >= 1);
    expect(named(ahead)[0]).toMatchObject({ event: 'stream.reset', id: undefined, data: { kind: 'stream.reset', reason: 'unknown_position' } });
    const foreign = await connect(eventsPath(workerId), { 'last-event-id': 'log-3' });
    await foreign.waitFor((x) => named(x).length >= 1);
    expect(named(foreign)[0].data.reason).toBe('unknown_position');
    // Spelt otherwise than issued: evt-01 is not evt-1 (nor is log-00 log-0, below).
    const padded = await connect(eventsPath(workerId), { 'last-event-id': 'evt-01' });
    await padded.waitFor((x) => named(x).length >= 1);
    expect(named(padded)[0].data.reason).toBe('unknown_position');
    await send(workerId, 'live after reset');
    await ahead.waitFor((x) => named(x).length >= 2);
    expect(named(ahead)[1]).toMatchObject({ id: 'evt-2', data: { item: { content: 'live after reset' } } });
  });

  it('pauses a client that does not read (reading the rest from the log later), and cuts it off with stream.overflow when it lags too long', async () => {
    const lagApp = await startTestApp({ RUNTIME_STORE_URL: 'memory:', SSE_CLIENT_BUFFER_BYTES: '65536', SSE_MAX_LAG_MS: '400' });
    const url = await lagApp.listen();
    try {
      const workerId = await createEmbeddedWorker(lagApp);
      const slow = await connect(eventsPath(workerId), {}, lagApp, url);
      slow.pause();
      // More than loopback's socket buffers take, so the server sees the backlog.
      const big = 'y'.repeat(60_000);
      const streams = lagApp.app.get(EventStreams);
      let sent = 0;
      while (sent < 100) await send(workerId, `${sent++} ${big}`, lagApp);
      // Cut off after SSE_MAX_LAG_MS (400 ms) behind; a client that then reads gets the final event and the end.
      await new Promise((r) => setTimeout(r, 1500));
      slow.resume();
      await slow.waitFor((x) => x.ended, 5000);
      await until(() => streams.count === 0, 2000, 'the stream to be released');
      const events = named(slow);
      expect(events[events.length - 1]).toMatchObject({ event: 'stream.overflow', data: { kind: 'stream.overflow' } });
      // What it did get is a prefix of the log, in order: it can resume from its last id and lose nothing.
      const got = events.filter((e) => e.event === 'worker.input_accepted').map((e) => e.id);
      expect(got).toEqual(got.map((_, i) => `evt-${i + 1}`));
      expect(got.length).toBeLessThan(sent);
    } finally {
      await lagApp.close();
    }
  });

  it('keeps the unread bytes of all streams under SSE_TOTAL_BUFFER_BYTES, cutting off the most-behind clients first', async () => {
    const budgetApp = await startTestApp({ RUNTIME_STORE_URL: 'memory:', SSE_CLIENT_BUFFER_BYTES: '1048576', SSE_TOTAL_BUFFER_BYTES: '1048576', SSE_MAX_LAG_MS: '600000' });
    const url = await budgetApp.listen();
    try {
      const workerId = await createEmbeddedWorker(budgetApp);
      const streams = budgetApp.app.get(EventStreams);
      const readers = await Promise.all(Array.from({ length: 20 }, () => connect(eventsPath(workerId), {}, budgetApp, url)));
      for (const r of readers) r.pause();
      const big = 'b'.repeat(100_000);
      // Never-reading clients cannot hold more than the budget: the sweeper cuts the most-behind off.
      const cutOff = () => streams.cutOff > 0;
      for (let i = 0; i < 150 && !cutOff(); i++) {
        await send(workerId, `${i} ${big}`, budgetApp);
        await new Promise((r) => setTimeout(r, 20)); // the sweeper runs every 250 ms
      }
      await until(cutOff, 5000, 'the budget to cut clients off');
      for (const r of readers) r.resume(); // a client cut off reads its final event
      await until(() => readers.filter((r) => r.ended).length >= 1, 10_000, 'a cut-off client to end');
      // A client cut off reads `stream.overflow` last if it reads within its grace. One that a later sweep
      // still finds over the budget is destroyed first (the bound before the courtesy, event-streams.ts):
      // on a loaded machine every cut client may be gone before the resume above, so either end is right.
      for (const r of readers.filter((x) => x.ended)) {
        const events = named(r);
        if (events.some((e) => e.event === 'stream.overflow')) expect(events[events.length - 1].event).toBe('stream.overflow');
      }
      expect(streams.cutOff).toBeGreaterThan(0);
    } finally {
      await budgetApp.close();
    }
  });

  it('holds no more than the budget (plus one sweep of growth) while cut-off clients never read again', async () => {
    const budget = 1_048_576;
    const app = await startTestApp({ RUNTIME_STORE_URL: 'memory:', SSE_CLIENT_BUFFER_BYTES: '1048576', SSE_TOTAL_BUFFER_BYTES: String(budget), SSE_MAX_LAG_MS: '600000' });
    const url = await app.listen();
    try {
      const workerId = await createEmbeddedWorker(app);
      const streams = app.app.get(EventStreams);
      const readers = await Promise.all(Array.from({ length: 20 }, () => connect(eventsPath(workerId), {}, app, url)));
      for (const r of readers) r.pause(); // and never resume
      const big = 'b'.repeat(100_000);
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, streams.heldBytes)), 20);
      try {
        // ~2.5 s of 100 KB events: ten sweeps and more; a stream cut off keeps its socket for 5 s unless dropped.
        for (let i = 0; i < 120; i++) {
          await send(workerId, `${i} ${big}`, app);
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        clearInterval(sampler);
      }
      expect(streams.cutOff).toBeGreaterThan(0);
      // Between two sweeps (250 ms) each live stream can fill its own allowance (plus the frame that crossed it).
      const slack = 20 * (1_048_576 + 100_100);
      console.log(`held unread bytes: peak ${(peak / 1048576).toFixed(1)} MiB for a budget of ${(budget / 1048576).toFixed(1)} MiB`);
      expect(peak).toBeLessThanOrEqual(budget + slack);
      // Two sweeps after the last event, what the sockets still hold (cut-off ones included) is within the budget.
      await new Promise((r) => setTimeout(r, 600));
      expect(streams.heldBytes).toBeLessThanOrEqual(budget);
    } finally {
      await app.close();
    }
  });

  it('caps streams per worker with 429 too_many_streams and Retry-After', async () => {
    const capped = await startTestApp({ RUNTIME_STORE_URL: 'memory:', SSE_MAX_STREAMS_PER_WORKER: '2', SSE_MAX_STREAMS: '3' });
    const url = await capped.listen();
    try {
      const a = await createEmbeddedWorker(capped);
      const b = await createEmbeddedWorker(capped);
      await connect(eventsPath(a), {}, capped, url);
      await connect(eventsPath(a), {}, capped, url);
      const third = await capped.get(eventsPath(a));
      expectErrorShape(third.body, 429, 'too_many_streams');
      expect((third.body as { message: string }).message).toBe('This worker has its maximum of open event streams; retry later');
      expect(third.headers['retry-after']).toBe('5');
      await connect(eventsPath(b), {}, capped, url);
      expectErrorShape((await capped.get(eventsPath(b))).body, 429, 'too_many_streams'); // the total cap
    } finally {
      await capped.close();
    }
  });

  // One key (a read key handed to a tool) could hold every stream of the instance (an attack round).
  it('caps streams per API key: past it 429 for that key, while another key still opens streams', async () => {
    const capped = await startTestApp({ RUNTIME_STORE_URL: 'memory:', SSE_MAX_STREAMS_PER_KEY: '2', SSE_MAX_STREAMS: '10' });
    const url = await capped.listen();
    try {
      const read = ((await capped.post('/api/keys', { name: 'a tool', scopes: ['read'] })).body as { secret: string }).secret;
      const asTool = { authorization: `Bearer ${read}` };
      const [a, b] = [await createEmbeddedWorker(capped), await createEmbeddedWorker(capped)];
      const first = await connect(eventsPath(a), asTool, capped, url);
      expect([first.status, (await connect('/api/events', asTool, capped, url)).status]).toEqual([200, 200]);
      const third = await connect(eventsPath(b), asTool, capped, url); // a stream, were the cap not there: waited for with a deadline
      await third.waitFor((c) => c.ended, 5_000);
      expect([third.status, third.headers['retry-after']]).toEqual([429, '5']);
      expectErrorShape(JSON.parse(third.text), 429, 'too_many_streams');
      expect(JSON.parse(third.text).message).toBe('This API key has its maximum of open event streams; retry later');
      expect((await connect(eventsPath(b), {}, capped, url)).status).toBe(200); // the admin key is another key
      first.close();
      for (const deadline = Date.now() + 5_000; capped.app.get(EventStreams).count > 2 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
      expect((await connect(eventsPath(b), asTool, capped, url)).status).toBe(200); // a closed stream gives its slot back
    } finally {
      await capped.close();
    }
  });

  it('says which cap a 429 hit, and which id a stream resumes from', async () => {
    const capped = await startTestApp({ RUNTIME_STORE_URL: 'memory:', SSE_MAX_STREAMS_PER_WORKER: '1', SSE_MAX_STREAMS: '5' });
    const url = await capped.listen();
    try {
      await connect('/api/events', {}, capped, url);
      const second = await capped.get('/api/events');
      expectErrorShape(second.body, 429, 'too_many_streams');
      expect((second.body as { message: string }).message).toBe('The event log has its maximum of open event streams; retry later');
      const a = await createEmbeddedWorker(capped);
      const badLog = await capped.get('/api/events', { 'Last-Event-ID': 'log 4' });
      expectErrorShape(badLog.body, 400, 'validation_failed');
      expect((badLog.body as { message: string }).message).toBe('Last-Event-ID / after must be an event id such as log-42');
      const badWorker = await capped.get(eventsPath(a), { 'Last-Event-ID': 'evt 4' });
      expectErrorShape(badWorker.body, 400, 'validation_failed');
      expect((badWorker.body as { message: string }).message).toBe('Last-Event-ID / after must be an event id such as evt-3');
    } finally {
      await capped.close();
    }
  });

  it('answers 501 for the local runtime, 404 for unknown workers and runtimes, 400 for bad ids — as JSON', async () => {
    for (const [path, status, error] of [
      [`${LOCAL}/workers/local-worker-x-0000000000000000/events`, 501, 'capability_unsupported'],
      ['/api/events?runtime_id=local-worker-runtime', 501, 'capability_unsupported'],
      [`${EMBEDDED}/workers/nobody/events`, 404, 'unknown_worker'],
      ['/api/runtimes/nope/workers/w/events', 404, 'unknown_runtime'],
      ['/api/events?runtime_id=nope', 404, 'unknown_runtime'],
      [`${EMBEDDED}/workers/bad.id/events`, 400, 'invalid_identifier'],
      [`${EMBEDDED}/workers/w/events?after=evt%203`, 400, 'validation_failed'],
      [`${EMBEDDED}/workers/w/events?since=evt-1`, 400, 'validation_failed'],
    ] as const) {
      const res = await t.get(path);
      expect([path, res.status]).toEqual([path, status]);
      expectErrorShape(res.body, status, error);
    }
    const workerId = await createEmbeddedWorker(t);
    expectErrorShape((await t.get(eventsPath(workerId), { 'last-event-id': 'yester day' })).body, 400, 'validation_failed');
  });

  it('answers HEAD with the stream headers and ends, so a request pipelined behind it is answered', async () => {
    const workerId = await createEmbeddedWorker(t);
    const port = new URL(base).port;
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = tcpConnect(Number(port), '127.0.0.1');
      let text = '';
      const auth = `Authorization: Bearer ${t.adminKey}\r\n`;
      socket.on('connect', () =>
        socket.write(`HEAD ${eventsPath(workerId)} HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}\r\nGET /api/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`),
      );
      socket.on('data', (d) => (text += d.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      setTimeout(() => reject(new Error(`no answer: ${text}`)), 5000).unref();
    });
    expect(raw.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
    expect(raw).toContain('text/event-stream');
    expect(raw).toContain('{"status":"ok"}');
  });

  it('streams every worker on /api/events with one resumable position, and the runtime filter', async () => {
    const all = await connect('/api/events');
    const embeddedOnly = await connect('/api/events?runtime_id=embedded-worker-runtime');
    const a = await createEmbeddedWorker(t);
    const b = await createEmbeddedWorker(t);
    await send(a, 'to a');
    await send(b, 'to b');
    for (const c of [all, embeddedOnly]) {
      await c.waitFor((x) => named(x).length >= 4);
      expect(named(c).map((e) => [e.event, e.data.worker_id])).toEqual([
        ['worker.created', a],
        ['worker.created', b],
        ['worker.input_accepted', a],
        ['worker.input_accepted', b],
      ]);
    }
    const ids = named(all).map((e) => e.id!);
    expect(ids.every((id) => /^log-\d+$/.test(id))).toBe(true);
    expect(ids.map((id) => Number(id.slice(4)))).toEqual(ids.map((id, i) => Number(ids[0].slice(4)) + i));
    expect(named(all)[2].data.event_id).toBe('evt-1'); // each event still carries its worker's id
    all.close();
    await send(a, 'while away');
    const resumed = await connect('/api/events', { 'last-event-id': ids[1] });
    await resumed.waitFor((x) => named(x).length >= 3);
    expect(named(resumed).map((e) => e.data.item?.content)).toEqual(['to a', 'to b', 'while away']);
    const unknown = await connect('/api/events', { 'last-event-id': 'log-99999999' });
    await unknown.waitFor((x) => named(x).length >= 1);
    expect(named(unknown)[0].data).toMatchObject({ kind: 'stream.reset', reason: 'unknown_position' });
    const padded = await connect('/api/events', { 'last-event-id': `log-0${ids[1].slice(4)}` });
    await padded.waitFor((x) => named(x).length >= 1);
    expect(named(padded)[0].data).toMatchObject({ kind: 'stream.reset', reason: 'unknown_position' });
  });

  it('sends worker.deleted and ends the stream when the worker is deleted', async () => {
    const workerId = await createEmbeddedWorker(t);
    const c = await connect(eventsPath(workerId));
    const everything = await connect('/api/events');
    expect((await t.delete(`${EMBEDDED}/workers/${workerId}`)).status).toBe(204);
    await c.waitFor((x) => x.ended, 5000);
    expect(named(c).map((e) => e.event)).toEqual(['worker.deleted']);
    await everything.waitFor((x) => named(x).some((e) => e.event === 'worker.deleted' && e.data.worker_id === workerId));
    expectErrorShape((await t.get(eventsPath(workerId))).body, 404, 'unknown_worker');
  });

  it('releases every stream, follower and timer when 1,000 clients connect and drop', async () => {
    const workerId = await createEmbeddedWorker(t);
    const streams = t.app.get(EventStreams);
    const log = t.app.get(EventLog);
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          new Promise<void>((resolve, reject) => {
            const path = i % 5 === 0 ? '/api/events' : `${eventsPath(workerId)}${i % 3 === 0 ? '?after=evt-0' : ''}`;
            const req = request(`${base}${path}`, { headers: { authorization: `Bearer ${t.adminKey}` } }, (res) => {
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
    await until(() => streams.count === 0 && log.openFeeds === 0, 5000, 'streams and feeds to be released');
  });

  it('ends open streams with stream.closing when the app closes', async () => {
    const other = await startTestApp({ RUNTIME_STORE_URL: 'memory:' });
    const url = await other.listen();
    const workerId = await createEmbeddedWorker(other);
    const open = await Promise.all([SseClient.connect(other, url, eventsPath(workerId)), SseClient.connect(other, url, '/api/events')]);
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(3000);
    for (const c of open) {
      await c.waitFor((x) => x.ended, 3000);
      expect(named(c).pop()).toMatchObject({ event: 'stream.closing', data: { kind: 'stream.closing', reason: 'shutdown' } });
    }
  });
});

/**
 * Resume while events are being committed: the resumed stream reads the log
 * until a page comes back empty, then joins the live feed. Events committed
 * in between — after its last read, before it joins — must not be lost. The
 * test holds the answer of that last (empty) read — a gate in front of the
 * store's reads, not a mock: the real store answered — while 20 inputs
 * commit and the feed delivers them live to another stream, then lets it
 * go. The resumed stream must still get every event once, in order. On every
 * store, since each orders and reads its log its own way.
 */
describe.each(STORE_FIXTURES.map((f) => [f.name, f] as [string, StoreFixture]))('resume racing live events (%s store)', (_name, fixture) => {
  let t: TestApp;
  let base: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const store = await fixture.create();
    cleanup = store.cleanup;
    t = await startTestApp(store.env);
    base = await t.listen();
  });
  afterAll(async () => {
    await t.close();
    await cleanup();
  });

  it('loses and repeats nothing when inputs land between the last replay read and going live', async () => {
    const store = t.app.get(BackendStore);
    const workerId = await createEmbeddedWorker(t);
    for (let i = 0; i < 10; i++) await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: `early ${i}` });
    const watcher = await SseClient.connect(t, base, eventsPath(workerId)); // live: keeps the feed moving
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = false;
    const realRead = store.read.bind(store);
    jest.spyOn(store, 'read').mockImplementation(async (work) => {
      let lastReplayRead = false;
      const result = await realRead((q) =>
        work(
          new Proxy(q, {
            get(target, prop) {
              const value = (target as any)[prop];
              if (prop !== 'readWorkerEvents') return typeof value === 'function' ? value.bind(target) : value;
              return async (pk: number, after: number, limits: unknown) => {
                const page = await value.call(target, pk, after, limits);
                if (after === 10 && page.length === 0) lastReplayRead = true;
                return page;
              };
            },
          }),
        ),
      );
      if (lastReplayRead && !held) {
        held = true;
        await gate;
      }
      return result;
    });
    try {
      const resumedPromise = SseClient.connect(t, base, eventsPath(workerId), { 'last-event-id': 'evt-5' });
      await until(() => held, 5000, 'the last replay read to be held');
      for (let i = 0; i < 20; i++) await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: `racing ${i}` });
      await watcher.waitFor((x) => named(x).length >= 20);
      release();
      const resumed = await resumedPromise;
      await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: 'after' });
      await resumed.waitFor((x) => named(x).some((e) => e.data.item?.content === 'after'));
      await new Promise((r) => setTimeout(r, 100));
      expect(named(resumed).map((e) => e.id)).toEqual(Array.from({ length: 26 }, (_, i) => `evt-${i + 6}`));
      resumed.close();
    } finally {
      jest.restoreAllMocks();
      watcher.close();
    }
  });
});

describe('replay memory', () => {
  it('stays bounded by the client buffers when clients resume over large items without reading', async () => {
    setFlagsFromString('--expose_gc');
    const gc = runInNewContext('gc') as () => void;
    const t = await startTestApp({ RUNTIME_STORE_URL: 'memory:', SSE_CLIENT_BUFFER_BYTES: '1048576' });
    const base = await t.listen();
    const clients: SseClient[] = [];
    try {
      const workerId = await createEmbeddedWorker(t);
      const runtime = t.app.get(WorkerRuntime);
      const item = 'z'.repeat(262_144);
      for (let i = 0; i < 60; i++) await runtime.acceptInput(workerId, { kind: 'user', content: `${i}${item}`, onBusy: 'enqueue' });
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 4; i++) {
        const c = await SseClient.connect(t, base, eventsPath(workerId), { 'last-event-id': 'evt-0' });
        c.pause();
        clients.push(c);
      }
      await new Promise((r) => setTimeout(r, 1500));
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      // The history is 60 × 256 KiB (15 MiB, 30 MiB as JS strings); 4 clients holding it would be 60+ MiB.
      // Paged replay holds about a page and a client's buffer each.
      console.log(`replay memory: heap grew ${(grown / 1048576).toFixed(1)} MiB for 4 paused clients over a 15 MiB history`);
      expect(grown).toBeLessThan(24 * 1048576);
      for (const c of clients) c.resume();
      await Promise.all(clients.map((c) => c.waitFor((x) => named(x).length >= 60, 20_000)));
    } finally {
      for (const c of clients) c.close();
      await t.close();
    }
  });
});
