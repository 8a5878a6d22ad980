import { ApiField } from './api-field.decorator';

export type DiagnosticSeverity = 'info' | 'warning' | 'error';

/** Internal and wire shape of a diagnostic (SPEC §3). */
export interface Diagnostic {
  code: string;
  severity: DiagnosticSeverity;
  message: string;
}

/** Lists and resources carry at most this many diagnostics (SPEC §3). */
export const MAX_DIAGNOSTICS = 16;

export class DiagnosticDto implements Diagnostic {
  @ApiField({ description: 'Stable snake_case code', example: 'embedded_worker_name_ignored', pattern: '^[a-z][a-z0-9_]*$' })
  code: string;

  @ApiField({ enum: ['info', 'warning', 'error'] })
  severity: DiagnosticSeverity;

  @ApiField({ description: 'Human-readable text; never names a path, token or pid' })
  message: string;
}

export function diagnostic(code: string, severity: DiagnosticSeverity, message: string): Diagnostic {
  return { code, severity, message };
}

/**
 * Keeps at most MAX_DIAGNOSTICS, replacing the last kept one with a note that
 * some were dropped, so a client can tell the list is not complete.
 */
export function boundDiagnostics(list: readonly Diagnostic[]): Diagnostic[] {
  if (list.length <= MAX_DIAGNOSTICS) return [...list];
  const kept = list.slice(0, MAX_DIAGNOSTICS - 1);
  kept.push(diagnostic('diagnostics_truncated', 'info', `${list.length - kept.length} further diagnostics were omitted`));
  return kept;
}

export function toDiagnosticDto(d: Diagnostic): DiagnosticDto {
  const dto = new DiagnosticDto();
  dto.code = d.code;
  dto.severity = d.severity;
  dto.message = d.message;
  return dto;
}

export function toDiagnosticDtos(list: readonly Diagnostic[]): DiagnosticDto[] {
  return boundDiagnostics(list).map(toDiagnosticDto);
}
