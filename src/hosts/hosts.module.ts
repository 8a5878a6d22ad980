import { Module } from '@nestjs/common';
import { RuntimesModule } from '../runtimes/runtimes.module';
import { HostsController } from './hosts.controller';

@Module({ imports: [RuntimesModule], controllers: [HostsController] })
export class HostsModule {}
