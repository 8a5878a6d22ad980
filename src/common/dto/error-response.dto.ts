import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';
import { API_ERROR_CODES } from '../errors/api-error';
import { DiagnosticDto } from './diagnostic.dto';

export class ValidationDetailDto {
  @ApiProperty({ description: 'Dotted path of the offending field, or `body` / `query`', example: 'intent.kind' })
  path: string;

  @ApiProperty({ example: 'kind must be one of the following values: workspace_companion, workspace_orchestrator, ticket_role' })
  message: string;
}

/** The one error body (SPEC §6). Written by AllExceptionsFilter, documented here. */
export class ErrorResponseDto {
  @ApiProperty({ type: 'integer', example: 404 })
  statusCode: number;

  @ApiProperty({
    description: 'Stable snake_case error code',
    enum: [...API_ERROR_CODES],
  })
  error: string;

  @ApiProperty({ example: 'No worker with this worker_id exists in runtime embedded-worker-runtime' })
  message: string;

  @ApiProperty({ type: [DiagnosticDto] })
  diagnostics: DiagnosticDto[];

  @ApiPropertyOptional({ type: [ValidationDetailDto], description: 'Present on validation errors' })
  details?: ValidationDetailDto[];
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: '`invalid_identifier`, `validation_failed` or `limit_too_large`',
  404: '`unknown_runtime`, `unknown_worker` or `unknown_host`',
  413: '`payload_too_large`: body over 1 MiB',
  415: '`unsupported_media_type`: body is not application/json',
  422: '`rejected`: the runtime refused a valid request; diagnostics say why',
  500: '`internal_error`: generic, says nothing of the cause',
  501: '`capability_unsupported`: the runtime cannot do this',
  503: '`service_unavailable`: a dependency (the embedded runtime store) is not ready',
};

/** Documents the error responses a route can give, all with the one error body. */
export function ApiErrorResponses(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ErrorResponseDto),
    ...[...new Set([...statuses, 500])].map((status) =>
      ApiResponse({ status, description: ERROR_DESCRIPTIONS[status] ?? 'Error', type: ErrorResponseDto }),
    ),
  );
}
