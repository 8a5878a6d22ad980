import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import request from 'supertest';
import { ApiError } from '../errors/api-error';
import { INPUT_BOUNDS } from '../validation/input-bounds';
import type { PipelineRequest } from './middleware-chain';
import { routedPathOf } from './request-target.middleware';
import { checkBodyShape, jsonBodyMiddleware, MAX_BODY_BYTES, MAX_BODY_DEPTH, verifyBodyBytes } from './json-body.middleware';

describe('checkBodyShape', () => {
  it('accepts ordinary bodies', () => {
    expect(checkBodyShape({ intent: { kind: 'ticket_role' }, list: [1, { a: 2 }] })).toBeNull();
  });

  it('refuses nesting deeper than the limit without recursion', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(checkBodyShape(deep)).toMatch(/deeper/);
    let ok: unknown = 1;
    for (let i = 0; i < MAX_BODY_DEPTH - 1; i++) ok = { a: ok };
    expect(checkBodyShape(ok)).toBeNull();
  });

  it('refuses prototype-polluting keys at any depth', () => {
    expect(checkBodyShape(JSON.parse('{"a":{"__proto__":{"x":1}}}'))).toMatch(/forbidden/);
    expect(checkBodyShape({ a: [{ constructor: 1 }] })).toMatch(/forbidden/);
  });

  it('applies every input bound with a fixed message', () => {
    expect(checkBodyShape({ a: Array(INPUT_BOUNDS.maxArrayLength + 1).fill(0) })).toBe(`an array in the body has more than ${INPUT_BOUNDS.maxArrayLength} items`);
    expect(checkBodyShape(Object.fromEntries(Array.from({ length: INPUT_BOUNDS.maxKeysPerObject + 1 }, (_, i) => [`k${i}`, 0])))).toMatch(/more than 64 fields/);
  });
});

describe('verifyBodyBytes', () => {
  const verify = (text: string, encoding: string | null = 'utf-8') => verifyBodyBytes(undefined, undefined, Buffer.from(text), encoding);

  it('lets UTF-8 bodies within the bounds through', () => {
    expect(() => verify('{"content":"x"}')).not.toThrow();
    expect(() => verify('{"content":"x"}', 'utf8')).not.toThrow();
  });

  it('refuses other charsets (the bounds scan reads UTF-8)', () => {
    for (const charset of ['utf-16le', 'utf-16', 'utf-32', 'latin1']) {
      expect(() => verify('{}', charset)).toThrow(expect.objectContaining({ type: 'charset.unsupported' }));
    }
  });

  it('refuses a body past the bounds before it is parsed', () => {
    expect(() => verify(`{"a":[${'0,'.repeat(500_000)}0]}`)).toThrow(expect.objectContaining({ type: 'entity.bounds.exceeded', violation: 'array' }));
  });
});

describe('jsonBodyMiddleware over HTTP', () => {
  const middleware = jsonBodyMiddleware();
  const send = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const r = req as PipelineRequest;
    r.path = routedPathOf(req.url ?? '/');
    middleware(r, res, (err) => {
      if (err instanceof ApiError) send(res, err.body.statusCode, err.body);
      else if (err) send(res, 500, { unexpected: String(err) });
      else send(res, 200, { ok: true, keys: Object.keys(r.body as object) });
    });
  };
  const app = createServer(handle);
  const post = (body: string | Buffer, type = 'application/json') => request(app).post('/').set('content-type', type).send(body);

  it('parses an ordinary body', async () => {
    const res = await post('{"content":"x"}');
    expect(res.body).toEqual({ ok: true, keys: ['content'] });
  });

  it('inflates gzip, deflate and br bodies, counting the 1 MiB after inflating; another encoding is 415 saying so', async () => {
    // fetch, not supertest: superagent would serialise a Buffer under a JSON content type as JSON.
    const server = createServer(handle).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const postEncoded = async (encoding: string, body: Buffer) => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': encoding }, body });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    try {
      const body = Buffer.from('{"content":"x"}');
      for (const [encoding, packed] of [['gzip', gzipSync(body)], ['deflate', deflateSync(body)], ['br', brotliCompressSync(body)]] as const) {
        expect({ encoding, ...(await postEncoded(encoding, packed)) }).toEqual({ encoding, status: 200, body: { ok: true, keys: ['content'] } });
      }
      // 50 MB of JSON that gzips to ~50 KB.
      const big = await postEncoded('gzip', gzipSync(Buffer.from(`{"content":"${' '.repeat(50_000_000)}"}`)));
      expect({ status: big.status, error: big.body.error }).toEqual({ status: 413, error: 'payload_too_large' });
      const other = await postEncoded('compress', body);
      expect({ status: other.status, error: other.body.error, message: other.body.message }).toEqual({
        status: 415,
        error: 'unsupported_media_type',
        message: 'Content-Encoding must be identity, gzip, deflate or br',
      });
    } finally {
      server.close();
    }
  });

  it.each([
    ['half a million nested arrays', `{"a":${'['.repeat(500_000)}${']'.repeat(500_000)}}`, 'body nests deeper than 16 levels'],
    ['half a million array items', `{"a":[${'0,'.repeat(500_000)}0]}`, `an array in the body has more than ${INPUT_BOUNDS.maxArrayLength} items`],
    ['90,000 keys', `{${Array.from({ length: 90_000 }, (_, i) => `"k${i}":0`).join(',')}}`, `an object in the body has more than ${INPUT_BOUNDS.maxKeysPerObject} fields`],
    ['a BOM before 90,000 keys', `\ufeff{${Array.from({ length: 90_000 }, (_, i) => `"k${i}":0`).join(',')}}`, `an object in the body has more than ${INPUT_BOUNDS.maxKeysPerObject} fields`],
    ['a top-level array', `[${'0,'.repeat(1000)}0]`, 'body must be a JSON object'],
    ['a top-level null', 'null', 'body must be a JSON object'],
    ['a top-level number', '1', 'body must be a JSON object'],
    ['a top-level string', '"x"', 'body must be a JSON object'],
    ['an escaped __proto__', '{"\\u005f_proto__":{"polluted":1}}', 'body contains a forbidden property name'],
  ])('refuses %s with 400 validation_failed and a fixed detail', async (_name, body, message) => {
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_BODY_BYTES);
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('validation_failed');
    expect(res.body.details).toEqual([{ path: 'body', message }]);
  });

  it('never hands a body past the bounds to JSON.parse (parsing alone can take 100 ms)', async () => {
    const parse = jest.spyOn(JSON, 'parse');
    try {
      for (const body of [`{"a":${'['.repeat(500_000)}}`, `{"a":[${Array.from({ length: 75_000 }, (_, i) => `{"m${i}":0}`).join(',')}]}`]) {
        const res = await post(body);
        expect(res.status).toBe(400);
      }
      const parsedBodies = parse.mock.calls.filter(([text]) => typeof text === 'string' && text.length > 100_000);
      expect(parsedBodies).toHaveLength(0);
      // …whereas a body within the bounds is parsed as usual.
      expect((await post(`{"content":"${'x'.repeat(200_000)}"}`)).status).toBe(200);
      expect(parse.mock.calls.filter(([text]) => typeof text === 'string' && text.length > 100_000)).toHaveLength(1);
    } finally {
      parse.mockRestore();
    }
  });

  it('refuses a UTF-16 body with 415 (not read past the charset)', async () => {
    const res = await post(Buffer.from('{"content":"x"}', 'utf16le'), 'application/json; charset=utf-16le');
    expect(res.status).toBe(415);
    expect(res.body.error).toBe('unsupported_media_type');
  });

  it.each([
    ['an encoded lone surrogate', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d])],
    ['bytes that are no UTF-8 at all', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
    ['an overlong encoding', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d])],
  ])('refuses %s with 400 instead of reading it as U+FFFD', async (_name, body) => {
    // serialize: as it is (superagent would send a Buffer under a JSON type as JSON of its bytes).
    const res = await request(app).post('/').set('content-type', 'application/json').serialize((b: Buffer) => b as unknown as string).send(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('validation_failed');
    expect(res.body.details).toEqual([{ path: 'body', message: 'body is not valid UTF-8' }]);
  });

  it('reads a POST with a JSON Content-Type and no body at all (no Content-Length) as an empty object, as without the header', async () => {
    const server = createServer(handle).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      for (const header of ['Content-Type: application/json\r\n', '']) {
        // Raw: every client library adds a Content-Length: 0, which is not the case at issue.
        const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
        socket.end(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n${header}Connection: close\r\n\r\n`);
        let text = '';
        for await (const chunk of socket) text += String(chunk);
        expect(text).toMatch(/^HTTP\/1\.1 200 /);
        expect(text.endsWith('{"ok":true,"keys":[]}')).toBe(true);
      }
    } finally {
      server.close();
    }
  });

  it('still says invalid JSON without quoting the parser', async () => {
    const res = await post('{"a":1,,}');
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([{ path: 'body', message: 'body is not valid JSON' }]);
  });
});
