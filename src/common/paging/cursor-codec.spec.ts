import { createHmac, randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { ApiError } from '../errors/api-error';
import { CursorCodec, MAX_CURSOR_LENGTH } from './cursor-codec';

const SECRET = Buffer.from('cursor-codec-spec-secret-0123456789');
/** The MAC as the codec makes it: only a holder of the secret can make a body the codec will open. */
const mac = (list: string, body: string) => createHmac('sha256', SECRET).update(`${list}\0${body}`).digest().subarray(0, 16).toString('base64url');

function expectInvalid(decode: () => unknown): void {
  try {
    decode();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).body.error).toBe('invalid_cursor');
    return;
  }
  throw new Error('decoded');
}

describe('CursorCodec', () => {
  const codec = new CursorCodec(SECRET);

  it('keeps a short position as base64url JSON', () => {
    const cursor = codec.encode('workers', { r: 1, a: 'evt-42' });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(codec.decode('workers', cursor)).toEqual({ r: 1, a: 'evt-42' });
  });

  // Linux allows 255 bytes in a directory name; the local source's position is the name in hex. Random bytes are
  // the worst case for deflate, and the host list carries the longest fields of its own beside the position.
  it.each([
    ['workers', (a: string) => ({ r: 1, a })],
    ['runtime-workers', (a: string) => ({ rt: 'local-worker-runtime', a })],
    ['host-workers', (a: string) => ({ h: 'local-default-0123456789abcdef', a })],
  ])('issues a %s cursor of at most 512 characters for any 255-byte directory name, and opens it', (list, position) => {
    for (let i = 0; i < 50; i++) {
      const name = (i === 0 ? Buffer.alloc(255, 0xff) : randomBytes(255)).toString('hex');
      const cursor = codec.encode(list, position(name));
      expect(cursor.length).toBeLessThanOrEqual(MAX_CURSOR_LENGTH);
      expect(cursor.startsWith('~')).toBe(true);
      expect(codec.decode(list, cursor)).toEqual(position(name));
    }
  });

  it('refuses a deflated cursor that was edited, or is another list’s', () => {
    const cursor = codec.encode('workers', { r: 1, a: randomBytes(255).toString('hex') });
    expectInvalid(() => codec.decode('runtime-workers', cursor));
    const edited = `~${cursor.slice(2)}`;
    expectInvalid(() => codec.decode('workers', edited));
  });

  it('refuses a body under a valid MAC that does not inflate, or inflates past its bound', () => {
    const garbage = '~AAAA____';
    expectInvalid(() => codec.decode('workers', `${garbage}.${mac('workers', garbage)}`));
    // 1 MiB of JSON deflates to ~1,400 characters: over 512, so it is refused by length before inflating.
    const bomb = `~${deflateRawSync(Buffer.from(JSON.stringify({ a: ' '.repeat(1 << 20) }))).toString('base64url')}`;
    expectInvalid(() => codec.decode('workers', `${bomb}.${mac('workers', bomb)}`));
    // 64 KiB deflates to ~120 characters: the bound on inflating refuses it.
    const small = `~${deflateRawSync(Buffer.from(JSON.stringify({ a: ' '.repeat(1 << 16) }))).toString('base64url')}`;
    expect(small.length).toBeLessThan(MAX_CURSOR_LENGTH - 23);
    expectInvalid(() => codec.decode('workers', `${small}.${mac('workers', small)}`));
  });
});
