import { createHash } from 'node:crypto';

const MAX_ID_LENGTH = 120;

function sha256Hex16(input: string | Uint8Array): string {
  return createHash('sha256').update(input).digest('hex').slice(0, 16);
}

function trimDashes(s: string): string {
  return s.replace(/^-+/, '').replace(/-+$/, '');
}

/**
 * Derives a stable public id `<prefix>-<body>-<hex16>` from an internal name
 * (SPEC §5). `<hex16>` is the first 16 hex digits of SHA-256 over the name's
 * bytes, so distinct names give distinct ids even when their bodies agree;
 * `<body>` keeps a readable, identifier-safe trace of the name.
 *
 * `name` may be given as raw bytes (a directory entry read with
 * `encoding: 'buffer'`): the hash is then over exactly those bytes and the body
 * over their UTF-8 decoding.
 */
export function derivePublicId(prefix: string, name: string | Uint8Array): string {
  const text = typeof name === 'string' ? name : Buffer.from(name).toString('utf8');
  const hex = sha256Hex16(typeof name === 'string' ? Buffer.from(name, 'utf8') : name);
  let body = '';
  for (const ch of text) {
    if (/^[A-Za-z0-9]$/.test(ch)) body += ch.toLowerCase();
    else if (ch === '-' || ch === '_') body += ch;
    else body += '-';
  }
  body = trimDashes(body);
  const room = MAX_ID_LENGTH - prefix.length - 2 - hex.length;
  body = trimDashes(body.slice(0, Math.max(room, 0)));
  if (body === '') body = 'id';
  return `${prefix}-${body}-${hex}`;
}

export const MAX_LABEL_LENGTH = 80;

/**
 * A display hint safe to show anywhere (SPEC §2): control and format
 * characters (including bidi overrides), `/` and `\` removed, at most 80
 * UTF-16 units, never cutting a surrogate pair. Returns `fallback` when
 * nothing is left.
 */
export function toDisplayLabel(raw: string, fallback: string): string {
  let out = '';
  for (const ch of raw.normalize('NFC')) {
    if (/[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}/\\]/u.test(ch)) continue;
    if (out.length + ch.length > MAX_LABEL_LENGTH) break;
    out += ch;
  }
  out = out.trim();
  return out === '' ? fallback : out;
}
