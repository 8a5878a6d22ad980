import { Inject, Injectable, Logger } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { EmbeddedWorkerRuntime } from '../runtimes/embedded/embedded-worker-runtime';

/** Terminus indicator: up when the embedded runtime's store answers a trivial query. */
@Injectable()
export class EmbeddedStoreHealthIndicator {
  private readonly logger = new Logger(EmbeddedStoreHealthIndicator.name);

  constructor(
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(EmbeddedWorkerRuntime) private readonly runtime: EmbeddedWorkerRuntime,
  ) {}

  async isHealthy(key: string) {
    const session = this.indicators.check(key);
    try {
      await this.runtime.ping();
      return session.up();
    } catch (err) {
      // The cause (host, file, driver text) is for the operator only.
      this.logger.error(`embedded runtime store is not ready: ${err instanceof Error ? err.message : String(err)}`);
      return session.down();
    }
  }
}
