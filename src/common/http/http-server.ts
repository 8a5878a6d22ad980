import { readFileSync } from 'node:fs';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { HttpConfig } from '../../config/app-config';
import type { ApiErrorCode } from '../errors/api-error';
import { API_SECURITY_HEADERS } from './security-headers';

/**
 * Unanswered requests one connection may have at once. A client that
 * pipelines more than this without reading the answers is closed: every
 * request Node parses is dispatched at once, and its answer waits behind the
 * earlier ones, so without a bound a few sockets that never read fill the
 * event loop and the heap (20 such sockets held the server for 17 s and
 * +168 MiB). Browsers never pipeline; a client that does gets this many
 * answers in flight.
 */
export const MAX_PIPELINED_REQUESTS = 32;

/** File descriptors kept free of client connections for the store, logs and outgoing calls. */
const RESERVED_FILE_DESCRIPTORS = 128;

/** What every answer given outside the router carries: the API's security headers, and never cached. */
const RAW_SECURITY_HEADERS: ReadonlyArray<[string, string]> = [...API_SECURITY_HEADERS, ['Cache-Control', 'no-store']];

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
};

function errorBody(status: number, error: ApiErrorCode, message: string): string {
  return JSON.stringify({ statusCode: status, error, message, diagnostics: [] });
}

/** One complete HTTP/1.1 response in the one error shape, for answers written straight to a socket (parser errors, refused connections). */
export function rawErrorResponse(status: number, error: ApiErrorCode, message: string, extraHeaders: Record<string, string> = {}): string {
  const body = errorBody(status, error, message);
  const headers: Array<[string, string]> = [
    ['Content-Type', 'application/json; charset=utf-8'],
    ['Content-Length', String(Buffer.byteLength(body))],
    ['Connection', 'close'],
    ...RAW_SECURITY_HEADERS,
    ...Object.entries(extraHeaders),
  ];
  return `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`;
}

/** The same answer on a ServerResponse the router has not seen (it closes the connection after it). */
function sendError(res: ServerResponse, status: number, error: ApiErrorCode, message: string): void {
  const body = errorBody(status, error, message);
  res.shouldKeepAlive = false;
  res.writeHead(status, [
    ['Content-Type', 'application/json; charset=utf-8'],
    ['Content-Length', String(Buffer.byteLength(body))],
    ...RAW_SECURITY_HEADERS,
  ]);
  res.end(body);
}

/** Set on a response cut off by the send deadline, for the access log. */
const SEND_TIMED_OUT = Symbol('wb.sendTimedOut');

type WatchedResponse = ServerResponse & { [SEND_TIMED_OUT]?: true };
type HandleOf = Socket & { _handle?: { writeQueueSize?: number } | null };

/** Whether the send deadline cut this response off (its connection destroyed before the client took it all). */
export function sendTimedOut(res: ServerResponse): boolean {
  return (res as WatchedResponse)[SEND_TIMED_OUT] === true;
}

/**
 * Arms the send deadline on a response that has ended (`prefinish`: all of it
 * handed to the socket) while some of it is still waiting for the client: a
 * client that takes none of it for `timeoutMs` loses the connection. Any
 * progress starts the wait again, so a slow reader of a large page is never
 * cut off, only one that stopped. Nothing is allocated for a response the
 * kernel took whole, the usual case. Event streams are left alone: they end
 * with a grace of their own (sse-stream.ts) and, while open, never end.
 *
 * Progress is read from two counters: `writableLength` (bytes Node holds;
 * it counts a write whole until that write is done) and the handle's
 * `writeQueueSize` (what libuv has yet to hand to the kernel of the writes
 * under way, which shrinks as the client reads). A page is one write, so
 * only the second moves while it goes out. The check runs every quarter of
 * the timeout: the connection closes between the timeout and a quarter more
 * after the last byte the client took.
 */
function sendDeadline(timeoutMs: number): (this: ServerResponse) => void {
  const every = Math.max(10, Math.floor(timeoutMs / 4));
  return function armIfUnsent(this: ServerResponse): void {
    const socket = this.socket as HandleOf | null;
    if (!socket || socket.writableLength === 0 || socket.destroyed) return;
    if (String(this.getHeader('content-type') ?? '').startsWith('text/event-stream')) return;
    const res = this as WatchedResponse;
    let buffered = socket.writableLength;
    let queued = socket._handle?.writeQueueSize ?? 0;
    let lastProgressAt = Date.now();
    const timer = setInterval(() => {
      const nowBuffered = socket.writableLength;
      const nowQueued = socket._handle?.writeQueueSize ?? 0;
      const now = Date.now();
      if (nowBuffered < buffered || nowQueued < queued) lastProgressAt = now;
      buffered = nowBuffered;
      queued = nowQueued;
      if (now - lastProgressAt < timeoutMs) return;
      clearInterval(timer);
      res[SEND_TIMED_OUT] = true;
      socket.destroy();
    }, every);
    timer.unref();
    const stop = () => clearInterval(timer);
    // 'finish': the kernel has it all. 'close': the connection went first.
    res.once('finish', stop);
    res.once('close', stop);
  };
}

interface ConnectionState {
  /** Responses of this connection's requests that have not gone out yet (running or waiting). */
  readonly unanswered: Map<ServerResponse, IncomingMessage>;
  /** Pipelined requests waiting for the answer before theirs to go out, oldest first (not run yet). */
  readonly waiting: Array<{ res: ServerResponse; run: () => void }>;
  /** Refused at the cap or closed for pipelining: no further request on it is served. */
  refused: boolean;
  /**
   * The error answer to bytes that were not HTTP, or to a queued request that never arrived whole,
   * held until the answers owed to the requests before them have gone out (written at once, it
   * would be read as theirs).
   */
  owedError?: string;
}

interface ServerState {
  /** Responses not yet finished, for the shutdown. */
  readonly inFlight: Set<ServerResponse>;
  draining: boolean;
}

const CONNECTION = Symbol('wb.connection');
const SERVERS = new WeakMap<Server, ServerState>();

type TrackedSocket = Socket & { [CONNECTION]?: ConnectionState };

/** The state of a connection, created on its first sight; when it closes, its unanswered responses leave the server's set (queued ones never emit 'close'). */
function connectionOf(socket: Socket, server: ServerState): ConnectionState {
  const s = socket as TrackedSocket;
  let connection = s[CONNECTION];
  if (!connection) {
    const created: ConnectionState = { unanswered: new Map(), waiting: [], refused: false };
    s[CONNECTION] = connection = created;
    socket.once('close', () => {
      for (const res of created.unanswered.keys()) server.inFlight.delete(res);
      created.unanswered.clear();
      created.waiting.length = 0;
    });
  }
  return connection;
}

/** The soft limit of open files of this process (Linux), or undefined where it cannot be read. */
function openFileLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Connections admitted at once: the configured cap, but never so many that accepting them would run out of file descriptors. */
export function effectiveMaxConnections(configured: number, fileLimit = openFileLimit()): number {
  if (fileLimit === undefined) return configured;
  return Math.max(1, Math.min(configured, fileLimit - RESERVED_FILE_DESCRIPTORS));
}

/** Writes a raw answer and closes the connection once it is out. */
function endWith(socket: Socket, response: string): void {
  socket.end(response);
  socket.destroySoon();
}

function dispatch(app: readonly RequestListener[], server: Server, req: IncomingMessage, res: ServerResponse): void {
  for (const listener of app) listener.call(server, req, res);
}

/**
 * A waiting pipelined request, run from the 'close' of the answer before it: a
 * throw would skip that answer's other 'close' listeners (the access log) and
 * end the process. The router does not throw; if it ever did, the connection goes.
 */
function dispatchLater(app: readonly RequestListener[], server: Server, req: IncomingMessage, res: ServerResponse): void {
  try {
    dispatch(app, server, req, res);
  } catch {
    req.socket.destroy();
  }
}

/** Answers whose client sent `Expect: 100-continue` and waits for a 100 before it sends the body. */
const AWAITING_CONTINUE = new WeakSet<ServerResponse>();

/** Tells a client waiting with its body (`Expect: 100-continue`) to send it: call once the request is accepted. */
export function continueIfAwaited(res: ServerResponse): void {
  if (!AWAITING_CONTINUE.delete(res) || res.headersSent) return;
  res.writeContinue();
}

/**
 * Bounds on the connection level (SPEC §13), before any request reaches
 * the router:
 * - a client must send its headers within `headersTimeoutMs` and its whole
 *   request within `requestTimeoutMs`. Node applies the headers timeout to a
 *   socket that never sends a byte too (its connection list starts the clock
 *   at accept), so idle sockets are closed with a `408`; idle keep-alive
 *   connections close after `keepAliveTimeoutMs`;
 * - past `maxConnections` (never more than the file descriptors allow) a new
 *   connection gets a `503` and is closed at once, so a flood of idle sockets
 *   cannot exhaust file descriptors;
 * - a connection carries at most `maxRequestsPerSocket` requests: the last
 *   one is answered with `Connection: close` and the connection closes
 *   (Node alone only says so, keeps it open and answers further requests
 *   with bare 503s);
 * - a connection with more than MAX_PIPELINED_REQUESTS unanswered requests
 *   is closed (see there), and its requests run one at a time;
 * - a response, other than an event stream, whose bytes the client takes
 *   none of for `sendTimeoutMs` is cut off: its connection is destroyed (see
 *   sendDeadline). Node's own timeouts end once a request has arrived, and
 *   `server.timeout` (socket inactivity, off by default) would also close a
 *   connection whose request the app takes long to answer: a client that
 *   stopped reading held a whole transcript page (~100 MiB) for as long as
 *   it liked;
 * - whatever Node would answer by itself (parser errors, headers too large,
 *   a missing Host, an unknown Expect) is the one error shape as JSON, with
 *   the security headers, and so is CONNECT, which Node alone answers by
 *   closing the socket. A missing Host goes on to the host check (`403
 *   host_not_allowed`), like an HTTP/1.0 request without one.
 */
export function hardenHttpServer(server: Server, config: HttpConfig): void {
  server.headersTimeout = config.headersTimeoutMs;
  server.requestTimeout = config.requestTimeoutMs;
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  server.maxRequestsPerSocket = config.maxRequestsPerSocket;
  // How often Node checks the two timeouts above (default 30 s): often enough that they hold. Read when the server starts listening.
  (server as Server & { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.min(1000, config.headersTimeoutMs);
  (server as Server & { requireHostHeader?: boolean }).requireHostHeader = false;
  const state: ServerState = { inFlight: new Set(), draining: false };
  SERVERS.set(server, state);
  const maxConnections = effectiveMaxConnections(config.maxConnections);
  const armSendDeadline = sendDeadline(config.sendTimeoutMs);

  let open = 0;
  server.prependListener('connection', (socket: Socket) => {
    open++;
    socket.once('close', () => open--);
    const connection = connectionOf(socket, state);
    if (open > maxConnections) {
      connection.refused = true;
      endWith(socket, rawErrorResponse(503, 'service_unavailable', 'The server holds its maximum of connections; retry later', { 'Retry-After': '1' }));
    }
  });

  // `Expect: 100-continue`: Node would answer 100 at once, inviting the body before the host, the key, the
  // scope, the size and the type were checked. Heard here, the request goes through the pipeline like any
  // other, and the body stage answers 100 only once it is about to read the body (json-body.middleware.ts).
  // An answer given before that closes the connection, as RFC 9110 §10.1.1 asks: Node does so itself
  // for a request whose body it has not received (tested), since the client may send it still, or never.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    AWAITING_CONTINUE.add(res);
    server.emit('request', req, res);
  });

  // Every request passes here before the router (the router is the server's request listener).
  const app = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const connection = connectionOf(socket, state);
    // writableEnded: the connection's last answer went out before Node parsed this one (it first read
    // that request's unread body): were it run now, it could act and never be answered.
    if (connection.refused || socket.destroyed || socket.writableEnded) return;
    if (connection.unanswered.size >= MAX_PIPELINED_REQUESTS) {
      connection.refused = true;
      socket.destroy();
      return;
    }
    connection.unanswered.set(res, req);
    state.inFlight.add(res);
    res.once('close', () => {
      connection.unanswered.delete(res);
      state.inFlight.delete(res);
      // This answer went out (Node emits 'close' after 'finish'): the next pipelined request runs, unless
      // this answer was the connection's last (Connection: close, the per-socket cap, a drain): Node gives
      // the socket to no later answer, so a request run now would act and never be answered.
      if (socket.destroyed || socket.writableEnded) connection.waiting.length = 0;
      else if (connection.waiting.length > 0) connection.waiting.shift()!.run();
      else if (connection.owedError !== undefined && connection.unanswered.size === 0) endWith(socket, connection.owedError);
    });
    res.on('prefinish', armSendDeadline);
    // The last request this connection may carry, or any while shutting down: the connection closes after its answer.
    if ((res as ServerResponse & { maxRequestsOnConnectionReached?: boolean }).maxRequestsOnConnectionReached || state.draining) res.shouldKeepAlive = false;
    // A connection's requests run one at a time: a pipelined one waits until the answer before it went out.
    // Node would run them all at once and hold every answer until its turn to be written, so a client
    // that pipelines and never reads held MAX_PIPELINED_REQUESTS answers per connection (transcript pages:
    // +1.9 GiB for 10 connections). Now it holds one, which the send deadline ends.
    if (connection.unanswered.size > 1) connection.waiting.push({ res, run: () => dispatchLater(app, server, req, res) });
    else dispatch(app, server, req, res);
  });

  // CONNECT goes to this event, never to the router; with no listener Node closes the socket without an answer.
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    // Node took its own error listener off this socket: without one, a client's reset while the answer is written would end the process.
    socket.on('error', () => socket.destroy());
    // An answer still owed to an earlier pipelined request would be read as this one's: close instead.
    if (connectionOf(socket, state).unanswered.size > 0) return socket.destroy();
    endWith(socket, rawErrorResponse(400, 'validation_failed', 'CONNECT is not supported: this server is not a proxy'));
  });

  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    sendError(res, 417, 'validation_failed', 'Only Expect: 100-continue is supported');
  });

  // Ours replaces the router's own (Fastify answers a malformed request with its own body, and both would write).
  server.removeAllListeners('clientError');
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') return socket.destroy();
    const connection = connectionOf(socket, state);
    // Node reports a parser that failed again at the next bytes: the first answer stands.
    if (connection.owedError !== undefined) return;
    const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    const code = err.code ?? '';
    const response =
      code === 'HPE_HEADER_OVERFLOW'
        ? rawErrorResponse(431, 'headers_too_large', 'Request headers are too large')
        : code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_TIMEOUT'
          ? rawErrorResponse(408, 'validation_failed', 'The request was not sent in time')
          : rawErrorResponse(400, 'validation_failed', 'The request is not valid HTTP');
    connection.refused = true;
    // A request still arriving (a body that stalled past the request timeout, a bad chunk) will never be whole.
    // One still waiting its turn has not run (and its unread body may be what stopped Node reading the socket):
    // it is dropped, and the error follows the answers owed before it, like bytes after whole requests.
    const incomplete = [...connection.unanswered].filter(([, req]) => !req.complete).map(([res]) => res);
    const queued = new Set(connection.waiting.map((entry) => entry.res));
    if (incomplete.length > 0 && incomplete.every((res) => queued.has(res))) {
      for (const res of incomplete) {
        connection.unanswered.delete(res);
        state.inFlight.delete(res);
      }
      connection.waiting.splice(0, connection.waiting.length, ...connection.waiting.filter((entry) => !incomplete.includes(entry.res)));
    } else if (incomplete.length > 0) {
      // One that is running: the error is its own answer, now (waiting would hold the connection for
      // good). Behind earlier answers still owed, it would be read as theirs: close instead.
      return connection.unanswered.size > 1 || current?.headersSent ? socket.destroy() : endWith(socket, response);
    }
    // Bytes after whole requests: those are answered first, in order (one may have acted: a 400 in its
    // place would tell its client it did not); this answer follows the last of them (see 'close' above).
    if (connection.unanswered.size > 0) return void (connection.owedError = response);
    // A response under way that is not ours to wait for: a second one would corrupt it, so just close.
    if (current?.headersSent) return socket.destroy();
    endWith(socket, response);
  });
}

/**
 * The HTTP part of a graceful shutdown (SPEC §13): the listener closes, so
 * new connections are refused; responses in flight, and any request still
 * arriving on an open connection, are answered with `Connection: close`, so
 * each connection closes after its answer instead of being reset under a
 * client that reuses it; idle keep-alive connections are closed now and
 * whenever one turns idle. Resolves once every connection has closed, or
 * after `graceMs`, when the remaining ones are destroyed.
 */
export async function drainHttpServer(server: Server, graceMs: number): Promise<{ drained: boolean }> {
  const state = SERVERS.get(server);
  if (state) {
    state.draining = true;
    for (const res of state.inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
  }
  let drained = false;
  // close() also closes the connections idle right now (Node ≥ 19).
  const closed = new Promise<void>((resolve) =>
    server.close(() => {
      drained = true;
      resolve();
    }),
  );
  const sweep = setInterval(() => server.closeIdleConnections(), 50);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  clearInterval(sweep);
  if (!drained) server.closeAllConnections();
  return { drained };
}
