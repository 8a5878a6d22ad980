import type { ServerResponse } from 'node:http';
import { ApiError } from '../errors/api-error';
import { methodNotAllowedMiddleware } from './method-not-allowed.middleware';
import type { PipelineRequest } from './middleware-chain';

const paths = {
  '/api/keys': { get: {}, post: {} },
  '/api/keys/{key_id}': { get: {}, delete: {} },
};

/** Runs the stage on a request with this method, path and matched route; resolves to what it passed to next(). */
function run(method: string, path: string, route?: string, headers: Record<string, string> = {}): { err: unknown; headers: Record<string, unknown> } {
  const stage = methodNotAllowedMiddleware(() => paths);
  const set: Record<string, unknown> = {};
  const res = { setHeader: (name: string, value: unknown) => void (set[name.toLowerCase()] = value) } as unknown as ServerResponse;
  let seen: unknown = 'next() not called';
  void stage({ method, path, route, headers } as unknown as PipelineRequest, res, (err) => (seen = err));
  return { err: seen, headers: set };
}

describe('methodNotAllowedMiddleware', () => {
  it('answers 405 with Allow for a known path the router did not match for this method', () => {
    const { err, headers } = run('PUT', '/api/keys/k1');
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).getStatus()).toBe(405);
    expect((err as ApiError).body.error).toBe('method_not_allowed');
    expect((err as ApiError).headers).toEqual({ Allow: 'GET, DELETE, HEAD' });
    expect(headers).toEqual({ connection: 'close' });
  });

  it('goes by the route the router matched: a matched request passes without the table', () => {
    expect(run('GET', '/api/keys/k1', '/api/keys/:key_id')).toEqual({ err: undefined, headers: {} });
    // Only the router's match says so here (the table would answer 405): the match, not the table, decides.
    expect(run('PUT', '/api/keys/k1', '/api/keys/:key_id')).toEqual({ err: undefined, headers: {} });
  });

  it('lets through an unknown path (the router answers 404) and a CORS preflight', () => {
    expect(run('PUT', '/api/nothing-here').err).toBeUndefined();
    expect(run('OPTIONS', '/api/keys', undefined, { 'access-control-request-method': 'POST' }).err).toBeUndefined();
    expect((run('OPTIONS', '/api/keys').err as ApiError).getStatus()).toBe(405);
  });

  it('asks for the paths (the lazily built OpenAPI document) at the first request the router did not match, and only once', () => {
    let asked = 0;
    const stage = methodNotAllowedMiddleware(() => (asked++, paths));
    const res = { setHeader: () => undefined } as unknown as ServerResponse;
    const request = (method: string, path: string, route?: string) => stage({ method, path, route, headers: {} } as unknown as PipelineRequest, res, () => undefined);
    expect(asked).toBe(0);
    request('GET', '/api/keys', '/api/keys');
    expect(asked).toBe(0);
    request('PUT', '/api/keys');
    request('PATCH', '/api/keys/k1');
    expect(asked).toBe(1);
  });
});
