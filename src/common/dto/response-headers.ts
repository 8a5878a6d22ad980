import { REQUEST_ID_PATTERN } from '../logging/request-id.middleware';

/**
 * Response headers the pipeline sends, documented once under
 * `components.headers` and referenced from each response that carries them
 * (openapi.ts adds them document-wide; error-response.dto.ts per status).
 * `required: true` means every response documented with the header has it:
 * the e2e contract check (test/support/contract.ts) asserts that.
 */
export const RESPONSE_HEADERS = {
  'X-Request-Id': {
    description: "The request's id, also named in the access log: the client's own X-Request-Id if it sent a safe one, else a new UUID",
    required: true,
    schema: { type: 'string', pattern: REQUEST_ID_PATTERN.source },
  },
  ETag: {
    description: "Weak entity tag of the body: send it back as If-None-Match and an unchanged answer is a 304 without a body",
    required: true,
    schema: { type: 'string' },
  },
  Location: {
    description: 'The URL path of the created resource',
    required: true,
    schema: { type: 'string' },
  },
  'Retry-After': {
    description: 'Seconds to wait before retrying',
    required: true,
    schema: { type: 'string', pattern: '^[0-9]+$' },
  },
  'WWW-Authenticate': {
    description: 'The scheme to authenticate with: Bearer',
    required: true,
    schema: { type: 'string' },
  },
  Allow: {
    description: 'The methods this path answers',
    required: true,
    schema: { type: 'string' },
  },
  'Idempotency-Replayed': {
    description: 'Present (`true`) when this answer is the stored answer of an earlier request with the same Idempotency-Key and body: nothing was done again',
    required: false,
    schema: { type: 'string', enum: ['true'] },
  },
} as const;

export type ResponseHeaderName = keyof typeof RESPONSE_HEADERS;

export function headerRef(name: ResponseHeaderName): { $ref: string } {
  return { $ref: `#/components/headers/${name}` };
}
