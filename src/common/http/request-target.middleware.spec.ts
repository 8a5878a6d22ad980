import { safeDecodeURI } from 'find-my-way/lib/url-sanitizer';
import { routedPathOf, UNROUTABLE_PATH } from './request-target.middleware';

describe('routedPathOf', () => {
  it('decides on the path the router matches: decoded as the router decodes, without the query; no fragment, no other form', () => {
    const cases: Array<[string, string]> = [
      ['/api/x?y=1', '/api/x'],
      ['/api/x', '/api/x'],
      ['/?', '/'],
      ['*', '*'],
      ['/%61pi/keys', '/api/keys'],
      ['/api/%6beys', '/api/keys'],
      ['/api/keys#', UNROUTABLE_PATH],
      ['/api/keys#x?y', UNROUTABLE_PATH],
      ['/api/keys;x', '/api/keys;x'],
      ['/api/keys%2Fx', '/api/keys%2Fx'], // reserved characters stay encoded, as for the router
      ['/api/runtimes/%zz', UNROUTABLE_PATH],
      ['http://x/api/keys', UNROUTABLE_PATH],
      ['HTTP://x/api/keys', UNROUTABLE_PATH],
      ['*api/keys', UNROUTABLE_PATH],
      ['api/keys', UNROUTABLE_PATH],
      ['', UNROUTABLE_PATH],
    ];
    expect(cases.map(([url]) => [url, routedPathOf(url)])).toEqual(cases);
  });

  it('uses the very sanitiser Fastify\'s router uses (one copy of find-my-way, not one per dependent)', () => {
    const fromFastify = require.resolve('find-my-way/lib/url-sanitizer', { paths: [require.resolve('fastify')] });
    expect(fromFastify).toBe(require.resolve('find-my-way/lib/url-sanitizer'));
    expect(typeof safeDecodeURI).toBe('function');
  });
});
