import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { browserCommandLine, FORBIDDEN_ARGS, type LaunchedBrowser, launchBrowser } from './support/browser';

/**
 * The browser from test/support/browser.ts enforces the same-origin policy. Two plain
 * node:http servers on 127.0.0.1 (two ports, so two origins): a page on origin A fetches from
 * origin B. Without CORS headers the fetch must reject although B answered; with
 * `Access-Control-Allow-Origin: <A>` it must succeed. Launching Chromium with
 * `--disable-web-security` (as @sparticuz/chromium's own `chromium.args` would) turns the
 * first case green in the page, and this suite red. Browser CORS tests rely on this.
 */

interface Origin {
  server: Server;
  url: string;
  hits: { path: string; origin: string | undefined }[];
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Origin> {
  const hits: Origin['hits'] = [];
  const server = createServer((req, res) => {
    hits.push({ path: req.url ?? '', origin: req.headers.origin });
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

async function close(origin: Origin | undefined): Promise<void> {
  if (!origin) return;
  origin.server.closeAllConnections();
  await new Promise<void>((resolve) => origin.server.close(() => resolve()));
}

/** What a script on the page sees when it fetches `url`. */
async function fetchFromPage(page: Page, url: string): Promise<{ ok: true; body: string } | { ok: false; error: string }> {
  return page.evaluate(async (target) => {
    try {
      const res = await fetch(target);
      return { ok: true as const, body: await res.text() };
    } catch (err) {
      return { ok: false as const, error: String(err) };
    }
  }, url);
}

describe('headless Chromium enforces the same-origin policy', () => {
  let a: Origin;
  let b: Origin;
  let launched: LaunchedBrowser;
  let browser: Browser | undefined;
  let page: Page;

  beforeAll(async () => {
    a = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>origin A</title><p>origin A</p>');
    });
    b = await serve((req, res) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (req.url === '/with-cors') headers['access-control-allow-origin'] = a.url;
      res.writeHead(200, headers);
      res.end(JSON.stringify({ secret: 'from origin B', path: req.url }));
    });
    launched = await launchBrowser();
    browser = launched.browser;
    page = await browser.newPage();
    await page.goto(`${a.url}/`);
  });

  afterAll(async () => {
    await browser?.close();
    await close(a);
    await close(b);
  });

  it('was launched without flags that weaken web security', async () => {
    for (const flag of FORBIDDEN_ARGS) {
      expect(launched.args).not.toContain(flag);
    }
    // What the browser process really got (Playwright's defaults + ours).
    const commandLine = await browserCommandLine(launched.browser);
    expect(commandLine[0]).toBe(launched.executable);
    for (const flag of FORBIDDEN_ARGS) {
      expect(commandLine.filter((arg) => arg === flag || arg.startsWith(`${flag}=`))).toEqual([]);
    }
  });

  it('blocks a page on origin A from reading origin B without CORS headers', async () => {
    expect(new URL(page.url()).origin).toBe(a.url);
    const result = await fetchFromPage(page, `${b.url}/no-cors`);
    expect(result).toEqual({ ok: false, error: expect.stringContaining('TypeError') });
    // B did receive the request (and answered 200): it is the browser that withholds the response.
    expect(b.hits).toContainEqual({ path: '/no-cors', origin: a.url });
  });

  it('lets origin A read origin B when B sends Access-Control-Allow-Origin for A', async () => {
    const result = await fetchFromPage(page, `${b.url}/with-cors`);
    expect(result).toEqual({ ok: true, body: JSON.stringify({ secret: 'from origin B', path: '/with-cors' }) });
    expect(b.hits).toContainEqual({ path: '/with-cors', origin: a.url });
  });

  it('still reads its own origin without any CORS header', async () => {
    const result = await fetchFromPage(page, `${a.url}/`);
    expect(result).toMatchObject({ ok: true, body: expect.stringContaining('origin A') });
  });
});
