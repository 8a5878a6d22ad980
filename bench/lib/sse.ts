import { type ClientRequest, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { AUTH } from './toolkit';

export interface SseEvent {
  /** performance.now() when the block was complete. */
  at: number;
  id?: string;
  event?: string;
  /** The raw `data:` text (JSON), parsed lazily by `json()`. */
  data: string;
}

export const json = (e: SseEvent) => JSON.parse(e.data);

/**
 * A streaming SSE client for the runner: parses blocks as they arrive and
 * hands each event to `onEvent` with its arrival time. It keeps nothing
 * unless `keep` is set (100 subscribers × 1,000 events/s would otherwise
 * cost the runner more than the app).
 */
export class SseReader {
  readonly events: SseEvent[] = [];
  count = 0;
  bytes = 0;
  status = 0;
  ended = false;
  private buffer = '';
  private listeners: Array<(e: SseEvent) => void> = [];

  private constructor(
    private readonly req: ClientRequest,
    private readonly keep: boolean,
  ) {}

  static open(url: string, opts: { keep?: boolean; headers?: Record<string, string>; onEvent?: (e: SseEvent) => void } = {}): Promise<SseReader> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { ...AUTH, accept: 'text/event-stream', ...opts.headers } });
      const reader = new SseReader(req, opts.keep ?? false);
      if (opts.onEvent) reader.listeners.push(opts.onEvent);
      req.on('response', (res) => {
        reader.status = res.statusCode ?? 0;
        if (reader.status !== 200) {
          res.resume();
          reject(new Error(`stream ${url}: ${reader.status}`));
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => reader.onData(chunk));
        res.on('close', () => (reader.ended = true));
        resolve(reader);
      });
      req.on('error', (err) => (reader.status ? (reader.ended = true) : reject(err)));
      req.end();
    });
  }

  onEvent(listener: (e: SseEvent) => void): () => void {
    this.listeners.push(listener);
    return () => (this.listeners = this.listeners.filter((l) => l !== listener));
  }

  private onData(chunk: string): void {
    this.bytes += chunk.length;
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const e = parseBlock(block);
      if (!e) continue;
      this.count++;
      if (this.keep) this.events.push(e);
      for (const l of this.listeners) l(e);
    }
  }

  /** Resolves once `predicate` holds for an arriving event (or already held for a kept one). */
  waitFor(predicate: (e: SseEvent) => boolean, timeoutMs: number, what: string): Promise<SseEvent> {
    const found = this.events.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no ${what} within ${timeoutMs} ms on the stream`));
      }, timeoutMs);
      const off = this.onEvent((e) => {
        if (!predicate(e)) return;
        clearTimeout(timer);
        off();
        resolve(e);
      });
    });
  }

  close(): void {
    this.req.destroy();
  }
}

function parseBlock(block: string): SseEvent | undefined {
  let id: string | undefined;
  let event: string | undefined;
  let data: string | undefined;
  for (const line of block.split('\n')) {
    if (line.startsWith('data: ')) data = data === undefined ? line.slice(6) : `${data}\n${line.slice(6)}`;
    else if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('id: ')) id = line.slice(4);
  }
  if (data === undefined) return undefined;
  return { at: performance.now(), id, event, data };
}

/**
 * An SSE client that reads the response headers and then never reads again
 * (the socket is paused: the kernel buffers fill, then the server's).
 * Resolves with the socket once the `200` status line has arrived.
 */
export function openStalledStream(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: ${AUTH.authorization}\r\nAccept: text/event-stream\r\n\r\n`);
    });
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      const head = chunk.toString('latin1', 0, 12);
      if (head !== 'HTTP/1.1 200') {
        socket.destroy();
        reject(new Error(`stalled stream: ${chunk.toString('latin1', 0, 200)}`));
      } else resolve(socket);
    });
    socket.on('error', (err) => reject(err));
  });
}
