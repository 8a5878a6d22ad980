import { checkBodyShape, MAX_BODY_DEPTH } from './json-body.middleware';

describe('checkBodyShape', () => {
  it('accepts ordinary bodies', () => {
    expect(checkBodyShape({ intent: { kind: 'ticket_role' }, list: [1, { a: 2 }] })).toBeNull();
  });

  it('refuses nesting deeper than the limit without recursion', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(checkBodyShape(deep)).toMatch(/deeper/);
    let ok: unknown = 1;
    for (let i = 0; i < MAX_BODY_DEPTH - 1; i++) ok = { a: ok };
    expect(checkBodyShape(ok)).toBeNull();
  });

  it('refuses prototype-polluting keys at any depth', () => {
    expect(checkBodyShape(JSON.parse('{"a":{"__proto__":{"x":1}}}'))).toMatch(/forbidden/);
    expect(checkBodyShape({ a: [{ constructor: 1 }] })).toMatch(/forbidden/);
  });
});
