/** Exact key sets of every response object (SPEC §3/§4/§6): an extra field is a failure. */

export const DIAGNOSTIC_KEYS = ['code', 'message', 'severity'];
export const ERROR_KEYS = ['diagnostics', 'error', 'message', 'statusCode'];
export const ERROR_KEYS_WITH_DETAILS = [...ERROR_KEYS, 'details'].sort();
export const ENVELOPE_KEYS = ['diagnostics', 'items', 'limit', 'next_cursor', 'source', 'workspace_id'];
export const RUNTIME_KEYS = ['capabilities', 'diagnostics', 'host_ids', 'kind', 'label', 'runtime_id', 'source', 'status'];
export const RUNTIME_SOURCE_KEYS = ['identity_authority', 'kind', 'note', 'status'];
export const RUNTIME_CAPABILITY_KEYS = [
  'arch',
  'can_accept_input',
  'can_delete_worker',
  'can_execute',
  'can_get_worker',
  'can_list_hosts',
  'can_list_workers',
  'can_read_bounded_transcript',
  'can_spawn_worker',
  'can_stop_worker',
  'can_stream_events',
  'has_git',
  'has_shell',
  'has_workspace_fs',
  'local_pod_inspection',
  'max_workers',
  'os',
  'supports_backend_internal_tools',
  'supports_worktrees',
  'workspace_scope',
];
export const HOST_KEYS = ['capabilities', 'diagnostics', 'host_id', 'kind', 'label', 'last_seen_at', 'observed_at', 'runtime_id', 'status'];
export const WORKER_KEYS = [
  'activity',
  'capabilities',
  'created_at',
  'current_run_id',
  'diagnostics',
  'host_id',
  'implementation',
  'label',
  'last_seen_at',
  'profile',
  'role',
  'runtime_id',
  'state',
  'status',
  'worker_id',
  'workspace',
];
export const WORKER_CAPABILITY_KEYS = [
  'can_accept_input',
  'can_cancel_run',
  'can_delete',
  'can_execute',
  'can_read_bounded_transcript',
  'can_spawn_followup',
  'can_stop',
  'can_stream_events',
];
export const SPAWN_KEYS = ['acceptance_evidence', 'diagnostics', 'state', 'worker'];
export const INPUT_KEYS = ['diagnostics', 'event_id', 'run', 'runtime_id', 'state', 'transcript_sequence', 'worker_id'];
export const RUN_KEYS = ['created_at', 'ended_at', 'error', 'input_sequence', 'output_sequence', 'run_id', 'runtime_id', 'started_at', 'state', 'usage', 'worker_id'];
export const TRANSCRIPT_KEYS = ['diagnostics', 'items', 'limit', 'runtime_id', 'start', 'state', 'total_items', 'worker_id'];
export const TRANSCRIPT_ITEM_KEYS = ['content', 'event_id', 'role', 'run_id', 'sequence', 'truncated'];

const keys = (o: unknown) => Object.keys(o as object).sort();

export function expectDiagnostics(list: unknown): void {
  expect(Array.isArray(list)).toBe(true);
  expect((list as unknown[]).length).toBeLessThanOrEqual(16);
  for (const d of list as unknown[]) expect(keys(d)).toEqual(DIAGNOSTIC_KEYS);
}

export function expectErrorShape(body: unknown, status: number, error: string): void {
  const b = body as Record<string, unknown>;
  expect(b.statusCode).toBe(status);
  expect(b.error).toBe(error);
  expect(keys(b)).toEqual('details' in b ? ERROR_KEYS_WITH_DETAILS : ERROR_KEYS);
  expectDiagnostics(b.diagnostics);
  if ('details' in b) for (const d of b.details as unknown[]) expect(keys(d)).toEqual(['message', 'path']);
}

export function expectRuntimeShape(r: unknown): void {
  const o = r as Record<string, unknown>;
  expect(keys(o)).toEqual(RUNTIME_KEYS);
  expect(keys(o.source)).toEqual(RUNTIME_SOURCE_KEYS);
  expect(keys(o.capabilities)).toEqual(RUNTIME_CAPABILITY_KEYS);
  expectDiagnostics(o.diagnostics);
}

export function expectHostShape(h: unknown): void {
  const o = h as Record<string, unknown>;
  expect(keys(o)).toEqual(HOST_KEYS);
  expect(keys(o.capabilities)).toEqual(RUNTIME_CAPABILITY_KEYS);
  expectDiagnostics(o.diagnostics);
}

export function expectWorkerShape(w: unknown): void {
  const o = w as Record<string, unknown>;
  expect(keys(o)).toEqual(WORKER_KEYS);
  expect(keys(o.workspace)).toEqual(['identity', 'visibility']);
  expect(keys(o.implementation)).toEqual(['display_hint', 'kind']);
  expect(keys(o.capabilities)).toEqual(WORKER_CAPABILITY_KEYS);
  expectDiagnostics(o.diagnostics);
}

export function expectEnvelope(body: unknown, itemCheck: (item: unknown) => void): void {
  const o = body as Record<string, unknown>;
  expect(keys(o)).toEqual(ENVELOPE_KEYS);
  expect(o.source).toBe('worker_runtime_registry');
  expectDiagnostics(o.diagnostics);
  for (const item of o.items as unknown[]) itemCheck(item);
}

export function expectRunShape(r: unknown): void {
  const o = r as Record<string, unknown>;
  expect(keys(o)).toEqual(RUN_KEYS);
  if (o.usage !== null) expect(keys(o.usage)).toEqual(['input_tokens', 'output_tokens']);
  if (o.error !== null) expect(keys(o.error)).toEqual(['code', 'message']);
}

export function expectInputShape(body: unknown): void {
  const o = body as Record<string, unknown>;
  expect(keys(o)).toEqual(INPUT_KEYS);
  if (o.run !== null) expectRunShape(o.run);
  expectDiagnostics(o.diagnostics);
}

export function expectTranscriptShape(body: unknown): void {
  const o = body as Record<string, unknown>;
  const expected = 'next_start' in o ? [...TRANSCRIPT_KEYS, 'next_start'].sort() : TRANSCRIPT_KEYS;
  expect(keys(o)).toEqual(expected);
  for (const item of o.items as unknown[]) expect(keys(item)).toEqual(TRANSCRIPT_ITEM_KEYS);
  expectDiagnostics(o.diagnostics);
}
