import type { LogLevel } from '@nestjs/common';
import { type IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { AppLogger } from './app-logger';
import { sendTimedOut } from '../http/http-server';
import { redactUrl } from './redact';
import { resolveRequestId } from './request-id.middleware';

/** The only request headers an access line carries. */
export const ACCESS_LOG_HEADERS = ['user-agent', 'content-type', 'content-length'] as const;

export type AccessLogHeaders = Partial<Record<(typeof ACCESS_LOG_HEADERS)[number], string>>;

/**
 * The fields of an access line besides level, time, context, reqId and msg:
 * `{"level","time","context","reqId","method","url","status","durationMs","bytes","headers","msg"}`.
 */
export interface AccessLogFields {
  method: string;
  /** Path and query, the query's credential-like values redacted. */
  url: string;
  /** Null when the connection closed before any response header was sent. */
  status: number | null;
  /** From the first byte of the request seen by this middleware to the end (or close) of the response. */
  durationMs: number;
  /** Body bytes handed to the response (`write`/`end`), headers excluded. */
  bytes: number;
  headers: AccessLogHeaders;
}

export interface AccessLogOptions {
  /** The app logger: it writes the lines (`writeLine`: same destination, same whole-line redaction) and its levels apply. */
  logger: AppLogger;
  /** `context` of access lines; default `HTTP`. */
  context?: string;
}

export type AccessLogMiddleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

/** Message of a line whose response ended normally, and of one whose connection closed first (client gone, SSE stream closed). */
export const ACCESS_COMPLETED = 'request completed';
export const ACCESS_CLOSED = 'request closed';

interface ResponseState {
  /** performance.now() at the request's start (a double: no BigInt per request). */
  start: number;
  bytes: number;
  reqId: string;
  done: boolean;
}

const STATE = Symbol('accessLogState');

type WithState = ServerResponse & { [STATE]?: ResponseState; req: IncomingMessage };

/**
 * One access line per request, written when the response finishes or the
 * connection closes (a stream is logged when it ends, with its duration).
 * The request id is `req.id` (set by `requestIdMiddleware`, mounted before
 * this), else a valid `X-Request-Id`, else a new one. No request header but
 * {@link ACCESS_LOG_HEADERS}; never Authorization or cookies.
 * Level: `error` for 5xx but 501 and for response errors, `warn` for a
 * response the send deadline cut off (http-server.ts), else `log` (info), each
 * printed only if the app logger has that level enabled.
 *
 * Written by hand rather than with pino-http: pino-http binds the whole
 * request object to a child logger on every request, which pino serialises
 * eagerly (through the redaction pass) even when no line is ever printed;
 * that alone was ~10% of the CPU of a cheap GET in the profile (issue 16).
 * Here a request costs one small state object and two listeners, both
 * made once per middleware (no closures per request; the byte counting sits
 * on the app's response prototype, see countBytesOf), and, if the level is
 * enabled, one line, serialised here (its shape is fixed) and redacted and
 * written by the app logger (`writeLine`): through pino's generic path the
 * line was a fifth of a cheap GET's CPU (measured with the middleware on
 * and off). `close` always follows `finish` on a response, and
 * also comes when the connection drops first.
 */
export function createAccessLogMiddleware(options: AccessLogOptions): AccessLogMiddleware {
  const { logger } = options;
  const context = JSON.stringify(options.context ?? 'HTTP');
  /** Writes the line once, on the first of `close` and `error`. */
  function complete(this: ServerResponse, err?: Error): void {
    const state = (this as WithState)[STATE];
    if (!state || state.done) return;
    state.done = true;
    // Cut off by the send deadline: ended, even 'finish'ed (Node emits it when the socket is destroyed), but not delivered.
    const cutOff = sendTimedOut(this);
    // 501 is this API's answer for an operation a runtime does not support: routine, not a server fault.
    const level: LogLevel = err || (this.statusCode >= 500 && this.statusCode !== 501) ? 'error' : cutOff ? 'warn' : 'log';
    if (!logger.isLevelEnabled(level)) return;
    const f = accessLogFields((this as WithState).req, this, logger);
    const msg = this.writableEnded && !cutOff ? ACCESS_COMPLETED : ACCESS_CLOSED;
    // The keys of pino's lines, in pino's order (time as pino's isoTime); serialised by hand: see writeLine.
    logger.writeLine(
      `{"level":"${level === 'log' ? 'info' : level}","time":"${isoTimeNow()}","context":${context},"reqId":${JSON.stringify(state.reqId)},` +
        `"method":${JSON.stringify(f.method)},"url":${JSON.stringify(f.url)},"status":${f.status},"durationMs":${f.durationMs},"bytes":${f.bytes},` +
        `"headers":${JSON.stringify(f.headers)},"msg":"${msg}"}`,
    );
  }
  return (req, res, next) => {
    (res as WithState)[STATE] = { start: performance.now(), bytes: 0, reqId: resolveRequestId(req), done: false };
    countBytesOf(res);
    // `close` passes no argument; `error` passes the error.
    res.on('close', complete);
    res.on('error', complete);
    next();
  };
}

/** Marks the counting wrappers, so that a prototype inheriting them (a subclass of the app's response class) is not wrapped again. */
const COUNTING = Symbol('accessLogCounting');

/** Marks a response prototype that belongs to one server (see {@link appResponseClass}). */
const APP_RESPONSE = Symbol('appResponse');

/**
 * A ServerResponse class of one server's own (`http.createServer({ ServerResponse })`):
 * the access log may put its counting methods on its prototype (see countBytesOf).
 */
export function appResponseClass(): typeof ServerResponse {
  class AppServerResponse extends ServerResponse {}
  Object.defineProperty(AppServerResponse.prototype, APP_RESPONSE, { value: true });
  return AppServerResponse as typeof ServerResponse;
}

/**
 * Makes `res.write`/`res.end` count body bytes. The app's server makes its
 * responses from a class of its own ({@link appResponseClass}): the
 * counting methods go on its prototype once, so a request only stores its
 * state. Setting them on each response instead cost ~10% of a cheap
 * GET's CPU (two own properties per response, measured on bare Express, issue 16).
 * Any other response (a plain `http.ServerResponse`: patching a shared
 * prototype would touch every server in the process) gets them per instance.
 */
function countBytesOf(res: ServerResponse): void {
  const proto = Object.getPrototypeOf(res) as ServerResponse;
  if ((proto.write as { [COUNTING]?: true })[COUNTING]) return;
  const target = Object.hasOwn(proto, APP_RESPONSE) ? proto : res;
  target.write = countingWrite(proto.write);
  target.end = countingEnd(proto.end);
}

/** Counts the body bytes passed to `res.write` (streams included), then writes. */
function countingWrite(write: ServerResponse['write']): ServerResponse['write'] {
  const counting = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
    const state = (this as WithState)[STATE];
    if (state) state.bytes += byteLength(chunk, rest[0]);
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  };
  return Object.assign(counting, { [COUNTING]: true as const }) as unknown as ServerResponse['write'];
}

function countingEnd(end: ServerResponse['end']): ServerResponse['end'] {
  return function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]): ServerResponse {
    const state = (this as WithState)[STATE];
    if (state && typeof chunk !== 'function') state.bytes += byteLength(chunk, rest[0]);
    return (end as (...a: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as ServerResponse['end'];
}

/** pino's isoTime, made once per millisecond: under load many lines share one. */
function isoTimeNow(): string {
  const now = Date.now();
  if (now !== isoTimeAt) {
    isoTimeAt = now;
    isoTime = new Date(now).toISOString();
  }
  return isoTime;
}
let isoTimeAt = -1;
let isoTime = '';

function accessLogFields(req: IncomingMessage, res: ServerResponse, logger: AppLogger): AccessLogFields {
  const state = (res as WithState)[STATE];
  const durationMs = state ? Math.round((performance.now() - state.start) * 100) / 100 : 0;
  const headers: AccessLogHeaders = {};
  for (const name of ACCESS_LOG_HEADERS) {
    const value = req.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  return {
    method: req.method ?? '',
    url: redactUrl(req.url ?? '', logger.registry),
    status: res.headersSent ? res.statusCode : null,
    durationMs,
    bytes: state?.bytes ?? 0,
    headers,
  };
}

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}
