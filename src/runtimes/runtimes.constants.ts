import type { ApiParamOptions } from '@nestjs/swagger';

/** Injection token of the array of every RuntimeSource the registry routes to. */
export const RUNTIME_SOURCES = Symbol('RUNTIME_SOURCES');

export const EMBEDDED_RUNTIME_ID = 'embedded-worker-runtime';
export const LOCAL_RUNTIME_ID = 'local-worker-runtime';

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 200;
export const DEFAULT_TRANSCRIPT_LIMIT = 50;
export const MAX_TRANSCRIPT_LIMIT = 200;
/**
 * Content per transcript page, in UTF-16 units (as stored in `content_length`):
 * a page stops before the item that would take it past this (always at
 * least one item) and says where to go on in `next_start`. 200 items of
 * 262,144 units each (the longest input) made a page of ~200 MiB once
 * JSON-escaped (`\u0001` is 6 bytes), serialised and held whole while a
 * client that never read kept it. 1 Mi: about the longest reply
 * (RUN_MAX_OUTPUT_CHARS' default, 1,000,000), which a page must hold whole
 * anyway, so the budget does not raise the worst case; normal pages are
 * never cut (50 items of up to 20,000 units, 200 of up to 5,000).
 */
export const TRANSCRIPT_PAGE_MAX_CHARS = 1024 * 1024;

/** Input content bounds, in JavaScript string length (UTF-16 units). */
export const MAX_INPUT_CONTENT_LENGTH = 262_144;

const ID_SCHEMA = { type: 'string' as const, pattern: '^[A-Za-z0-9_:-]{1,120}$' };

/**
 * Path parameters, documented once. Each example is given in `schema`
 * because @nestjs/swagger drops a parameter-level `example` next to an
 * explicit `schema`; openapi.ts lifts it to the parameter, where client tools
 * (dredd, Swagger UI's "Try it out") look for it.
 */
export const RUNTIME_ID_PARAM: ApiParamOptions = { name: 'runtime_id', schema: { ...ID_SCHEMA, example: EMBEDDED_RUNTIME_ID } };
export const WORKER_ID_PARAM: ApiParamOptions = { name: 'worker_id', schema: { ...ID_SCHEMA, example: 'embedded-worker-5f0c2a6e9b1d4c7fa0e3b8d2c6f1a9e4' } };
export const HOST_ID_PARAM: ApiParamOptions = { name: 'host_id', schema: { ...ID_SCHEMA, example: 'embedded-default-37a8eec1ce19687d' } };
export const RUN_ID_PARAM: ApiParamOptions = { name: 'run_id', schema: { ...ID_SCHEMA, example: 'run-3f1e0c9a7b2d4e6f8a0b1c2d3e4f5a6b' } };
