import { ProviderError } from '../model-provider';

/** Longest server-sent event a reply stream may carry (a chunk of text is a few hundred bytes). */
export const MAX_PROVIDER_EVENT_BYTES = 4 * 1024 * 1024;

/** How much of an error answer is read: its classification (status, error type, message) is in the first bytes. */
export const MAX_PROVIDER_ERROR_BODY_BYTES = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/**
 * The `fetch` both SDKs are given: Node's own, with what they lack.
 *
 * - Redirects are not followed. A model endpoint that redirects is
 *   misconfigured or hostile: following it would re-post the whole
 *   conversation (system prompt, transcript) to another host. The 3xx
 *   reaches the SDK as an error status: `provider_bad_response`.
 * - A reply stream reaches the SDK one whole server-sent event at a time,
 *   and an event may not pass MAX_PROVIDER_EVENT_BYTES. Both SDKs' decoders
 *   copy and rescan everything pending since the last event boundary on
 *   every network read, with no bound: one endless line dribbled in small
 *   reads blocked the event loop for seconds at a time (an attacker's fake
 *   provider, 200 MiB in 1 MiB reads: health checks took up to 20 s).
 *   Events handed over one by one are scanned once each, and a longer one
 *   ends the reply with `provider_bad_response`.
 * - An error answer is read up to MAX_PROVIDER_ERROR_BODY_BYTES: the SDKs
 *   read it whole to build their error (a 400 MB body held ~1 GB).
 */
export function providerFetch(limits: { maxEventBytes: number; maxErrorBodyBytes: number } = { maxEventBytes: MAX_PROVIDER_EVENT_BYTES, maxErrorBodyBytes: MAX_PROVIDER_ERROR_BODY_BYTES }): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, { ...init, redirect: 'manual' });
    // A status no Response may carry (llhttp reads any three digits): not this protocol's answer.
    if (response.status < 200 || response.status > 599) {
      await response.body?.cancel();
      throw new ProviderError('provider_bad_response', false, undefined, new Error(`status ${response.status}`));
    }
    // 204, 205 and 304 have no body (a Response cannot be built with one).
    if (response.body === null || response.status === 204 || response.status === 205 || response.status === 304) return response;
    const body = response.ok ? response.body.pipeThrough(wholeEvents(limits.maxEventBytes)) : response.body.pipeThrough(firstBytes(limits.maxErrorBodyBytes));
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

/**
 * Passes on a server-sent event stream one event per chunk, cut where the
 * SDKs cut it (`findDoubleNewlineIndex`: `\n\n`, `\r\r` or `\r\n\r\n`),
 * the last (unterminated) one at the end of the stream. One event per chunk,
 * not all of a read's events in one: the SDKs copy what follows each event
 * they take out of a chunk, so a read of 32,768 empty events cost ~200 ms.
 * An event of nothing but line ends is dropped: it dispatches nothing.
 * Errors as soon as more than `maxEventBytes` arrive without a boundary.
 */
export function wholeEvents(maxEventBytes: number): TransformStream<Uint8Array, Uint8Array> {
  // The event being read: its parts from earlier reads, their size, and whether it holds more than line ends.
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let content = false;
  // The last three bytes since the last boundary, newest first (0: none).
  let b1 = 0;
  let b2 = 0;
  let b3 = 0;
  return new TransformStream({
    transform(chunk, controller) {
      let start = 0;
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i];
        if ((b === LF && (b1 === LF || (b1 === CR && b2 === LF && b3 === CR))) || (b === CR && b1 === CR)) {
          if (content) {
            const tail = chunk.subarray(start, i + 1);
            controller.enqueue(pending.length === 0 ? tail : Buffer.concat([...pending, tail]));
          }
          pending = [];
          pendingBytes = 0;
          content = false;
          start = i + 1;
          b1 = b2 = b3 = 0;
          continue;
        }
        if (b !== LF && b !== CR) content = true;
        b3 = b2;
        b2 = b1;
        b1 = b;
        if (pendingBytes + (i + 1 - start) > maxEventBytes) {
          pending = [];
          controller.error(new ProviderError('provider_bad_response', false, undefined, new Error(`a server-sent event passed ${maxEventBytes} bytes`)));
          return;
        }
      }
      if (start < chunk.length) {
        pending.push(chunk.subarray(start));
        pendingBytes += chunk.length - start;
      }
    },
    flush(controller) {
      if (content) controller.enqueue(Buffer.concat(pending));
    },
  });
}

/** Passes on the first `maxBytes` bytes, then ends the stream (and cancels the rest of the source). */
export function firstBytes(maxBytes: number): TransformStream<Uint8Array, Uint8Array> {
  let left = maxBytes;
  return new TransformStream({
    transform(chunk, controller) {
      if (chunk.length >= left) {
        controller.enqueue(chunk.subarray(0, left));
        left = 0;
        controller.terminate();
        return;
      }
      left -= chunk.length;
      controller.enqueue(chunk);
    },
  });
}
