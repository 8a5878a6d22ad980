import { type BeforeApplicationShutdown, HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { PipelineRequest } from '../common/http/middleware-chain';
import { ApiError } from '../common/errors/api-error';
import { SseStream } from '../common/http/sse-stream';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { EventSink, StreamResetReason, Subscription, WorkerEvent } from '../runtimes/runtime-source';
import { toHeartbeatData, toStreamClosingData, toStreamOverflowData, toStreamResetData, toWorkerEventData } from './dto/worker-event.dto';
import { ANONYMOUS_KEY_ID } from '../auth/auth.constants';

/** The scope of `/api/events` streams (a worker's stream is scoped `<runtime_id>/<worker_id>`). */
export const ALL_EVENTS_SCOPE = 'all';

/** Resume positions are opaque to this layer; only their form is checked (the source decides what they mean). */
const POSITION_FORM = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * The resume position: the Last-Event-ID header (what EventSource sends on
 * reconnect) wins over `?after=`; anything but a short token is a 400.
 */
export function resumePosition(lastEventId: string | undefined, after: string | undefined, example: string): string | undefined {
  const raw = lastEventId !== undefined && lastEventId !== '' ? lastEventId : after;
  if (raw === undefined) return undefined;
  if (!POSITION_FORM.test(raw)) {
    throw new ApiError(HttpStatus.BAD_REQUEST, 'validation_failed', `Last-Event-ID / after must be an event id such as ${example}`, {
      details: [{ path: lastEventId ? 'Last-Event-ID' : 'after', message: 'must be an id this stream sent' }],
    });
  }
  return raw;
}

/** One SSE frame; JSON.stringify never emits a raw newline, so `data:` is one line. */
function frame(event: string, data: unknown, id?: string): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The router's reply (a FastifyReply): Node's response, and how to take it over before writing to it. */
export interface StreamReply {
  readonly raw: ServerResponse;
  hijack(): unknown;
}

interface OpenStream {
  stream: SseStream;
  scope: string;
  keyId: string | undefined;
}

/**
 * Every Server-Sent Events response of the process: it opens them (after
 * every check, so errors stay JSON), bounds them, and ends them.
 *
 * - Caps: streams per scope (a worker), per API key and in total; past them `429`
 *   `too_many_streams` with Retry-After, before anything is written.
 * - Each event is serialised once into a frame (a Buffer) and the same bytes
 *   are written to every stream that gets it (frames are cached per event
 *   object; feeds hand the same object to all their followers). Live deltas
 *   close together come as one batch per window (SSE_FLUSH_MS, the source's
 *   live window), whose frames are joined once for every stream; deltas a
 *   stream reads back from the log share one socket write per stream the
 *   same way (see SseStream). Every other event goes out at once.
 * - A client that leaves more than a quarter of its allowance unread for
 *   longer than SSE_MAX_LAG_MS is cut off with `stream.overflow`, and so are
 *   the most-behind clients while the process-wide unread total is over
 *   SSE_TOTAL_BUFFER_BYTES. Both reconnect with Last-Event-ID and lose nothing.
 * - A named `heartbeat` event every SSE_HEARTBEAT_MS, so an EventSource can
 *   tell a dead stream; on shutdown (or when its key is revoked) every stream
 *   gets a final `stream.closing` event and ends.
 */
@Injectable()
export class EventStreams implements BeforeApplicationShutdown {
  private readonly logger = new Logger(EventStreams.name);
  private readonly open = new Set<OpenStream>();
  private readonly perScope = new Map<string, number>();
  private readonly perKey = new Map<string, number>();
  private readonly frames = new WeakMap<WorkerEvent, Map<string, Buffer>>();
  private readonly chunks = new WeakMap<readonly WorkerEvent[], Buffer>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly overflowFrame = frame('stream.overflow', toStreamOverflowData());
  private closing = false;
  /** Streams cut off for lagging or for the budget since start (operator log, tests). */
  cutOff = 0;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.sweeper = setInterval(() => this.sweep(), 250);
    this.sweeper.unref();
  }

  /** Streams open now (tests check it returns to zero). */
  get count(): number {
    return this.open.size;
  }

  /**
   * Serves one stream: `subscribe` connects the sink to a source (and throws
   * 4xx/5xx before anything is written). HEAD gets the headers and ends.
   */
  async serve(req: PipelineRequest, reply: StreamReply, scope: string, subscribe: (sink: EventSink) => Promise<Subscription>): Promise<void> {
    const limits = this.config.events;
    if (this.closing) throw new ApiError(503, 'service_unavailable', 'The server is shutting down', { headers: { 'Retry-After': '1' } });
    if (this.open.size >= limits.maxStreams) {
      throw new ApiError(429, 'too_many_streams', 'The server holds its maximum of open event streams; retry later', { headers: { 'Retry-After': '5' } });
    }
    // AUTH=off: every client is the one anonymous principal; only the total cap applies.
    const keyId = req.auth?.keyId === ANONYMOUS_KEY_ID ? undefined : req.auth?.keyId;
    if (keyId !== undefined && (this.perKey.get(keyId) ?? 0) >= limits.maxStreamsPerKey) {
      throw new ApiError(429, 'too_many_streams', 'This API key has its maximum of open event streams; retry later', { headers: { 'Retry-After': '5' } });
    }
    if ((this.perScope.get(scope) ?? 0) >= limits.maxStreamsPerWorker) {
      const what = scope === ALL_EVENTS_SCOPE ? 'The event log has' : 'This worker has';
      throw new ApiError(429, 'too_many_streams', `${what} its maximum of open event streams; retry later`, { headers: { 'Retry-After': '5' } });
    }
    const stream = new SseStream(reply.raw, { takeOver: () => reply.hijack(), heartbeatMs: limits.heartbeatMs, maxBufferedBytes: limits.clientBufferBytes, heartbeatFrame: () => frame('heartbeat', toHeartbeatData()), flushMs: limits.flushMs });
    const entry: OpenStream = { stream, scope, keyId };
    this.track(entry);
    try {
      const subscription = await subscribe(this.sinkFor(stream));
      stream.onClose(() => subscription.close());
    } catch (err) {
      this.untrack(entry);
      throw err;
    }
    stream.onClose(() => this.untrack(entry));
    if (req.method === 'HEAD') {
      stream.end();
      return;
    }
    stream.open();
  }

  private sinkFor(stream: SseStream): EventSink {
    return {
      // Deltas may wait out the write window (more follow); every other event flushes it.
      deliver: (event, position) => stream.write(this.frameOf(event, position), event.kind === 'message.delta'),
      // A live window's events: one chunk, made once for every stream it goes to; it already waited out its window.
      deliverBatch: (events, positions) => stream.write(this.chunkOf(events, positions)),
      ready: () => stream.ready(),
      reset: (reason: StreamResetReason) => void stream.write(frame('stream.reset', toStreamResetData(reason))),
      end: () => stream.end(),
      get closed() {
        return stream.closed;
      },
    };
  }

  private frameOf(event: WorkerEvent, position: string): Buffer {
    let byPosition = this.frames.get(event);
    if (!byPosition) {
      byPosition = new Map();
      this.frames.set(event, byPosition);
    }
    let bytes = byPosition.get(position);
    if (!bytes) {
      bytes = Buffer.from(frame(event.kind, toWorkerEventData(event), position));
      byPosition.set(position, bytes);
    }
    return bytes;
  }

  private chunkOf(events: readonly WorkerEvent[], positions: readonly string[]): Buffer {
    if (events.length === 1) return this.frameOf(events[0], positions[0]);
    let chunk = this.chunks.get(events);
    if (!chunk) {
      chunk = Buffer.concat(events.map((e, i) => this.frameOf(e, positions[i])));
      this.chunks.set(events, chunk);
    }
    return chunk;
  }

  private track(entry: OpenStream): void {
    this.open.add(entry);
    count(this.perScope, entry.scope, 1);
    if (entry.keyId !== undefined) count(this.perKey, entry.keyId, 1);
  }

  private untrack(entry: OpenStream): void {
    if (!this.open.delete(entry)) return;
    count(this.perScope, entry.scope, -1);
    if (entry.keyId !== undefined) count(this.perKey, entry.keyId, -1);
  }

  /** Unread bytes of every stream whose socket is still held, ended ones included (tests, operators). */
  get heldBytes(): number {
    let total = 0;
    for (const { stream } of this.open) if (stream.holding) total += stream.unreadBytes;
    return total;
  }

  /**
   * Cuts off clients that lag too long, then, while the process holds more
   * unread bytes than its budget: first drops the sockets of streams already
   * cut off (still waiting out their grace to read the final event: their
   * bytes are in memory until the socket closes, so they count), then cuts
   * off the most-behind live streams.
   */
  private sweep(): void {
    const now = Date.now();
    const { maxLagMs, totalBufferBytes } = this.config.events;
    let total = 0;
    const before = this.cutOff;
    for (const { stream } of this.open) {
      if (!stream.holding) continue;
      if (!stream.closed && stream.laggingSince !== undefined && now - stream.laggingSince > maxLagMs) this.cut(stream);
      total += stream.unreadBytes;
    }
    if (total > totalBufferBytes) {
      const held = [...this.open].map((e) => e.stream).filter((s) => s.holding);
      held.sort((a, b) => Number(b.ending) - Number(a.ending) || b.unreadBytes - a.unreadBytes);
      for (const stream of held) {
        if (total <= totalBufferBytes) break;
        total -= stream.unreadBytes;
        if (stream.ending) stream.destroy();
        else this.cut(stream);
      }
    }
    if (this.cutOff > before) this.logger.warn(`cut off ${this.cutOff - before} event stream(s) that fell behind (SSE_MAX_LAG_MS / SSE_TOTAL_BUFFER_BYTES)`);
  }

  private cut(stream: SseStream): void {
    this.cutOff++;
    stream.end(this.overflowFrame);
  }

  /** Ends the streams opened with an API key that was just revoked. */
  closeForKey(keyId: string): void {
    const closing = frame('stream.closing', toStreamClosingData('key_revoked'));
    for (const { stream, keyId: k } of this.open) if (k === keyId) stream.end(closing);
  }

  /**
   * Every stream gets `stream.closing` and ends (SIGTERM); new ones are
   * refused from now on. Resolves once the final events are written out
   * (or after `waitMs`), so closing the connections next loses none.
   */
  async closeAll(waitMs = 1000): Promise<void> {
    this.closing = true;
    const closing = frame('stream.closing', toStreamClosingData('shutdown'));
    const flushed: Array<Promise<void>> = [];
    for (const { stream } of this.open) {
      flushed.push(new Promise<void>((resolve) => stream.onClose(resolve)));
      stream.end(closing);
    }
    if (flushed.length === 0) return;
    this.logger.log(`closing ${flushed.length} event stream(s) for shutdown`);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(flushed), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
  }

  /** Before the HTTP server is closed: the streams' final events still go out. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.sweeper);
    await this.closeAll();
  }
}

/** Adds `by` to a count, removing it at zero (the maps hold only what is open). */
function count(counts: Map<string, number>, name: string, by: number): void {
  const n = (counts.get(name) ?? 0) + by;
  if (n > 0) counts.set(name, n);
  else counts.delete(name);
}
