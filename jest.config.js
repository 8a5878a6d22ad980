// Unit specs live beside the code (src/ ... .spec.ts); e2e specs in test/ (*.e2e-spec.ts).
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

module.exports = {
  // Per-test bound; suites that take longer are broken, not slow.
  testTimeout: 60000,
  globalSetup: '<rootDir>/test/support/global-setup.js',
  projects: [
    { ...common, displayName: 'unit', rootDir: __dirname, testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    { ...common, displayName: 'e2e', rootDir: __dirname, testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
  ],
};
