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
    const thrown = (): unknown => {
      try {
        failing();
      } catch (err) {
        return err;
      }
      return 'nothing thrown';
    };
    const first = thrown();
    expect(first).toBeInstanceOf(Error);
    expect(thrown()).toBe(first);
    expect(computed).toBe(1);
  });
});
