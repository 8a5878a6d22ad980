import { Module } from '@nestjs/common';
import { RuntimesModule } from '../runtimes/runtimes.module';
import { IdempotentRequests } from './idempotent-requests';
import { Idempotency } from './idempotency.service';

@Module({ imports: [RuntimesModule], providers: [Idempotency, IdempotentRequests], exports: [Idempotency, IdempotentRequests] })
export class IdempotencyModule {}
