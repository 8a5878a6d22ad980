import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { createApp } from '../../src/app.factory';
import { AppLogger, CaptureDestination } from '../../src/common/logging/app-logger';
import { type AppConfig, loadAppConfig, secretsOf } from '../../src/config/app-config';
import { OpenApiContract } from './contract';

/** One request/response pair, kept so leak tests can scan every byte the app sent. */
export interface Exchange {
  method: string;
  path: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: unknown;
}

/** Logs, after redaction, as the operator would see them: the exact JSON lines (without their newline). */
class CapturingLogger extends AppLogger {
  private readonly capture: CaptureDestination;
  constructor(secrets: readonly string[], capture = new CaptureDestination()) {
    super({ secrets, destination: capture });
    this.capture = capture;
  }
  get lines(): readonly string[] {
    return this.capture.lines;
  }
}

export interface ResponseCheck {
  (exchange: Exchange): void;
}

export class TestApp {
  readonly exchanges: Exchange[] = [];
  /** Run on every response (e.g. the OpenAPI contract check). */
  readonly checks: ResponseCheck[] = [];

  constructor(
    readonly app: NestFastifyApplication,
    readonly config: AppConfig,
    private readonly logger: CapturingLogger,
    private readonly tempDirs: string[],
  ) {}

  get logs(): readonly string[] {
    return this.logger.lines;
  }

  /** The admin key every request carries unless told otherwise (API_KEY of the test app). */
  get adminKey(): string {
    return this.config.auth.apiKey ?? '';
  }

  /**
   * Headers of a request: the admin key unless `headers` set `authorization`
   * (an empty value sends none). Supertest addresses 127.0.0.1, an allowed host.
   */
  private withAuth(headers: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = { authorization: `Bearer ${this.adminKey}`, ...headers };
    if (out.authorization === '') delete out.authorization;
    return out;
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<Exchange> {
    let req = request(this.app.getHttpServer()).get(path);
    for (const [k, v] of Object.entries(this.withAuth(headers))) req = req.set(k, v);
    return this.record('GET', path, await req);
  }

  async post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Exchange> {
    let req = request(this.app.getHttpServer()).post(path).set('content-type', 'application/json');
    for (const [k, v] of Object.entries(this.withAuth(headers))) req = req.set(k, v);
    return this.record('POST', path, await req.send(JSON.stringify(body)));
  }

  async delete(path: string, headers: Record<string, string> = {}): Promise<Exchange> {
    let req = request(this.app.getHttpServer()).delete(path);
    for (const [k, v] of Object.entries(this.withAuth(headers))) req = req.set(k, v);
    return this.record('DELETE', path, await req);
  }

  /** Sends bytes as given: for invalid JSON, wrong content types, huge bodies. */
  async raw(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS',
    path: string,
    body?: string | Buffer,
    contentType?: string,
    headers: Record<string, string> = {},
  ): Promise<Exchange> {
    let req = request(this.app.getHttpServer())[method.toLowerCase() as 'post'](path);
    if (contentType) req = req.set('content-type', contentType);
    for (const [k, v] of Object.entries(this.withAuth(headers))) req = req.set(k, v);
    return this.record(method, path, await (body === undefined ? req : req.send(body)));
  }

  private record(method: string, path: string, res: request.Response): Exchange {
    const exchange: Exchange = { method, path, status: res.status, headers: res.headers, text: res.text ?? '', body: res.body };
    this.exchanges.push(exchange);
    for (const check of this.checks) check(exchange);
    return exchange;
  }

  /** Listens on an ephemeral loopback port (for clients outside the process, e.g. a browser). */
  async listen(port = 0): Promise<string> {
    await this.app.listen(port, '127.0.0.1');
    return (await this.app.getUrl()).replace('[::1]', '127.0.0.1');
  }

  async close(): Promise<void> {
    await this.app.close();
    for (const dir of this.tempDirs) rmSync(dir, { recursive: true, force: true });
  }
}

export function makeTempDir(prefix = 'wb-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Builds the real application (same factory as main.ts) from environment
 * values, with a fresh temp data dir unless one is given. Every response
 * is validated against the committed OpenAPI document unless disabled.
 */
let contract: OpenApiContract | undefined;
/** The committed OpenAPI document, loaded once per test file. */
export function committedContract(): OpenApiContract {
  contract ??= OpenApiContract.fromCommittedFile();
  return contract;
}

export async function startTestApp(env: Record<string, string> = {}, options: { contract?: boolean } = {}): Promise<TestApp> {
  const tempDirs: string[] = [];
  const fullEnv: Record<string, string> = { ...env };
  if (!fullEnv.WORKSPACE_DATA_DIR) {
    const dir = makeTempDir();
    tempDirs.push(dir);
    fullEnv.WORKSPACE_DATA_DIR = dir;
  }
  if (!fullEnv.WORKSPACE_ROOT) fullEnv.WORKSPACE_ROOT = fullEnv.WORKSPACE_DATA_DIR;
  // Every test app needs a key; tests of auth itself pass their own (or AUTH=off).
  if (fullEnv.API_KEY === undefined && fullEnv.AUTH !== 'off') fullEnv.API_KEY = `test-admin-${randomBytes(12).toString('hex')}`;
  const config = loadAppConfig(fullEnv as NodeJS.ProcessEnv);
  const logger = new CapturingLogger(secretsOf(config));
  const app = await createApp(config, { logger });
  await app.init();
  // supertest drives the server without listen(): the router must be ready first.
  await app.getHttpAdapter().getInstance().ready();
  const t = new TestApp(app, config, logger, tempDirs);
  // Every response of every e2e request is checked against the committed
  // OpenAPI document with closed object schemas (see contract.ts).
  if (options.contract !== false) t.checks.push(committedContract().check);
  return t;
}

export const EMBEDDED = '/api/runtimes/embedded-worker-runtime';
export const LOCAL = '/api/runtimes/local-worker-runtime';

export const COMPANION = { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: 0 } };

export function ticketRole(role: string, ticketId = '00001KVZSGT0Q') {
  return { intent: { kind: 'ticket_role', ticket_id: ticketId, role }, acceptance: { kind: 'run_accepted', expected_segments: 0 } };
}

/** Creates an embedded worker and returns its id. */
export async function createEmbeddedWorker(t: TestApp, body: unknown = COMPANION): Promise<string> {
  const res = await t.post(`${EMBEDDED}/workers`, body);
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${res.text}`);
  return (res.body as { worker: { worker_id: string } }).worker.worker_id;
}
