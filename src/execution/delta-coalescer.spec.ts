import { DeltaCoalescer } from './delta-coalescer';

class Busy extends Error {}
const transient = { isTransient: (err: unknown) => err instanceof Busy, forMs: 350 };

describe('DeltaCoalescer retrying transient write failures', () => {
  it('writes a refused delta again, first, so the text and its order are kept', async () => {
    const written: string[] = [];
    let refusals = 2;
    const stops: string[] = [];
    const c = new DeltaCoalescer(5, async (d) => (refusals-- > 0 ? Promise.reject(new Busy()) : (written.push(d), true)), (why) => stops.push(why), Date.now, transient);
    c.push('ab');
    await new Promise((r) => setTimeout(r, 20)); // the first write was refused
    c.push('cd');
    await c.flush();
    expect(written.join('')).toBe('abcd');
    expect(stops).toEqual([]);
  });

  it('stops with the error once the failures have lasted forMs, and flush() ends', async () => {
    let attempts = 0;
    const stops: Array<[string, unknown]> = [];
    const c = new DeltaCoalescer(5, async () => (attempts++, Promise.reject(new Busy())), (why, err) => stops.push([why, err]), Date.now, transient);
    c.push('never written');
    const started = Date.now();
    await c.flush();
    expect(stops).toEqual([['error', expect.any(Busy)]]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(attempts).toBeGreaterThan(1); // retried …
    expect(attempts).toBeLessThan(10); // … about every 100 ms, not in a loop
  });

  it('stops at once on an error that is not transient', async () => {
    let attempts = 0;
    const stops: string[] = [];
    const c = new DeltaCoalescer(5, async () => (attempts++, Promise.reject(new Error('disk gone'))), (why) => stops.push(why), Date.now, transient);
    c.push('x');
    await c.flush();
    expect([attempts, stops]).toEqual([1, ['error']]);
  });
});
