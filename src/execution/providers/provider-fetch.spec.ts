import { ProviderError } from '../model-provider';
import { firstBytes, sseFieldValues, wholeEvents } from './provider-fetch';

/** Runs `chunks` through `transform`; the chunks that come out, or the error the stream ended with. */
async function through(transform: TransformStream<Uint8Array, Uint8Array>, chunks: string[]): Promise<{ out: string[]; error?: unknown }> {
  const source = ReadableStream.from(chunks.map((c) => Buffer.from(c)));
  const out: string[] = [];
  try {
    for await (const chunk of source.pipeThrough(transform)) out.push(Buffer.from(chunk).toString());
    return { out };
  } catch (error) {
    return { out, error };
  }
}

/** Every way of cutting `text` into two or three pieces. */
function splits(text: string): string[][] {
  const all: string[][] = [[text]];
  for (let i = 1; i < text.length; i++) {
    all.push([text.slice(0, i), text.slice(i)]);
    for (let j = i + 1; j < text.length; j++) all.push([text.slice(0, i), text.slice(i, j), text.slice(j)]);
  }
  return all;
}

describe('wholeEvents', () => {
  // The SDKs' boundaries (findDoubleNewlineIndex): \n\n, \r\r, \r\n\r\n; \n\r\n and a lone \r\n are none.
  const STREAM = 'data: a\n\nevent: b\r\ndata: b\r\n\r\ndata: c\r\rdata: d\n\r\ndata: d2\n\ndata: tail';
  const EVENTS = ['data: a\n\n', 'event: b\r\ndata: b\r\n\r\n', 'data: c\r\r', 'data: d\n\r\ndata: d2\n\n', 'data: tail'];

  it('hands on the same bytes, each chunk ending at an event boundary, however the input was cut', async () => {
    for (const pieces of splits(STREAM)) {
      const { out, error } = await through(wholeEvents(1024), pieces);
      expect(error).toBeUndefined();
      expect(out.join('')).toBe(STREAM);
      // Each chunk is one or more whole events (never a part of one), the last may be the unterminated tail.
      const events = out.flatMap((chunk) => EVENTS.filter((e) => chunk.includes(e)));
      expect(events.join('')).toBe(out.join(''));
    }
  });

  it('hands on one event per chunk, and drops events of nothing but line ends', async () => {
    const { out } = await through(wholeEvents(1024), ['data: a\n\n\n\n\r\rdata: b\n\n: ping\n\n', '\n\n\n\ndata: c']);
    expect(out).toEqual(['data: a\n\n', 'data: b\n\n', ': ping\n\n', 'data: c']);
  });

  it('errors as soon as an event passes the bound, within the read that passes it', async () => {
    const { out, error } = await through(wholeEvents(16), [`data: 1234\n\ndata: ${'x'.repeat(20)}\n\n`]);
    expect(out).toEqual(['data: 1234\n\n']);
    expect((error as ProviderError).code).toBe('provider_bad_response');
  });

  it('a boundary made of bytes from three reads is found', async () => {
    const { out } = await through(wholeEvents(1024), ['data: x\r', '\n\r', '\ndata: y']);
    expect(out).toEqual(['data: x\r\n\r\n', 'data: y']);
  });

  it('a stream of one event in many pieces comes out once', async () => {
    const event = `data: ${'z'.repeat(5000)}\n\n`;
    const pieces = event.match(/[\s\S]{1,7}/g)!;
    const { out } = await through(wholeEvents(1 << 20), pieces);
    expect(out).toEqual([event]);
  });

  it('more than maxEventBytes without a boundary ends the stream with provider_bad_response', async () => {
    const { out, error } = await through(wholeEvents(100), ['data: ok\n\n', `data: ${'y'.repeat(60)}`, 'y'.repeat(60), 'never']);
    expect(out).toEqual(['data: ok\n\n']);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).code).toBe('provider_bad_response');
    expect((error as ProviderError).retryable).toBe(false);
  });

  it('counts from the last boundary: many events of any total size pass', async () => {
    const event = `data: ${'e'.repeat(80)}\n\n`;
    const { out, error } = await through(wholeEvents(100), Array.from({ length: 50 }, () => event));
    expect(error).toBeUndefined();
    expect(out.join('')).toBe(event.repeat(50));
  });
});

describe('wholeEvents with a protocol\'s rules', () => {
  const rules = { isLast: (e: string) => sseFieldValues(e, 'data')[0] === '[DONE]', isRefused: (e: string) => sseFieldValues(e, 'event').includes('bad') };

  it('ends the stream after the last event, whatever follows in the same read or later', async () => {
    const { out, error } = await through(wholeEvents(1024, rules), ['data: a\n\ndata:[DONE]\n\ndata: after\n\n', 'data: later\n\n']);
    expect(error).toBeUndefined();
    expect(out).toEqual(['data: a\n\n', 'data:[DONE]\n\n']);
  });

  it('errors at a refused event, passing nothing of it', async () => {
    const { out, error } = await through(wholeEvents(1024, rules), ['data: a\n\nevent: bad\ndata: x\n\ndata: b\n\n']);
    expect(out).toEqual(['data: a\n\n']);
    expect(error).toMatchObject({ code: 'provider_bad_response', retryable: false });
  });

  it('tells onEvent of every event, comments and the unterminated tail included; never of blank lines', async () => {
    let events = 0;
    await through(
      wholeEvents(1024, {}, () => events++),
      [': ping\n\n\n\n', 'event: ping\ndata: {}\n\ndata: tail'],
    );
    expect(events).toBe(3);
  });

  it('reads every value of a field as the SDKs do: with or without the space, a bare name, only whole names', () => {
    expect(sseFieldValues('event: x\r\ndata:[DONE]', 'data')).toEqual(['[DONE]']);
    expect(sseFieldValues('data:  two spaces', 'data')).toEqual([' two spaces']);
    expect(sseFieldValues('database: no\ndata: yes', 'data')).toEqual(['yes']);
    expect(sseFieldValues('data\ndata: [DONE]', 'data')).toEqual(['', '[DONE]']);
    expect(sseFieldValues('event: message\revent: thread.run.x\ndata: {', 'event')).toEqual(['message', 'thread.run.x']);
    expect(sseFieldValues(': comment', 'data')).toEqual([]);
  });
});

describe('firstBytes', () => {
  it('passes a body shorter than the bound as it is', async () => {
    expect((await through(firstBytes(10), ['abc', 'def'])).out.join('')).toBe('abcdef');
  });

  it('ends the body at the bound', async () => {
    const { out, error } = await through(firstBytes(10), ['abcdef', 'ghijkl', 'mnop']);
    expect(error).toBeUndefined();
    expect(out.join('')).toBe('abcdefghij');
  });
});
