import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ChildServer, MAIN } from './support/child-server';

const BUNDLE = join(dirname(MAIN), 'server.bundle.js');
const CODE_CACHE = join(dirname(MAIN), 'server.bundle.code-cache');

/** Until the running server has written the cache (the entry does three seconds into a start); false after 20 s. */
async function waitForCodeCache(): Promise<boolean> {
  for (const deadline = Date.now() + 20_000; !existsSync(CODE_CACHE); await new Promise((r) => setTimeout(r, 50))) if (Date.now() > deadline) return false;
  return true;
}

/**
 * What only the built bundle can get wrong (scripts/build.mjs): which packages
 * are inside it (class-validator, @fastify/static) and which outside
 * (class-transformer, whose metadata must be one module instance;
 * swagger-ui-dist, whose files are served from its own directory), and the
 * OpenAPI document, which the bundle builds at its first request (openapi.ts;
 * that it is built lazily and once is pinned by the unit specs of once() and
 * the 405 stage). The in-process suites run the TypeScript, not the bundle.
 * Twice: at the first start after a build, which compiles the bundle and
 * writes V8's code cache, and at a start from that cache
 * (scripts/bundle-entry.cjs; its rules are shown in bundle-entry.e2e-spec.ts).
 */
it('the bundle holds no import(): esbuild made each a require() (an import() would fail in code from the cache)', () => {
  const lines = readFileSync(BUNDLE, 'utf8').split('\n');
  const calls = lines.filter((line) => /(^|[^\w$.])import\(/.test(line) && !/^\s*(\/\/|\*|\/\*)/.test(line.trim()) && !/\/\*\*?.*@(type|param)/.test(line));
  expect(calls).toEqual([]);
});

describe.each([
  ['the first start after a build (no code cache: it writes one)', false],
  ['a later start (from the code cache)', true],
])('the built bundle (what npm start runs): %s', (_title, fromCache) => {
  let dir: string;
  let server: ChildServer;
  let cacheInode: number | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wb-bundle-'));
    if (fromCache) {
      // The block above left one; run alone (-t), a start that runs until it has written one.
      if (!existsSync(CODE_CACHE)) {
        const maker = new ChildServer({ WORKSPACE_DATA_DIR: dir, WORKSPACE_ROOT: dir, RUNTIME_STORE_URL: 'memory:' });
        await maker.start();
        await waitForCodeCache();
        await maker.terminate();
      }
      cacheInode = statSync(CODE_CACHE).ino;
    } else {
      rmSync(CODE_CACHE, { force: true });
    }
    server = new ChildServer({ WORKSPACE_DATA_DIR: dir, WORKSPACE_ROOT: dir, RUNTIME_STORE_URL: 'memory:' });
    await server.start();
  });
  afterAll(async () => {
    if (server.running) await server.terminate();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 405 at the first request no route matched (the document built then), and validates with the pipe\'s class-validator and class-transformer', async () => {
    const put = await server.fetch('/api/keys', { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')?.split(', ').sort()).toEqual(['GET', 'HEAD', 'POST']);
    expect(((await put.json()) as { error: string }).error).toBe('method_not_allowed');
    const bad = await server.post('/api/runtimes/embedded-worker-runtime/workers', { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: 'two' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe('validation_failed');
    // Nested @Type DTOs (intent, acceptance) need class-transformer's one storage: with a second copy the pipe
    // would leave them plain objects, which forbidUnknownValues refuses.
    const good = await server.post('/api/runtimes/embedded-worker-runtime/workers', { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: 0 } });
    expect(good.status).toBe(201);
  });

  it('serves the explorer, its assets from swagger-ui-dist, and the document at /docs-json and /docs-yaml', async () => {
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

  it('logged no error line through start-up and the requests above', () => {
    const errors = server.logLines().filter((line) => line.level === 'error' || line.level === 'fatal');
    expect(errors).toEqual([]);
  });

  if (fromCache) {
    it('did not write the cache again (V8 took it) by the time it stopped', async () => {
      expect(await server.terminate()).toBe(0);
      expect(statSync(CODE_CACHE).ino).toBe(cacheInode);
    });
  } else {
    it('wrote the code cache while running, not at its exit', async () => {
      expect(await waitForCodeCache()).toBe(true);
      expect(server.running).toBe(true);
      expect(readFileSync(CODE_CACHE).toString('latin1', 0, 200).split('\n')[0]).toContain(' running ');
    });
  }
});
