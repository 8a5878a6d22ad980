import { inOrderOf } from './sql-queries';

describe('inOrderOf', () => {
  it('returns rows already in order as they are, the same array', () => {
    const rows = [[1, 'a'], [2, 'b'], [5, 'c']];
    expect(inOrderOf(rows, 0)).toBe(rows);
    expect(rows).toEqual([[1, 'a'], [2, 'b'], [5, 'c']]);
  });

  it('sorts rows out of order by the column, numerically (Postgres strings included)', () => {
    expect(inOrderOf([['x', 10], ['y', 9], ['z', 100]], 1)).toEqual([['y', 9], ['x', 10], ['z', 100]]);
    expect(inOrderOf([['10'], ['9'], ['100']], 0)).toEqual([['9'], ['10'], ['100']]);
  });

  it('takes empty and single-row pages', () => {
    expect(inOrderOf([], 0)).toEqual([]);
    expect(inOrderOf([[3]], 0)).toEqual([[3]]);
  });
});
