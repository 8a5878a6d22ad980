import { once } from './once';

describe('once', () => {
  it('computes at the first call, not before, and only then', () => {
    let computed = 0;
    const value = once(() => (computed++, { built: true }));
    expect(computed).toBe(0);
    const first = value();
    expect(value()).toBe(first);
    expect(computed).toBe(1);
  });

  it('remembers a failure: the same error again, without computing again', () => {
    let computed = 0;
    const failing = once((): never => {
      computed++;
      throw new Error('broken build');
    });
    let first: unknown;
    try {
      failing();
    } catch (err) {
      first = err;
    }
    expect(first).toBeInstanceOf(Error);
    expect(() => failing()).toThrow(first as Error);
    expect(computed).toBe(1);
  });
});
