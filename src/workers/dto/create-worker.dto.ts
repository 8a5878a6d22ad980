import { ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { IsDefined, IsIn, IsInt, IsObject, IsString, Matches, Max, MaxLength, Min, ValidateIf, ValidateNested } from 'class-validator';
import { ApiField } from '../../common/dto/api-field.decorator';
import { DiscriminatedBy } from '../../common/dto/discriminated.decorator';
import { DiagnosticDto, toDiagnosticDtos } from '../../common/dto/diagnostic.dto';
import { IDENTIFIER_PATTERN } from '../../config/app-config';
import { TICKET_ROLES, type SpawnOutcome, type SpawnRequest, type TicketRole, type WorkerRecord } from '../../runtimes/runtime-source';
import { IsStorableText } from './send-input.dto';
import { toWorkerSummaryDto, WorkerSummaryDto } from './worker-summary.dto';

const INTENT_KINDS = ['workspace_companion', 'workspace_orchestrator', 'ticket_role'] as const;
const ACCEPTANCE_KINDS = ['run_accepted', 'socket_ready'] as const;

/*
 * Discriminated unions: DiscriminatedBy picks the subtype by `kind`; an
 * unknown kind falls back to the base class, whose `@IsIn` then rejects it
 * (without the base check an unknown kind would pass as an empty object).
 */

class IntentBaseDto {
  @ApiProperty({ enum: INTENT_KINDS })
  @IsIn(INTENT_KINDS)
  kind: (typeof INTENT_KINDS)[number];
}

export class WorkspaceCompanionIntentDto {
  @ApiProperty({ enum: ['workspace_companion'] })
  @IsIn(['workspace_companion'])
  kind: 'workspace_companion';
}

export class WorkspaceOrchestratorIntentDto {
  @ApiProperty({ enum: ['workspace_orchestrator'] })
  @IsIn(['workspace_orchestrator'])
  kind: 'workspace_orchestrator';
}

export class TicketRoleIntentDto {
  @ApiProperty({ enum: ['ticket_role'] })
  @IsIn(['ticket_role'])
  kind: 'ticket_role';

  @ApiProperty({ pattern: IDENTIFIER_PATTERN.source, example: '00001KVZSGT0Q' })
  @IsString()
  @Matches(IDENTIFIER_PATTERN, { message: 'ticket_id must match ^[A-Za-z0-9_:-]{1,120}$' })
  ticket_id: string;

  @ApiProperty({ enum: TICKET_ROLES })
  @IsIn(TICKET_ROLES)
  role: TicketRole;
}

class AcceptanceBaseDto {
  @ApiProperty({ enum: ACCEPTANCE_KINDS })
  @IsIn(ACCEPTANCE_KINDS)
  kind: (typeof ACCEPTANCE_KINDS)[number];
}

export class RunAcceptedAcceptanceDto {
  @ApiProperty({ enum: ['run_accepted'] })
  @IsIn(['run_accepted'])
  kind: 'run_accepted';

  // The default is stated in the description, not as `default`: openapi-typescript would make the property required.
  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: 1000, description: 'Default 0; echoed in the acceptance evidence' })
  @ValidateIf((o: RunAcceptedAcceptanceDto) => o.expected_segments !== undefined)
  @IsInt()
  @Min(0)
  @Max(1000)
  expected_segments?: number;
}

export class SocketReadyAcceptanceDto {
  @ApiProperty({ enum: ['socket_ready'], description: 'Rejected by the embedded runtime (it has no socket)' })
  @IsIn(['socket_ready'])
  kind: 'socket_ready';
}

type IntentDto = WorkspaceCompanionIntentDto | WorkspaceOrchestratorIntentDto | TicketRoleIntentDto;
type AcceptanceDto = RunAcceptedAcceptanceDto | SocketReadyAcceptanceDto;

@ApiExtraModels(WorkspaceCompanionIntentDto, WorkspaceOrchestratorIntentDto, TicketRoleIntentDto, RunAcceptedAcceptanceDto, SocketReadyAcceptanceDto)
export class CreateWorkerDto {
  @ApiProperty({
    oneOf: [
      { $ref: getSchemaPath(WorkspaceCompanionIntentDto) },
      { $ref: getSchemaPath(WorkspaceOrchestratorIntentDto) },
      { $ref: getSchemaPath(TicketRoleIntentDto) },
    ],
    discriminator: {
      propertyName: 'kind',
      mapping: {
        workspace_companion: getSchemaPath(WorkspaceCompanionIntentDto),
        workspace_orchestrator: getSchemaPath(WorkspaceOrchestratorIntentDto),
        ticket_role: getSchemaPath(TicketRoleIntentDto),
      },
    },
  })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @DiscriminatedBy('kind', IntentBaseDto, {
    workspace_companion: WorkspaceCompanionIntentDto,
    workspace_orchestrator: WorkspaceOrchestratorIntentDto,
    ticket_role: TicketRoleIntentDto,
  })
  intent: IntentDto;

  @ApiPropertyOptional({ maxLength: 200, description: 'A display wish only: never becomes the worker id' })
  @ValidateIf((o: CreateWorkerDto) => o.requested_worker_name !== undefined)
  @IsString()
  @MaxLength(200)
  @IsStorableText()
  requested_worker_name?: string;

  @ApiProperty({
    oneOf: [{ $ref: getSchemaPath(RunAcceptedAcceptanceDto) }, { $ref: getSchemaPath(SocketReadyAcceptanceDto) }],
    discriminator: {
      propertyName: 'kind',
      mapping: { run_accepted: getSchemaPath(RunAcceptedAcceptanceDto), socket_ready: getSchemaPath(SocketReadyAcceptanceDto) },
    },
  })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @DiscriminatedBy('kind', AcceptanceBaseDto, { run_accepted: RunAcceptedAcceptanceDto, socket_ready: SocketReadyAcceptanceDto })
  acceptance: AcceptanceDto;
}

/**
 * Request examples, one per intent (the first is what tools such as dredd
 * send): each is valid against CreateWorkerDto and creates a worker on the
 * embedded runtime (test/openapi-document.e2e-spec.ts checks both).
 */
export const CREATE_WORKER_EXAMPLES = {
  ticket_role: {
    summary: 'A coder for a ticket (profile builtin:coder)',
    value: {
      intent: { kind: 'ticket_role', ticket_id: '00001KVZSGT0Q', role: 'coder' },
      acceptance: { kind: 'run_accepted', expected_segments: 0 },
    },
  },
  workspace_companion: {
    summary: 'The workspace companion (runtime default profile)',
    value: { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted' } },
  },
  workspace_orchestrator: {
    summary: 'The workspace orchestrator (runtime default profile)',
    value: { intent: { kind: 'workspace_orchestrator' }, acceptance: { kind: 'run_accepted', expected_segments: 1 } },
  },
};

/** Validated DTO → the registry's request (plain data, defaults applied). */
export function toSpawnRequest(dto: CreateWorkerDto): SpawnRequest {
  const intent = dto.intent;
  return {
    intent:
      intent.kind === 'ticket_role' ? { kind: 'ticket_role', ticket_id: intent.ticket_id, role: intent.role } : { kind: intent.kind },
    ...(dto.requested_worker_name !== undefined ? { requestedWorkerName: dto.requested_worker_name } : {}),
    acceptance:
      dto.acceptance.kind === 'run_accepted'
        ? { kind: 'run_accepted', expected_segments: dto.acceptance.expected_segments ?? 0 }
        : { kind: 'socket_ready' },
  };
}

export class AcceptanceEvidenceDto {
  @ApiField({ example: 'run_accepted' }) kind: string;
  @ApiField() detail: string;
}

export class SpawnResultDto {
  @ApiField({ enum: ['accepted'], description: 'A 201 is always `accepted`; a refusal is a 422 `rejected` error with the diagnostics' }) state: 'accepted';
  @ApiField({ nested: WorkerSummaryDto }) worker: WorkerSummaryDto;
  @ApiField({ nested: AcceptanceEvidenceDto, isArray: true }) acceptance_evidence: AcceptanceEvidenceDto[];
  @ApiField({ nested: DiagnosticDto, isArray: true, maxItems: 16 }) diagnostics: DiagnosticDto[];
}

export function toSpawnResultDto(outcome: SpawnOutcome & { worker: WorkerRecord }): SpawnResultDto {
  const dto = new SpawnResultDto();
  dto.state = 'accepted';
  dto.worker = toWorkerSummaryDto(outcome.worker);
  dto.acceptance_evidence = outcome.acceptanceEvidence.map((e) => {
    const ev = new AcceptanceEvidenceDto();
    ev.kind = e.kind;
    ev.detail = e.detail;
    return ev;
  });
  dto.diagnostics = toDiagnosticDtos(outcome.diagnostics);
  return dto;
}
