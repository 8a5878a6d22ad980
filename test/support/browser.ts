import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { type Browser, chromium } from 'playwright-core';

/**
 * A real headless Chromium for e2e suites, with web security ON.
 *
 *   const { browser, executable, source } = await launchBrowser();
 *   ...
 *   await browser.close(); // in afterAll
 *
 * Where the browser comes from, first that applies:
 * 1. `CHROMIUM_PATH` (source 'env'): an explicit choice. If it is set, only it is tried: a
 *    path that does not launch is an error, not a reason to silently test another browser.
 * 2. The `@sparticuz/chromium` devDependency (source 'npm'): the npm package carries a
 *    Brotli-compressed chrome-headless-shell; `npm ci` only unpacks the tarball (no install
 *    script, nothing downloaded). The first launch decompresses it once (~1.5 s) into
 *    `$TMPDIR/wb-sparticuz-chromium-<version>-<uid>/` (see `npmChromium`).
 * 3. A system Chromium/Chrome (source 'system'): `SYSTEM_CANDIDATES` that exist.
 * If none launches, `launchBrowser` throws one error listing every attempt and how to fix it,
 * so the suite FAILS; it never skips.
 *
 * Launch arguments are `LAUNCH_ARGS`, never @sparticuz/chromium's exported `chromium.args`:
 * those are tuned for AWS Lambda and include `--disable-web-security` (and other
 * isolation-weakening flags, see `FORBIDDEN_ARGS`), which would make every CORS check
 * in a browser test pass vacuously. test/browser-web-security.e2e-spec.ts guards this.
 */

export type BrowserSource = 'env' | 'npm' | 'system';

export interface LaunchedBrowser {
  browser: Browser;
  /** Absolute path of the Chromium binary that was started. */
  executable: string;
  source: BrowserSource;
  /** The arguments this module passed (Playwright adds its own defaults, see `browserCommandLine`). */
  args: readonly string[];
  /** Wall time of locating (and, the first time, decompressing) plus launching, in ms. */
  startupMs: number;
}

/**
 * Arguments added to Playwright's defaults. Playwright itself already passes `--headless`
 * (for `headless: true`; the new headless mode in Chrome >= 132, and @sparticuz's binary is
 * chrome-headless-shell) and a fresh temporary `--user-data-dir` per launch, deleted on
 * close (it refuses `--user-data-dir` in `args`; that is `launchPersistentContext`'s job).
 *
 * None of @sparticuz/chromium's own flags is needed here: its binary starts with exactly
 * these on Node 20 / Debian as root (checked without `--single-process`, `--no-zygote`,
 * `--in-process-gpu` and `--use-gl=angle`; they are Lambda workarounds, and
 * `--single-process` would also put pages in the browser process).
 */
export const LAUNCH_ARGS: readonly string[] = Object.freeze([
  '--no-sandbox', // CI and dev containers run as root, where Chromium's sandbox refuses to start.
  '--disable-gpu', // no GPU on test machines; software rendering is all the DOM needs.
  '--disable-dev-shm-usage', // containers often give /dev/shm only 64 MB; use /tmp instead.
  '--no-first-run', // no first-run UI or import of another profile.
  '--disable-background-networking', // no calls home: only loopback is reachable in tests.
  '--disable-component-update', // no component downloads (CRLSets, Widevine, ...).
  '--disable-sync', // no Google account sync.
  '--disable-quic', // plain TCP only; the test servers speak HTTP/1.1.
]);

/** Flags that weaken the same-origin policy or site isolation: never in a test browser. */
export const FORBIDDEN_ARGS: readonly string[] = Object.freeze([
  '--disable-web-security',
  '--allow-running-insecure-content',
  '--disable-site-isolation-trials',
]);

export const SYSTEM_CANDIDATES: readonly string[] = Object.freeze(['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']);

const NPM_PACKAGE = '@sparticuz/chromium';
const LAUNCH_TIMEOUT_MS = 30_000;
const INFLATE_TIMEOUT_MS = 45_000;

const execFileAsync = promisify(execFile);

/** Starts headless Chromium from the first source that works (see the module comment). */
export async function launchBrowser(): Promise<LaunchedBrowser> {
  const started = Date.now();
  const failures: string[] = [];

  const attempt = async (source: BrowserSource, locate: () => Promise<string> | string): Promise<LaunchedBrowser | undefined> => {
    let executable = '';
    try {
      executable = await locate();
      if (!existsSync(executable)) throw new Error('no such file');
      const browser = await chromium.launch({ executablePath: executable, args: [...LAUNCH_ARGS], headless: true, chromiumSandbox: false, timeout: LAUNCH_TIMEOUT_MS });
      return { browser, executable, source, args: LAUNCH_ARGS, startupMs: Date.now() - started };
    } catch (err) {
      failures.push(`- ${source}${executable ? ` ${executable}` : ''}: ${firstLines(err)}`);
      return undefined;
    }
  };

  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    const launched = await attempt('env', () => fromEnv);
    if (launched) return launched;
  } else {
    const launched = await attempt('npm', npmChromium);
    if (launched) return launched;
    for (const path of SYSTEM_CANDIDATES.filter((p) => existsSync(p))) {
      const launched = await attempt('system', () => path);
      if (launched) return launched;
    }
  }
  throw new Error(
    [
      'No headless Chromium could be launched; this suite needs one and does not skip.',
      ...failures,
      fromEnv
        ? 'CHROMIUM_PATH is set, so only it was tried: point it at a working Chromium/Chrome binary, or unset it to use the npm one.'
        : `Tried ${NPM_PACKAGE} (run \`npm ci\`; it is a devDependency) and ${SYSTEM_CANDIDATES.join(', ')}. Or set CHROMIUM_PATH=/path/to/chrome.`,
    ].join('\n'),
  );
}

/**
 * The full command line of the running browser process (Playwright's defaults + `LAUNCH_ARGS`),
 * read from /proc via the browser's own pid, so a test can check what Chromium really got.
 */
export async function browserCommandLine(browser: Browser): Promise<string[]> {
  const cdp = await browser.newBrowserCDPSession();
  try {
    const { processInfo } = (await cdp.send('SystemInfo.getProcessInfo')) as { processInfo: { type: string; id: number }[] };
    const main = processInfo.find((p) => p.type === 'browser');
    if (!main) throw new Error('SystemInfo.getProcessInfo reported no browser process');
    return (await readFile(`/proc/${main.id}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '');
  } finally {
    await cdp.detach();
  }
}

/**
 * Path of @sparticuz/chromium's binary, decompressed once per package version and user.
 *
 * The package's `executablePath()` inflates into `os.tmpdir()` and reuses whatever
 * `$TMPDIR/chromium` already exists, whatever its version or completeness. So it runs here in a
 * child Node process (the package is ESM-only, which Jest's CommonJS runtime cannot load) with
 * TMPDIR set to a fresh staging directory, which is then renamed into place: the cache
 * directory either holds a complete binary of this version or does not exist, also when two
 * test processes race. Nothing is downloaded: no URL is passed, so it reads the package's own
 * `bin/*.br` files.
 */
async function npmChromium(): Promise<string> {
  const entry = require.resolve(NPM_PACKAGE);
  const { version } = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string };
  const dir = join(tmpdir(), `wb-sparticuz-chromium-${version}-${process.getuid?.() ?? 'user'}`);
  const executable = join(dir, 'chromium');
  if (existsSync(executable)) return executable;

  const staging = await mkdtemp(`${dir}.partial-`);
  try {
    const script = 'const { default: c } = await import(process.argv[1]); process.stdout.write(await c.executablePath());';
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script, pathToFileURL(entry).href], {
      env: { ...process.env, TMPDIR: staging },
      timeout: INFLATE_TIMEOUT_MS,
    });
    if (stdout.trim() !== join(staging, 'chromium')) throw new Error(`${NPM_PACKAGE} inflated to an unexpected path: ${stdout.trim()}`);
    try {
      await rename(staging, dir);
    } catch (err) {
      if (!existsSync(executable)) throw err; // else another process finished first: use its copy
    }
    return executable;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

function firstLines(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').slice(0, 6).join('\n    ');
}
