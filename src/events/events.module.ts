import { Module } from '@nestjs/common';
import { RuntimesModule } from '../runtimes/runtimes.module';
import { EventsController } from './events.controller';
import { EventStreams } from './event-streams';

@Module({ imports: [RuntimesModule], controllers: [EventsController], providers: [EventStreams], exports: [EventStreams] })
export class EventsModule {}
