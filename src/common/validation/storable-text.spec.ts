import { isStorableText, StorableTextStream, storableText } from './storable-text';

describe('storableText', () => {
  it('replaces U+0000 and lone surrogates with U+FFFD and keeps pairs', () => {
    expect(storableText('a\u0000b\ud800c\udc00d😀')).toBe('a\ufffdb\ufffdc\ufffdd😀');
  });

  it('tells which text a store keeps as it is', () => {
    expect(isStorableText('héllo 🌍')).toBe(true);
    for (const text of ['a\u0000', '\ud800', 'x\udc00y', '😀\ud83d']) expect(isStorableText(text)).toBe(false);
  });

  it('returns well-formed text without U+0000 as it is', () => {
    const text = 'héllo 🌍';
    expect(storableText(text)).toBe(text);
  });
});

describe('StorableTextStream', () => {
  const run = (chunks: string[]): string[] => {
    const stream = new StorableTextStream();
    return [...chunks.map((c) => stream.push(c)), stream.end()];
  };

  it('keeps a surrogate pair split between two chunks', () => {
    expect(run(['x\ud83d', '\ude00y'])).toEqual(['x', '😀y', '']);
  });

  it('holds a high surrogate across an empty chunk', () => {
    expect(run(['\ud83d', '', '\ude00'])).toEqual(['', '', '😀', '']);
  });

  it('ends a stream on a held high surrogate with U+FFFD', () => {
    expect(run(['z\ud800'])).toEqual(['z', '\ufffd']);
  });

  it('replaces a high surrogate that the next chunk does not complete, and U+0000 in any chunk', () => {
    expect(run(['a\ud83d', 'b\u0000', '\udc00'])).toEqual(['a', '\ufffdb\ufffd', '\ufffd', '']);
  });
});
