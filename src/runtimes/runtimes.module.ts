import { Inject, Logger, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { CursorCodec } from '../common/paging/cursor-codec';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { BackendStore } from '../store/backend-store';
import { EventLog } from './embedded/event-log';
import { WorkerRuntime } from './embedded/worker-runtime';
import { RuntimeRegistry } from './runtime-registry';
import { RuntimesController } from './runtimes.controller';
import { runtimeProviders } from './runtimes.providers';

@Module({
  controllers: [RuntimesController],
  providers: [...runtimeProviders, RuntimeRegistry],
  exports: [RuntimeRegistry, WorkerRuntime, BackendStore, CursorCodec],
})
export class RuntimesModule implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RuntimesModule.name);

  constructor(
    @Inject(BackendStore) private readonly store: BackendStore,
    @Inject(EventLog) private readonly log: EventLog,
    @Inject(RuntimeRegistry) private readonly registry: RuntimeRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    // Operator log: names the store (its identity is a path, or a URL without its password), never a credential.
    const provider = this.config.execution.provider;
    this.logger.log(
      `runtimes registered: ${this.registry.runtimeIds().join(', ')}; embedded store ${this.store.description.kind} ${this.store.description.identity}; ` +
        `model provider ${provider ? `${provider.kind} (${provider.model}; ${provider.apiKey ? 'key configured' : 'no key'})` : 'none: inputs are recorded, no run starts'}`,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    this.log.close();
    await this.store.close();
  }
}
