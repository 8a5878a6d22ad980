import { randomBytes } from 'node:crypto';
import type { FactoryProvider } from '@nestjs/common';
import { Logger } from '@nestjs/common';
import { CursorCodec } from '../common/paging/cursor-codec';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { createBackendStore } from '../store/create-backend-store';
import { BackendStore, type StoredEvent } from '../store/backend-store';
import { EmbeddedSource } from './embedded/embedded.source';
import { EventLog } from './embedded/event-log';
import { WorkerRuntime } from './embedded/worker-runtime';
import { LocalSource } from './local/local.source';
import type { RuntimeSource } from './runtime-source';
import { RUNTIME_SOURCES } from './runtimes.constants';

/**
 * The cursor secret lives in the store, so every instance sharing it issues
 * and accepts the same cursors, across restarts.
 */
export async function createCursorCodec(store: BackendStore): Promise<CursorCodec> {
  const secret = await store.write((tx) => tx.initSetting('cursor_secret', randomBytes(32).toString('hex')));
  return new CursorCodec(Buffer.from(secret, 'hex'));
}

/** Pages of a stream's catch-up read: a few events, and about a quarter of the client's allowance. */
export function createEventLog(config: AppConfig, store: BackendStore): EventLog {
  const logger = new Logger('EventLog');
  const maxBytes = Math.max(16 * 1024, Math.min(256 * 1024, Math.floor(config.events.clientBufferBytes / 4)));
  // Live deltas go to the streams in windows of SSE_FLUSH_MS (one call and one socket write per stream per window).
  const window = { ms: config.events.flushMs, mayWait: (e: StoredEvent) => e.kind === 'message.delta' };
  return new EventLog(store, { maxEvents: 64, maxBytes }, (err) => logger.error(`reading the event log failed: ${err instanceof Error ? err.message : String(err)}`), window);
}

export function createWorkerRuntime(config: AppConfig, store: BackendStore): WorkerRuntime {
  return new WorkerRuntime({
    store,
    maxWorkers: config.embedded.maxWorkers,
    executionEnabled: config.execution.provider !== null,
    queueLimit: config.execution.queueLimit,
  });
}

export function createRuntimeSources(config: AppConfig, runtime: WorkerRuntime, log: EventLog): RuntimeSource[] {
  return [
    new EmbeddedSource(runtime, log, config.workspaceId),
    new LocalSource({
      workspaceId: config.workspaceId,
      workspaceRoot: config.workspaceRoot,
      dataDir: config.dataDir,
      scanner: { deadlineMs: config.localScanDeadlineMs },
    }),
  ];
}

export const runtimeProviders: FactoryProvider[] = [
  { provide: BackendStore, useFactory: createBackendStore, inject: [APP_CONFIG] },
  { provide: CursorCodec, useFactory: createCursorCodec, inject: [BackendStore] },
  { provide: EventLog, useFactory: createEventLog, inject: [APP_CONFIG, BackendStore] },
  { provide: WorkerRuntime, useFactory: createWorkerRuntime, inject: [APP_CONFIG, BackendStore] },
  { provide: RUNTIME_SOURCES, useFactory: createRuntimeSources, inject: [APP_CONFIG, WorkerRuntime, EventLog] },
];
