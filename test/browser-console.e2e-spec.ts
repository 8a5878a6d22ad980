import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from './support/browser';
import { freePort } from './support/child-server';
import { EMBEDDED, makeTempDir, startTestApp, type TestApp } from './support/test-app';

/**
 * A web console on another origin, in real headless Chromium (web security
 * on): listed in CORS_ORIGINS, it creates a worker, sends input and follows
 * the worker's stream with a fetch-based SSE client that sends the key in a
 * header (never in a URL); the backend restarts under it, the client
 * reconnects with Last-Event-ID and misses nothing. A page on an unlisted
 * origin cannot read anything.
 */

const FES = join(__dirname, '..', 'node_modules', '@microsoft', 'fetch-event-source', 'lib', 'esm');

/** A static origin: the console page and the fetch-event-source module, served from node_modules. */
async function consoleOrigin(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path.startsWith('/lib/')) {
      // The package's ESM imports './fetch' without an extension: serve `<name>.js` for it.
      const name = path.slice('/lib/'.length).replace(/[^A-Za-z0-9_.-]/g, '');
      let source: Buffer;
      try {
        source = readFileSync(join(FES, name.endsWith('.js') ? name : `${name}.js`));
      } catch {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(source);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><html><body><h1>console</h1>
<script type="module">
  import { fetchEventSource } from '/lib/index.js';
  window.events = [];
  window.follow = (url, key) => {
    fetchEventSource(url, {
      headers: { Authorization: 'Bearer ' + key },
      onmessage: (m) => window.events.push({ id: m.id, event: m.event, data: m.data ? JSON.parse(m.data) : null }),
      // The server ended the stream (shutdown, restart): go on, unless the worker is gone.
      onclose: () => { if (window.events.at(-1)?.event !== 'worker.deleted') throw new Error('stream ended'); },
      onerror: () => 1000, // reconnect in a second; the library sends Last-Event-ID
    });
  };
  window.ready = true;
</script></body></html>`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('a web console on another origin, in headless Chromium', () => {
  let browser: Browser | undefined;
  let page: Page;
  let allowed: { server: Server; url: string };
  let other: { server: Server; url: string };
  let t: TestApp;
  let dataDir: string;
  let env: Record<string, string>;
  let apiUrl: string;
  let port: number;

  beforeAll(async () => {
    allowed = await consoleOrigin();
    other = await consoleOrigin();
    dataDir = makeTempDir('wb-console-');
    port = await freePort();
    env = {
      WORKSPACE_DATA_DIR: dataDir,
      RUNTIME_STORE_URL: `sqlite:${join(dataDir, 'console.sqlite3')}`,
      CORS_ORIGINS: allowed.url,
      API_KEY: `console-key-${Date.now()}`,
      SSE_HEARTBEAT_MS: '500',
    };
    t = await startTestApp(env);
    apiUrl = await t.listen(port);
    browser = (await launchBrowser()).browser;
    page = await browser.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    for (const o of [allowed, other]) {
      o.server.closeAllConnections();
      await new Promise((r) => o.server.close(r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates a worker, sends input and follows its stream across a backend restart, missing nothing', async () => {
    await page.goto(allowed.url);
    await page.waitForFunction(() => (globalThis as any).ready === true);
    const key = env.API_KEY;
    const call = (method: string, path: string, body?: unknown) =>
      page.evaluate(
        async ({ url, method, key, body }) => {
          const res = await fetch(url, {
            method,
            headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json', 'Idempotency-Key': `k-${Math.random()}` } : {}) },
            body: body ? JSON.stringify(body) : undefined,
          });
          return { status: res.status, body: await res.json(), requestId: res.headers.get('x-request-id'), location: res.headers.get('location') };
        },
        { url: `${apiUrl}${path}`, method, key, body },
      );
    const created = await call('POST', `${EMBEDDED}/workers`, { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted' } });
    expect(created.status).toBe(201);
    expect(created.requestId).toBeTruthy(); // exposed to the page by CORS
    expect(created.location).toContain('/workers/');
    const workerId = (created.body as any).worker.worker_id;
    await page.evaluate(({ url, key }) => (globalThis as any).follow(url, key), { url: `${apiUrl}${EMBEDDED}/workers/${workerId}/events?after=evt-0`, key });
    expect((await call('POST', `${EMBEDDED}/workers/${workerId}/input`, { content: 'before restart' })).status).toBe(202);
    await page.waitForFunction(() => (globalThis as any).events.some((e: any) => e.data?.item?.content === 'before restart'), undefined, { timeout: 10_000 });

    // The backend restarts on the same port; the console's stream reconnects by itself.
    await t.close();
    t = await startTestApp(env);
    await t.listen(port);
    expect((await t.post(`${EMBEDDED}/workers/${workerId}/input`, { content: 'after restart' })).status).toBe(202);
    await page.waitForFunction(() => (globalThis as any).events.some((e: any) => e.data?.item?.content === 'after restart'), undefined, { timeout: 15_000 });
    const events: Array<{ id?: string; event: string; data: any }> = await page.evaluate(() => (globalThis as any).events);
    const workerEvents = events.filter((e) => e.id);
    expect(workerEvents.map((e) => e.event)).toEqual(['worker.input_accepted', 'worker.input_accepted']);
    expect(workerEvents.map((e) => e.id)).toEqual(['evt-1', 'evt-2']); // no gap, no duplicate across the restart
    expect(events.some((e) => e.event === 'stream.closing')).toBe(true); // the old backend said goodbye
  }, 60_000);

  it('lets a page on an unlisted origin read nothing', async () => {
    const foreign = await browser!.newPage();
    try {
      await foreign.goto(other.url);
      const outcome = await foreign.evaluate(async ({ url, key }) => {
        try {
          const res = await fetch(url, { headers: { Authorization: `Bearer ${key}` } });
          return `read ${res.status}`;
        } catch (err) {
          return `refused: ${String(err)}`;
        }
      }, { url: `${apiUrl}/api/runtimes`, key: env.API_KEY });
      expect(outcome).toMatch(/^refused: TypeError/);
      const simple = await foreign.evaluate(async (url) => {
        try {
          await (await fetch(url)).text();
          return 'read';
        } catch (err) {
          return `refused: ${String(err)}`;
        }
      }, `${apiUrl}/api/health`);
      expect(simple).toMatch(/^refused/);
    } finally {
      await foreign.close();
    }
  });
});
