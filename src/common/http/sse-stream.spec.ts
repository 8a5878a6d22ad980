import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SseStream } from './sse-stream';

/**
 * The write window, over a real socket: what the stream hands to the
 * response (each `res.write` is one chunk on the wire, one system call) and
 * what the client receives.
 */
interface Harness {
  stream: SseStream;
  /** Every chunk the stream wrote to the response after opening, as text. */
  writes: string[];
  /** Everything the client has received so far. */
  received: () => string;
  response: IncomingMessage;
  close: () => Promise<void>;
}

async function open(flushMs: number): Promise<Harness> {
  let resolveStream!: (s: { stream: SseStream; writes: string[] }) => void;
  const ready = new Promise<{ stream: SseStream; writes: string[] }>((resolve) => (resolveStream = resolve));
  const server: Server = createServer((_req, res) => {
    const stream = new SseStream(res, { heartbeatMs: 3_600_000, maxBufferedBytes: 1 << 20, heartbeatFrame: () => 'event: heartbeat\ndata: {}\n\n', flushMs });
    stream.open();
    // Observe (not replace) what goes to the socket from here on.
    const writes: string[] = [];
    const write = res.write.bind(res) as (chunk: string | Buffer) => boolean;
    res.write = ((chunk: string | Buffer) => {
      writes.push(chunk.toString());
      return write(chunk);
    }) as typeof res.write;
    resolveStream({ stream, writes });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let body = '';
  const response = await new Promise<IncomingMessage>((resolve) => get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/events`, resolve));
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => (body += chunk));
  const { stream, writes } = await ready;
  return {
    stream,
    writes,
    received: () => body,
    response,
    close: async () => {
      response.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const until = async (condition: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(2);
  }
};
const delta = (n: number) => `event: message.delta\ndata: {"n":${n}}\n\n`;

describe('SseStream write window', () => {
  it('writes a delta after a quiet spell at once, holds the ones that follow within the window and writes them in one chunk at its end', async () => {
    // A long window, so that the client's check in between cannot race its end.
    const h = await open(1000);
    try {
      h.stream.write(delta(1), true);
      expect(h.writes).toEqual([delta(1)]);
      h.stream.write(delta(2), true);
      h.stream.write(delta(3), true);
      expect(h.writes).toEqual([delta(1)]);
      await until(() => h.received().includes(delta(1)));
      expect(h.received()).not.toContain(delta(2));
      await until(() => h.writes.length === 2);
      expect(h.writes[1]).toBe(delta(2) + delta(3));
      await until(() => h.received().endsWith(delta(1) + delta(2) + delta(3)));
    } finally {
      await h.close();
    }
  });

  it('counts the frames it holds as unread, so a client without room is told so', async () => {
    const h = await open(5000);
    try {
      h.stream.write(delta(0), true);
      const before = h.stream.unreadBytes;
      const big = `event: message.delta\ndata: "${'x'.repeat(1 << 20)}"\n\n`;
      expect(h.stream.write(big, true)).toBe(false);
      expect(h.stream.unreadBytes).toBeGreaterThanOrEqual(before + big.length);
    } finally {
      await h.close();
    }
  });

  it('writes any other frame at once, after the deltas held before it, in order', async () => {
    const h = await open(60_000);
    try {
      h.stream.write(delta(1), true);
      h.stream.write(delta(2), true);
      h.stream.write(delta(3), true);
      const completed = 'event: run.completed\ndata: {}\n\n';
      h.stream.write(completed);
      expect(h.writes).toEqual([delta(1), delta(2) + delta(3) + completed]);
      await until(() => h.received().endsWith(delta(1) + delta(2) + delta(3) + completed));
    } finally {
      await h.close();
    }
  });

  it('writes the held deltas before the final frame when the stream ends', async () => {
    const h = await open(60_000);
    try {
      h.stream.write(delta(1), true);
      h.stream.write(delta(2), true);
      h.stream.end('event: stream.closing\ndata: {}\n\n');
      await until(() => h.received().endsWith(delta(1) + delta(2) + 'event: stream.closing\ndata: {}\n\n'));
    } finally {
      await h.close();
    }
  });

  it('writes every frame at once with a window of 0', async () => {
    const h = await open(0);
    try {
      for (let n = 1; n <= 3; n++) h.stream.write(delta(n), true);
      expect(h.writes).toEqual([delta(1), delta(2), delta(3)]);
    } finally {
      await h.close();
    }
  });
});

describe('SseStream framing', () => {
  it('sends the body without chunked framing and closes the connection at the end, so a write is one socket write and the client sees the end', async () => {
    const h = await open(0);
    try {
      expect(h.response.headers['transfer-encoding']).toBeUndefined();
      expect(h.response.headers.connection).toBe('close');
      const ended = new Promise<void>((resolve) => h.response.on('end', resolve));
      h.stream.write(delta(1));
      h.stream.end(delta(2));
      await ended;
      // Exactly the frames: no chunk-size lines.
      expect(h.received()).toBe(`retry: 2000\n\n${delta(1)}${delta(2)}`);
    } finally {
      await h.close();
    }
  });
});
