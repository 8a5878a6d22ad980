import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ACCESS_CLOSED, ACCESS_COMPLETED, appResponseClass, createAccessLogMiddleware } from './access-log.middleware';
import { AppLogger, CaptureDestination } from './app-logger';
import { requestIdMiddleware } from './request-id.middleware';
import { REDACTED, SecretRegistry } from './secret-registry';

const ACCESS_KEYS = ['level', 'time', 'context', 'reqId', 'method', 'url', 'status', 'durationMs', 'bytes', 'headers', 'msg'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Harness {
  base: { port: number };
  logger: AppLogger;
  lines: string[];
  close(): Promise<void>;
}

async function startApp(withRequestId = true): Promise<Harness> {
  const destination = new CaptureDestination();
  const logger = new AppLogger({ registry: new SecretRegistry(), destination });
  // As the app's server: responses of a class of its own (the access log counts bytes on its prototype).
  const requestId = requestIdMiddleware();
  const accessLog = createAccessLogMiddleware({ logger });
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(body));
  };
  const routes: Record<string, (req: import('node:http').IncomingMessage, res: ServerResponse, query: URLSearchParams) => void> = {
    'GET /ok': (_req, res) => {
      res.setHeader('Set-Cookie', 'session=server-cookie-value');
      json(res, 200, { ok: true });
    },
    'POST /echo': (req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        res.setHeader('content-type', 'text/plain; charset=utf-8');
        res.end(`got ${n}`);
      });
    },
    'GET /boom': (_req, res) => json(res, 500, { error: 'internal' }),
    'GET /stream': (_req, res, query) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const send = () => res.write(`data: ${i++}\n\n`);
      send();
      const timer = setInterval(() => {
        send();
        if (query.has('end') && i >= 3) {
          clearInterval(timer);
          res.end();
        }
      }, 15);
      res.on('close', () => clearInterval(timer));
    },
    'GET /unsupported': (_req, res) => json(res, 501, { error: 'not_implemented' }),
    'GET /hang': () => undefined,
  };
  const server: Server = createServer({ ServerResponse: appResponseClass() }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = () => (routes[`${req.method} ${url.pathname}`] ?? ((_q, r) => json(r, 404, {})))(req, res, url.searchParams);
    const logged = () => accessLog(req, res, route);
    if (withRequestId) requestId(req, res, logged);
    else logged();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    base: { port },
    logger,
    lines: destination.lines,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function send(h: Harness, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: h.base.port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function waitForLines(h: Harness, n: number): Promise<Record<string, any>[]> {
  for (let i = 0; i < 200 && h.lines.length < n; i++) await new Promise((r) => setTimeout(r, 5));
  expect(h.lines).toHaveLength(n);
  return h.lines.map((l) => JSON.parse(l));
}

describe('access log', () => {
  let h: Harness;
  afterEach(async () => h.close());

  it('writes one line per request with exactly the access keys, the query redacted and no sensitive header', async () => {
    h = await startApp();
    const reply = await send(h, 'GET', '/ok?access_token=qs-canary&limit=5&api%5Fkey=qs-canary-2&tok%65n=qs-canary-3&q=Bearer%20qs-canary-4', {
      authorization: 'Bearer auth-canary',
      cookie: 'sid=cookie-canary',
      'x-api-key': 'apikey-canary',
      'user-agent': 'probe/1.0',
      'x-request-id': 'client-id_1.2:3',
    });
    expect(reply.status).toBe(200);
    expect(reply.headers['x-request-id']).toBe('client-id_1.2:3');
    const [line] = await waitForLines(h, 1);
    expect(Object.keys(line)).toEqual(ACCESS_KEYS);
    expect(line).toMatchObject({
      level: 'info',
      context: 'HTTP',
      reqId: 'client-id_1.2:3',
      method: 'GET',
      url: `/ok?access_token=${REDACTED}&limit=5&api%5Fkey=${REDACTED}&tok%65n=${REDACTED}&q=${REDACTED}`,
      status: 200,
      bytes: Buffer.byteLength(reply.body),
      headers: { 'user-agent': 'probe/1.0' },
      msg: ACCESS_COMPLETED,
    });
    expect(Object.keys(line.headers)).toEqual(['user-agent']);
    expect(typeof line.durationMs).toBe('number');
    expect(h.lines[0]).not.toMatch(/canary|server-cookie-value/);
  });

  it('keeps only allow-listed request headers', async () => {
    h = await startApp();
    const body = JSON.stringify({ a: 1 });
    await send(h, 'POST', '/echo', { 'content-type': 'application/json', 'content-length': String(body.length), accept: 'x', 'x-forwarded-for': '10.0.0.1' }, body);
    const [line] = await waitForLines(h, 1);
    expect(line.headers).toEqual({ 'content-type': 'application/json', 'content-length': String(body.length) });
    expect(line.bytes).toBe(Buffer.byteLength(`got ${body.length}`));
  });

  it('replaces an X-Request-Id that does not match the pattern', async () => {
    h = await startApp();
    for (const bad of ['has space', 'x'.repeat(129), '<script>', 'ünï']) {
      const reply = await send(h, 'GET', '/ok', { 'x-request-id': bad });
      expect(reply.headers['x-request-id']).toMatch(UUID);
    }
    const lines = await waitForLines(h, 4);
    for (const l of lines) expect(l.reqId).toMatch(UUID);
    expect(new Set(lines.map((l) => l.reqId)).size).toBe(4);
    const ok = await send(h, 'GET', '/ok', { 'x-request-id': 'x'.repeat(128) });
    expect(ok.headers['x-request-id']).toBe('x'.repeat(128));
  });

  it('validates the header itself when no request-id middleware ran', async () => {
    h = await startApp(false);
    await send(h, 'GET', '/ok', { 'x-request-id': 'given-1' });
    await send(h, 'GET', '/ok', { 'x-request-id': 'bad id' });
    const [a, b] = await waitForLines(h, 2);
    expect(a.reqId).toBe('given-1');
    expect(b.reqId).toMatch(UUID);
  });

  it('logs 5xx at error level, and honours the logger levels', async () => {
    h = await startApp();
    await send(h, 'GET', '/boom');
    const [line] = await waitForLines(h, 1);
    expect(Object.keys(line)).toEqual(ACCESS_KEYS);
    expect(line).toMatchObject({ level: 'error', status: 500, msg: ACCESS_COMPLETED });
    await send(h, 'GET', '/unsupported');
    expect((await waitForLines(h, 2))[1]).toMatchObject({ level: 'info', status: 501 });
    h.logger.setLogLevels(['error']);
    await send(h, 'GET', '/ok');
    await send(h, 'GET', '/unsupported');
    await send(h, 'GET', '/boom');
    const lines = await waitForLines(h, 3);
    expect(lines[2].status).toBe(500);
  });

  it('logs an event stream once, when the client closes it, with its duration and bytes', async () => {
    h = await startApp();
    const received = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: h.base.port, path: '/stream?token=stream-canary' }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
          if (text.split('\n\n').length > 3) {
            req.destroy();
            resolve(text);
          }
        });
      });
      req.on('error', (e) => (e.message.includes('socket hang up') ? undefined : reject(e)));
      req.end();
    });
    const [line] = await waitForLines(h, 1);
    expect(Object.keys(line)).toEqual(ACCESS_KEYS);
    expect(line).toMatchObject({ status: 200, msg: ACCESS_CLOSED, url: `/stream?token=${REDACTED}` });
    expect(line.bytes).toBeGreaterThanOrEqual(Buffer.byteLength(received));
    expect(line.durationMs).toBeGreaterThanOrEqual(20);
    await new Promise((r) => setTimeout(r, 50));
    expect(h.lines).toHaveLength(1);
  });

  it('logs a stream the server ends as completed', async () => {
    h = await startApp();
    const reply = await send(h, 'GET', '/stream?end');
    const [line] = await waitForLines(h, 1);
    expect(line).toMatchObject({ status: 200, msg: ACCESS_COMPLETED, bytes: Buffer.byteLength(reply.body) });
  });

  it('logs a request whose client left before any response, with a null status', async () => {
    h = await startApp();
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: h.base.port, path: '/hang' });
      req.on('error', () => resolve());
      req.end();
      setTimeout(() => req.destroy(), 30);
    });
    const [line] = await waitForLines(h, 1);
    expect(Object.keys(line)).toEqual(ACCESS_KEYS);
    expect(line).toMatchObject({ status: null, bytes: 0, msg: ACCESS_CLOSED });
  });

  it('counts the bytes of a plain node:http response too, without touching Node\'s response prototype', async () => {
    const destination = new CaptureDestination();
    const logger = new AppLogger({ registry: new SecretRegistry(), destination });
    const middleware = createAccessLogMiddleware({ logger });
    const nodeWrite = ServerResponse.prototype.write;
    const nodeEnd = ServerResponse.prototype.end;
    const server = createServer((req, res) =>
      middleware(req, res, () => {
        res.write('abc');
        res.end('defg');
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    h = { base: { port: (server.address() as AddressInfo).port }, logger, lines: destination.lines, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
    const reply = await send(h, 'GET', '/plain');
    expect(reply.body).toBe('abcdefg');
    const [line] = await waitForLines(h, 1);
    expect(line).toMatchObject({ status: 200, bytes: 7, msg: ACCESS_COMPLETED });
    expect(ServerResponse.prototype.write).toBe(nodeWrite);
    expect(ServerResponse.prototype.end).toBe(nodeEnd);
  });

  it('on the app\'s own response class, counts on its prototype: nothing is set on each response', async () => {
    const destination = new CaptureDestination();
    const logger = new AppLogger({ registry: new SecretRegistry(), destination });
    const middleware = createAccessLogMiddleware({ logger });
    const AppResponse = appResponseClass();
    const responses: ServerResponse[] = [];
    const server = createServer({ ServerResponse: AppResponse }, (req, res) =>
      middleware(req, res, () => {
        responses.push(res);
        res.end('hello');
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    h = { base: { port: (server.address() as AddressInfo).port }, logger, lines: destination.lines, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
    await send(h, 'GET', '/a');
    await send(h, 'GET', '/b');
    const lines = await waitForLines(h, 2);
    expect(lines.map((l) => l.bytes)).toEqual([5, 5]);
    expect(responses.map((r) => [Object.hasOwn(r, 'write'), Object.hasOwn(r, 'end')])).toEqual([
      [false, false],
      [false, false],
    ]);
    expect(Object.hasOwn(AppResponse.prototype, 'write')).toBe(true);
    expect(ServerResponse.prototype.write).not.toBe(AppResponse.prototype.write);
  });
});
