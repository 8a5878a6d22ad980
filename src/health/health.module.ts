import { Global, Module } from '@nestjs/common';
import { RuntimesModule } from '../runtimes/runtimes.module';
import { HealthController } from './health.controller';
import { ShutdownState } from './shutdown-state';

@Global()
@Module({
  imports: [RuntimesModule],
  controllers: [HealthController],
  providers: [ShutdownState],
  exports: [ShutdownState],
})
export class HealthModule {}
