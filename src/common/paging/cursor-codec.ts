import { createHmac, timingSafeEqual } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { ApiError } from '../errors/api-error';
import { boundedMemo } from '../memo/bounded-memo';

/** SPEC §10: cursors are opaque strings of at most 512 characters. */
export const MAX_CURSOR_LENGTH = 512;

/** The MAC's length in a cursor: 128 bits in base64url. */
const MAC_LENGTH = 22;

/** Marks a deflated body: outside base64url's alphabet, so no plain body starts with it. */
const DEFLATED = '~';

/** A deflated body opens to at most this: the longest position made here (a 255-byte name in hex, with its list's fields) is under 600 bytes. */
const MAX_POSITION_BYTES = 4096;

/**
 * Opaque, tamper-evident list cursors: `<base64url JSON>.<base64url MAC>`.
 * The MAC (HMAC-SHA256, 128 bits) covers the list a cursor belongs to, so a
 * cursor edited by hand, forged, or taken from another list route is
 * `400 invalid_cursor`. The secret is shared by every instance (kept in the
 * store), so a cursor from one instance pages on another and after restarts.
 *
 * A position too long for 512 characters goes deflated (`~<base64url>`):
 * a local record's position is its directory name, up to 255 bytes, in hex,
 * and base64url over that, with the list's own fields and the MAC, came to
 * ~700 characters, a cursor the server then refused. Deflated, the worst
 * name (255 random bytes) came to at most 460 over 2,000 tries. Every other
 * cursor is as before.
 */
export class CursorCodec {
  /** A list's hot pages are asked for over and over, and each MAC costs an HMAC object (~6 µs). */
  private readonly macOf: (key: string) => string;

  constructor(secret: Buffer) {
    this.macOf = boundedMemo(4096, (key: string) => createHmac('sha256', secret).update(key).digest().subarray(0, 16).toString('base64url'));
  }

  encode(list: string, position: unknown): string {
    const json = Buffer.from(JSON.stringify(position));
    let body = json.toString('base64url');
    if (body.length + 1 + MAC_LENGTH > MAX_CURSOR_LENGTH) body = `${DEFLATED}${deflateRawSync(json).toString('base64url')}`;
    return `${body}.${this.mac(list, body)}`;
  }

  /** The position inside a cursor of `list`; throws `400 invalid_cursor` for anything else. */
  decode<T>(list: string, cursor: string): T {
    const dot = cursor.indexOf('.');
    if (cursor.length > MAX_CURSOR_LENGTH || dot <= 0) throw invalidCursor();
    const body = cursor.slice(0, dot);
    const given = Buffer.from(cursor.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.mac(list, body), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalidCursor();
    try {
      const json = body.startsWith(DEFLATED)
        ? inflateRawSync(Buffer.from(body.slice(DEFLATED.length), 'base64url'), { maxOutputLength: MAX_POSITION_BYTES })
        : Buffer.from(body, 'base64url');
      return JSON.parse(json.toString('utf8')) as T;
    } catch {
      throw invalidCursor();
    }
  }

  private mac(list: string, body: string): string {
    return this.macOf(`${list}\0${body}`);
  }
}

export function invalidCursor(): ApiError {
  return new ApiError(400, 'invalid_cursor', 'cursor is not a cursor this list issued', { details: [{ path: 'cursor', message: 'must be a next_cursor value from this list' }] });
}
