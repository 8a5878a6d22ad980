import { ApiError } from '../errors/api-error';
import { NO_QUERY_MESSAGE, RejectQueryPipe } from './reject-query.pipe';
import { MAX_DETAILS } from './validation';

const q = (entries: Record<string, unknown>) => Object.assign(Object.create(null) as Record<string, unknown>, entries);

function refusal(query: Record<string, unknown>): ApiError {
  try {
    new RejectQueryPipe().transform(query);
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('RejectQueryPipe', () => {
  it('accepts an empty query', () => {
    expect(new RejectQueryPipe().transform(q({}))).toEqual({});
    expect(new RejectQueryPipe().transform({})).toEqual({});
  });

  it('refuses every parameter, prototype names included', () => {
    for (const name of ['x', 'toString', '__proto__', 'constructor', 'hasOwnProperty']) {
      const err = refusal(q({ [name]: '1' }));
      expect(err.body.error).toBe('validation_failed');
      expect(err.body.details).toEqual([{ path: name, message: NO_QUERY_MESSAGE }]);
    }
  });

  it('names each parameter by a short safe excerpt, at most MAX_DETAILS of them', () => {
    const hostile = `\u001b[31m<b>/etc/passwd\\${'k'.repeat(15_000)}`;
    const [detail] = refusal(q({ [hostile]: '1' })).body.details!;
    expect(detail.path.length).toBeLessThanOrEqual(65);
    expect(detail.path).not.toMatch(/[\u0000-\u001f<>/\\]/);
    const many = q(Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, '1'])));
    expect(refusal(many).body.details).toHaveLength(MAX_DETAILS);
  });
});
