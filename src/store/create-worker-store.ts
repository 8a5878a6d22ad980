import { Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { PostgresWorkerStore } from './postgres/postgres-worker.store';
import { SqliteWorkerStore } from './sqlite/sqlite-worker.store';
import type { WorkerStore } from './worker-store';

/** Picks the adapter from RUNTIME_STORE_URL and runs its migrations before anything uses it. */
export async function createWorkerStore(config: AppConfig): Promise<WorkerStore> {
  const store = newStore(config);
  await store.init();
  return store;
}

function newStore(config: AppConfig): WorkerStore {
  const s = config.embedded.store;
  switch (s.kind) {
    case 'memory':
      return new SqliteWorkerStore({ file: null, identity: `memory:${s.name}` });
    case 'sqlite':
      return new SqliteWorkerStore({ file: s.file, identity: s.file, synchronous: s.synchronous });
    case 'postgres': {
      const logger = new Logger('PostgresWorkerStore');
      return new PostgresWorkerStore({ url: s.url, ...config.postgres, log: { warn: (m) => logger.warn(m), error: (m) => logger.error(m) } });
    }
  }
}
