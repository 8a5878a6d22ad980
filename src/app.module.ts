import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { IdentifierParamsGuard } from './common/guards/identifier-params.guard';
import type { AppConfig } from './config/app-config';
import { AuthModule } from './auth/auth.module';
import { ConfigModule } from './config/config.module';
import { EventsModule } from './events/events.module';
import { ExecutionModule } from './execution/execution.module';
import { HealthModule } from './health/health.module';
import { HostsModule } from './hosts/hosts.module';
import { RuntimesModule } from './runtimes/runtimes.module';
import { WorkersModule } from './workers/workers.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), RuntimesModule, ExecutionModule, HostsModule, WorkersModule, EventsModule, AuthModule, HealthModule],
      // The fail-closed response serialiser is the HTTP adapter (AllowListFastifyAdapter, app.factory.ts).
      providers: [{ provide: APP_GUARD, useClass: IdentifierParamsGuard }],
    };
  }
}
