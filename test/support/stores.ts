import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';
import { makeTempDir } from './test-app';

/** Set by global-setup.js when a Postgres server answered. */
export const PG_URL = process.env.WB_TEST_PG_URL;

/**
 * A fresh schema on the test server, and a URL whose connections use it.
 * `canary` goes into the URL as application_name: an internal part of the
 * store's identity that any auth mode accepts (a planted password would only
 * work with trust auth).
 */
export async function createPgSchema(canary?: string): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!PG_URL) throw new Error('no Postgres');
  const schema = `wbtest_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(PG_URL);
  if (canary) url.searchParams.set('application_name', canary);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    drop: async () => {
      const c = new Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}

export interface StoreFixture {
  name: 'memory' | 'sqlite' | 'postgres';
  durable: boolean;
  /** Environment that points an app at a fresh store of this kind. */
  create(options?: { canary?: string }): Promise<{ env: Record<string, string>; cleanup: () => Promise<void> }>;
}

export const STORE_FIXTURES: StoreFixture[] = [
  {
    name: 'memory',
    durable: false,
    create: async (o = {}) => ({ env: { RUNTIME_STORE_URL: `memory:${o.canary ?? 'test'}` }, cleanup: async () => undefined }),
  },
  {
    name: 'sqlite',
    durable: true,
    create: async (o = {}) => {
      const dir = makeTempDir('wb-sqlite-');
      return {
        env: { RUNTIME_STORE_URL: `sqlite:${join(dir, o.canary ?? 'store', 'runtime.sqlite3')}` },
        cleanup: async () => require('node:fs').rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  ...(PG_URL
    ? [
        {
          name: 'postgres' as const,
          durable: true,
          create: async (o: { canary?: string } = {}) => {
            const { url, drop } = await createPgSchema(o.canary);
            return { env: { RUNTIME_STORE_URL: url }, cleanup: drop };
          },
        },
      ]
    : []),
];
