import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiField } from '../common/dto/api-field.decorator';
import { ApiErrors } from '../common/dto/error-response.dto';
import { ApiError } from '../common/errors/api-error';
import { RejectQueryPipe } from '../common/pipes/reject-query.pipe';
import { RuntimeRegistry } from '../runtimes/runtime-registry';
import { ShutdownState } from './shutdown-state';

export class HealthChecksDto {
  @ApiField({ enum: ['up'] }) runtimes: 'up';
}

export class HealthDto {
  @ApiField({ enum: ['ok'] }) status: 'ok';
  @ApiField({ nested: HealthChecksDto }) checks: HealthChecksDto;
}

export class LivenessDto {
  @ApiField({ enum: ['ok'] }) status: 'ok';
}

/** Readiness answers within this, whatever a store does (SPEC §13: no request waits past its deadline). */
const READINESS_DEADLINE_MS = 2000;

/**
 * `GET /api/health/live`: the process answers. `GET /api/health/ready` (and
 * `/api/health`, kept from v0): reads and writes can succeed now — the
 * registry asks each runtime (the embedded store makes a real write), and a
 * shutting-down process is not ready. No detail of a store's kind, location
 * or driver text is given.
 */
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(RuntimeRegistry) private readonly registry: RuntimeRegistry,
    @Inject(ShutdownState) private readonly shutdown: ShutdownState,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'getHealth', summary: 'Readiness (same as /api/health/ready)' })
  @ApiOkResponse({ type: HealthDto })
  @ApiErrors('validation_failed', 'service_unavailable')
  check(@Query(RejectQueryPipe) _query: Record<string, never>): Promise<HealthDto> {
    return this.readiness();
  }

  @Get('ready')
  @ApiOperation({ operationId: 'getReadiness', summary: 'Readiness: 200 when reads and writes can succeed now, 503 service_unavailable otherwise' })
  @ApiOkResponse({ type: HealthDto })
  @ApiErrors('validation_failed', 'service_unavailable')
  ready(@Query(RejectQueryPipe) _query: Record<string, never>): Promise<HealthDto> {
    return this.readiness();
  }

  @Get('live')
  @ApiOperation({ operationId: 'getLiveness', summary: 'Liveness: the process answers' })
  @ApiOkResponse({ type: LivenessDto })
  @ApiErrors('validation_failed')
  live(@Query(RejectQueryPipe) _query: Record<string, never>): LivenessDto {
    return Object.assign(new LivenessDto(), { status: 'ok' as const });
  }

  private async readiness(): Promise<HealthDto> {
    if (this.shutdown.shuttingDown) throw new ApiError(503, 'service_unavailable', 'The backend is shutting down', { headers: { 'Retry-After': '1' } });
    const failures = await this.registry.readiness(READINESS_DEADLINE_MS);
    if (failures.length > 0) throw new ApiError(503, 'service_unavailable', 'The backend is not ready', { diagnostics: failures, headers: { 'Retry-After': '1' } });
    return Object.assign(new HealthDto(), { status: 'ok' as const, checks: Object.assign(new HealthChecksDto(), { runtimes: 'up' as const }) });
  }
}
