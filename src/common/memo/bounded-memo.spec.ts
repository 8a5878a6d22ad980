import { boundedMemo } from './bounded-memo';

describe('boundedMemo', () => {
  it('computes once per key', () => {
    const calls: number[] = [];
    const square = boundedMemo(8, (n: number) => (calls.push(n), n * n));
    expect([square(3), square(3), square(4), square(3)]).toEqual([9, 9, 16, 9]);
    expect(calls).toEqual([3, 4]);
  });

  it('holds its bound of keys, then lets them go and computes them again', () => {
    let computed = 0;
    const memo = boundedMemo(4, (n: number) => (computed++, n));
    for (const n of [0, 1, 2, 3, 0, 1, 2, 3]) memo(n);
    expect(computed).toBe(4);
    memo(4); // a fifth key: the memo was full
    memo(0);
    expect(computed).toBe(6);
  });
});
