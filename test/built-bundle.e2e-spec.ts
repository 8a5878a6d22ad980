import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildServer } from './support/child-server';

/**
 * What only the built bundle can get wrong (scripts/build.mjs): the packages
 * Nest loads by name at run time are inside it (class-validator,
 * @fastify/static) or outside it (class-transformer, swagger-ui-dist), and
 * the OpenAPI document is built at its first request, not at start-up
 * (openapi.ts). The in-process suites run the TypeScript, not the bundle.
 */
describe('the built bundle (what npm start runs)', () => {
  let dir: string;
  let server: ChildServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wb-bundle-'));
    server = new ChildServer({ WORKSPACE_DATA_DIR: dir, WORKSPACE_ROOT: dir, RUNTIME_STORE_URL: 'memory:' });
    await server.start();
  });
  afterAll(async () => {
    await server.terminate();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the explorer, its assets from swagger-ui-dist, and the document built at the first request for it', async () => {
    const page = await server.fetch('/docs');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('swagger-ui');
    const css = await server.fetch('/docs/swagger-ui.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect((await css.text()).length).toBeGreaterThan(1000);
    const json = await server.fetch('/docs-json');
    expect(json.status).toBe(200);
    const document = (await json.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).toMatch(/^3\./);
    expect(Object.keys(document.paths)).toContain('/api/runtimes/{runtime_id}/workers/{worker_id}/transcript');
    expect((await server.fetch('/docs-yaml')).status).toBe(200);
  });

  it('answers 405 from the document built at the first request no route matched, and validates bodies with the bundled class-validator', async () => {
    const put = await server.fetch('/api/keys', { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')?.split(', ').sort()).toEqual(['GET', 'HEAD', 'POST']);
    expect(((await put.json()) as { error: string }).error).toBe('method_not_allowed');
    const bad = await server.post('/api/runtimes/embedded-worker-runtime/workers', { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: 'two' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe('validation_failed');
    const good = await server.post('/api/runtimes/embedded-worker-runtime/workers', { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: 0 } });
    expect(good.status).toBe(201);
  });

  it('logs no error while doing so', () => {
    const errors = server.logLines().filter((line) => line.level === 'error' || line.level === 'fatal');
    expect(errors).toEqual([]);
  });
});
