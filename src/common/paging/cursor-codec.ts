import { createHmac, timingSafeEqual } from 'node:crypto';
import { ApiError } from '../errors/api-error';
import { boundedMemo } from '../memo/bounded-memo';

/** SPEC §10: cursors are opaque strings of at most 512 characters. */
export const MAX_CURSOR_LENGTH = 512;

/**
 * Opaque, tamper-evident list cursors: `<base64url JSON>.<base64url MAC>`.
 * The MAC (HMAC-SHA256, 128 bits) covers the list a cursor belongs to, so a
 * cursor edited by hand, forged, or taken from another list route is
 * `400 invalid_cursor`. The secret is shared by every instance (kept in the
 * store), so a cursor from one instance pages on another and after restarts.
 */
export class CursorCodec {
  /** A list's hot pages are asked for over and over, and each MAC costs an HMAC object (~6 µs). */
  private readonly macOf: (key: string) => string;

  constructor(secret: Buffer) {
    this.macOf = boundedMemo(4096, (key: string) => createHmac('sha256', secret).update(key).digest().subarray(0, 16).toString('base64url'));
  }

  encode(list: string, position: unknown): string {
    const body = Buffer.from(JSON.stringify(position)).toString('base64url');
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
      return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as T;
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
