import { HttpException } from '@nestjs/common';
import { Agent, createServer, request, type Server } from 'node:http';
import { once } from 'node:events';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AllExceptionsFilter } from '../src/common/filters/all-exceptions.filter';
import { effectiveMaxConnections, hardenHttpServer, MAX_PIPELINED_REQUESTS } from '../src/common/http/http-server';
import { loadAppConfig } from '../src/config/app-config';
import { ChildServer } from './support/child-server';
import { ERROR_KEYS } from './support/shapes';
import { TRANSCRIPT_PAGE_MAX_CHARS } from '../src/runtimes/runtimes.constants';
import { createEmbeddedWorker, EMBEDDED, startTestApp, type TestApp } from './support/test-app';

/**
 * The connection level (SPEC §13, §6, §11): what the router never sees. Raw TCP
 * where supertest cannot produce the request; the built server in a child
 * process where memory, latency and file descriptors are measured.
 */

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Splits what a connection received into HTTP/1.1 responses (bodies by Content-Length; HEAD and 1xx have none). */
function parseResponses(text: string, bodiless: (index: number) => boolean = () => false): { responses: RawResponse[]; rest: string } {
  const responses: RawResponse[] = [];
  let buf = Buffer.from(text, 'latin1');
  for (;;) {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) break;
    const head = buf.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
    const status = Number(head[0].split(' ')[1]);
    const length = bodiless(responses.length) || status < 200 ? 0 : Number(headers['content-length'] ?? 0);
    if (buf.length < end + 4 + length) break;
    responses.push({ status, headers, body: buf.subarray(end + 4, end + 4 + length).toString('utf8') });
    buf = buf.subarray(end + 4 + length);
  }
  return { responses, rest: buf.toString('latin1') };
}

interface RawExchange {
  text: string;
  /** The server closed the connection (rather than the wait running out). */
  closed: boolean;
  ms: number;
}

/** Writes bytes on a fresh connection and collects the answer until the server closes it or `waitMs` passes. */
function rawExchange(port: number, bytes: string | Buffer, waitMs = 5000): Promise<RawExchange> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
  });
}

function expectJsonError(r: RawResponse, status: number, code: string): void {
  expect({ status: r.status, type: r.headers['content-type'], nosniff: r.headers['x-content-type-options'] }).toEqual({
    status,
    type: 'application/json; charset=utf-8',
    nosniff: 'nosniff',
  });
  const body = JSON.parse(r.body);
  expect(Object.keys(body).sort()).toEqual(ERROR_KEYS);
  expect(body).toMatchObject({ statusCode: status, error: code, diagnostics: [] });
  expect(typeof body.message).toBe('string');
}

/** GET on a fresh connection (no keep-alive pool): status and how long it took. */
function timedGet(base: string, path: string, timeoutMs = 30_000): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const req = request(`${base}${path}`, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Date.now() - started }));
      res.on('error', () => resolve({ status: -1, ms: Date.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: -1, ms: Date.now() - started }));
    req.end();
  });
}

function getWith(agent: Agent, base: string, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(`${base}${path}`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(-1));
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('answers outside the routes are JSON in the one error shape, with security headers (raw TCP)', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await startTestApp({ RUNTIME_STORE_URL: 'memory:' });
    port = Number(new URL(await t.listen()).port);
  });
  afterAll(async () => {
    await t.close();
  });

  const get = (target: string, method = 'GET') => `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
  const cases: Array<[string, string, number, string]> = [
    ['GET /', get('/'), 404, 'not_found'],
    ['GET /docs/<unknown asset>', get('/docs/no-such-asset.js'), 404, 'not_found'],
    ['GET /favicon.ico', get('/favicon.ico'), 404, 'not_found'],
    ['OPTIONS *', get('*', 'OPTIONS'), 404, 'not_found'],
    ['GET //', get('//'), 404, 'not_found'],
    ['GET /apiary (not under /api)', get('/apiary'), 404, 'not_found'],
    ['a garbage request line (parser 400)', 'HELLO THERE\r\n\r\n', 400, 'validation_failed'],
    ['a bad header line (parser 400)', 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nNo colon here\r\n\r\n', 400, 'validation_failed'],
    ['headers over the limit (parser 431)', `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
    ['HTTP/1.1 without Host', 'GET /api/health HTTP/1.1\r\nConnection: close\r\n\r\n', 403, 'host_not_allowed'],
    ['CONNECT (this is no proxy; Node alone closes the socket without a word)', 'CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n', 400, 'validation_failed'],
    ['CONNECT to a path', 'CONNECT /api/runtimes HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 400, 'validation_failed'],
    ['an Expect other than 100-continue', 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: the-unexpected\r\nConnection: close\r\n\r\n', 417, 'validation_failed'],
  ];

  it.each(cases)('%s', async (_name, bytes, status, code) => {
    const ex = await rawExchange(port, bytes);
    const { responses, rest } = parseResponses(ex.text);
    expect(rest).toBe('');
    expect(responses).toHaveLength(1);
    expectJsonError(responses[0], status, code);
    expect(ex.closed).toBe(true);
  });

  it('a CONNECT whose client resets the connection at once leaves the server up (the socket Node hands over has no error listener)', async () => {
    for (let i = 0; i < 30; i++) {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n');
      socket.resetAndDestroy();
    }
    await sleep(200);
    const after = parseResponses((await rawExchange(port, `GET /api/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)).text).responses[0];
    expect(after.status).toBe(200);
  });

  it('a repeated Host is 400 and a repeated Authorization 401, whichever comes first (Node alone keeps the first and drops the rest)', async () => {
    const key = t.adminKey;
    const request = (headers: string) => `GET /api/runtimes HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`;
    const statusOf = async (headers: string) => parseResponses((await rawExchange(port, request(headers))).text).responses[0];
    const oneKey = `Authorization: Bearer ${key}\r\n`;
    expect((await statusOf(`Host: 127.0.0.1\r\n${oneKey}`)).status).toBe(200);
    for (const hosts of ['Host: 127.0.0.1\r\nHost: evil.example\r\n', 'Host: evil.example\r\nHost: 127.0.0.1\r\n', 'Host: 127.0.0.1\r\nhost: 127.0.0.1\r\n']) {
      expectJsonError(await statusOf(`${hosts}${oneKey}`), 400, 'validation_failed');
    }
    for (const keys of [`${oneKey}Authorization: Bearer wrong\r\n`, `Authorization: Bearer wrong\r\n${oneKey}`, `${oneKey}authorization: Bearer ${key}\r\n`]) {
      expectJsonError(await statusOf(`Host: 127.0.0.1\r\n${keys}`), 401, 'unauthorized');
    }
  });

  // The router fails on these before any hook runs (Fastify's frameworkErrors): they still pass the
  // pipeline (request id, access line, security headers …) and are answered in our shape, never with the router's text.
  it('a path the router cannot decode, or with a path id past the router\'s own limit: the pipeline runs, then our 400, never the URL echoed', async () => {
    const withKey = (target: string, key?: string) =>
      `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${key ? `Authorization: Bearer ${key}\r\n` : ''}Connection: close\r\n\r\n`;
    const long = `/api/runtimes/${'q'.repeat(3000)}`;
    const cases: Array<[string, string | undefined, number, string]> = [
      ['/api/runtimes/%zz', undefined, 400, 'validation_failed'],
      ['/api/runtimes/%zz', t.adminKey, 400, 'validation_failed'],
      ['/api/runtimes/%E0%A4%A', t.adminKey, 400, 'validation_failed'],
      [long, t.adminKey, 400, 'invalid_identifier'],
    ];
    for (const [target, key, status, code] of cases) {
      const { responses } = parseResponses((await rawExchange(port, withKey(target, key))).text);
      expect(responses).toHaveLength(1);
      expectJsonError(responses[0], status, code);
      expect(responses[0].headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(responses[0].body).not.toContain('%');
      expect(responses[0].body).not.toContain('FST_');
      expect(responses[0].body.length).toBeLessThan(400);
    }
  });

  it('the exception filter gives statuses raised anywhere their own code, never the raised text', () => {
    const filter = new AllExceptionsFilter();
    const codes = Object.fromEntries(
      [400, 401, 403, 404, 405, 408, 413, 415, 429, 431, 503].map((s) => {
        const { body } = filter.toResponse(new HttpException('framework internals /etc/passwd', s));
        expect(body.statusCode).toBe(s);
        expect(body.message).not.toContain('/etc/passwd');
        return [s, body.error];
      }),
    );
    expect(codes).toEqual({
      400: 'validation_failed',
      401: 'unauthorized',
      403: 'forbidden',
      404: 'not_found',
      405: 'method_not_allowed',
      408: 'validation_failed',
      413: 'payload_too_large',
      415: 'unsupported_media_type',
      429: 'rate_limited',
      431: 'headers_too_large',
      503: 'service_unavailable',
    });
  });
});

describe('requests per connection and pipelining (raw TCP)', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await startTestApp({ RUNTIME_STORE_URL: 'memory:', HTTP_MAX_REQUESTS_PER_SOCKET: '3' });
    port = Number(new URL(await t.listen()).port);
  });
  afterAll(async () => {
    await t.close();
  });

  const live = (id: string) => `GET /api/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${id}\r\n\r\n`;

  it('the last request a connection may carry is answered with Connection: close and the connection closes; nothing after it is answered', async () => {
    const ex = await rawExchange(port, [1, 2, 3, 4, 5].map((i) => live(`pipe-${i}`)).join(''));
    const { responses, rest } = parseResponses(ex.text);
    expect(rest).toBe('');
    expect(responses.map((r) => [r.status, r.headers['x-request-id']])).toEqual([
      [200, 'pipe-1'],
      [200, 'pipe-2'],
      [200, 'pipe-3'],
    ]);
    expect(responses[2].headers.connection).toBe('close');
    expect(ex.closed).toBe(true);
  });

  it('one request after the other on a keep-alive connection: the same, never a bare 503', async () => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    try {
      for (let i = 1; i <= 3; i++) {
        socket.write(live(`seq-${i}`));
        const deadline = Date.now() + 5000;
        while (parseResponses(text).responses.length < i && Date.now() < deadline) await sleep(5);
      }
      const deadline = Date.now() + 5000;
      while (!closed && Date.now() < deadline) await sleep(5);
      const { responses } = parseResponses(text);
      expect(responses.map((r) => [r.status, r.headers.connection])).toEqual([
        [200, 'keep-alive'],
        [200, 'keep-alive'],
        [200, 'close'],
      ]);
      expect(closed).toBe(true);
    } finally {
      socket.destroy();
    }
  });
});

describe('pipelining bound (raw TCP)', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await startTestApp({ RUNTIME_STORE_URL: 'memory:' });
    port = Number(new URL(await t.listen()).port);
  });
  afterAll(async () => {
    await t.close();
  });

  const live = (id: string) => `GET /api/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${id}\r\n\r\n`;

  it(`${MAX_PIPELINED_REQUESTS} pipelined requests are all answered, in order`, async () => {
    const ids = Array.from({ length: MAX_PIPELINED_REQUESTS }, (_, i) => `ok-${i}`);
    const last = (id: string) => live(id).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n');
    const ex = await rawExchange(port, ids.slice(0, -1).map(live).join('') + last(ids.at(-1)!));
    const { responses, rest } = parseResponses(ex.text);
    expect(rest).toBe('');
    expect(responses.map((r) => r.headers['x-request-id'])).toEqual(ids);
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(ex.closed).toBe(true);
  });

  /** A raw POST of one input to `worker` with the admin key (`extra`: more header lines). */
  const rawInput = (worker: string, content: string, extra = '') => {
    const body = JSON.stringify({ kind: 'user', content });
    return (
      `POST /api/runtimes/embedded-worker-runtime/workers/${worker}/input HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.adminKey}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`
    );
  };

  // A refusal that does not read the body closes the connection, so it is the last answer. Behind one with a
  // body, Node parses the next request only once it has read that body: after the last answer went out.
  const padding = JSON.stringify({ padding: 'x'.repeat(2_000) });
  it.each([
    ['a 401 to a GET', (transcript: string) => `GET ${transcript} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, 401],
    ['a 401 to a POST with a body', () => `POST /api/runtimes/embedded-worker-runtime/workers HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer nope\r\nContent-Type: application/json\r\nContent-Length: ${padding.length}\r\n\r\n${padding}`, 401],
    ['a 405 to a PUT with a body', () => `PUT /api/runtimes/embedded-worker-runtime/workers HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.adminKey}\r\nContent-Type: application/json\r\nContent-Length: ${padding.length}\r\n\r\n${padding}`, 405],
  ])('a request pipelined after a connection\'s last answer (%s) is not run: it could never be answered', async (_name, last, status) => {
    const worker = await createEmbeddedWorker(t);
    const transcript = `/api/runtimes/embedded-worker-runtime/workers/${worker}/transcript`;
    const ex = await rawExchange(port, last(transcript) + rawInput(worker, 'never run'));
    expect(parseResponses(ex.text).responses.map((r) => [r.status, r.headers.connection])).toEqual([[status, 'close']]);
    expect(ex.closed).toBe(true);
    expect(((await t.get(transcript)).body as { total_items: number }).total_items).toBe(0);
  });

  // The request before the bad bytes may have acted: its client must hear how it went, not a 400 in its place.
  it('bytes that are not HTTP after requests: their answers first, in order, then the 400, and the connection closes', async () => {
    const worker = await createEmbeddedWorker(t);
    const transcript = `/api/runtimes/embedded-worker-runtime/workers/${worker}/transcript`;
    const input = (content: string, extra = '') => rawInput(worker, content, extra);
    const page = `GET ${transcript} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.adminKey}\r\n\r\n`;
    const ex = await rawExchange(port, input('first') + input('second') + page + 'BAD REQUEST\r\n\r\n');
    const { responses, rest } = parseResponses(ex.text);
    expect(rest).toBe('');
    expect(responses.map((r) => r.status)).toEqual([202, 202, 200, 400]);
    expectJsonError(responses[3], 400, 'validation_failed');
    expect(responses[3].headers.connection).toBe('close');
    expect(ex.closed).toBe(true);
    // A request that closes the connection itself: its answer, and nothing for the bytes after it.
    const closing = await rawExchange(port, input('third', 'Connection: close\r\n') + 'x');
    expect(parseResponses(closing.text).responses.map((r) => [r.status, r.headers.connection])).toEqual([[202, 'close']]);
    const stored = ((await t.get(transcript)).body as { items: Array<{ content: string }> }).items.map((i) => i.content);
    expect(stored).toEqual(['first', 'second', 'third']);
  });

  it('a connection with more unanswered requests than that is closed', async () => {
    const ex = await rawExchange(port, Array.from({ length: 500 }, (_, i) => live(`flood-${i}`)).join(''));
    expect(ex.closed).toBe(true);
    expect(parseResponses(ex.text).responses.length).toBeLessThanOrEqual(MAX_PIPELINED_REQUESTS);
    expect((await timedGet(`http://127.0.0.1:${port}`, '/api/health/live')).status).toBe(200);
  });
});

describe('a request that never arrives whole (raw TCP)', () => {
  let t: TestApp;
  let port: number;
  let worker: string;
  beforeAll(async () => {
    t = await startTestApp({ RUNTIME_STORE_URL: 'memory:', HTTP_HEADERS_TIMEOUT_MS: '500', HTTP_REQUEST_TIMEOUT_MS: '1000' });
    port = Number(new URL(await t.listen()).port);
    worker = await createEmbeddedWorker(t);
  });
  afterAll(async () => {
    await t.close();
  });

  const head = (extra: string) =>
    `POST /api/runtimes/embedded-worker-runtime/workers/${worker}/input HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.adminKey}\r\nContent-Type: application/json\r\n${extra}\r\n`;

  // Its error is its own answer, at once: held back as if owed to an earlier request, it kept the connection open for good (a review).
  it.each([
    ['a body that stalls past HTTP_REQUEST_TIMEOUT_MS', () => head('Content-Length: 100\r\n') + '{"conte', 408],
    ['a chunked body with a bad chunk size', () => head('Transfer-Encoding: chunked\r\n') + 'ZZ\r\n', 400],
  ])('%s: its error answer, and the connection closes', async (_name, bytes, status) => {
    const ex = await rawExchange(port, bytes(), 6_000);
    expect(ex.closed).toBe(true);
    const { responses } = parseResponses(ex.text);
    expect(responses).toHaveLength(1);
    expectJsonError(responses[0], status, 'validation_failed');
  });
});

// On a plain Node server, where a handler can be slow at will: the router's answers are too fast for this.
describe('hardenHttpServer: a request queued behind a slow answer that never arrives whole (raw TCP)', () => {
  let server: Server;
  let port: number;
  const ran: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      ran.push(`${req.method} ${req.url}`);
      // Well past the request timeout (1 s, checked every 0.5 s), so the queued request times out first.
      if (req.url === '/slow') return void setTimeout(() => res.end('slow done'), 3_000);
      req.resume();
      req.on('end', () => res.end('read'));
    });
    hardenHttpServer(server, { ...loadAppConfig({ HTTP_HEADERS_TIMEOUT_MS: '500', HTTP_REQUEST_TIMEOUT_MS: '1000' } as NodeJS.ProcessEnv).http });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  // Its unread body stops Node reading the socket, and the request timeout counts the wait in our queue:
  // the first version of the fix destroyed the connection, losing the slow answer (a review).
  it('the earlier answer goes out whole, then the 408, and the queued request never runs', async () => {
    const body = 'x'.repeat(200_000);
    const ex = await rawExchange(port, `GET /slow HTTP/1.1\r\nHost: a\r\n\r\nPOST /p HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 6_000);
    const { responses } = parseResponses(ex.text);
    expect(responses.map((r) => [r.status, r.body.startsWith('{') ? JSON.parse(r.body).error : r.body])).toEqual([
      [200, 'slow done'],
      [408, 'validation_failed'],
    ]);
    expect(ex.closed).toBe(true);
    expect(ran).toEqual(['GET /slow']);
  });
});

describe('the connection cap', () => {
  it('never admits more connections than the open-file limit leaves room for (a default of 10,000 under ulimit -n 1024 would not hold)', () => {
    expect(effectiveMaxConnections(10_000, 1024)).toBe(1024 - 128);
    expect(effectiveMaxConnections(100, 20_000)).toBe(100);
    expect(effectiveMaxConnections(10_000, undefined)).toBe(10_000);
    expect(effectiveMaxConnections(10_000, 64)).toBe(1);
  });
});

describe('the built server under hostile connections (child process)', () => {
  let dir: string;
  const servers: ChildServer[] = [];
  const sockets: Socket[] = [];
  const agents: Agent[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wb-hardening-'));
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const a of agents.splice(0)) a.destroy();
    for (const s of servers.splice(0)) await s.kill9();
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (env: Record<string, string> = {}) => {
    const server = new ChildServer({ WORKSPACE_DATA_DIR: dir, WORKSPACE_ROOT: dir, RUNTIME_STORE_URL: 'memory:', ...env });
    servers.push(server);
    await server.start();
    return server;
  };

  it('sockets that never send a byte: past the cap a JSON 503 and an immediate close; the rest closed at the headers timeout; clients served meanwhile and after', async () => {
    const CAP = 100;
    const HEADERS_TIMEOUT_MS = 2000;
    /** Node checks the timeouts every min(1000, headers timeout) ms (http-server.ts); plus a loaded machine. */
    const CHECK_INTERVAL_MS = 1000;
    const MARGIN_MS = 2000;
    const server = await start({ HTTP_MAX_CONNECTIONS: String(CAP), HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS) });
    // A client that connected before the flood, on a keep-alive connection.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    expect(await getWith(agent, server.base, '/api/health/live')).toBe(200);

    interface Idle {
      socket: Socket;
      connectedAt: number;
      text: string;
      closedAfterMs?: number;
    }
    const idle: Idle[] = [];
    await Promise.all(
      Array.from(
        { length: 300 },
        () =>
          new Promise<void>((resolve) => {
            const socket = connect(server.port, '127.0.0.1');
            sockets.push(socket);
            const entry: Idle = { socket, connectedAt: 0, text: '' };
            idle.push(entry);
            socket.on('connect', () => {
              entry.connectedAt = Date.now();
              resolve();
            });
            socket.on('data', (c: Buffer) => (entry.text += c.toString('latin1')));
            socket.on('close', () => (entry.closedAfterMs = Date.now() - entry.connectedAt));
            socket.on('error', () => resolve());
          }),
      ),
    );

    // Meanwhile: the established client is served throughout.
    const during: number[] = [];
    const deadline = Date.now() + HEADERS_TIMEOUT_MS + CHECK_INTERVAL_MS + MARGIN_MS;
    while (Date.now() < deadline && idle.some((e) => e.closedAfterMs === undefined)) {
      during.push(await getWith(agent, server.base, '/api/health/live'));
      await sleep(200);
    }
    const refused = idle.filter((e) => e.text.startsWith('HTTP/1.1 503'));
    const timedOut = idle.filter((e) => e.text.startsWith('HTTP/1.1 408'));
    const refusedCloseMs = Math.max(...refused.map((e) => e.closedAfterMs ?? Infinity));
    const idleCloseMs = timedOut.map((e) => e.closedAfterMs ?? Infinity);
    const after = await timedGet(server.base, '/api/health/live');
    // eslint-disable-next-line no-console
    console.log(
      `idle flood: 300 sockets, cap ${CAP}: ${refused.length} refused (closed within ${refusedCloseMs} ms), ${timedOut.length} closed by the headers timeout ` +
        `after ${Math.min(...idleCloseMs)}–${Math.max(...idleCloseMs)} ms (timeout ${HEADERS_TIMEOUT_MS} ms); still open: ${idle.filter((e) => e.closedAfterMs === undefined).length}; ` +
        `established client: ${during.length} requests, statuses ${[...new Set(during)].join(',')}; new client afterwards: ${after.status} in ${after.ms} ms`,
    );

    // (a) past the cap: the JSON 503 at once, and the connection closed.
    expect(refused.length).toBeGreaterThanOrEqual(300 - CAP);
    expectJsonError(parseResponses(refused[0].text).responses[0], 503, 'service_unavailable');
    expect(parseResponses(refused[0].text).responses[0].headers['retry-after']).toBe('1');
    expect(refusedCloseMs).toBeLessThan(MARGIN_MS);
    // (b) the others: closed by the server after the headers timeout (Node applies it to a socket that sent nothing), with a JSON 408.
    expect(refused.length + timedOut.length).toBe(300);
    expect(timedOut.length).toBeLessThanOrEqual(CAP);
    expectJsonError(parseResponses(timedOut[0].text).responses[0], 408, 'validation_failed');
    expect(Math.min(...idleCloseMs)).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 100);
    expect(Math.max(...idleCloseMs)).toBeLessThan(HEADERS_TIMEOUT_MS + CHECK_INTERVAL_MS + MARGIN_MS);
    // (c) served meanwhile and afterwards.
    expect(during.length).toBeGreaterThan(0);
    expect(during.every((s) => s === 200)).toBe(true);
    expect(after.status).toBe(200);
  });

  it('thousands of pipelined requests on 20 sockets that never read: memory and the latency of other clients stay bounded', async () => {
    const SOCKETS = 20;
    const PER_SOCKET = 5000;
    /**
     * Generous bounds for a shared 2-core machine. Measured before the bound on unanswered requests: +168 MiB and one
     * health request answered after 17.7 s (20,000 requests dispatched); with it: about +40–55 MiB (the rest of one
     * 64 KiB read per socket is still parsed) and at most about 1 s.
     */
    const RSS_GROWTH_MIB = 100;
    const LATENCY_MS = 5000;
    const server = await start();
    const rssBefore = server.rssMiB()!;
    const oneRequest = `GET /api/runtimes HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${server.key}\r\n\r\n`;
    const payload = Buffer.from(oneRequest.repeat(PER_SOCKET));
    let closedByServer = 0;
    for (let i = 0; i < SOCKETS; i++) {
      const socket = connect(server.port, '127.0.0.1');
      sockets.push(socket);
      socket.pause(); // never reads a response
      socket.on('error', () => undefined);
      socket.on('close', () => closedByServer++);
      socket.on('connect', () => socket.write(payload));
    }
    const latencies: number[] = [];
    let rssMax = rssBefore;
    const started = Date.now();
    while (Date.now() - started < 8000) {
      const r = await timedGet(server.base, '/api/health/live');
      latencies.push(r.status === 200 ? r.ms : Infinity);
      rssMax = Math.max(rssMax, server.rssMiB() ?? 0);
      await sleep(250);
    }
    const maxLatency = Math.max(...latencies);
    // Did the server close them? A socket that does not read cannot tell: read now, briefly.
    for (const s of sockets) s.resume();
    const closeDeadline = Date.now() + 3000;
    while (closedByServer < SOCKETS && Date.now() < closeDeadline) await sleep(20);
    // eslint-disable-next-line no-console
    console.log(
      `pipelined flood: ${SOCKETS} sockets × ${PER_SOCKET} requests (${(payload.length / 1024).toFixed(0)} KiB each), not read: RSS ${rssBefore.toFixed(0)} → max ${rssMax.toFixed(0)} MiB ` +
        `(+${(rssMax - rssBefore).toFixed(0)}); health ${latencies.length} requests, median ${latencies.sort((a, b) => a - b)[latencies.length >> 1]} ms, max ${maxLatency} ms; ` +
        `flood sockets closed by the server: ${closedByServer}/${SOCKETS}`,
    );
    expect(latencies.length).toBeGreaterThan(3);
    expect(maxLatency).toBeLessThan(LATENCY_MS);
    expect(rssMax - rssBefore).toBeLessThan(RSS_GROWTH_MIB);
    expect(closedByServer).toBe(SOCKETS);
  });
});

describe('every check decides on the path the router routes, however the target is spelled (raw TCP)', () => {
  let t: TestApp;
  let port: number;
  let readKey: string;
  let writeKey: string;
  beforeAll(async () => {
    t = await startTestApp({ RUNTIME_STORE_URL: 'memory:', RATE_LIMIT_PER_MINUTE: '100' });
    port = Number(new URL(await t.listen()).port);
    readKey = ((await t.post('/api/keys', { name: 'reader', scopes: ['read'] })).body as { secret: string }).secret;
    writeKey = ((await t.post('/api/keys', { name: 'writer', scopes: ['write'] })).body as { secret: string }).secret;
  });
  afterAll(async () => {
    await t.close();
  });

  const send = async (method: string, target: string, key?: string, body?: string) => {
    const head =
      `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${key ? `Authorization: Bearer ${key}\r\n` : ''}` +
      `${body !== undefined ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : ''}Connection: close\r\n\r\n`;
    const { responses } = parseResponses((await rawExchange(port, head + (body ?? ''))).text);
    expect(responses).toHaveLength(1);
    return responses[0];
  };

  it('a percent-encoded or slash-suffixed spelling of a keyed route still needs the key and its scope', async () => {
    for (const target of ['/%61pi/runtimes', '/api/%72untimes', '/api/runtimes/', '/api/keys/', '/api/%6beys', '/api/%4Beys']) {
      expectJsonError(await send('GET', target), 401, 'unauthorized');
    }
    for (const target of ['/api/%6beys', '/api/keys/', '/%61pi/keys']) {
      expectJsonError(await send('GET', target, readKey), 403, 'forbidden');
      expectJsonError(await send('POST', target, writeKey, JSON.stringify({ name: 'x', scopes: ['admin'] })), 403, 'forbidden');
    }
    // The same spellings with the right key reach the route (they are not simply refused).
    expect((await send('GET', '/%61pi/runtimes', readKey)).status).toBe(200);
    expect((await send('GET', '/api/%6beys', t.adminKey)).status).toBe(200);
    const keys = ((await t.get('/api/keys')).body as { items: Array<{ name: string }> }).items.map((k) => k.name).sort();
    expect(keys).toEqual(['reader', 'writer']);
  });

  it('an absolute-form target, or one with a fragment, is refused with 400 before the key is looked at, for every method', async () => {
    const worker = await t.post(`/api/runtimes/embedded-worker-runtime/workers`, { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted' } });
    const url = `/api/runtimes/embedded-worker-runtime/workers/${(worker.body as { worker: { worker_id: string } }).worker.worker_id}`;
    for (const [method, target] of [
      ['GET', '/api/keys#'],
      ['GET', '/api/workers#limit=1'],
      ['POST', `${url}/stop#`],
      ['GET', 'http://x/api/runtimes'],
      ['GET', 'HTTPS://127.0.0.1/api/keys'],
      ['POST', `http://x${url}/stop`],
      ['DELETE', `http://x${url}`],
      ['GET', `http://x${url}`],
    ]) {
      const r = await send(method, target);
      expectJsonError(r, 400, 'validation_failed');
      expect(r.headers['x-request-id']).toBeDefined();
      expect(r.body).not.toContain('http://x');
    }
    expect((await t.get(url)).body).toMatchObject({ state: 'running' });
  });

  it('no spelling gets past the rate limit', async () => {
    const limited = await startTestApp({ RUNTIME_STORE_URL: 'memory:', RATE_LIMIT_PER_MINUTE: '3' });
    try {
      const p = Number(new URL(await limited.listen()).port);
      const get = async (target: string) =>
        parseResponses((await rawExchange(p, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${limited.adminKey}\r\nConnection: close\r\n\r\n`)).text).responses[0].status;
      const statuses = [];
      for (const target of ['/api/runtimes', '/api/runtimes', '/api/runtimes', 'http://x/api/runtimes', '/%61pi/runtimes', '/api/runtimes/', '/api/runtimes#', '/api/runtimes']) statuses.push(await get(target));
      expect(statuses).toEqual([200, 200, 200, 400, 429, 429, 400, 429]);
    } finally {
      await limited.close();
    }
  });

  it('a DELETE\'s Content-Type is ignored, as its body is (never a 415)', async () => {
    const head = `DELETE /api/keys/key-none HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.adminKey}\r\nContent-Type: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
    const r = parseResponses((await rawExchange(port, head)).text).responses[0];
    expect(r.status).not.toBe(415);
    expect(r.status).toBe(404);
  });

  it('no body is read for a path under /api that no route matches, and no key means 401 there', async () => {
    for (const [method, target] of [
      ['POST', '/api'],
      ['PUT', '/api'],
      ['POST', '/api/health/x'],
      ['PATCH', '/api/health/ready/x'],
      ['POST', '/%61pi'],
    ]) {
      expectJsonError(await send(method, target, undefined, '{bad'), 401, 'unauthorized');
      // With a key: the router's answer (404, or 405 for a known path), never the body's 400.
      expect([404, 405]).toContain((await send(method, target, t.adminKey, '{bad')).status);
    }
    expect((await send('GET', '/api/health/')).status).toBe(200);
  });

  it('an Idempotency-Key is scoped to the resource, however its path is spelled: a retry with a trailing slash is a replay', async () => {
    const body = JSON.stringify({ intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted' } });
    const post = async (target: string) => {
      const head =
        `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.adminKey}\r\nIdempotency-Key: spelled-1\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
      return parseResponses((await rawExchange(port, head + body)).text).responses[0];
    };
    const first = await post('/api/runtimes/embedded-worker-runtime/workers');
    const again = await post('/api/runtimes/embedded-worker-runtime/workers/');
    const escaped = await post('/api/runtimes/embedded-worker-runtime/%77orkers');
    expect([first.status, again.status, escaped.status]).toEqual([201, 201, 201]);
    expect([again.headers['idempotency-replayed'], escaped.headers['idempotency-replayed']]).toEqual(['true', 'true']);
    expect(again.body).toBe(first.body);
    expect(escaped.body).toBe(first.body);
  });
});

describe('large answers: the transcript page budget and the send deadline (raw TCP)', () => {
  /** Short, so that the tests wait little; the checks run every quarter of it. */
  const SEND_TIMEOUT_MS = 1000;
  /** `\u0001` × 174,000: ~1 MiB once JSON-escaped (6 bytes a unit), the most such content a 1 MiB body carries. */
  const BIG = '\u0001'.repeat(174_000);
  const BIG_ITEMS = 12;
  let t: TestApp;
  let port: number;
  let transcript: string;
  beforeAll(async () => {
    t = await startTestApp({ RUNTIME_STORE_URL: 'memory:', HTTP_SEND_TIMEOUT_MS: String(SEND_TIMEOUT_MS) });
    port = Number(new URL(await t.listen()).port);
    const workerId = await createEmbeddedWorker(t);
    transcript = `${EMBEDDED}/workers/${workerId}/transcript`;
    const input = `${EMBEDDED}/workers/${workerId}/input`;
    expect((await t.post(input, { kind: 'system', content: 'first' })).status).toBe(202);
    for (let i = 0; i < BIG_ITEMS; i++) expect((await t.post(input, { kind: 'system', content: BIG })).status).toBe(202);
  });
  afterAll(async () => {
    await t.close();
  });

  const getTranscript = (query: string, close = false) =>
    `GET ${transcript}?${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.adminKey}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
  const accessLines = () => t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.context === 'HTTP' && String(l.url).startsWith(transcript));

  it('a page stops before the item that would pass the content budget, says so with next_start, and paging reaches every item exactly once', async () => {
    interface Page {
      total_items: number;
      next_start?: number;
      items: Array<{ sequence: number; content: string }>;
    }
    const pages: Page[] = [];
    const sizes: number[] = [];
    for (let start: number | undefined = 0; start !== undefined && pages.length < 20; ) {
      const res = await t.get(`${transcript}?start=${start}&limit=200`);
      expect(res.status).toBe(200);
      const page = res.body as Page;
      pages.push(page);
      sizes.push(Buffer.byteLength(res.text));
      start = page.next_start;
    }
    // 'first' and six of the 174,000-unit items fit 1 Mi units (1,044,005); a seventh would not.
    expect(pages.map((p) => p.items.map((i) => i.sequence))).toEqual([
      [0, 1, 2, 3, 4, 5, 6],
      [7, 8, 9, 10, 11, 12],
    ]);
    expect(pages.map((p) => [p.total_items, p.next_start])).toEqual([
      [13, 7],
      [13, undefined],
    ]);
    expect(pages.flatMap((p) => p.items.map((i) => i.content))).toEqual(['first', ...Array(BIG_ITEMS).fill(BIG)]);
    for (const p of pages) expect(p.items.reduce((n, i) => n + i.content.length, 0)).toBeLessThanOrEqual(TRANSCRIPT_PAGE_MAX_CHARS);
    // Bytes: at most 6 per unit (JSON escapes) plus the fields of each item. Before the budget this page was 12.6 MB.
    for (const size of sizes) expect(size).toBeLessThan(6 * TRANSCRIPT_PAGE_MAX_CHARS + 64 * 1024);
    // The limit still comes first; a page of small items is not cut.
    const limited = (await t.get(`${transcript}?start=0&limit=3`)).body as Page;
    expect([limited.items.map((i) => i.sequence), limited.next_start]).toEqual([[0, 1, 2], 3]);
  });

  it('a client that stops reading an answer loses its connection once it has taken nothing for HTTP_SEND_TIMEOUT_MS; others are served meanwhile', async () => {
    const linesBefore = accessLines().length;
    const socket = connect(port, '127.0.0.1');
    socket.pause(); // takes at most what fills its stream buffer, then reads nothing
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    try {
      await once(socket, 'connect');
      // Three pages of ~6.3 MB each: far more than the kernel buffers on both sides hold.
      socket.write(getTranscript('limit=200').repeat(3));
      const health: number[] = [];
      const deadline = Date.now() + SEND_TIMEOUT_MS * 1.25 + 15_000;
      while (Date.now() < deadline && !accessLines().slice(linesBefore).some((l) => l.msg === 'request closed')) {
        health.push((await timedGet(`http://127.0.0.1:${port}`, '/api/health/live', 10_000)).status);
        await sleep(100);
      }
      const cut = accessLines().slice(linesBefore).find((l) => l.msg === 'request closed');
      expect(cut).toMatchObject({ level: 'warn', status: 200, msg: 'request closed' });
      expect(cut!.durationMs as number).toBeGreaterThanOrEqual(SEND_TIMEOUT_MS);
      expect(health.length).toBeGreaterThan(0);
      expect(health.every((s) => s === 200)).toBe(true);
      // The client can only tell once it reads: what the kernel still held, then the end, short of even the first answer.
      let received = 0;
      socket.on('data', (c: Buffer) => (received += c.length));
      socket.resume();
      const closeBy = Date.now() + 15_000;
      while (!closed && Date.now() < closeBy) await sleep(20);
      expect(closed).toBe(true);
      expect(received).toBeLessThan(6 * 174_000 * 6);
      expect((await timedGet(`http://127.0.0.1:${port}`, '/api/health/live', 10_000)).status).toBe(200);
    } finally {
      socket.destroy();
    }
  });

  it('a connection runs its pipelined requests one at a time: a client that pipelines pages and never reads holds one, not all', async () => {
    const socket = connect(port, '127.0.0.1');
    socket.pause();
    socket.on('error', () => undefined);
    try {
      await once(socket, 'connect');
      const before = process.memoryUsage().arrayBuffers;
      // Twenty pages of ~6.3 MB each (the page budget's worst case here): run at once, the answers waiting for their turn would hold ~126 MB.
      socket.write(getTranscript('limit=200').repeat(20));
      let peak = 0;
      for (let i = 0; i < 20; i++) {
        await sleep(25);
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
      }
      console.log(`held while 20 pipelined pages were not read: ${(peak / 1048576).toFixed(1)} MiB`);
      expect(peak).toBeLessThan(40 * 1024 * 1024);
    } finally {
      socket.destroy();
      // The server's side of it closed (its access lines written) before the next test counts lines.
      const server = t.app.getHttpServer() as import('node:http').Server;
      const openConnections = () => new Promise<number>((resolve) => server.getConnections((err, n) => resolve(err ? -1 : n)));
      const by = Date.now() + 5000;
      while ((await openConnections()) > 0 && Date.now() < by) await sleep(10);
    }
  });

  it('a slow reader is never cut off: each byte it takes starts the wait again, however long the whole answer takes', async () => {
    const linesBefore = accessLines().length;
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let burst = 0;
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    // Reads 1 MB, then nothing for a third of the deadline, again and again.
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      burst += c.length;
      if (burst >= 1024 * 1024) {
        burst = 0;
        socket.pause();
        setTimeout(() => socket.resume(), SEND_TIMEOUT_MS / 3);
      }
    });
    try {
      await once(socket, 'connect');
      socket.write(getTranscript('limit=200') + getTranscript('start=7&limit=200', true));
      const closeBy = Date.now() + 60_000;
      while (!closed && Date.now() < closeBy) await sleep(20);
      expect(closed).toBe(true);
      const { responses, rest } = parseResponses(Buffer.concat(chunks).toString('latin1'));
      expect(rest).toBe('');
      expect(responses.map((r) => [r.status, (JSON.parse(r.body) as { items: Array<{ sequence: number }> }).items.map((i) => i.sequence)])).toEqual([
        [200, [0, 1, 2, 3, 4, 5, 6]],
        [200, [7, 8, 9, 10, 11, 12]],
      ]);
      const lines = accessLines().slice(linesBefore);
      expect(lines.map((l) => [l.level, l.msg])).toEqual([
        ['info', 'request completed'],
        ['info', 'request completed'],
      ]);
      // The premise: the answers were still going out well past the deadline.
      expect(lines[1].durationMs as number).toBeGreaterThan(SEND_TIMEOUT_MS);
    } finally {
      socket.destroy();
    }
  });

  it('an event stream whose client reads nothing for longer than the deadline is left open (streams have their own lag cut-off)', async () => {
    const socket = connect(port, '127.0.0.1');
    socket.pause();
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    try {
      await once(socket, 'connect');
      // Replays every input event, each with its ~1 MiB item: the stream waits for the client.
      socket.write(`GET ${transcript.replace(/\/transcript$/, '/events?after=evt-0')} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.adminKey}\r\nAccept: text/event-stream\r\n\r\n`);
      await sleep(SEND_TIMEOUT_MS * 3);
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.resume();
      // The last input's item has sequence 12: the stream goes on from where the client stopped, to the end.
      const lastItem = Buffer.from('"sequence":12,');
      const by = Date.now() + 30_000;
      const received = () => Buffer.concat(chunks);
      while (!closed && received().indexOf(lastItem) < 0 && Date.now() < by) await sleep(50);
      expect(closed).toBe(false);
      expect(received().indexOf(lastItem)).toBeGreaterThan(0);
    } finally {
      socket.destroy();
    }
  });
});

describe('Expect: 100-continue (raw TCP)', () => {
  let t: TestApp;
  let port: number;
  let worker: string;
  beforeAll(async () => {
    t = await startTestApp({ RUNTIME_STORE_URL: 'memory:' });
    port = Number(new URL(await t.listen()).port);
    worker = await createEmbeddedWorker(t);
  });
  afterAll(async () => {
    await t.close();
  });

  /** A POST that says Expect: 100-continue and holds its body back: what arrives before the client would send it. */
  const held = (headers: string, length = 20) =>
    `POST /api/runtimes/embedded-worker-runtime/workers/${worker}/input HTTP/1.1\r\n${headers}Content-Type: application/json\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;

  it.each([
    ['no key', 'Host: 127.0.0.1\r\n', 20, 401, 'unauthorized'],
    ['a host not allowed', () => `Host: evil.example\r\nAuthorization: Bearer ${t.adminKey}\r\n`, 20, 403, 'host_not_allowed'],
    ['a body over 1 MiB', () => `Host: 127.0.0.1\r\nAuthorization: Bearer ${t.adminKey}\r\n`, 50_000_000, 413, 'payload_too_large'],
  ] as const)('%s: the refusal comes first, no 100, and the connection closes', async (_what, headers, length, status, code) => {
    const ex = await rawExchange(port, held(typeof headers === 'function' ? headers() : headers, length));
    const { responses } = parseResponses(ex.text);
    expect(responses.map((r) => r.status)).toEqual([status]);
    expectJsonError(responses[0], status, code);
    expect(responses[0].headers.connection).toBe('close');
    expect(ex.closed).toBe(true);
  });

  it('an accepted request gets its 100 Continue, then its answer once the body is sent, and the connection stays open', async () => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', () => undefined);
    try {
      const body = JSON.stringify({ kind: 'user', content: 'hello' });
      socket.write(held(`Host: 127.0.0.1\r\nAuthorization: Bearer ${t.adminKey}\r\n`, Buffer.byteLength(body)));
      const deadline = Date.now() + 5000;
      while (!text.includes('\r\n\r\n') && Date.now() < deadline) await sleep(5);
      expect(text).toBe('HTTP/1.1 100 Continue\r\n\r\n');
      socket.write(body);
      while (parseResponses(text).responses.length < 2 && Date.now() < deadline) await sleep(5);
      const { responses } = parseResponses(text);
      expect(responses.map((r) => r.status)).toEqual([100, 202]);
      expect(responses[1].headers.connection).toBe('keep-alive');
    } finally {
      socket.destroy();
    }
  });
});
