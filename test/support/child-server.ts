import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** The built server `npm start` serves (scripts/build.mjs bundles it; `npm test` builds first). */
export const MAIN = join(__dirname, '..', '..', 'dist', 'main.js');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/**
 * One backend in its own process (for kill -9, restarts and several
 * instances on one store). Requests carry its admin key.
 */
export class ChildServer {
  readonly key: string;
  private child?: ChildProcess;
  base = '';
  /** Everything the process wrote (its JSON log lines), for leak checks. */
  output = '';

  constructor(private readonly env: Record<string, string>) {
    this.key = env.API_KEY ?? `child-admin-${randomBytes(12).toString('hex')}`;
  }

  /** The process id while it runs (for reading its memory in /proc). */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** The port it listens on (for raw TCP clients). */
  get port(): number {
    return Number(new URL(this.base).port);
  }

  /** Resident set size of the process in MiB, from /proc (Linux); undefined when it cannot be read. */
  rssMiB(): number | undefined {
    const pid = this.pid;
    if (pid === undefined) return undefined;
    try {
      const kb = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return kb ? Number(kb[1]) / 1024 : undefined;
    } catch {
      return undefined;
    }
  }

  /** Its JSON log lines parsed (lines that are not JSON are skipped). */
  logLines(): Array<Record<string, unknown>> {
    const lines: Array<Record<string, unknown>> = [];
    for (const line of this.output.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* a partial line */
      }
    }
    return lines;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(port?: number): Promise<void> {
    if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: run `npm run build` (npm test does it first)');
    const p = port ?? (await freePort());
    this.base = `http://127.0.0.1:${p}`;
    this.child = spawn(process.execPath, [MAIN], {
      env: { ...process.env, ...this.env, API_KEY: this.key, PORT: String(p), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => {
      // Bounded: a chatty child cannot grow this without limit.
      if (this.output.length < 4 * 1024 * 1024) this.output += chunk.toString('utf8');
    };
    this.child.stdout!.on('data', collect);
    this.child.stderr!.on('data', collect);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`server exited with ${this.child.exitCode}: ${this.output.slice(-2000)}`);
      try {
        if ((await fetch(`${this.base}/api/health/live`)).status === 200) return;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('server did not become ready');
  }

  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.base}${path}`, { ...init, headers: { authorization: `Bearer ${this.key}`, ...(init.headers as Record<string, string>) } });
  }

  async json(path: string, init: RequestInit = {}): Promise<any> {
    return (await this.fetch(path, init)).json();
  }

  async postJson(path: string, body: unknown): Promise<any> {
    return (await this.post(path, body)).json();
  }

  post(path: string, body: unknown): Promise<Response> {
    return this.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  /** SIGKILL: no shutdown code runs. */
  kill9(): Promise<void> {
    return this.signal('SIGKILL');
  }

  /** SIGTERM: the graceful shutdown; resolves with the exit code. */
  async terminate(): Promise<number | null> {
    await this.signal('SIGTERM');
    return this.child?.exitCode ?? null;
  }

  private signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}
