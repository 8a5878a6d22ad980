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
