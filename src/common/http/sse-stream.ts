import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface SseStreamOptions {
  /** Interval of the named `heartbeat` event. */
  heartbeatMs: number;
  /** Unread bytes past which the stream reports no room (the source then pauses it). */
  maxBufferedBytes: number;
  /** The heartbeat event, built by the caller (event DTOs live outside this concern). */
  heartbeatFrame: () => string;
  /**
   * The write window: a frame that may wait, written within this long of the
   * stream's last socket write, waits for the window's end and goes out with
   * the frames that joined it, in one write (0: every frame at once). Each
   * socket write costs a system call, so a hundred streams of a worker
   * streaming deltas would otherwise cost a hundred calls per delta; a frame
   * after a quiet spell, and any frame that may not wait, is not delayed.
   */
  flushMs: number;
  /**
   * Called once, just before the headers are written: the framework that
   * routed the request hands the response over (Fastify's `reply.hijack()`),
   * so that it neither answers nor ends it itself. Until then an error is
   * still answered as JSON by the exception filter.
   */
  takeOver?: () => void;
}

/** How long a client that was cut off gets to read its final event before the socket is destroyed. */
const FINAL_EVENT_GRACE_MS = 5000;

/**
 * One Server-Sent Events response, written by hand so that headers go out
 * only after every check has passed (errors stay JSON). It knows nothing of
 * events: it writes frames, reports whether the client has room for more,
 * and tells when it has drained. A client whose unread bytes stay above a
 * quarter of its allowance keeps a `laggingSince` time; the stream registry
 * cuts off clients that lag too long or when the process-wide budget is
 * spent. Every timer and clean-up runs on 'close', however the connection
 * ends.
 */
export class SseStream {
  private opened = false;
  private ended = false;
  private released = false;
  private heartbeat?: NodeJS.Timeout;
  private graceTimer?: NodeJS.Timeout;
  private readonly cleanups: Array<() => void> = [];
  private drainWaiters: Array<() => void> = [];
  private drainPoll?: NodeJS.Timeout;
  /** Frames waiting for the end of the write window, and their bytes (they count as unread). */
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private flushTimer?: NodeJS.Timeout;
  private lastWriteAt = -Infinity;
  /** The socket's unread bytes as of the last socket write (it only shrinks until the next one). */
  private socketUnread = 0;
  /** Since when the client has left more than a quarter of its allowance unread (undefined: it keeps up). */
  laggingSince: number | undefined;

  constructor(
    readonly res: ServerResponse,
    private readonly options: SseStreamOptions,
  ) {
    // From the start, not from open(): a client may leave while the stream is still being set up.
    res.on('close', () => this.release());
    res.on('drain', () => this.checkRoom());
  }

  get closed(): boolean {
    return this.ended || this.released;
  }

  /** Ended, but its socket is still open (the client has its grace to read the final frame): it still holds its unread bytes. */
  get ending(): boolean {
    return this.ended && !this.released;
  }

  /** Whether the socket is still held (open, or ending): until then its unread bytes are in memory. */
  get holding(): boolean {
    return !this.released;
  }

  /** Drops the connection at once, unread bytes and all (a client far behind, when memory is short). */
  destroy(): void {
    this.res.destroy();
  }

  /** Bytes written but not yet taken by the client (frames waiting for the write window included). */
  get unreadBytes(): number {
    return this.res.writableLength + this.batchBytes;
  }

  /** Sends the headers and the reconnect hint; called by the first write, or explicitly once set up. */
  open(): void {
    if (this.opened || this.closed) return;
    if (this.res.destroyed) return this.release();
    this.opened = true;
    this.options.takeOver?.();
    this.res.statusCode = 200;
    this.res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    this.res.setHeader('cache-control', 'no-cache, no-transform');
    this.res.setHeader('x-accel-buffering', 'no');
    // The body ends when the connection does (nothing follows an event stream on its connection;
    // EventSource reconnects on a new one): no chunked framing, so a write is one socket write
    // rather than four (size line, CRLF, data, CRLF). With 100 streams on a worker running short
    // turns, chunked framing was ~15% of the app's CPU (A/B). A HEAD answer has no body and keeps
    // its connection (a request pipelined behind it is answered).
    if (this.res.req.method !== 'HEAD') {
      this.res.setHeader('connection', 'close');
      this.res.removeHeader('transfer-encoding');
    }
    this.res.flushHeaders();
    this.res.write('retry: 2000\n\n');
    this.heartbeat = setInterval(() => this.write(this.options.heartbeatFrame()), this.options.heartbeatMs);
  }

  /**
   * Writes one frame; returns whether the client still has room. A frame that
   * `mayWait` (a delta: more are coming) joins the write window when one is
   * open; any other frame goes out at once, after the frames held before it.
   * Frames after the end are dropped.
   */
  write(frame: string | Buffer, mayWait = false): boolean {
    this.open();
    if (this.closed) return false;
    if (this.flushTimer !== undefined) {
      this.hold(frame);
      if (!mayWait) this.flush();
    } else {
      const wait = this.lastWriteAt + this.options.flushMs - performance.now();
      if (!mayWait || wait <= 0) {
        this.writeOut(frame);
      } else {
        this.hold(frame);
        this.flushTimer = setTimeout(this.flush, wait);
      }
    }
    // An upper bound without asking the socket; asked only when the bound says the client is behind.
    let unread = this.socketUnread + this.batchBytes;
    if (unread > this.options.maxBufferedBytes / 4) unread = this.unreadBytes;
    if (unread > this.options.maxBufferedBytes / 4) this.laggingSince ??= Date.now();
    return unread <= this.options.maxBufferedBytes;
  }

  private hold(frame: string | Buffer): void {
    const bytes = typeof frame === 'string' ? Buffer.from(frame) : frame;
    this.batch.push(bytes);
    this.batchBytes += bytes.length;
  }

  /** Writes the frames held for the window, as one chunk. */
  private readonly flush = (): void => {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.batch.length === 0) return;
    const chunk = this.batch.length === 1 ? this.batch[0] : Buffer.concat(this.batch, this.batchBytes);
    this.batch = [];
    this.batchBytes = 0;
    if (!this.released) this.writeOut(chunk);
  };

  /** Writes a chunk to the socket; the write window starts again from here. */
  private writeOut(chunk: string | Buffer): void {
    this.lastWriteAt = performance.now();
    this.res.write(chunk);
    this.socketUnread = this.res.writableLength;
  }

  /** Resolves once the client has read most of what it was sent (or the stream closed). */
  ready(): Promise<void> {
    if (this.closed || this.hasRoom()) return Promise.resolve();
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      // 'drain' only fires when a write found the socket buffer full; below that, look.
      this.drainPoll ??= setInterval(() => this.checkRoom(), 25);
    });
  }

  private hasRoom(): boolean {
    return this.unreadBytes <= this.options.maxBufferedBytes / 4;
  }

  private checkRoom(): void {
    if (!this.hasRoom()) return;
    this.laggingSince = undefined;
    this.wakeWaiters();
  }

  /** Registers clean-up to run when the connection closes (unsubscribe, …). */
  onClose(cleanup: () => void): void {
    if (this.released) cleanup();
    else this.cleanups.push(cleanup);
  }

  /**
   * Ends the stream after one last frame. The client gets a few seconds to
   * read it; a client that never reads again loses its socket then.
   */
  end(finalFrame?: string | Buffer): void {
    if (this.closed) return;
    if (!this.opened) this.open();
    this.ended = true;
    clearInterval(this.heartbeat);
    this.flush();
    if (finalFrame !== undefined) this.res.end(finalFrame);
    else this.res.end();
    this.graceTimer = setTimeout(() => this.res.destroy(), FINAL_EVENT_GRACE_MS);
    this.graceTimer.unref();
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    clearInterval(this.drainPoll);
    this.drainPoll = undefined;
    for (const waiter of this.drainWaiters.splice(0)) waiter();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.graceTimer);
    clearTimeout(this.flushTimer);
    this.batch = [];
    this.batchBytes = 0;
    this.wakeWaiters();
    for (const cleanup of this.cleanups.splice(0)) {
      try {
        cleanup();
      } catch {
        // clean-up must go on
      }
    }
  }
}
