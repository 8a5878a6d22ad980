import type { ApiParamOptions } from '@nestjs/swagger';

/** Injection token of the array of every RuntimeSource the registry routes to. */
export const RUNTIME_SOURCES = Symbol('RUNTIME_SOURCES');

export const EMBEDDED_RUNTIME_ID = 'embedded-worker-runtime';
export const LOCAL_RUNTIME_ID = 'local-worker-runtime';

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 200;
export const DEFAULT_TRANSCRIPT_LIMIT = 50;
export const MAX_TRANSCRIPT_LIMIT = 200;

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
