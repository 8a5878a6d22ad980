import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { IdentifierParamsGuard } from './common/guards/identifier-params.guard';
import { AllowListSerializerInterceptor } from './common/serialization/allow-list-serializer.interceptor';
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
      providers: [
        { provide: APP_GUARD, useClass: IdentifierParamsGuard },
        // Fail-closed net behind the explicit mappers: only @ApiField
        // properties of response DTOs are serialised; a plain object or an
        // internal record returned by mistake is a 500, never a leak.
        { provide: APP_INTERCEPTOR, useClass: AllowListSerializerInterceptor },
      ],
    };
  }
}
