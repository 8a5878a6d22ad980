import { withoutPassword, redactSecrets } from '../common/logging/redact';
import { ConfigError, loadAppConfig, parseStoreUrl, pgIdleInTransactionTimeoutMs, secretsOf } from './app-config';

describe('configuration', () => {
  it('defaults to a SQLite file under the data dir', () => {
    expect(parseStoreUrl('', '/data')).toEqual({ kind: 'sqlite', file: '/data/embedded-runtime.sqlite3', synchronous: 'NORMAL', maxBytes: null });
    expect(parseStoreUrl('sqlite:', '/data', 'full')).toEqual({ kind: 'sqlite', file: '/data/embedded-runtime.sqlite3', synchronous: 'FULL', maxBytes: null });
    expect(parseStoreUrl('sqlite:/x/y.db', '/data')).toMatchObject({ kind: 'sqlite', file: '/x/y.db' });
    expect(parseStoreUrl('memory:', '/data')).toEqual({ kind: 'memory', name: 'embedded-memory', maxBytes: 1024 * 1024 * 1024 });
    expect(parseStoreUrl('postgresql://u:p@h/db', '/data')).toEqual({ kind: 'postgres', url: 'postgresql://u:p@h/db' });
  });

  it('caps the SQLite stores by SQLITE_MAX_MB: memory at 1 GiB unless told, a file only when told', () => {
    const store = (env: Record<string, string>) => loadAppConfig({ WORKSPACE_DATA_DIR: '/data', ...env } as NodeJS.ProcessEnv).embedded.store;
    expect(store({ RUNTIME_STORE_URL: 'memory:' })).toMatchObject({ kind: 'memory', maxBytes: 1024 * 1024 * 1024 });
    expect(store({})).toMatchObject({ kind: 'sqlite', maxBytes: null });
    expect(store({ SQLITE_MAX_MB: '5' })).toMatchObject({ kind: 'sqlite', maxBytes: 5 * 1024 * 1024 });
    expect(store({ RUNTIME_STORE_URL: 'memory:x', SQLITE_MAX_MB: '64' })).toMatchObject({ kind: 'memory', maxBytes: 64 * 1024 * 1024 });
    expect(store({ RUNTIME_STORE_URL: 'postgres://h/db', SQLITE_MAX_MB: '64' })).toEqual({ kind: 'postgres', url: 'postgres://h/db' });
    for (const bad of ['0', '-1', '1.5', '5MB', String(16 * 1024 * 1024 + 1)]) expect(() => store({ SQLITE_MAX_MB: bad })).toThrow(/SQLITE_MAX_MB must be/);
  });

  it('reads LOG_LEVEL as the least severe level printed', () => {
    expect(loadAppConfig({} as NodeJS.ProcessEnv).logLevels).toEqual(['fatal', 'error', 'warn', 'log']);
    expect(loadAppConfig({ LOG_LEVEL: 'warn' } as NodeJS.ProcessEnv).logLevels).toEqual(['fatal', 'error', 'warn']);
    expect(loadAppConfig({ LOG_LEVEL: 'DEBUG' } as NodeJS.ProcessEnv).logLevels).toEqual(['fatal', 'error', 'warn', 'log', 'debug']);
    expect(() => loadAppConfig({ LOG_LEVEL: 'loud' } as NodeJS.ProcessEnv)).toThrow(/LOG_LEVEL must be one of/);
  });

  it('refuses unknown stores and bad values without echoing them', () => {
    expect(() => parseStoreUrl('mysql://secret@h', '/d')).toThrow(ConfigError);
    expect(() => parseStoreUrl('mysql://secret@h', '/d')).not.toThrow(/secret/);
    expect(() => loadAppConfig({ PORT: 'abc' } as NodeJS.ProcessEnv)).toThrow('PORT must be a whole number');
    expect(() => loadAppConfig({ WORKSPACE_ID: 'a/b' } as NodeJS.ProcessEnv)).toThrow(/WORKSPACE_ID/);
    expect(() => loadAppConfig({ SQLITE_SYNCHRONOUS: 'OFF' } as NodeJS.ProcessEnv)).toThrow(/SQLITE_SYNCHRONOUS/);
    for (const key of ['short-key-15chr', 'a key with spaces in it', 'ключ-не-ascii-символы', 'x'.repeat(513)]) {
      expect(() => loadAppConfig({ API_KEY: key } as NodeJS.ProcessEnv)).toThrow('API_KEY must be 16 to 512 printable ASCII characters without spaces');
      expect(() => loadAppConfig({ API_KEY: key } as NodeJS.ProcessEnv)).not.toThrow(key.slice(0, 9));
    }
    expect(loadAppConfig({ API_KEY: 'x'.repeat(512) } as NodeJS.ProcessEnv).auth.apiKey).toHaveLength(512);
    expect(loadAppConfig({ API_KEY: 'a-key-of-16-char' } as NodeJS.ProcessEnv).auth.apiKey).toBe('a-key-of-16-char');
  });

  it('refuses a MODEL_BASE_URL with a user name or password (fetch would refuse every request), without echoing it', () => {
    const env = (url: string) => ({ MODEL_PROVIDER: 'openai-compatible', MODEL_NAME: 'm', MODEL_BASE_URL: url }) as NodeJS.ProcessEnv;
    for (const url of ['http://user:pw-canary@127.0.0.1:1/v1', 'http://user-canary@127.0.0.1:1/v1', 'https://:pw-canary@h/v1']) {
      expect(() => loadAppConfig(env(url))).toThrow('MODEL_BASE_URL must not hold a user name or password');
      expect(() => loadAppConfig(env(url))).not.toThrow(/canary/);
    }
    expect(loadAppConfig(env('http://127.0.0.1:1/v1')).execution.provider?.baseUrl).toBe('http://127.0.0.1:1/v1');
  });

  it('knows which values logs must never print', () => {
    const config = loadAppConfig({ WORKER_PROVIDER_API_KEY: 'sk-provider', RUNTIME_STORE_URL: 'postgres://app:p%40ss@db/x' } as NodeJS.ProcessEnv);
    expect(secretsOf(config)).toEqual(expect.arrayContaining(['sk-provider', 'p%40ss', 'p@ss']));
    const line = `store postgres://app:p%40ss@db/x failed; key sk-provider; Authorization: Bearer abc.def; token=xyz`;
    const redacted = redactSecrets(line, secretsOf(config));
    for (const secret of ['p%40ss', 'sk-provider', 'abc.def', 'xyz']) expect(redacted).not.toContain(secret);
    expect(withoutPassword('postgres://app:p%40ss@db:5432/x')).toBe('postgres://app:redacted@db:5432/x');
  });

  it('never throws on a password with a % that starts no escape, and keeps every form of it', () => {
    const config = loadAppConfig({ RUNTIME_STORE_URL: 'postgres://u:50%off@h/db' } as NodeJS.ProcessEnv);
    expect(() => secretsOf(config)).not.toThrow();
    expect(secretsOf(config)).toEqual(['50%off']);
    // valid escapes are decoded even next to an invalid one; a lone non-UTF-8 escape stays as written
    const mixed = loadAppConfig({ RUNTIME_STORE_URL: 'postgres://u:5%25x%@y%40z%C3@h/db' } as NodeJS.ProcessEnv);
    expect(secretsOf(mixed)).toEqual(expect.arrayContaining(['5%25x%%40y%40z%C3', '5%x%@y@z%C3']));
    const line = redactSecrets('connect postgres://u:5%x%@y@z%C3@h/db failed: password 5%x%@y@z%C3 rejected', secretsOf(mixed));
    expect(line).not.toContain('5%x%@y');
    expect(line).not.toContain('y@z');
  });

  it('knows passwords given as connection parameters', () => {
    const config = loadAppConfig({ RUNTIME_STORE_URL: 'postgres://u@h/db?password=qp%21w&sslpassword=ssl%20pw' } as NodeJS.ProcessEnv);
    expect(secretsOf(config)).toEqual(expect.arrayContaining(['qp!w', 'ssl pw']));
    expect(secretsOf(loadAppConfig({ RUNTIME_STORE_URL: 'postgres://u@h/db' } as NodeJS.ProcessEnv))).toEqual([]);
  });

  it('reads HTTP_SEND_TIMEOUT_MS within its bounds', () => {
    expect(loadAppConfig({} as NodeJS.ProcessEnv).http.sendTimeoutMs).toBe(30_000);
    expect(loadAppConfig({ HTTP_SEND_TIMEOUT_MS: '100' } as NodeJS.ProcessEnv).http.sendTimeoutMs).toBe(100);
    for (const bad of ['0', '99', '3600001', '5s', '-1']) {
      expect(() => loadAppConfig({ HTTP_SEND_TIMEOUT_MS: bad } as NodeJS.ProcessEnv)).toThrow(/^HTTP_SEND_TIMEOUT_MS must be/);
    }
  });

  it('ends an idle Postgres transaction after a third of the run lease, 1 to 30 s', () => {
    expect(loadAppConfig({} as NodeJS.ProcessEnv).postgres.idleInTransactionTimeoutMs).toBe(3333);
    expect(loadAppConfig({ RUN_LEASE_MS: '3000' } as NodeJS.ProcessEnv).postgres.idleInTransactionTimeoutMs).toBe(1000);
    expect([300, 2999, 60_000, 90_000, 600_000].map(pgIdleInTransactionTimeoutMs)).toEqual([1000, 1000, 20_000, 30_000, 30_000]);
  });
});
