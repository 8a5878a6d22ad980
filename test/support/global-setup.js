// Decides once per run whether the Postgres adapter suites run (CommonJS: jest.config.js calls it while
// Jest loads its configuration, untransformed, before it picks the suites).
// - RUNTIME_STORE_TEST_PG_URL, or postgres://postgres@127.0.0.1:5432/test by default, is probed;
// - reachable: WB_TEST_PG_URL is set and every Postgres suite runs;
// - unreachable under CI=true: the whole run fails here, loudly (CI must test Postgres);
// - unreachable elsewhere: the suites are not defined, and this says so.
const { Client } = require('pg');

module.exports = async function globalSetup() {
  const url = process.env.RUNTIME_STORE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    process.env.WB_TEST_PG_URL = url;
    console.log(`\n[global-setup] Postgres reachable: the postgres adapter suites run`);
  } catch (err) {
    const why = err && err.code ? err.code : 'unreachable';
    if (process.env.CI === 'true' || process.env.RUNTIME_STORE_TEST_PG_URL) {
      throw new Error(`[global-setup] Postgres is required here but not reachable (${why}); .ci/run starts one on 127.0.0.1:5432`);
    }
    console.log(`\n[global-setup] Postgres not reachable (${why}): postgres adapter suites NOT run (CI runs them; set RUNTIME_STORE_TEST_PG_URL to force)`);
  } finally {
    await client.end().catch(() => undefined);
  }
};
