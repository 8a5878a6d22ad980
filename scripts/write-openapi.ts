import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp } from '../src/app.factory';
import { loadAppConfig } from '../src/config/app-config';
import { buildOpenApiDocument } from '../src/openapi';

/**
 * Writes the OpenAPI document the code generates to ./openapi.json, so an API
 * change shows in review (test/openapi-document.e2e-spec.ts fails when the
 * committed file is stale). Configuration does not enter the document.
 */
export function serializeOpenApi(document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

async function main(): Promise<void> {
  const app = await createApp(loadAppConfig({ WORKSPACE_DATA_DIR: '/nonexistent', RUNTIME_STORE_URL: 'memory:openapi' } as NodeJS.ProcessEnv), { logLevels: ['error'] });
  const document = buildOpenApiDocument(app);
  await app.close();
  const target = join(__dirname, '..', '..', 'openapi.json');
  writeFileSync(target, serializeOpenApi(document));
  console.log(`wrote ${Object.keys(document.paths).length} paths to openapi.json`);
}

if (require.main === module) void main();
