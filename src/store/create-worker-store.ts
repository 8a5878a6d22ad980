import { Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { SqliteWorkerStore } from './sqlite/sqlite-worker.store';
import type { WorkerStore } from './worker-store';

/** Picks the adapter from RUNTIME_STORE_URL and runs its migrations before anything uses it. */
export async function createWorkerStore(config: AppConfig): Promise<WorkerStore> {
  const store = await newStore(config);
  await store.init();
  return store;
}

async function newStore(config: AppConfig): Promise<WorkerStore> {
  const s = config.embedded.store;
  switch (s.kind) {
    case 'memory':
      return new SqliteWorkerStore({ file: null, identity: `memory:${s.name}` });
    case 'sqlite':
      return new SqliteWorkerStore({ file: s.file, identity: s.file, synchronous: s.synchronous });
    case 'postgres': {
      // pg is loaded only when it is the store (start-up time, issue 16).
      const { PostgresWorkerStore } = await import('./postgres/postgres-worker.store');
      const logger = new Logger('PostgresWorkerStore');
      return new PostgresWorkerStore({ url: s.url, ...config.postgres, log: { warn: (m) => logger.warn(m), error: (m) => logger.error(m) } });
    }
  }
}
