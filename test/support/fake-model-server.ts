import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * The HTTP side shared by the fake model servers (fake-openai-server.ts,
 * fake-anthropic-server.ts): a real `node:http` server on 127.0.0.1 and an
 * ephemeral port, a queue of scripted behaviours consumed one per request,
 * and a record of every request, including whether the client hung up before
 * the answer was complete. What goes on the wire is the dialect's business.
 */

/** How a reply stream ends once its text chunks are sent. */
export type ReplyEnding =
  /** The protocol's full ending (usage, end marker). */
  | 'complete'
  /** The socket is destroyed: the client sees the connection drop. */
  | 'drop'
  /** The response ends cleanly, but without the protocol's end marker. */
  | 'close'
  /** A frame that is not valid JSON, then the response ends. */
  | 'malformed'
  /** The provider's in-stream error object, then the response ends. */
  | 'stream_error'
  /** Nothing more is sent and the response stays open until the client goes. */
  | 'hang';

/** Token counts as the fake reports them: numbers normally, anything at all to test an adapter's checks. */
export interface WireUsage {
  inputTokens: unknown;
  outputTokens: unknown;
}

export interface ReplyBehaviour {
  kind: 'reply';
  /** Reply text pieces, one per chunk; default: derived from the request (see defaultReplyChunks). */
  chunks?: string[];
  /** Reasoning pieces sent before the text (never reply text). */
  reasoning?: string[];
  /** Before the text, a chunk of a kind this client was not written for (providers add kinds over time). */
  unknownChunk?: boolean;
  /** OpenAI dialect only: the delta field reasoning travels in. Default `reasoning_content`. */
  reasoningField?: 'reasoning' | 'reasoning_content';
  /** Wait after the response headers, before the first chunk. */
  firstChunkDelayMs?: number;
  /** Wait between two chunks (reasoning and text alike). */
  chunkDelayMs?: number;
  /** Default: input = words in the request's messages, output = number of text chunks. Sent as given, malformed too. */
  usage?: WireUsage;
  /** Default `complete`. */
  end?: ReplyEnding;
  /** Text of the in-stream error for `end: 'stream_error'` (tests plant canaries in it). */
  errorMessage?: string;
  /** Provider error type of that in-stream error (dialect default when unset). */
  errorType?: string;
}

export interface StatusBehaviour {
  kind: 'status';
  status: number;
  /** Put in the provider's own error body shape; ignored when `body` is given. */
  message?: string;
  /** The raw body, sent as is (object → JSON). */
  body?: string | object;
  headers?: Record<string, string>;
}

/** The provider's own 400 for a prompt over the context window (its real wording and codes). */
export interface ContextTooLongBehaviour {
  kind: 'context_too_long';
  /** Appended to the provider's wording (for canaries). */
  extra?: string;
}

/** Never answer: no status, no headers, until the client goes away. */
export interface HangBehaviour {
  kind: 'hang';
}

/** Bytes as given, for what no well-behaved provider sends: redirects, endless lines, huge bodies, HTML. */
export interface RawBehaviour {
  kind: 'raw';
  status: number;
  headers?: Record<string, string>;
  /** Written in order, one write each. */
  writes: Array<string | Buffer>;
  /** Then `piece` written `times` times (a body too big to hold as a list). */
  repeat?: { piece: string | Buffer; times: number };
  /** Then these, in order. */
  then?: Array<string | Buffer>;
  /** Wait between two writes (else each waits for the socket to drain). */
  gapMs?: number;
  /** After the writes: end the response (default) or keep it open until the client goes. */
  end?: 'end' | 'hang';
}

export type FakeBehaviour = ReplyBehaviour | StatusBehaviour | ContextTooLongBehaviour | HangBehaviour | RawBehaviour;

export interface RecordedRequest {
  index: number;
  method: string;
  /** Full path, prefix included. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body (raw text when it was not JSON). */
  body: any;
  /** Date.now() when the request body had arrived. */
  receivedAt: number;
  behaviour: FakeBehaviour['kind'];
  /** Date.now() when the server completed its response (null: not (yet) completed). */
  finishedAt: number | null;
  /** Date.now() when the client closed the connection before the response was complete. */
  clientClosedAt: number | null;
}

/** What a dialect writes for a streamed reply; every string is one complete SSE frame (ending in a blank line). */
export interface StreamFrames {
  start(usage: WireUsage): string[];
  reasoning(text: string): string[];
  /** A well-formed frame of a kind the client does not know. */
  unknown(): string;
  text(text: string): string;
  end(usage: WireUsage): string[];
  streamError(message: string | undefined, type: string | undefined): string;
  malformed(): string;
}

export interface WireDialect {
  /** True for the route this provider serves (any path prefix before it). */
  serves(method: string, path: string): boolean;
  /** Frames for one streamed reply to `body`. */
  frames(body: any, behaviour: ReplyBehaviour): StreamFrames;
  /** The provider's JSON error body for `status`. */
  errorBody(status: number, message: string): object;
  contextTooLongBody(extra: string): object;
  /** Headers the provider sends with every response (request ids …). */
  responseHeaders(): Record<string, string>;
}

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' };

/** The text of the last `user` message: a string, or the text blocks of a content array. */
export function lastUserText(body: any): string {
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) return m.content.map((b: any) => (typeof b?.text === 'string' ? b.text : '')).join('');
  }
  return '';
}

/** The default reply to a request whose last user message is `userText`, in the chunks it is sent in. */
export function defaultReplyChunks(userText: string): string[] {
  const reply = `Echo: ${userText}`;
  const chunks: string[] = [];
  for (let i = 0; i < reply.length; i += 5) chunks.push(reply.slice(i, i + 5));
  return chunks;
}

export function defaultReplyText(userText: string): string {
  return defaultReplyChunks(userText).join('');
}

function countWords(body: any): number {
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : [];
  const texts = messages.map((m) => (typeof m?.content === 'string' ? m.content : ''));
  if (typeof body?.system === 'string') texts.push(body.system);
  return texts.join(' ').split(/\s+/).filter(Boolean).length;
}

export class FakeModelServer {
  readonly requests: RecordedRequest[] = [];
  private readonly queue: FakeBehaviour[] = [];
  private fallback: FakeBehaviour = { kind: 'reply' };
  private readonly sockets = new Set<Socket>();
  private readonly open = new Set<RecordedRequest>();
  /** Pending delays of responses being written: cleared when their client goes, or on close(). */
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly changes = new EventEmitter();
  private closed = false;

  private constructor(
    private readonly server: Server,
    private readonly dialect: WireDialect,
    /** http://127.0.0.1:<port> */
    readonly origin: string,
  ) {}

  static async start(dialect: WireDialect): Promise<FakeModelServer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const fake = new FakeModelServer(server, dialect, `http://127.0.0.1:${port}`);
    server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      // A fake that breaks must fail the test that uses it, not the process.
      fake.handle(req, res).catch(() => res.destroy());
    });
    return fake;
  }

  /** Behaviours for the next requests, one each, in order. */
  enqueue(...behaviours: FakeBehaviour[]): void {
    this.queue.push(...behaviours);
  }

  /** What a request gets when the queue is empty (initially: the default reply). */
  setDefault(behaviour: FakeBehaviour): void {
    this.fallback = behaviour;
  }

  /** Forget requests and queued behaviours and restore the default reply (between tests). */
  reset(): void {
    this.queue.length = 0;
    this.requests.length = 0;
    this.fallback = { kind: 'reply' };
  }

  /** Requests whose response is neither complete nor abandoned by the client. */
  inFlight(): number {
    return this.open.size;
  }

  /** Resolves once `n` requests have arrived; rejects after `timeoutMs`. */
  async waitForRequests(n: number, timeoutMs: number): Promise<RecordedRequest[]> {
    await this.waitFor(() => this.requests.length >= n, timeoutMs, `${n} request(s)`);
    return this.requests.slice(0, n);
  }

  /** Resolves once the client of request `index` has closed its connection before the response was complete. */
  async waitForClientClose(index: number, timeoutMs: number): Promise<RecordedRequest> {
    await this.waitFor(() => this.requests[index]?.clientClosedAt != null, timeoutMs, `client close of request ${index}`);
    return this.requests[index];
  }

  /** Resolves once no response is open; rejects after `timeoutMs`. */
  async waitForIdle(timeoutMs: number): Promise<void> {
    await this.waitFor(() => this.open.size === 0, timeoutMs, 'no open request');
  }

  /** Stops listening and destroys every open socket (kept-alive ones included). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private waitFor(ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!ready()) return;
        clearTimeout(timer);
        this.changes.off('change', check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.changes.off('change', check);
        reject(new Error(`fake model server: no ${what} within ${timeoutMs} ms (${this.requests.length} request(s) seen)`));
      }, timeoutMs);
      this.changes.on('change', check);
    });
  }

  private changed(): void {
    this.changes.emit('change');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const path = (req.url ?? '/').split('?')[0];
    let body: any = raw;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      // Kept as text: a test can still see what was sent.
    }
    const served = this.dialect.serves(req.method ?? 'GET', path);
    const behaviour: FakeBehaviour = served
      ? (this.queue.shift() ?? this.fallback)
      : { kind: 'status', status: 404, message: 'not found' };
    const record: RecordedRequest = {
      index: this.requests.length,
      method: req.method ?? 'GET',
      path,
      headers: req.headers,
      body,
      receivedAt: Date.now(),
      behaviour: behaviour.kind,
      finishedAt: null,
      clientClosedAt: null,
    };
    this.requests.push(record);
    this.open.add(record);
    let serverDropped = false;
    res.on('finish', () => {
      record.finishedAt = Date.now();
    });
    res.on('close', () => {
      if (!res.writableFinished && !serverDropped) record.clientClosedAt = Date.now();
      this.open.delete(record);
      this.changed();
    });
    this.changed();

    switch (behaviour.kind) {
      case 'hang':
        return;
      case 'status': {
        const payload =
          behaviour.body === undefined
            ? JSON.stringify(this.dialect.errorBody(behaviour.status, behaviour.message ?? 'error'))
            : typeof behaviour.body === 'string'
              ? behaviour.body
              : JSON.stringify(behaviour.body);
        res.writeHead(behaviour.status, {
          'content-type': 'application/json',
          ...this.dialect.responseHeaders(),
          ...behaviour.headers,
        });
        res.end(payload);
        return;
      }
      case 'context_too_long':
        res.writeHead(400, { 'content-type': 'application/json', ...this.dialect.responseHeaders() });
        res.end(JSON.stringify(this.dialect.contextTooLongBody(behaviour.extra ?? '')));
        return;
      case 'reply':
        await this.reply(body, behaviour, res, () => (serverDropped = true));
        return;
      case 'raw':
        await this.raw(behaviour, res);
        return;
    }
  }

  private async raw(behaviour: RawBehaviour, res: ServerResponse): Promise<void> {
    res.writeHead(behaviour.status, behaviour.headers ?? {});
    res.flushHeaders();
    const pieces = function* (): Generator<string | Buffer> {
      yield* behaviour.writes;
      for (let i = 0; i < (behaviour.repeat?.times ?? 0); i++) yield behaviour.repeat!.piece;
      yield* behaviour.then ?? [];
    };
    for (const piece of pieces()) {
      if (res.destroyed) return;
      const drained = res.write(piece);
      if (behaviour.gapMs) {
        if (!(await this.pause(res, behaviour.gapMs))) return;
      } else if (!drained) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    }
    if (behaviour.end !== 'hang' && !res.destroyed) res.end();
  }

  private async reply(body: any, behaviour: ReplyBehaviour, res: ServerResponse, markDropped: () => void): Promise<void> {
    const frames = this.dialect.frames(body, behaviour);
    const chunks = behaviour.chunks ?? defaultReplyChunks(lastUserText(body));
    const usage = behaviour.usage ?? { inputTokens: countWords(body), outputTokens: chunks.length };
    const gap = behaviour.chunkDelayMs ?? 0;

    res.writeHead(200, { ...SSE_HEADERS, ...this.dialect.responseHeaders() });
    // Headers now, like real servers that stream: the first chunk may come much later.
    res.flushHeaders();
    if (!(await this.pause(res, behaviour.firstChunkDelayMs ?? 0))) return;
    for (const frame of frames.start(usage)) res.write(frame);

    let first = true;
    const send = async (frame: string): Promise<boolean> => {
      if (!first && !(await this.pause(res, gap))) return false;
      first = false;
      res.write(frame);
      return true;
    };
    if (behaviour.unknownChunk && !(await send(frames.unknown()))) return;
    for (const piece of behaviour.reasoning ?? []) {
      for (const frame of frames.reasoning(piece)) if (!(await send(frame))) return;
    }
    for (const piece of chunks) if (!(await send(frames.text(piece)))) return;
    if (!(await this.pause(res, gap))) return;

    switch (behaviour.end ?? 'complete') {
      case 'complete':
        for (const frame of frames.end(usage)) res.write(frame);
        res.end();
        return;
      case 'drop':
        markDropped();
        // Let what was written reach the client first, then cut the connection.
        res.write('', () => res.socket?.destroy());
        return;
      case 'close':
        res.end();
        return;
      case 'malformed':
        res.end(frames.malformed());
        return;
      case 'stream_error':
        res.end(frames.streamError(behaviour.errorMessage, behaviour.errorType));
        return;
      case 'hang':
        return;
    }
  }

  /** Waits `ms`; false when the client went away meanwhile (the timer is cleared either way). */
  private pause(res: ServerResponse, ms: number): Promise<boolean> {
    if (res.destroyed) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (alive: boolean): void => {
        clearTimeout(timer);
        this.timers.delete(timer);
        res.off('close', onClose);
        resolve(alive);
      };
      const onClose = (): void => done(false);
      const timer = setTimeout(() => done(!res.destroyed), ms);
      this.timers.add(timer);
      res.on('close', onClose);
    });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    // A client that aborts while sending: record what came.
    req.on('error', () => resolve(Buffer.concat(parts).toString('utf8')));
  });
}

/** One SSE frame: optional `event:` line, one `data:` line, blank line. */
export function sseFrame(data: unknown, event?: string): string {
  const json = typeof data === 'string' ? data : JSON.stringify(data);
  return `${event ? `event: ${event}\n` : ''}data: ${json}\n\n`;
}
