import fc from 'fast-check';
import { ApiError, ECHO_EXCERPT_LENGTH, MAX_MESSAGE_LENGTH, safeEcho, safeExcerpt, safeText } from './api-error';

/** What must never come back from a sanitiser: controls (incl. ESC), format/bidi characters, separators, lone surrogates, markup, path separators. */
const HAZARD = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}<>&/\\]/u;
const ANSI = '\u001b[31;1m';

describe('safeEcho (identifiers, SPEC §5)', () => {
  it('keeps identifier characters and shows everything else as ?', () => {
    expect(safeEcho('embedded-worker_01:x')).toBe('embedded-worker_01:x');
    expect(safeEcho(`${ANSI}a/b\\c<d>\u202e😀\ud800`)).toBe('??31?1ma?b?c?d????');
  });

  it('cuts at 120 characters by default (ids are up to 120), or where told', () => {
    expect(safeEcho('a'.repeat(500))).toBe('a'.repeat(120));
    expect(safeEcho('a'.repeat(500), 10)).toBe('a'.repeat(10));
  });

  it('invalid_identifier messages echo through it', () => {
    const err = ApiError.invalidIdentifier('worker_id', `${ANSI}<img src=x>${'y'.repeat(5000)}`);
    expect(err.body.message).not.toMatch(HAZARD);
    expect(err.body.message.length).toBeLessThan(220);
  });
});

describe('safeExcerpt (client-chosen names: keys, query parameters)', () => {
  it(`is at most ${ECHO_EXCERPT_LENGTH} characters, with … when cut`, () => {
    expect(safeExcerpt('toString')).toBe('toString');
    expect(safeExcerpt('a'.repeat(ECHO_EXCERPT_LENGTH))).toBe('a'.repeat(ECHO_EXCERPT_LENGTH));
    expect(safeExcerpt('a'.repeat(ECHO_EXCERPT_LENGTH + 1))).toBe(`${'a'.repeat(ECHO_EXCERPT_LENGTH)}…`);
    expect(safeExcerpt(`${ANSI}../../etc/passwd`)).toBe('??31?1m??????etc?passwd');
  });

  it('never returns a hazard, whatever it is given (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        const out = safeExcerpt(s);
        expect(out).not.toMatch(HAZARD);
        expect(out).toMatch(/^[A-Za-z0-9_:?-]*…?$/);
        expect(out.length).toBeLessThanOrEqual(ECHO_EXCERPT_LENGTH + 1);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('safeText (messages that may carry a client-chosen name)', () => {
  it('leaves our own messages as written', () => {
    for (const m of [
      'ticket_id must match ^[A-Za-z0-9_:-]{1,120}$',
      'kind must be one of the following values: workspace_companion, workspace_orchestrator, ticket_role',
      'limit must not be greater than 200',
      'content must be 1 to 262144 characters and not only whitespace',
    ]) {
      expect(safeText(m)).toBe(m);
    }
  });

  it('removes escape sequences whole and shows other hazards as ?', () => {
    expect(safeText(`property ${ANSI}x\u001b[0m should not exist`)).toBe('property x should not exist');
    expect(safeText('a\u001b]0;title\u0007b')).toBe('ab');
    expect(safeText('a\u009b2Jb')).toBe('ab');
    expect(safeText('a\nb\tc\u0000d\u202ee\u2028f<g>/h\\i&j\ud800')).toBe('a?b?c?d?e?f?g??h?i?j?');
  });

  it(`is at most ${MAX_MESSAGE_LENGTH} characters, with … when cut, without half a surrogate pair`, () => {
    expect(safeText('m'.repeat(MAX_MESSAGE_LENGTH))).toBe('m'.repeat(MAX_MESSAGE_LENGTH));
    const cut = safeText('m'.repeat(MAX_MESSAGE_LENGTH + 1));
    expect(cut).toBe(`${'m'.repeat(MAX_MESSAGE_LENGTH - 1)}…`);
    const emoji = safeText(`${'m'.repeat(MAX_MESSAGE_LENGTH - 2)}😀😀😀`);
    expect(emoji).toBe(`${'m'.repeat(MAX_MESSAGE_LENGTH - 2)}…`);
    // Escape sequences are removed before the cut, but a huge input is looked at only in part.
    expect(safeText(`${ANSI.repeat(10_000)}ok`).length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
  });

  it('never returns a hazard or more than the bound, whatever it is given (property)', () => {
    const hostile = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 600 }),
      fc.array(fc.constantFrom(ANSI, '\u001b[', '\u001b]8;;http://x\u0007', '\u009b', '\u202e', '\ud83d', '\ude00', '<', '/', 'ok ', '\r\n'), { maxLength: 200 }).map((a) => a.join('')),
    );
    fc.assert(
      fc.property(hostile, (s) => {
        const out = safeText(s);
        expect(out).not.toMatch(HAZARD);
        expect(out.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
      }),
      { numRuns: 1000 },
    );
  });

  it('costs the same for a 10 MB input as for a short one (it cuts first)', () => {
    const huge = `${ANSI}<`.repeat(1_000_000);
    const t0 = performance.now();
    safeText(huge);
    safeExcerpt(huge);
    safeEcho(huge);
    expect(performance.now() - t0).toBeLessThan(50);
  });
});
