import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from './support/browser';
import { startTestApp, type TestApp } from './support/test-app';

/**
 * The OpenAPI explorer in a real browser: headless Chromium opens /docs, uses
 * "Try it out" to create a worker, send it input and read its transcript, and
 * reads the rendered responses. Chromium comes from test/support/browser.ts
 * (CHROMIUM_PATH, else the @sparticuz/chromium devDependency, else a system one);
 * without any it fails and says how to get one — it never skips.
 */
const ARTIFACTS = join(__dirname, 'artifacts');

describe('OpenAPI explorer in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser | undefined;
  let page: Page;
  let baseUrl: string;

  beforeAll(async () => {
    t = await startTestApp();
    baseUrl = await t.listen();
    const launched = await launchBrowser();
    browser = launched.browser;
    page = await launched.browser.newPage({ viewport: { width: 1280, height: 2000 } });
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  /** Opens an operation, presses "Try it out", lets `fill` set inputs, executes, and returns status and body text. */
  async function tryOperation(operationId: string, fill: (op: ReturnType<Page['locator']>) => Promise<void>): Promise<{ status: number; body: string }> {
    const op = page.locator(`[id$="-${operationId}"]`).first();
    await op.locator('.opblock-summary').first().click();
    await op.locator('button.try-out__btn').click();
    await fill(op);
    await op.locator('button.execute').click();
    const status = op.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor({ timeout: 15_000 });
    const body = await op.locator('.live-responses-table .response-col_description pre').first().innerText();
    return { status: Number((await status.innerText()).trim()), body };
  }

  it('creates a worker, sends input and reads the transcript with Authorize and "Try it out"', async () => {
    const cspViolations: string[] = [];
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });
    await page.goto(`${baseUrl}/docs`);
    await page.locator('.opblock').first().waitFor({ timeout: 15_000 });
    expect(await page.locator('.opblock').count()).toBeGreaterThanOrEqual(10);

    // Without a key the API refuses: 401.
    const refused = await tryOperation('listRuntimes', async () => undefined);
    expect(refused.status).toBe(401);
    await page.locator('[id$="-listRuntimes"] .opblock-summary').first().click(); // fold it again

    // Authorize with the key (the bearer scheme the document declares).
    await page.locator('button.authorize').first().click();
    await page.locator('.modal-ux input[type="text"], .modal-ux input[type="password"]').first().fill(t.adminKey);
    await page.locator('.modal-ux button.authorize').click();
    await page.locator('.modal-ux button.btn-done, .modal-ux .close-modal').first().click();

    const created = await tryOperation('createWorker', async (op) => {
      await op.locator('input[placeholder="runtime_id"]').fill('embedded-worker-runtime');
      await op
        .locator('textarea.body-param__text')
        .fill(JSON.stringify({ intent: { kind: 'ticket_role', ticket_id: 'BROWSER-1', role: 'reviewer' }, acceptance: { kind: 'run_accepted', expected_segments: 0 } }));
    });
    expect(created.status).toBe(201);
    const spawn = JSON.parse(created.body);
    expect(spawn.worker).toMatchObject({ runtime_id: 'embedded-worker-runtime', role: 'reviewer', profile: 'builtin:reviewer' });
    const workerId: string = spawn.worker.worker_id;

    const input = await tryOperation('sendWorkerInput', async (op) => {
      await op.locator('input[placeholder="runtime_id"]').fill('embedded-worker-runtime');
      await op.locator('input[placeholder="worker_id"]').fill(workerId);
      await op.locator('textarea.body-param__text').fill(JSON.stringify({ content: 'hello from the explorer' }));
    });
    expect(input.status).toBe(202);
    expect(JSON.parse(input.body)).toMatchObject({ state: 'accepted', transcript_sequence: 0 });

    const transcript = await tryOperation('readWorkerTranscript', async (op) => {
      await op.locator('input[placeholder="runtime_id"]').fill('embedded-worker-runtime');
      await op.locator('input[placeholder="worker_id"]').fill(workerId);
    });
    expect(transcript.status).toBe(200);
    expect(JSON.parse(transcript.body)).toMatchObject({
      worker_id: workerId,
      total_items: 1,
      items: [{ sequence: 0, role: 'user', content: 'hello from the explorer' }],
    });

    expect(cspViolations).toEqual([]); // the explorer works under the CSP
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.locator('[id$="-readWorkerTranscript"]').first().scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, 'explorer-try-it-out.png'), fullPage: false });
    expect(existsSync(join(ARTIFACTS, 'explorer-try-it-out.png'))).toBe(true);
  });
});
