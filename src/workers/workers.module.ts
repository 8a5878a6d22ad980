import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { RuntimesModule } from '../runtimes/runtimes.module';
import { RuntimeWorkersController } from './runtime-workers.controller';
import { WorkerRunsController } from './worker-runs.controller';
import { WorkersController } from './workers.controller';

@Module({ imports: [RuntimesModule, EventsModule, IdempotencyModule], controllers: [WorkersController, RuntimeWorkersController, WorkerRunsController] })
export class WorkersModule {}
