import type { Response } from 'express';

export interface SseStreamOptions {
  heartbeatMs: number;
  /** Unread bytes allowed before the client is cut off with `stream.overflow`. */
  maxBufferedBytes: number;
  /** The `data:` of the final `stream.overflow` event (already serialised by the caller's DTO rules). */
  overflowData: unknown;
}

/** How long an overflowed client gets to read its final event before the socket is destroyed. */
const OVERFLOW_GRACE_MS = 5000;

/**
 * One Server-Sent Events response, written by hand so that headers go out
 * only after every check has passed (errors stay JSON), heartbeats are
 * comments, and a slow client costs at most `maxBufferedBytes`: past that it
 * gets a final `stream.overflow` event and is disconnected. Every timer and
 * subscription is released on 'close', however the connection ends
 * (client gone, overflow, app shutdown with forceCloseConnections).
 */
export class SseStream {
  /** Open streams in this process (tests check it returns to zero). */
  static active = 0;

  private opened = false;
  private closed = false;
  private heartbeat?: NodeJS.Timeout;
  private graceTimer?: NodeJS.Timeout;
  private readonly cleanups: Array<() => void> = [];

  constructor(
    private readonly res: Response,
    private readonly options: SseStreamOptions,
  ) {
    // From the start, not from open(): a client may leave while the stream is still being set up.
    res.on('close', () => this.dispose());
  }

  /** Sends the headers; called by the first write, or explicitly once the stream is set up. */
  open(): void {
    if (this.opened || this.closed) return;
    if (this.res.destroyed) {
      this.release();
      return;
    }
    this.opened = true;
    SseStream.active++;
    this.res.status(200);
    this.res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    this.res.setHeader('cache-control', 'no-cache, no-transform');
    this.res.setHeader('connection', 'keep-alive');
    this.res.setHeader('x-accel-buffering', 'no');
    this.res.flushHeaders();
    this.res.write('retry: 2000\n\n');
    this.heartbeat = setInterval(() => this.comment('heartbeat'), this.options.heartbeatMs);
  }

  /** Registers clean-up to run when the connection closes (unsubscribe, …). */
  onClose(cleanup: () => void): void {
    if (this.closed) cleanup();
    else this.cleanups.push(cleanup);
  }

  send(event: string, data: unknown, id?: string): void {
    this.open();
    if (this.closed) return;
    if (this.res.writableLength > this.options.maxBufferedBytes) {
      this.overflow();
      return;
    }
    this.res.write(frame(event, data, id));
  }

  comment(text: string): void {
    if (!this.opened || this.closed) return;
    this.res.write(`: ${text}\n\n`);
  }

  private overflow(): void {
    this.res.end(frame('stream.overflow', this.options.overflowData));
    this.release();
    // The client may never read again: do not keep its socket (and buffer) forever.
    this.graceTimer = setTimeout(() => this.res.destroy(), OVERFLOW_GRACE_MS);
    this.graceTimer.unref();
  }

  private release(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.opened) SseStream.active--;
    clearInterval(this.heartbeat);
    for (const cleanup of this.cleanups.splice(0)) {
      try {
        cleanup();
      } catch {
        // clean-up must go on
      }
    }
  }

  private dispose(): void {
    clearTimeout(this.graceTimer);
    this.release();
  }
}

/** One SSE event; JSON.stringify never emits a raw newline, so `data:` is one line. */
function frame(event: string, data: unknown, id?: string): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
