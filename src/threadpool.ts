/**
 * Imported first by main.ts, before anything can use libuv's threadpool:
 * file-system calls, DNS and crypto share its threads (4 by default), and a
 * hung mount under the local source's data dir occupies one per stuck call.
 * More threads keep the rest of the app (static assets, SQLite file checks)
 * responsive; the scanner also caps its own calls in flight.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';
