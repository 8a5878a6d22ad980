import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import type { ClientRun } from './openapi-client/result';
import { startTestApp, type TestApp } from './support/test-app';

/**
 * The committed openapi.json as a new user meets it: openapi-typescript
 * generates the types, a small openapi-fetch program written against them
 * (test/openapi-client/client.ts) must typecheck, and then runs against a
 * real server. Nothing is fetched: both tools are devDependencies.
 */
const DOCUMENT = join(__dirname, '..', 'openapi.json');
const CLIENT_DIR = join(__dirname, 'openapi-client');
const CLIENT = join(CLIENT_DIR, 'client.ts');

/**
 * Writes the types openapi-typescript generates for the document in
 * `<dir>/openapi.json` to `<dir>/schema.d.ts`, with its CLI from node_modules
 * (the package's CommonJS build needs ESM-only dependencies Jest cannot load).
 */
function generateTypes(document: object, dir: string): string {
  const input = join(dir, 'openapi.json');
  const output = join(dir, 'schema.d.ts');
  writeFileSync(input, JSON.stringify(document));
  execFileSync(process.execPath, [join(dirname(require.resolve('openapi-typescript/package.json')), 'bin', 'cli.js'), input, '--output', output], { stdio: 'pipe', timeout: 30_000 });
  return output;
}

/**
 * Typechecks the client program with `./schema` resolved to the generated
 * types in `typesDir` (rootDirs merges the two folders), strict, as the
 * project's own code is. Returns the diagnostics, formatted.
 */
function typecheckClient(typesDir: string): string[] {
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2023.d.ts'],
    types: ['node'],
    typeRoots: [join(__dirname, '..', 'node_modules', '@types')],
    rootDirs: [CLIENT_DIR, typesDir],
    esModuleInterop: true,
    skipLibCheck: true,
  };
  const program = ts.createProgram([CLIENT], options);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return text;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${d.file.fileName.replace(dirname(CLIENT_DIR), 'test')}:${line + 1} TS${d.code}: ${text}`;
  });
}

describe('a typed client (openapi-typescript + openapi-fetch) of the committed openapi.json', () => {
  const document = JSON.parse(readFileSync(DOCUMENT, 'utf8'));
  const temp = mkdtempSync(join(tmpdir(), 'wb-openapi-client-'));
  let t: TestApp;
  let baseUrl: string;
  let types: string;

  beforeAll(async () => {
    types = readFileSync(generateTypes(document, temp), 'utf8');
    t = await startTestApp();
    baseUrl = await t.listen();
  });
  afterAll(async () => {
    await t.close();
    rmSync(temp, { recursive: true, force: true });
  });

  it('generates types in which the always-present fields are required', async () => {
    const block = (name: string) => types.slice(types.indexOf(`${name}: {`), types.indexOf('};', types.indexOf(`${name}: {`)));
    expect(block('SpawnResultDto')).toMatch(/\bworker: components\["schemas"\]\["WorkerSummaryDto"\];/);
    expect(block('InputResultDto')).toMatch(/\btranscript_sequence: number;/);
    expect(block('InputResultDto')).toMatch(/\bevent_id: string;/);
    expect(block('WorkerListDto')).toMatch(/\bnext_cursor: string \| null;/);
    expect(types).toMatch(/"text\/event-stream":/);
  });

  it('typechecks the client program against them', () => {
    expect(typecheckClient(temp)).toEqual([]);
  });

  it('fails to typecheck against a document that breaks the contract', async () => {
    const broken = JSON.parse(JSON.stringify(document));
    const schemas = broken.components.schemas;
    // `worker` optional again (the old defect), `event_id` optional, `next_cursor` renamed, an error code dropped.
    schemas.SpawnResultDto.required = schemas.SpawnResultDto.required.filter((f: string) => f !== 'worker');
    schemas.InputResultDto.required = schemas.InputResultDto.required.filter((f: string) => f !== 'event_id');
    schemas.WorkerListDto.properties.nextCursor = schemas.WorkerListDto.properties.next_cursor;
    delete schemas.WorkerListDto.properties.next_cursor;
    schemas.WorkerListDto.required = schemas.WorkerListDto.required.map((f: string) => (f === 'next_cursor' ? 'nextCursor' : f));
    schemas.ErrorResponseDto.properties.error.enum = schemas.ErrorResponseDto.properties.error.enum.filter((c: string) => c !== 'idempotency_key_reused');
    const brokenDir = mkdtempSync(join(temp, 'broken-'));
    generateTypes(broken, brokenDir);
    const diagnostics = typecheckClient(brokenDir).join('\n');
    expect(diagnostics).toMatch(/'created\.data\.worker' is possibly 'undefined'|Type 'WorkerSummaryDto' \| undefined|undefined' is not assignable to type '\{/);
    expect(diagnostics).toMatch(/Type 'string \| undefined' is not assignable to type 'string'/); // event_id
    expect(diagnostics).toMatch(/Property 'next_cursor' does not exist/);
    expect(diagnostics).toMatch(/"idempotency_key_reused"/);
  });

  it('runs against a real server: create, input with Idempotency-Key, paging, 304, the event stream and typed errors', async () => {
    // Loaded at run time (swc strips the type-only import of the generated types); typechecked above.
    const { runClient } = require(CLIENT) as { runClient: (baseUrl: string, apiKey: string) => Promise<ClientRun> };
    const run = await runClient(baseUrl, t.adminKey);
    expect(run.workerId).toMatch(/^embedded-worker-[0-9a-f]{32}$/);
    expect(run.location).toBe(`/api/runtimes/embedded-worker-runtime/workers/${run.workerId}`);
    expect([run.role, run.profile]).toEqual(['reviewer', 'builtin:reviewer']);
    expect([run.transcriptSequence, run.eventId]).toEqual([0, 'evt-1']);
    expect([run.replayedHeader, run.replayedSameAnswer]).toEqual(['true', true]);
    // 4 workers, two a page: every one once, oldest first, and the last page says next_cursor null.
    expect(run.pages).toBe(2);
    expect(run.pagedWorkerIds).toHaveLength(4);
    expect(new Set(run.pagedWorkerIds).size).toBe(4);
    expect(run.pagedWorkerIds[0]).toBe(run.workerId);
    expect(run.notModifiedStatus).toBe(304);
    expect(run.firstEvent).toEqual({ kind: 'worker.input_accepted', eventId: 'evt-1', content: 'Review the diff please' });
    expect(run.errors).toEqual([
      'that Idempotency-Key was used for another request',
      'no such worker (404)',
      expect.stringMatching(/^invalid request: content: content must be 1 to 262144 characters/),
      'log in first',
    ]);
  });
});
