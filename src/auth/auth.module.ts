import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { RuntimesModule } from '../runtimes/runtimes.module';
import { ApiKeys } from './api-keys.service';
import { KeysController } from './keys.controller';

/**
 * API keys and their routes. The checks themselves run in the request pipeline
 * (auth.middleware.ts, wired in app.factory.ts's onRequest hook, before the body is read): SPEC §11 refuses an
 * unauthenticated request before its body is read, which Nest guards (they
 * run after the body parser) could not do.
 */
@Module({
  imports: [RuntimesModule, EventsModule],
  controllers: [KeysController],
  providers: [ApiKeys],
  exports: [ApiKeys],
})
export class AuthModule {}
