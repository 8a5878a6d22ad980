import type { FactoryProvider } from '@nestjs/common';
import { APP_CONFIG, type AppConfig, type RuntimeStoreConfig } from '../config/app-config';
import { EmbeddedWorkerRuntime } from './embedded/embedded-worker-runtime';
import { EmbeddedRuntimeSource } from './embedded/embedded-runtime.source';
import { EmbeddedRuntimeStore } from './embedded/store/embedded-runtime.store';
import { MemoryEmbeddedRuntimeStore } from './embedded/store/memory-runtime.store';
import { PostgresEmbeddedRuntimeStore } from './embedded/store/postgres-runtime.store';
import { SqliteEmbeddedRuntimeStore } from './embedded/store/sqlite-runtime.store';
import { LocalRuntimeSource } from './local/local-runtime.source';
import type { RuntimeSource } from './runtime-source';
import { RUNTIME_SOURCES } from './runtimes.constants';

/** Picks the store adapter from configuration and runs its migrations before anything uses it. */
export async function createEmbeddedRuntimeStore(config: AppConfig): Promise<EmbeddedRuntimeStore> {
  const store = newStore(config.embedded.store);
  await store.init();
  return store;
}

function newStore(store: RuntimeStoreConfig): EmbeddedRuntimeStore {
  switch (store.kind) {
    case 'memory':
      return new MemoryEmbeddedRuntimeStore(store.name);
    case 'sqlite':
      return new SqliteEmbeddedRuntimeStore(store.file, { synchronous: store.synchronous });
    case 'postgres':
      return new PostgresEmbeddedRuntimeStore(store.url);
  }
}

export function createEmbeddedWorkerRuntime(config: AppConfig, store: EmbeddedRuntimeStore): EmbeddedWorkerRuntime {
  return new EmbeddedWorkerRuntime({
    store,
    maxWorkers: config.embedded.maxWorkers,
    provider: { name: 'default', credential: config.embedded.providerApiKey },
  });
}

export function createRuntimeSources(config: AppConfig, embedded: EmbeddedWorkerRuntime): RuntimeSource[] {
  return [
    new EmbeddedRuntimeSource(embedded, config.workspaceId),
    new LocalRuntimeSource({ workspaceId: config.workspaceId, workspaceRoot: config.workspaceRoot, dataDir: config.dataDir }),
  ];
}

export const runtimeProviders: FactoryProvider[] = [
  { provide: EmbeddedRuntimeStore, useFactory: createEmbeddedRuntimeStore, inject: [APP_CONFIG] },
  { provide: EmbeddedWorkerRuntime, useFactory: createEmbeddedWorkerRuntime, inject: [APP_CONFIG, EmbeddedRuntimeStore] },
  { provide: RUNTIME_SOURCES, useFactory: createRuntimeSources, inject: [APP_CONFIG, EmbeddedWorkerRuntime] },
];
