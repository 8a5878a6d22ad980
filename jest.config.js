// Unit specs live beside the code (src/ ... .spec.ts); e2e specs in test/ (*.e2e-spec.ts).
const probePostgres = require('./test/support/global-setup');
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j)s$': swc },
  // Nest 12 ships ESM only: let swc turn it into CommonJS for Jest. So does content-disposition 1.x,
  // which @fastify/static (the explorer's assets) requires: Node 20 requires ESM itself, Jest does not.
  transformIgnorePatterns: ['/node_modules/(?!@nestjs/|content-disposition/|@fastify/static/node_modules/content-disposition/)'],
  moduleFileExtensions: ['ts', 'js', 'json'],
};

/**
 * Suites made only of Postgres tests. Without a Postgres server (outside CI) they define no test,
 * which Jest counts as a failed suite: they are left out, as the Postgres tests of other suites are.
 */
const POSTGRES_ONLY_SUITES = ['/test/multi-instance\\.e2e-spec\\.ts$'];

// A function: the Postgres probe (global-setup.js) runs once, before Jest picks the suites, so that
// the choice can depend on it. It sets WB_TEST_PG_URL for the tests when a server answers.
module.exports = async () => {
  await probePostgres();
  const postgres = process.env.WB_TEST_PG_URL !== undefined;
  return {
    // Per-test bound; suites that take longer are broken, not slow.
    testTimeout: 60000,
    projects: [
      { ...common, displayName: 'unit', rootDir: __dirname, testMatch: ['<rootDir>/src/**/*.spec.ts'] },
      {
        ...common,
        displayName: 'e2e',
        rootDir: __dirname,
        testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
        testPathIgnorePatterns: ['/node_modules/', ...(postgres ? [] : POSTGRES_ONLY_SUITES)],
      },
    ],
  };
};
