/** What a key may do (SPEC §11); each scope includes the ones before it. */
export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * A generated key: `wbk_<24 hex: the key id>_<43 base64url: 256 random bits>`.
 * The id lets the key be looked up; only a hash of the secret part is stored.
 */
export const GENERATED_KEY_PATTERN = /^wbk_([0-9a-f]{24})_([A-Za-z0-9_-]{43})$/;
/** The same shape anywhere in text: logs redact every key, including ones created before a restart. */
export const GENERATED_KEY_SHAPE = /wbk_[0-9a-f]{24}_[A-Za-z0-9_-]{43}/;

/** What a Bearer header can carry as a key (auth.middleware.ts), and so what API_KEY may be (app-config.ts). */
export const BEARER_TOKEN_CHARACTERS = '\\x21-\\x7e'; // printable ASCII, no space
export const MAX_BEARER_TOKEN_LENGTH = 512;

/** The public id of a key (`key-<24 hex>`), valid as a path identifier. */
export const keyIdOf = (hex: string) => `key-${hex}`;
/** The bootstrap key (API_KEY unset): one fixed id, replaced at every start. */
export const BOOTSTRAP_KEY_HEX = '000000000000000000000000';
/** The env API_KEY, which is not stored: its id in logs, rate limits and idempotency scopes. */
export const ENV_KEY_ID = 'key-env';
/** With AUTH=off every request acts as this admin principal. */
export const ANONYMOUS_KEY_ID = 'key-anonymous';
