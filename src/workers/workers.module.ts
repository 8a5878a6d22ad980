import { Module } from '@nestjs/common';
import { RuntimesModule } from '../runtimes/runtimes.module';
import { RuntimeWorkersController } from './runtime-workers.controller';
import { WorkersController } from './workers.controller';

@Module({ imports: [RuntimesModule], controllers: [WorkersController, RuntimeWorkersController] })
export class WorkersModule {}
