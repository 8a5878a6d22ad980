import type { ApiHeaderOptions } from '@nestjs/swagger';

/** What an `Idempotency-Key` may be: checked by the handler, documented on the routes, from this one expression. */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/** How the header is documented on the routes that take it. */
export const IDEMPOTENCY_KEY_HEADER: ApiHeaderOptions = {
  name: 'Idempotency-Key',
  required: false,
  description:
    'Makes the request safe to retry: within 24 h, a repeat with the same key and body replays the first answer (and acts once); ' +
    'another body is 422 idempotency_key_reused. 1 to 128 characters of A-Z a-z 0-9 _ . : -',
  schema: { type: 'string', pattern: IDEMPOTENCY_KEY_PATTERN.source },
};
