import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes `<dataDir>/pods/<name>/metadata.json`; a string is written verbatim. */
export function writeRecord(dataDir: string, name: string, record: unknown): string {
  const dir = join(dataDir, 'pods', name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'metadata.json');
  writeFileSync(file, typeof record === 'string' || Buffer.isBuffer(record) ? (record as string) : JSON.stringify(record));
  return file;
}

export function podsDir(dataDir: string): string {
  const dir = join(dataDir, 'pods');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function linkEntry(dataDir: string, name: string, target: string): void {
  symlinkSync(target, join(podsDir(dataDir), name));
}

/**
 * A realistic record: the public hints plus every internal field a worker
 * process leaves, each set to `secret(field)` so a test can plant canaries.
 */
export function fullRecord(workspaceRoot: string, secret: (field: string) => string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    worker_name: 'Reviewer Beta',
    workspace_root: workspaceRoot,
    resolved_manifest_snapshot: {
      role: 'reviewer',
      profile_selector: 'builtin:reviewer',
      system_prompt: secret('system_prompt'),
      provider: { api_key: secret('manifest_api_key'), base_url: secret('manifest_base_url') },
    },
    active: { segment_id: secret('segment_id'), started_at: secret('started_at') },
    socket_path: secret('socket_path'),
    session_id: secret('session_id'),
    session_path: secret('session_path'),
    pid: 987_654_321,
    endpoint: `http://127.0.0.1:45678/${secret('endpoint')}`,
    token: secret('token'),
    env: { ANTHROPIC_API_KEY: secret('env_api_key'), HOME: secret('env_home') },
    store_path: secret('store_path'),
    ...overrides,
  };
}
