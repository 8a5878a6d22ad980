import { ClassSerializerInterceptor, type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR, Reflector } from '@nestjs/core';
import { IdentifierParamsGuard } from './common/guards/identifier-params.guard';
import type { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { EventsModule } from './events/events.module';
import { HealthModule } from './health/health.module';
import { HostsModule } from './hosts/hosts.module';
import { RuntimesModule } from './runtimes/runtimes.module';
import { WorkersModule } from './workers/workers.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), RuntimesModule, HostsModule, WorkersModule, EventsModule, HealthModule],
      providers: [
        { provide: APP_GUARD, useClass: IdentifierParamsGuard },
        {
          // Fail-closed net behind the explicit mappers: only @Expose()d DTO
          // fields are serialized, so a plain object or an internal record
          // returned by mistake goes out empty instead of leaking.
          provide: APP_INTERCEPTOR,
          useFactory: (reflector: Reflector) => new ClassSerializerInterceptor(reflector, { strategy: 'excludeAll' }),
          inject: [Reflector],
        },
      ],
    };
  }
}
