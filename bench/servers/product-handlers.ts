import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { createApp } from '../../src/app.factory';
import { serializeResponse } from '../../src/common/serialization/serialize-response';
import { loadAppConfig } from '../../src/config/app-config';
import { HostsController } from '../../src/hosts/hosts.controller';
import { RuntimeRegistry } from '../../src/runtimes/runtime-registry';
import { RuntimesController } from '../../src/runtimes/runtimes.controller';
import { SendInputDto, toInputRequest, toInputResultDto } from '../../src/workers/dto/send-input.dto';
import { RuntimeWorkersController } from '../../src/workers/runtime-workers.controller';
import { WorkersController } from '../../src/workers/workers.controller';
import { seedApp } from './seed';

type Params = Record<string, string>;
type Query = Record<string, unknown>;

export interface ProductHandler {
  method: 'GET' | 'POST';
  /** Express and Fastify spell path parameters alike (`:name`). */
  path: string;
  status: number;
  /** The route's own work: the controller method, then the allow-list serialisation; JSON.stringify is the caller's. */
  run(params: Params, query: Query, body: unknown): Promise<unknown>;
}

/**
 * The bench's routes as the product's own handlers, for the ceiling
 * (handlers-fastify.ts) and the HTTP-layer comparison (handlers-express.ts;
 * issue 16): the very controller
 * methods the app runs — store read, mapper — and its allow-list
 * serialisation, without the request pipeline around them (no request id,
 * access log, security headers, host check, CORS, key check, rate limit,
 * 405 table, body limits, Nest router, guards, pipes or exception filter;
 * queries are read without validation). What the app costs beyond these is
 * its pipeline; what these cost beyond a twin serving ready bytes on the same
 * HTTP layer is the route's own work.
 *
 * The application behind them (store, registry, controllers) is built by
 * `createApp` from the same environment as `app-server.ts`, seeded the same
 * way (BENCH_SEED, see seed.ts), and never listens.
 */
export async function productHandlers(): Promise<{ app: INestApplication; handlers: ProductHandler[]; workers: string[]; transcripts: Record<string, string> }> {
  const app = await createApp(loadAppConfig(process.env), { logLevels: ['error'] });
  await app.init();
  const { workers, transcripts } = await seedApp(app);
  const runtimes = app.get(RuntimesController);
  const allWorkers = app.get(WorkersController);
  const runtimeWorkers = app.get(RuntimeWorkersController);
  const hosts = app.get(HostsController);
  const registry = app.get(RuntimeRegistry);
  const limitOf = (query: Query) => (query.limit === undefined ? undefined : Number(query.limit));
  const get = (path: string, run: (params: Params, query: Query) => Promise<unknown>): ProductHandler => ({
    method: 'GET',
    path,
    status: 200,
    run: async (params, query) => serializeResponse(await run(params, query)),
  });
  const handlers: ProductHandler[] = [
    get('/api/runtimes', () => runtimes.list({})),
    get('/api/runtimes/:runtime_id', (p) => runtimes.get(p.runtime_id, {})),
    get('/api/workers', (_p, q) => allWorkers.list({ limit: limitOf(q) })),
    get('/api/runtimes/:runtime_id/workers', (p, q) => runtimeWorkers.list(p.runtime_id, { limit: limitOf(q) })),
    get('/api/runtimes/:runtime_id/workers/:worker_id', (p) => runtimeWorkers.get(p.runtime_id, p.worker_id, {})),
    get('/api/runtimes/:runtime_id/workers/:worker_id/transcript', (p, q) => runtimeWorkers.transcript(p.runtime_id, p.worker_id, { start: Number(q.start), limit: limitOf(q) })),
    get('/api/hosts', () => hosts.list({})),
    {
      // The input handler's work without its idempotency wrapper: the bench sends no Idempotency-Key, so the app skips it too.
      method: 'POST',
      path: '/api/runtimes/:runtime_id/workers/:worker_id/input',
      status: 202,
      run: async (p, _q, body) => serializeResponse(toInputResultDto(await registry.acceptInput(p.runtime_id, p.worker_id, toInputRequest(Object.assign(new SendInputDto(), body))))),
    },
  ];
  return { app, handlers, workers, transcripts };
}
