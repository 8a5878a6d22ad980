import { createServer, type Server, type Socket, connect } from 'node:net';

/**
 * A TCP proxy the test owns, in front of a real server (Postgres): it can
 * pause (keep every connection open but forward nothing, as a stalled
 * network does), resume, and cut every connection. Faults at the network
 * boundary, with the real server and driver on either side.
 */
export class TcpProxy {
  private server!: Server;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private paused = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      const pair = { client, upstream };
      this.pairs.add(pair);
      const forward = (from: Socket, to: Socket) =>
        from.on('data', (chunk) => {
          if (!this.paused) to.write(chunk);
          else (from as Socket & { held?: Buffer[] }).held = [...((from as Socket & { held?: Buffer[] }).held ?? []), chunk];
        });
      forward(client, upstream);
      forward(upstream, client);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Stop forwarding (bytes are held, connections stay open): a network that stalls. */
  pause(): void {
    this.paused = true;
  }

  /** Forward again, held bytes first. */
  resume(): void {
    this.paused = false;
    for (const { client, upstream } of this.pairs) {
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        const held = (from as Socket & { held?: Buffer[] }).held ?? [];
        (from as Socket & { held?: Buffer[] }).held = [];
        for (const chunk of held) to.write(chunk);
      }
    }
  }

  /** Cut every open connection (as a server restart would). */
  cutAll(): void {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  get connections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The same Postgres URL, but through the proxy. */
export function viaProxy(url: string, proxy: TcpProxy): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}
