/**
 * Whether a request path is under the API's global prefix (whole segment:
 * `/api`, `/api/…`, not `/apiary`). Case-sensitive, like the routing
 * (app.factory.ts keeps the router case-sensitive): one spelling
 * per route, so every prefix check written for `/api` holds.
 */
export function isApiPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/');
}
