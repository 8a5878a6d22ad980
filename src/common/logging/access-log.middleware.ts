import type { LogLevel } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppLogger } from './app-logger';
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
  /** The app logger: its pino instance writes the lines (same destination, same redaction) and its levels apply. */
  logger: AppLogger;
  /** `context` of access lines; default `HTTP`. */
  context?: string;
}

export type AccessLogMiddleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

/** Message of a line whose response ended normally, and of one whose connection closed first (client gone, SSE stream closed). */
export const ACCESS_COMPLETED = 'request completed';
export const ACCESS_CLOSED = 'request closed';

interface ResponseState {
  start: bigint;
  bytes: number;
}

const STATE = Symbol('accessLogState');

type WithState = ServerResponse & { [STATE]?: ResponseState };

/**
 * One access line per request, written when the response finishes or the
 * connection closes (a stream is logged when it ends, with its duration).
 * The request id is `req.id` (set by `requestIdMiddleware`, mounted before
 * this), else a valid `X-Request-Id`, else a new one. No request header but
 * {@link ACCESS_LOG_HEADERS}; never Authorization or cookies.
 * Level: `error` for 5xx but 501 and for response errors, else `log` (info), each
 * printed only if the app logger has that level enabled.
 *
 * Written by hand rather than with pino-http: pino-http binds the whole
 * request object to a child logger on every request, which pino serialises
 * eagerly (through the redaction pass) even when no line is ever printed;
 * that alone was ~10% of the CPU of a cheap GET in the profile (issue 16).
 * Here a request costs two listeners and, if the level is enabled, one line.
 */
export function createAccessLogMiddleware(options: AccessLogOptions): AccessLogMiddleware {
  const { logger } = options;
  const lines = logger.pino.child({ context: options.context ?? 'HTTP' });
  return (req, res, next) => {
    const state: ResponseState = { start: process.hrtime.bigint(), bytes: 0 };
    (res as WithState)[STATE] = state;
    countBodyBytes(res, state);
    const reqId = resolveRequestId(req);
    const onFinish = () => complete();
    const onError = (err: Error) => complete(err);
    const complete = (err?: Error) => {
      res.removeListener('finish', onFinish);
      res.removeListener('close', onFinish);
      res.removeListener('error', onError);
      // 501 is this API's answer for an operation a runtime does not support: routine, not a server fault.
      const level: LogLevel = err || (res.statusCode >= 500 && res.statusCode !== 501) ? 'error' : 'log';
      if (!logger.isLevelEnabled(level)) return;
      const line = { reqId, ...accessLogFields(req, res, logger) };
      const msg = res.writableEnded ? ACCESS_COMPLETED : ACCESS_CLOSED;
      if (level === 'error') lines.error(line, msg);
      else lines.info(line, msg);
    };
    res.on('finish', onFinish);
    res.on('close', onFinish);
    res.on('error', onError);
    next();
  };
}

function accessLogFields(req: IncomingMessage, res: ServerResponse, logger: AppLogger): AccessLogFields {
  const state = (res as WithState)[STATE];
  const durationMs = state ? Math.round(Number(process.hrtime.bigint() - state.start) / 1e4) / 100 : 0;
  const headers: AccessLogHeaders = {};
  for (const name of ACCESS_LOG_HEADERS) {
    const value = req.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  return {
    method: req.method ?? '',
    url: redactUrl((req as { originalUrl?: string }).originalUrl ?? req.url ?? '', logger.registry),
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

/** Counts body bytes passed to `res.write`/`res.end` (streams included). */
function countBodyBytes(res: ServerResponse, state: ResponseState): void {
  const write = res.write;
  const end = res.end;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    state.bytes += byteLength(chunk, rest[0]);
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    if (typeof chunk !== 'function') state.bytes += byteLength(chunk, rest[0]);
    return (end as (...a: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as ServerResponse['end'];
}
