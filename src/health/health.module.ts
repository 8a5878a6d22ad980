import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { RuntimesModule } from '../runtimes/runtimes.module';
import { EmbeddedStoreHealthIndicator } from './embedded-store.health';
import { HealthController } from './health.controller';

@Module({
  // Terminus' own error log would print indicator data; the indicator logs the cause itself.
  imports: [TerminusModule.forRoot({ logger: false }), RuntimesModule],
  controllers: [HealthController],
  providers: [EmbeddedStoreHealthIndicator],
})
export class HealthModule {}
