import { Inject, Logger, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { EmbeddedWorkerRuntime } from './embedded/embedded-worker-runtime';
import { RegistryService } from './registry.service';
import { RuntimesController } from './runtimes.controller';
import { runtimeProviders } from './runtimes.providers';
import { EmbeddedRuntimeStore } from './embedded/store/embedded-runtime.store';

@Module({
  controllers: [RuntimesController],
  providers: [...runtimeProviders, RegistryService],
  exports: [RegistryService, EmbeddedWorkerRuntime],
})
export class RuntimesModule implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RuntimesModule.name);

  constructor(
    @Inject(EmbeddedWorkerRuntime) private readonly embedded: EmbeddedWorkerRuntime,
    @Inject(EmbeddedRuntimeStore) private readonly store: EmbeddedRuntimeStore,
    @Inject(RegistryService) private readonly registry: RegistryService,
  ) {}

  onModuleInit(): void {
    // Operator log: names the store (its identity is a path, or a URL without its password), never the provider credential.
    this.logger.log(
      `runtimes registered: ${this.registry.runtimeIds().join(', ')}; embedded store ${this.store.kind} ${this.store.identity}; provider ${this.embedded.describeProvider()}`,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.embedded.close();
  }
}
