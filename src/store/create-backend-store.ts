import { Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { SqliteBackendStore } from './sqlite/sqlite-backend.store';
import type { BackendStore } from './backend-store';

/** Picks the adapter from RUNTIME_STORE_URL and runs its migrations before anything uses it. */
export async function createBackendStore(config: AppConfig): Promise<BackendStore> {
  const store = await newStore(config);
  await store.init();
  return store;
}

async function newStore(config: AppConfig): Promise<BackendStore> {
  const s = config.embedded.store;
  const sqliteLog = () => {
    const logger = new Logger('SqliteBackendStore');
    return { warn: (m: string) => logger.warn(m) };
  };
  switch (s.kind) {
    case 'memory':
      return new SqliteBackendStore({ file: null, identity: `memory:${s.name}`, maxBytes: s.maxBytes, log: sqliteLog() });
    case 'sqlite':
      return new SqliteBackendStore({ file: s.file, identity: s.file, synchronous: s.synchronous, maxBytes: s.maxBytes, log: sqliteLog() });
    case 'postgres': {
      // pg is loaded only when it is the store (start-up time, issue 16).
      const { PostgresBackendStore } = await import('./postgres/postgres-backend.store');
      const logger = new Logger('PostgresBackendStore');
      return new PostgresBackendStore({ url: s.url, ...config.postgres, log: { warn: (m) => logger.warn(m), error: (m) => logger.error(m) } });
    }
  }
}
