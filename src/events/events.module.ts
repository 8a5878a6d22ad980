import { Module } from '@nestjs/common';
import { RuntimesModule } from '../runtimes/runtimes.module';
import { EventsController } from './events.controller';

@Module({ imports: [RuntimesModule], controllers: [EventsController] })
export class EventsModule {}
