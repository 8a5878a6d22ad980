import { Module } from '@nestjs/common';
import { RuntimesModule } from '../runtimes/runtimes.module';
import { IdempotencyInterceptor } from './idempotency.interceptor';
import { Idempotency } from './idempotency.service';

@Module({ imports: [RuntimesModule], providers: [Idempotency, IdempotencyInterceptor], exports: [Idempotency, IdempotencyInterceptor] })
export class IdempotencyModule {}
