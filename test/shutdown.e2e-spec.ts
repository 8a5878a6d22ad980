import { Agent, type IncomingMessage, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildServer } from './support/child-server';
import { type FakeModelServer, openAiBaseUrl, startFakeOpenAiServer } from './support/fake-openai-server';
import { parseSse } from './support/sse-client';

/**
 * SIGTERM on the built server (SPEC §13), in a child process on a SQLite
 * file, while several clients send a steady stream of inputs, event streams
 * are open and two requests are provably in flight (the server answered
 * `100 Continue`, so it had read their headers):
 * - new connections are refused from the moment the server reacts, while the
 *   process still drains;
 * - every request the server took up (it wrote an access line for it) got a
 *   complete HTTP response, with the status of that line; a request that got
 *   no response was never taken up (no access line): nothing accepted is
 *   answered with a reset;
 * - the in-flight request whose body is sent after SIGTERM is answered 202;
 *   the one whose body never comes holds the shutdown until SHUTDOWN_GRACE_MS,
 *   no longer;
 * - every stream ends with `stream.closing` and a clean end of the response;
 * - the process exits 0 within the grace plus a margin;
 * - after a restart on the same file every 202-acknowledged input is in its
 *   worker's transcript, at the sequence it was acknowledged with.
 */

const GRACE_MS = 4000;
/** Beyond the grace: closing streams, the store, and a loaded 2-core machine. */
const EXIT_MARGIN_MS = 4000;
/** SIGTERM to refused connections: the signal handler runs on the next turn of a possibly busy event loop. */
const REFUSE_WITHIN_MS = 2000;
const CLIENTS = 8;

interface Outcome {
  id: string;
  workerId: string;
  content: string;
  sentAt: number;
  /** Status line received. */
  status?: number;
  /** The whole body arrived (Content-Length satisfied, no reset). */
  complete: boolean;
  body?: any;
  error?: string;
}

function postInput(agent: Agent, base: string, key: string, workerId: string, content: string, id: string): Promise<Outcome> {
  const outcome: Outcome = { id, workerId, content, sentAt: Date.now(), complete: false };
  const payload = JSON.stringify({ content });
  return new Promise((resolve) => {
    let settled = false;
    const done = () => {
      if (!settled) {
        settled = true;
        resolve(outcome);
      }
    };
    const req = request(`${base}/api/runtimes/embedded-worker-runtime/workers/${workerId}/input`, {
      method: 'POST',
      agent,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'x-request-id': id },
    });
    req.on('response', (res: IncomingMessage) => {
      outcome.status = res.statusCode;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('error', (err) => (outcome.error = (err as NodeJS.ErrnoException).code ?? err.message));
      res.on('close', () => {
        outcome.complete = res.complete;
        try {
          outcome.body = JSON.parse(text);
        } catch {
          outcome.complete = false;
        }
        done();
      });
    });
    req.on('error', (err) => {
      outcome.error ??= (err as NodeJS.ErrnoException).code ?? err.message;
      if (outcome.status === undefined) done();
    });
    req.end(payload);
  });
}

interface StreamClient {
  path: string;
  text: string;
  status: number;
  /** The response ended normally (the terminating chunk arrived). */
  complete: boolean;
  closed: Promise<void>;
  req: ReturnType<typeof request>;
}

function openStream(base: string, key: string, path: string): Promise<StreamClient> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { agent: false, headers: { accept: 'text/event-stream', authorization: `Bearer ${key}` } });
    req.on('response', (res) => {
      let markClosed!: () => void;
      const client: StreamClient = { path, text: '', status: res.statusCode ?? 0, complete: false, closed: new Promise((r) => (markClosed = r)), req };
      res.setEncoding('utf8');
      res.on('data', (c: string) => (client.text += c));
      res.on('error', () => undefined);
      res.on('close', () => {
        client.complete = res.complete;
        markClosed();
      });
      resolve(client);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw connection that sends a request's headers with `Expect: 100-continue` and resolves once the server said `100 Continue`. */
function inFlightRequest(port: number, key: string, workerId: string, body: string, id: string): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let markClosed!: () => void;
    const closed = new Promise<void>((r) => (markClosed = r));
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('close', () => markClosed());
    socket.on('connect', () =>
      socket.write(
        `POST /api/runtimes/embedded-worker-runtime/workers/${workerId}/input HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\nX-Request-Id: ${id}\r\n\r\n`,
      ),
    );
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no 100 Continue; got ${JSON.stringify(received)}`));
    }, 10_000);
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
        clearTimeout(timer);
        resolve({ socket, received: () => received, closed });
      }
    });
  });
}

/** Resolves with the connect error code (ECONNREFUSED …) or 'connected'. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** The response of a raw socket, parsed: status, headers and the body (when complete by Content-Length). */
function parseRaw(text: string): { status: number; headers: Record<string, string>; body: string; complete: boolean } {
  const start = text.indexOf('HTTP/1.1 ', text.startsWith('HTTP/1.1 100') ? 1 : 0);
  const rest = text.slice(start);
  const end = rest.indexOf('\r\n\r\n');
  const head = rest.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
  const body = rest.slice(end + 4);
  return { status: Number(head[0].split(' ')[1]), headers, body, complete: Buffer.byteLength(body) === Number(headers['content-length']) };
}

async function transcript(server: ChildServer, workerId: string): Promise<Array<{ sequence: number; content: string }>> {
  const items: Array<{ sequence: number; content: string }> = [];
  for (let start = 0; ; ) {
    const page = await server.json(`/api/runtimes/embedded-worker-runtime/workers/${workerId}/transcript?start=${start}&limit=200`);
    items.push(...page.items);
    if (page.next_start === undefined) return items;
    start = page.next_start;
  }
}

describe('SIGTERM on the built server (child process, SQLite file)', () => {
  let dir: string;
  const servers: ChildServer[] = [];
  const sockets: Socket[] = [];
  const agents: Agent[] = [];
  const streams: StreamClient[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wb-shutdown-'));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    for (const a of agents) a.destroy();
    for (const c of streams) c.req.destroy();
    for (const s of servers) await s.kill9();
    rmSync(dir, { recursive: true, force: true });
  });

  const env = (file = 'store.sqlite3') => ({
    WORKSPACE_DATA_DIR: dir,
    WORKSPACE_ROOT: dir,
    RUNTIME_STORE_URL: `sqlite:${join(dir, file)}`,
    SHUTDOWN_GRACE_MS: String(GRACE_MS),
    SSE_HEARTBEAT_MS: '1000',
  });

  it('refuses new connections, answers what it accepted, closes streams, exits 0 in time, and keeps every acknowledged input', async () => {
    const first = new ChildServer(env());
    servers.push(first);
    await first.start();
    const workers: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await first.post('/api/runtimes/embedded-worker-runtime/workers', { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: 0 } });
      expect(res.status).toBe(201);
      workers.push(((await res.json()) as any).worker.worker_id);
    }

    // Open streams: two on a worker, one over all workers.
    for (const path of [`/api/runtimes/embedded-worker-runtime/workers/${workers[0]}/events`, `/api/runtimes/embedded-worker-runtime/workers/${workers[1]}/events`, '/api/events']) {
      const c = await openStream(first.base, first.key, path);
      streams.push(c);
      expect(c.status).toBe(200);
    }

    // A steady stream of inputs: each client on its own keep-alive connection, one request after the other, until the server is gone.
    const outcomes: Outcome[] = [];
    let stop = false;
    const clients = Array.from({ length: CLIENTS }, async (_, c) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      for (let i = 0; !stop && i < 100_000; i++) {
        const workerId = workers[c % workers.length];
        const o = await postInput(agent, first.base, first.key, workerId, `client ${c} input ${i}`, `sd-${c}-${i}`);
        outcomes.push(o);
        // A refused connection: the server is gone for this client. (After a reset the next request finds out.)
        if (o.error === 'ECONNREFUSED') break;
      }
    });
    await new Promise((r) => setTimeout(r, 500));

    // Two requests the server has provably taken up: it answered 100 Continue to their headers.
    const lateBody = JSON.stringify({ content: 'sent after SIGTERM' });
    const late = await inFlightRequest(first.port, first.key, workers[0], lateBody, 'sd-late');
    const stuck = await inFlightRequest(first.port, first.key, workers[1], JSON.stringify({ content: 'never completed' }), 'sd-stuck');
    sockets.push(late.socket, stuck.socket);
    const ackedBeforeSigterm = outcomes.filter((o) => o.status === 202).length;

    const sigtermAt = Date.now();
    const exiting = first.terminate();

    // New connections are refused while the process still drains (the stuck request holds it open).
    let refusedAfterMs = -1;
    while (Date.now() - sigtermAt < GRACE_MS) {
      if ((await tryConnect(first.port)) === 'ECONNREFUSED') {
        refusedAfterMs = Date.now() - sigtermAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const runningWhenRefused = first.running;

    // The late request's body arrives after SIGTERM: it is still answered.
    await new Promise((r) => setTimeout(r, 300));
    late.socket.write(lateBody);
    await late.closed;
    const lateAnswer = parseRaw(late.received());

    const exitCode = await exiting;
    const exitAfterMs = Date.now() - sigtermAt;
    stop = true;
    await Promise.all(clients);
    await Promise.all(streams.map((c) => c.closed));
    await stuck.closed;

    const answered = outcomes.filter((o) => o.status !== undefined);
    const failed = outcomes.filter((o) => o.status === undefined);
    const acked = outcomes.filter((o) => o.status === 202 && o.complete);
    // eslint-disable-next-line no-console
    console.log(
      `shutdown: ${outcomes.length} inputs sent (${ackedBeforeSigterm} acknowledged before SIGTERM, ${acked.length} in all), ${failed.length} got no response ` +
        `(${[...new Set(failed.map((o) => o.error))].join(', ')}); new connections refused ${refusedAfterMs} ms after SIGTERM; ` +
        `late request ${lateAnswer.status}; exit ${exitCode} after ${exitAfterMs} ms (grace ${GRACE_MS} ms)`,
    );

    // No new connection after SIGTERM, while the process was still there.
    expect(refusedAfterMs).toBeGreaterThanOrEqual(0);
    expect(refusedAfterMs).toBeLessThan(REFUSE_WITHIN_MS);
    expect(runningWhenRefused).toBe(true);

    // Every response that started arrived whole, and was a 202 (nothing else is expected of these inputs).
    expect(answered.filter((o) => !o.complete).map((o) => o.id)).toEqual([]);
    expect(answered.filter((o) => o.status !== 202).map((o) => `${o.id}: ${o.status}`)).toEqual([]);
    expect(ackedBeforeSigterm).toBeGreaterThan(0);

    // The server's own record: each request it took up was answered in full, with the status it logged; the
    // requests that got no response never reached it (no access line), so none was accepted and then reset.
    const access = new Map<string, Record<string, unknown>>();
    for (const line of first.logLines()) if (line.context === 'HTTP' && typeof line.reqId === 'string' && line.reqId.startsWith('sd-')) access.set(line.reqId, line);
    for (const o of answered) expect({ id: o.id, msg: access.get(o.id)?.msg, status: access.get(o.id)?.status }).toEqual({ id: o.id, msg: 'request completed', status: o.status });
    expect(failed.filter((o) => access.has(o.id)).map((o) => `${o.id}: ${o.error} / ${JSON.stringify(access.get(o.id))}`)).toEqual([]);

    // The request in flight at SIGTERM was answered in full; the stuck one was cut at the grace, not before.
    expect(lateAnswer).toMatchObject({ status: 202, complete: true });
    // … and told the client not to reuse the connection (a reused one would be closed under its next request).
    expect(lateAnswer.headers.connection).toBe('close');
    expect(access.get('sd-late')).toMatchObject({ msg: 'request completed', status: 202 });
    expect(parseRaw(stuck.received()).status).toBeNaN(); // only the 100 Continue, no answer

    // Streams: a final stream.closing, then a clean end of the response.
    for (const c of streams) {
      const named = parseSse(c.text).events.filter((e) => e.event !== 'heartbeat');
      expect({ path: c.path, last: named.at(-1)?.event, reason: named.at(-1)?.data?.reason, complete: c.complete }).toEqual({
        path: c.path,
        last: 'stream.closing',
        reason: 'shutdown',
        complete: true,
      });
    }

    // Exit 0, held by the stuck request until the grace, and not much longer.
    expect(exitCode).toBe(0);
    expect(exitAfterMs).toBeGreaterThanOrEqual(GRACE_MS - 100);
    expect(exitAfterMs).toBeLessThan(GRACE_MS + EXIT_MARGIN_MS);

    // Restart on the same file: every acknowledged input is there, at its acknowledged sequence.
    const second = new ChildServer(env());
    servers.push(second);
    await second.start();
    const lateSequence = JSON.parse(lateAnswer.body).transcript_sequence as number;
    const expected = [...acked.map((o) => ({ workerId: o.workerId, sequence: o.body.transcript_sequence as number, content: o.content })), { workerId: workers[0], sequence: lateSequence, content: 'sent after SIGTERM' }];
    for (const workerId of workers) {
      const items = await transcript(second, workerId);
      const bySequence = new Map(items.map((item) => [item.sequence, item.content]));
      const missing = expected.filter((e) => e.workerId === workerId && bySequence.get(e.sequence) !== e.content);
      expect(missing).toEqual([]);
      expect(items.some((item) => item.content === 'never completed')).toBe(false);
    }
    expect(await second.terminate()).toBe(0);
  });

  it('one grace for everything: a run still streaming and a request still in flight at SIGTERM do not add up', async () => {
    const fake: FakeModelServer = await startFakeOpenAiServer();
    try {
      // A reply of 40 chunks, 500 ms apart: still streaming long after the grace.
      fake.enqueue({ kind: 'reply', chunks: Array.from({ length: 40 }, (_, i) => `w${i} `), chunkDelayMs: 500 });
      const runEnv = { ...env('runs.sqlite3'), MODEL_PROVIDER: 'openai-compatible', MODEL_BASE_URL: openAiBaseUrl(fake), MODEL_NAME: 'test-model' };
      const server = new ChildServer(runEnv);
      servers.push(server);
      await server.start();
      const created = await server.post('/api/runtimes/embedded-worker-runtime/workers', { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: 0 } });
      const workerId = ((await created.json()) as any).worker.worker_id as string;
      const input = await server.post(`/api/runtimes/embedded-worker-runtime/workers/${workerId}/input`, { content: 'write a long answer' });
      expect(input.status).toBe(202);
      const runId = ((await input.json()) as any).run.run_id as string;
      const deadline = Date.now() + 10_000;
      while (fake.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 1200)); // a few chunks streamed
      const stuck = await inFlightRequest(server.port, server.key, workerId, JSON.stringify({ content: 'never completed' }), 'run-stuck');
      sockets.push(stuck.socket);

      const sigtermAt = Date.now();
      const exitCode = await server.terminate();
      const exitAfterMs = Date.now() - sigtermAt;
      // eslint-disable-next-line no-console
      console.log(`shutdown with a streaming run and a stuck request: exit ${exitCode} after ${exitAfterMs} ms (grace ${GRACE_MS} ms)`);
      expect(exitCode).toBe(0);
      expect(exitAfterMs).toBeGreaterThanOrEqual(GRACE_MS - 100);
      // Less than a second grace: the run's grace and the requests' grace are the same one.
      expect(exitAfterMs).toBeLessThan(GRACE_MS + Math.min(EXIT_MARGIN_MS, GRACE_MS - 1000));

      // The run was interrupted (not left running), its partial text kept.
      const second = new ChildServer(runEnv);
      servers.push(second);
      await second.start();
      const run = await second.json(`/api/runtimes/embedded-worker-runtime/workers/${workerId}/runs/${runId}`);
      expect(run).toMatchObject({ state: 'interrupted' });
      const items = (await transcript(second, workerId)) as Array<{ content: string; role?: string }>;
      expect(items.some((item) => item.content.startsWith('w0 w1'))).toBe(true);
      expect(await second.terminate()).toBe(0);
    } finally {
      await fake.close();
    }
  });
});
