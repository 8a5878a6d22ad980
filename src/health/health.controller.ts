import { Controller, Get, Inject, Query, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService } from '@nestjs/terminus';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiField } from '../common/dto/api-field.decorator';
import { ApiErrorResponses } from '../common/dto/error-response.dto';
import { ApiError } from '../common/errors/api-error';
import { RejectQueryPipe } from '../common/pipes/reject-query.pipe';
import { STORE_ERROR } from '../runtimes/embedded/embedded-runtime.source';
import { EmbeddedStoreHealthIndicator } from './embedded-store.health';

export class HealthChecksDto {
  @ApiField({ enum: ['up'] }) embedded_runtime_store: 'up';
}

export class HealthDto {
  @ApiField({ enum: ['ok'] }) status: 'ok';
  @ApiField({ nested: HealthChecksDto }) checks: HealthChecksDto;
}

const STORE_CHECK = 'embedded_runtime_store';

/** `GET /api/health`: readiness without details (no store kind, location or driver text). */
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(EmbeddedStoreHealthIndicator) private readonly store: EmbeddedStoreHealthIndicator,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'getHealth', summary: 'Readiness: 200 when every dependency answers, 503 service_unavailable otherwise' })
  @ApiOkResponse({ type: HealthDto })
  @ApiErrorResponses(400, 503)
  async check(@Query(RejectQueryPipe) _query: Record<string, never>): Promise<HealthDto> {
    try {
      await this.health.check([() => this.store.isHealthy(STORE_CHECK)]);
    } catch (err) {
      // Terminus puts its per-indicator result in the exception; we answer with the one error shape instead.
      if (err instanceof ServiceUnavailableException) {
        throw new ApiError(503, 'service_unavailable', 'The backend is not ready', { diagnostics: [{ ...STORE_ERROR }] });
      }
      throw err;
    }
    const dto = new HealthDto();
    dto.status = 'ok';
    dto.checks = Object.assign(new HealthChecksDto(), { embedded_runtime_store: 'up' as const });
    return dto;
  }
}
