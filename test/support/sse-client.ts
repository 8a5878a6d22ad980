import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Exchange, TestApp } from './test-app';

export interface SseEvent {
  id?: string;
  event?: string;
  data: any;
}

/** Parses `text/event-stream` text into events and comments (SSE spec subset the server uses). */
export function parseSse(text: string): { events: SseEvent[]; comments: string[] } {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  for (const block of text.split('\n\n')) {
    if (block.trim() === '') continue;
    let id: string | undefined;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) comments.push(line.slice(1).trim());
      else if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length) events.push({ id, event, data: JSON.parse(data.join('\n')) });
  }
  return { events, comments };
}

/**
 * A raw SSE connection to a listening test app. What it received is recorded
 * into the app's exchanges when it closes, so leak and contract checks see
 * stream bytes like any other response.
 */
export class SseClient {
  text = '';
  status = 0;
  headers: IncomingMessage['headers'] = {};
  ended = false;
  private res?: IncomingMessage;
  private recorded = false;

  private constructor(
    private readonly t: TestApp,
    private readonly path: string,
    private readonly req: ClientRequest,
  ) {}

  static connect(t: TestApp, baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const all: Record<string, string> = { accept: 'text/event-stream', authorization: `Bearer ${t.adminKey}`, ...headers };
      if (all.authorization === '') delete all.authorization;
      const req = request(`${baseUrl}${path}`, { headers: all });
      const client = new SseClient(t, path, req);
      req.on('response', (res) => {
        client.res = res;
        client.status = res.statusCode ?? 0;
        client.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (client.text += chunk));
        res.on('end', () => (client.ended = true));
        res.on('close', () => (client.ended = true));
        resolve(client);
      });
      req.on('error', (err) => (client.res ? (client.ended = true) : reject(err)));
      req.end();
    });
  }

  get events(): SseEvent[] {
    return parseSse(this.complete()).events;
  }

  get comments(): string[] {
    return parseSse(this.complete()).comments;
  }

  /** Text up to the last complete block. */
  private complete(): string {
    const end = this.text.lastIndexOf('\n\n');
    return end < 0 ? '' : this.text.slice(0, end + 2);
  }

  async waitFor(predicate: (c: SseClient) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting on ${this.path}; got ${this.text.slice(-500)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  pause(): void {
    this.res?.pause();
  }

  resume(): void {
    this.res?.resume();
  }

  /** Closes the connection and records what was received. */
  close(): void {
    this.req.destroy();
    this.record();
  }

  record(): void {
    if (this.recorded) return;
    this.recorded = true;
    let body: unknown;
    try {
      body = JSON.parse(this.text);
    } catch {
      body = undefined;
    }
    const exchange: Exchange = { method: 'GET', path: this.path, status: this.status, headers: this.headers, text: this.text, body };
    this.t.exchanges.push(exchange);
    for (const check of this.t.checks) check(exchange);
  }
}
