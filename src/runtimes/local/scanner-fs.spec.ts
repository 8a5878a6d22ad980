import { FsGate, ScanAborted, ScanContext, type ScannerFs } from './scanner-fs';

/** A fake fs whose calls complete only when the test says so. */
function manualFs() {
  const pending: Array<{ op: string; resolve: (v: unknown) => void }> = [];
  const call = (op: string) => new Promise<any>((resolve) => pending.push({ op, resolve }));
  const fs = {
    open: () => call('open'),
    close: () => call('close'),
    fstat: () => call('fstat'),
    read: () => call('read'),
    stat: () => call('stat'),
    lstat: () => call('lstat'),
    opendir: () => call('opendir'),
  } as unknown as ScannerFs;
  const finish = (op: string, value?: unknown) => {
    const i = pending.findIndex((p) => p.op === op);
    if (i === -1) throw new Error(`no pending ${op}`);
    pending.splice(i, 1)[0].resolve(value);
  };
  return { fs, pending, finish };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('FsGate', () => {
  it('runs at most maxInFlight calls, the rest in order as slots free', async () => {
    const m = manualFs();
    const gate = new FsGate(m.fs, 2);
    const ctx = new ScanContext();
    const results = [1, 2, 3].map((n) => gate.run(ctx, `k${n}`, (fs) => fs.stat(Buffer.from('x')).then(() => n)));
    await tick();
    expect(m.pending).toHaveLength(2);
    m.finish('stat');
    await tick();
    expect(m.pending).toHaveLength(2);
    m.finish('stat');
    m.finish('stat');
    expect(await Promise.all(results)).toEqual([1, 2, 3]);
    expect(gate.peakInFlight).toBe(2);
  });

  it('remembers calls outstanding past their scan, drops their late values, and refuses at once when they hold every slot', async () => {
    const m = manualFs();
    const gate = new FsGate(m.fs, 2);
    const ctx = new ScanContext();
    const discarded: unknown[] = [];
    const a = gate.run(ctx, 'a', (fs) => fs.open(Buffer.from('a'), 0), (fd) => discarded.push(fd));
    const b = gate.run(ctx, 'b', (fs) => fs.open(Buffer.from('b'), 0), (fd) => discarded.push(fd));
    const queued = gate.run(ctx, 'c', (fs) => fs.open(Buffer.from('c'), 0));
    gate.expire(ctx, 'deadline');
    await expect(queued).rejects.toEqual(new ScanAborted('deadline'));
    expect(gate.isStuck('a') && gate.isStuck('b')).toBe(true);
    expect(gate.allSlotsStuck()).toBe(true);

    const other = new ScanContext();
    await expect(gate.run(other, 'd', (fs) => fs.stat(Buffer.from('d')))).rejects.toEqual(new ScanAborted('stalled'));
    // A close is never refused: it waits for a slot, ahead of any other call.
    let closed = false;
    void gate.close(null, 'e', 7).then(() => (closed = true));
    expect(gate.isStuck('e')).toBe(true);

    m.finish('open', 41);
    await expect(a).rejects.toBeInstanceOf(ScanAborted);
    expect(discarded).toEqual([41]);
    expect(gate.isStuck('a')).toBe(false);
    await tick();
    expect(m.pending.map((p) => p.op)).toEqual(['open', 'close']);
    m.finish('close');
    await tick();
    expect(closed).toBe(true);
    expect(gate.isStuck('e')).toBe(false);
    m.finish('open', 42);
    await expect(b).rejects.toBeInstanceOf(ScanAborted);
    expect(discarded).toEqual([41, 42]);
    expect(gate.outstanding).toBe(0);
    expect(gate.allSlotsStuck()).toBe(false);
  });

  it("refuses other scans' queued calls when an expiry leaves every slot stuck", async () => {
    const m = manualFs();
    const gate = new FsGate(m.fs, 1);
    const stuck = new ScanContext();
    const waiting = new ScanContext();
    const first = gate.run(stuck, 'a', (fs) => fs.stat(Buffer.from('a')));
    const second = gate.run(waiting, 'b', (fs) => fs.stat(Buffer.from('b')));
    gate.expire(stuck, 'deadline');
    await expect(second).rejects.toEqual(new ScanAborted('stalled'));
    m.finish('stat');
    await expect(first).rejects.toBeInstanceOf(ScanAborted);
    expect(gate.outstanding).toBe(0);
  });

  it('refuses a nonsensical bound', () => {
    expect(() => new FsGate(manualFs().fs, 0)).toThrow(RangeError);
  });
});
