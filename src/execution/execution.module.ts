import { type BeforeApplicationShutdown, Inject, Logger, Module, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { WorkerRuntime } from '../runtimes/embedded/worker-runtime';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { Idempotency } from '../idempotency/idempotency.service';
import { RuntimesModule } from '../runtimes/runtimes.module';
import { BackendStore } from '../store/backend-store';
import { ModelProvider } from './model-provider';
import { createModelProvider } from './providers/create-model-provider';
import { RunExecutor } from './run-executor';
import { WorkerJanitor } from './worker-janitor';

export function createRunExecutor(config: AppConfig, runtime: WorkerRuntime, store: BackendStore, provider: ModelProvider | null): RunExecutor {
  const logger = new Logger(RunExecutor.name);
  const e = config.execution;
  return new RunExecutor(runtime, provider, {
    concurrency: e.concurrency,
    leaseMs: e.leaseMs,
    contextMaxChars: e.contextMaxChars,
    deltaCoalesceMs: e.deltaCoalesceMs,
    modelTimeoutMs: e.modelTimeoutMs,
    runMaxMs: e.runMaxMs,
    maxOutputChars: e.maxOutputChars,
    storeIsExclusive: !store.description.sharedAcrossProcesses,
    log: { log: (m) => logger.log(m), warn: (m) => logger.warn(m), error: (m) => logger.error(m) },
  });
}

/**
 * Turns runs into model calls (SPEC §9). Without MODEL_PROVIDER the provider
 * is null: nothing is claimed, but runs a crash left `running` are still
 * marked interrupted.
 */
@Module({
  imports: [RuntimesModule, IdempotencyModule],
  providers: [
    { provide: ModelProvider, useFactory: (config: AppConfig) => (config.execution.provider ? createModelProvider(config.execution.provider) : null), inject: [APP_CONFIG] },
    { provide: RunExecutor, useFactory: createRunExecutor, inject: [APP_CONFIG, WorkerRuntime, BackendStore, ModelProvider] },
    {
      provide: WorkerJanitor,
      useFactory: (config: AppConfig, runtime: WorkerRuntime, idempotency: Idempotency) => new WorkerJanitor(runtime, config.embedded.idleStopMs, () => idempotency.purgeExpired()),
      inject: [APP_CONFIG, WorkerRuntime, Idempotency],
    },
  ],
  exports: [RunExecutor],
})
export class ExecutionModule implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    @Inject(RunExecutor) private readonly executor: RunExecutor,
    @Inject(WorkerJanitor) private readonly janitor: WorkerJanitor,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.executor.start();
    this.janitor.start();
  }

  /** Before the store closes: runs finish (or are interrupted) while it can still record that. */
  async beforeApplicationShutdown(): Promise<void> {
    this.janitor.stop();
    await this.executor.stop(this.config.shutdownGraceMs);
  }
}
