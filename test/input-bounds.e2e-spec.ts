import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import request from 'supertest';
import { INPUT_BOUNDS } from '../src/common/validation/input-bounds';
import { expectErrorShape } from './support/shapes';
import { createEmbeddedWorker, EMBEDDED, startTestApp, type Exchange, type TestApp } from './support/test-app';

/**
 * SPEC §13: any body up to the 1 MiB limit, of any shape, is answered within
 * 50 ms of event-loop time, and errors echo at most a short, control-free
 * excerpt of what was sent.
 *
 * Each hostile request is sent over real HTTP to the app in this process
 * while the event loop is watched: `stall` is the longest time the loop was
 * blocked while the request was in flight (monitorEventLoopDelay, 1 ms
 * resolution), `health` the slowest of the `GET /api/health` requests issued
 * back to back meanwhile. Each request is sent RUNS times; the median of each
 * figure must stay within BUDGET_MS + MARGIN_MS. All figures are printed at
 * the end (first run, median, worst).
 */
const BUDGET_MS = 50;
/**
 * The machine running the suite is shared (2 cores, load average around 4
 * while other suites run): the process can be descheduled, or collect garbage
 * from an earlier test, while a request is in flight, which adds to its
 * figures without being its cost. The median of RUNS runs drops one such
 * outlier; the margin covers the rest. After the fix the medians are 2–25 ms;
 * before it, 10 ms to 22 s.
 */
const MARGIN_MS = 40;
const RUNS = 3;
const MAX_ERROR_BODY_BYTES = 8 * 1024;
const MiB = 1024 * 1024;

interface Run {
  stallMs: number;
  healthMs: number;
  wallMs: number;
}

interface Figures {
  shape: string;
  bytes: number;
  status: number;
  answerBytes: number;
  runs: Run[];
  /** Medians over the runs. */
  stallMs: number;
  healthMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const PROTOTYPE_NAMES = [
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__proto__',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
  'constructor',
];

/** `{"content":"x", …rest}` with `rest` given as raw JSON members. */
const inputWith = (members: string) => `{"content":"x",${members}}`;

function distinctKeys(limit: number): string[] {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-';
  const out: string[] = [];
  for (const a of alphabet) for (const b of alphabet) for (const c of alphabet) if (out.length < limit) out.push(`"${a}${b}${c}":0`);
  return out;
}

function wideTree(levels: number): string {
  let s = '0';
  for (let i = 0; i < levels; i++) s = `[${s},${s}]`;
  return s;
}

/**
 * Bodies just inside INPUT_BOUNDS: everything is parsed, transformed by
 * class-transformer and validated, the costliest path a body can take.
 */
function atTheBounds(): Array<[string, string]> {
  const { maxNodes, maxKeysPerObject, maxArrayLength, maxDepth, maxStrings } = INPUT_BOUNDS;
  // Top level object + content array = 2 nodes; each object holds maxKeysPerObject numbers (keys are strings).
  const objects = Math.min(Math.floor((maxNodes - 2) / (maxKeysPerObject + 1)), Math.floor((maxStrings - 1) / maxKeysPerObject), maxArrayLength);
  const wide = `{${Array.from({ length: maxKeysPerObject }, (_, i) => `"f${i}":${i}`).join(',')}}`;
  const stringsPerArray = maxArrayLength;
  const stringArrays = Math.max(1, Math.floor((Math.min(maxNodes, maxStrings) - 3) / (stringsPerArray + 1)));
  const stringBytes = Math.floor((MiB - 1024) / (stringArrays * stringsPerArray)) - 3;
  const itemsPerArray = Math.min(maxArrayLength, Math.floor(Math.sqrt(maxNodes)));
  const arrays = Math.min(Math.floor((maxNodes - 3 - (maxDepth - 3)) / (itemsPerArray + 1)), maxArrayLength);
  const depthPrefix = '{"a":'.repeat(maxDepth - 3);
  return [
    [`at the bounds: ${objects} objects of ${maxKeysPerObject} fields`, `{"content":[${Array(objects).fill(wide).join(',')}]}`],
    [
      `at the bounds: ${stringArrays} arrays of ${stringsPerArray} strings of ${stringBytes} bytes`,
      `{"content":[${Array(stringArrays).fill(`[${Array(stringsPerArray).fill(`"${'s'.repeat(stringBytes)}"`).join(',')}]`).join(',')}]}`,
    ],
    [
      `at the bounds: ${maxDepth} levels, ${arrays} arrays of ${itemsPerArray}`,
      `{"content":${depthPrefix}[${Array(arrays).fill(`[${Array(itemsPerArray).fill('0').join(',')}]`).join(',')}]${'}'.repeat(maxDepth - 3)}}`,
    ],
  ];
}

/** Hostile bodies, each under the 1 MiB limit (checked below), to the input route unless said otherwise. */
const BODY_SHAPES: Array<[name: string, body: string]> = [
  ['90,000 unknown keys', inputWith(Array.from({ length: 90_000 }, (_, i) => `"k${String(i).padStart(5, '0')}":1`).join(','))],
  ['131,000 distinct keys in one object', `{${distinctKeys(131_000).join(',')}}`],
  ['200,000 key entries in one object (duplicates)', `{${Array(200_000).fill('"":0').join(',')}}`],
  ['500,000-element array', `{"content":[${Array(500_000).fill('0').join(',')}]}`],
  ['340,000 empty objects', `{"content":[${Array(340_000).fill('{}').join(',')}]}`],
  ['75,000 one-key objects, each key new', `{"content":[${Array.from({ length: 75_000 }, (_, i) => `{"m${i}":0}`).join(',')}]}`],
  ['80,000 CJK keys', `{${Array.from({ length: 80_000 }, (_, i) => `"${String.fromCodePoint(0x4e00 + (i % 20_000))}${i}":0`).join(',')}}`],
  ['524,000 nested arrays', `${'['.repeat(524_000)}${']'.repeat(524_000)}`],
  ['170,000 nested objects', `{"content":${'{"a":'.repeat(170_000)}1${'}'.repeat(170_000)}}`],
  ['nesting at the depth limit, 32,768 leaves', `{"content":${wideTree(15)}}`],
  ['nesting one past the depth limit', `{"content":${wideTree(16)}}`],
  ['1 MiB of \\u0000 escapes', `{"content":"${'\\u0000'.repeat(174_000)}"}`],
  ['1 MiB of \\ud800 escapes', `{"content":"${'\\ud800'.repeat(174_000)}"}`],
  ['1 MiB of \\\\ escapes', `{"content":"${'\\\\'.repeat(520_000)}"}`],
  ['1 MiB number', `{"content":${'1'.repeat(1_040_000)}}`],
  ['1 MiB of whitespace', `{${' '.repeat(1_040_000)}"content":1}`],
  // Just inside the bounds, under a known field, so that the body is parsed, transformed and validated in full.
  ...atTheBounds(),
];

describe('input bounds (SPEC §13)', () => {
  let t: TestApp;
  let base: string;
  let workerId: string;
  const figures: Figures[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    // A listening server: every request of this file (and the health probes) uses one port.
    base = await t.listen();
    workerId = await createEmbeddedWorker(t);
    // Warm up the code paths measured below, so JIT compilation is not counted.
    for (let i = 0; i < 3; i++) {
      await t.raw('POST', `${EMBEDDED}/workers/${workerId}/input`, inputWith('"a":1'), 'application/json');
      await t.get('/api/health');
    }
  });

  afterAll(async () => {
    const ms = (x: number) => x.toFixed(1).padStart(7);
    const rows = figures.map((f) => {
      const stalls = f.runs.map((r) => r.stallMs);
      const healths = f.runs.map((r) => r.healthMs);
      return (
        `${f.shape.padEnd(56)} ${String(Math.round(f.bytes / 1024)).padStart(5)} KB → ${f.status} ${String(f.answerBytes).padStart(5)} B` +
        `  stall first/median/worst ${ms(stalls[0])} ${ms(f.stallMs)} ${ms(Math.max(...stalls))} ms` +
        `  health ${ms(healths[0])} ${ms(f.healthMs)} ${ms(Math.max(...healths))} ms`
      );
    });
    console.log(`input-bounds: event-loop figures over ${RUNS} runs (budget ${BUDGET_MS} ms + margin ${MARGIN_MS} ms, on the median)\n${rows.join('\n')}`);
    await t.close();
  });

  /** One request while watching the event loop; health probes run back to back until it is answered. */
  async function once(send: () => Promise<Exchange>): Promise<{ res: Exchange; run: Run }> {
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const started = performance.now();
    let done = false;
    let healthMs = 0;
    const probes = (async () => {
      while (!done) {
        const t0 = performance.now();
        const health = await request(base).get('/api/health');
        if (health.status !== 200) throw new Error(`health answered ${health.status}`);
        healthMs = Math.max(healthMs, performance.now() - t0);
      }
    })();
    let res: Exchange;
    try {
      res = await send();
    } finally {
      done = true;
      await probes;
      histogram.disable();
    }
    return { res, run: { stallMs: histogram.max / 1e6, healthMs, wallMs: performance.now() - started } };
  }

  /** The same request RUNS times; every answer must be the same status. */
  async function measured(shape: string, bytes: number, send: () => Promise<Exchange>): Promise<{ res: Exchange; f: Figures }> {
    const runs: Run[] = [];
    let first: Exchange | undefined;
    for (let i = 0; i < RUNS; i++) {
      const { res, run } = await once(send);
      if (first && res.status !== first.status) throw new Error(`${shape}: answered ${first.status}, then ${res.status}`);
      first ??= res;
      runs.push(run);
    }
    const f: Figures = {
      shape,
      bytes,
      status: first!.status,
      answerBytes: Buffer.byteLength(first!.text),
      runs,
      stallMs: median(runs.map((r) => r.stallMs)),
      healthMs: median(runs.map((r) => r.healthMs)),
    };
    figures.push(f);
    return { res: first!, f };
  }

  function expectBoundedAnswer(res: Exchange, f: Figures, status = 400, error = 'validation_failed'): void {
    expect(res.status).toBe(status);
    expectErrorShape(res.body, status, error);
    expect(f.answerBytes).toBeLessThan(MAX_ERROR_BODY_BYTES);
    expectNoEchoHazard(res.text);
    expect(f.stallMs).toBeLessThanOrEqual(BUDGET_MS + MARGIN_MS);
    expect(f.healthMs).toBeLessThanOrEqual(BUDGET_MS + MARGIN_MS);
  }

  /** Nothing a client sent comes back as control characters, markup or path separators. */
  function expectNoEchoHazard(text: string): void {
    const body = JSON.parse(text) as { message: string; details?: Array<{ path: string; message: string }> };
    const echoed = [body.message, ...(body.details ?? []).flatMap((d) => [d.path, d.message])];
    for (const s of echoed) {
      expect(s).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069<>/\\]/);
      expect(s.length).toBeLessThanOrEqual(200);
    }
    expect((body.details ?? []).length).toBeLessThanOrEqual(32);
  }

  it('every hostile body is under the size limit (otherwise it would only test the 413)', () => {
    for (const [name, body] of BODY_SHAPES) expect([name, Buffer.byteLength(body) < MiB]).toEqual([name, true]);
  });

  it.each(BODY_SHAPES)('input: %s is a 400 within the event-loop budget', async (name, body) => {
    const { res, f } = await measured(name, Buffer.byteLength(body), () => t.raw('POST', `${EMBEDDED}/workers/${workerId}/input`, body, 'application/json'));
    expectBoundedAnswer(res, f);
  });

  it.each(BODY_SHAPES.slice(0, 3))('create: %s is a 400 within the event-loop budget', async (name, body) => {
    const { res, f } = await measured(`create: ${name}`, Buffer.byteLength(body), () => t.raw('POST', `${EMBEDDED}/workers`, body, 'application/json'));
    expectBoundedAnswer(res, f);
  });

  it('a body one byte over the limit is a 413, also within the budget', async () => {
    const body = `{"content":"${'a'.repeat(MiB - 13)}"}`;
    expect(Buffer.byteLength(body)).toBe(MiB + 1);
    const { res, f } = await measured('1 MiB + 1 byte', MiB + 1, () => t.raw('POST', `${EMBEDDED}/workers/${workerId}/input`, body, 'application/json'));
    expectBoundedAnswer(res, f, 413, 'payload_too_large');
  });

  it('a valid body of ~1 MiB is still accepted within the budget (the bounds do not get in the way)', async () => {
    const content = `${'é'.repeat(262_000)}`;
    const body = JSON.stringify({ kind: 'user', content });
    expect(Buffer.byteLength(body)).toBeLessThan(MiB);
    const { res, f } = await measured('valid input, 512 KB of text', Buffer.byteLength(body), () => t.raw('POST', `${EMBEDDED}/workers/${workerId}/input`, body, 'application/json'));
    expect(res.status).toBe(202);
    expect(f.stallMs).toBeLessThanOrEqual(BUDGET_MS + MARGIN_MS);
  });

  describe('query strings', () => {
    const ansi = '\u001b[31m<b>/etc/passwd\\</b>\u001b[0m';
    // Node's HTTP parser takes at most 16 KB of headers, the request line included.
    const longKeys = Array.from({ length: 20 }, (_, i) => encodeURIComponent(`${ansi}${i}${'k'.repeat(600)}`)).join('=1&');
    const oneHugeKey = encodeURIComponent(`${ansi}${'q'.repeat(15_000)}`);

    it.each([
      ['list route, 20 long unknown keys with ANSI escapes', `/api/workers?${longKeys}=1`],
      ['list route, one 15 KB key', `/api/workers?${oneHugeKey}=1`],
      ['transcript route, 20 long unknown keys', `__TRANSCRIPT__?${longKeys}=1`],
      ['route without parameters, one 15 KB key', `/api/health?${oneHugeKey}=1`],
      ['input route, 20 long unknown keys', `__INPUT__?${longKeys}=1`],
      ['list route, 1,000 short unknown keys', `/api/workers?${Array.from({ length: 1000 }, (_, i) => `k${i}=1`).join('&')}`],
    ])('%s: 400, echoing at most a short safe excerpt of each key', async (name, rawPath) => {
      const path = rawPath.replace('__TRANSCRIPT__', `${EMBEDDED}/workers/${workerId}/transcript`).replace('__INPUT__', `${EMBEDDED}/workers/${workerId}/input`);
      const send = () => (rawPath.startsWith('__INPUT__') ? t.raw('POST', path, '{"content":"x"}', 'application/json') : t.get(path));
      const { res, f } = await measured(`query: ${name}`, Buffer.byteLength(path), send);
      expectBoundedAnswer(res, f);
      const details = (res.body as any).details as Array<{ path: string; message: string }>;
      expect(details.length).toBeGreaterThan(0);
      for (const d of details) expect(d.path.length).toBeLessThanOrEqual(70);
    });

    it('a repeated known parameter is a 400, not a silent pick', async () => {
      for (const path of [`/api/workers?limit=1&limit=2`, `${EMBEDDED}/workers/${workerId}/transcript?start=0&start=1`, `${EMBEDDED}/workers/${workerId}/events?after=evt-1&after=evt-2`]) {
        const res = await t.get(path);
        expectErrorShape(res.body, 400, 'validation_failed');
      }
    });

    it('bracketed (nested-looking) parameters are unknown fields, never a 500', async () => {
      for (const q of ['limit[a]=1', 'limit[]=1', 'a[b][c]=1', 'limit[__proto__]=1', '__proto__[limit]=1']) {
        const res = await t.get(`/api/workers?${q}`);
        expectErrorShape(res.body, 400, 'validation_failed');
      }
    });
  });

  describe('prototype-named keys are unknown fields', () => {
    const create = { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: 0 } };

    /** JSON text with `name` added as an own key of the object at `where` (raw, so `__proto__` is a real key). */
    function withKey(obj: Record<string, any>, where: string | null, name: string): string {
      const marker = '"__MARKER__":0';
      const copy = JSON.parse(JSON.stringify(obj));
      const target = where ? copy[where] : copy;
      target.__MARKER__ = 0;
      return JSON.stringify(copy).replace(marker, `${JSON.stringify(name)}:1`);
    }

    it.each(PROTOTYPE_NAMES)('create: %s at the top level, in intent and in acceptance is 400 validation_failed', async (name) => {
      const before = ((await t.get(`${EMBEDDED}/workers?limit=200`)).body as any).items.length;
      for (const where of [null, 'intent', 'acceptance']) {
        const res = await t.raw('POST', `${EMBEDDED}/workers`, withKey(create, where, name), 'application/json');
        expect([where, res.status]).toEqual([where, 400]);
        expectErrorShape(res.body, 400, 'validation_failed');
        expectNoEchoHazard(res.text);
      }
      // ticket_role is a discriminated subtype with fields of its own.
      const ticket = { intent: { kind: 'ticket_role', ticket_id: 'T1', role: 'coder' }, acceptance: { kind: 'run_accepted' } };
      const res = await t.raw('POST', `${EMBEDDED}/workers`, withKey(ticket, 'intent', name), 'application/json');
      expectErrorShape(res.body, 400, 'validation_failed');
      expect(((await t.get(`${EMBEDDED}/workers?limit=200`)).body as any).items.length).toBe(before);
    });

    it.each(PROTOTYPE_NAMES)('input: %s is 400 validation_failed', async (name) => {
      const res = await t.raw('POST', `${EMBEDDED}/workers/${workerId}/input`, withKey({ content: 'x' }, null, name), 'application/json');
      expectErrorShape(res.body, 400, 'validation_failed');
    });

    it.each(PROTOTYPE_NAMES)('query: ?%s=1 is 400 validation_failed on every kind of GET route', async (name) => {
      for (const path of ['/api/workers', `${EMBEDDED}/workers/${workerId}/transcript`, `${EMBEDDED}/workers/${workerId}`, '/api/health']) {
        const res = await t.get(`${path}?${encodeURIComponent(name)}=1`);
        expect([path, res.status]).toEqual([path, 400]);
        expectErrorShape(res.body, 400, 'validation_failed');
      }
    });

    it('the known fields still work (the allow-list is not too strict)', async () => {
      expect((await t.post(`${EMBEDDED}/workers`, { intent: { kind: 'ticket_role', ticket_id: 'T1', role: 'coder' }, acceptance: { kind: 'run_accepted', expected_segments: 2 }, requested_worker_name: 'n' })).status).toBe(201);
      expect((await t.post(`${EMBEDDED}/workers/${workerId}/input`, { kind: 'system', content: 'ok' })).status).toBe(202);
      expect((await t.get(`/api/workers?limit=5`)).status).toBe(200);
      expect((await t.get(`${EMBEDDED}/workers/${workerId}/transcript?start=0&limit=5`)).status).toBe(200);
    });
  });
});
