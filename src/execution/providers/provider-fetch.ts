import { ProviderError } from '../model-provider';

/** Longest server-sent event a reply stream may carry (a chunk of text is a few hundred bytes). */
export const MAX_PROVIDER_EVENT_BYTES = 4 * 1024 * 1024;

/** How much of an error answer is read: its classification (status, error type, message) is in the first bytes. */
export const MAX_PROVIDER_ERROR_BODY_BYTES = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/**
 * What one wire protocol's stream says in its events, for the fetch under its
 * SDK (each adapter gives its own).
 */
export interface StreamEventRules {
  /**
   * Its end marker: the body ends after it. The OpenAI SDK reads on after
   * `data: [DONE]` until the server closes the connection, so a server that
   * said it was done and kept the connection open failed a complete reply
   * with `provider_timeout` (an attack round).
   */
  isLast?(event: string): boolean;
  /**
   * An event its SDK must not see: the reply fails `provider_bad_response`.
   * The OpenAI SDK prints an unparseable `event: thread.*` event to the
   * console itself, past its `logLevel` and our redacting logger: provider
   * text in the operator log, one log line per `data:` line (an attack
   * round forged a line that way).
   */
  isRefused?(event: string): boolean;
}

/**
 * Given per request in an SDK's `fetchOptions` (both spread them into the
 * init their fetch gets): called for every event that arrives, comments and
 * events the SDK drops included. A provider's keep-alive (Anthropic's `ping`,
 * `: processing` comments) is activity the SDKs never report.
 */
export const ON_PROVIDER_EVENT = Symbol('wb.onProviderEvent');

/** What an adapter passes as `fetchOptions`: typed as no field of RequestInit, which each SDK types its own way. */
export function watchedRequest(onEvent: () => void): Record<never, never> {
  return { [ON_PROVIDER_EVENT]: onEvent };
}

/**
 * The values of an event's `name` fields, in order, read as the SDKs' decoders
 * read them: `name: value`, `name:value`, or a line of just `name` (an empty
 * value).
 */
export function sseFieldValues(event: string, name: string): string[] {
  const values: string[] = [];
  for (const line of event.split(/\r\n|\r|\n/)) {
    if (line === name) values.push('');
    else if (line.startsWith(name) && line.charCodeAt(name.length) === 0x3a) {
      values.push(line.charCodeAt(name.length + 1) === 0x20 ? line.slice(name.length + 2) : line.slice(name.length + 1));
    }
  }
  return values;
}

export interface ProviderFetchOptions {
  rules?: StreamEventRules;
  maxEventBytes?: number;
  maxErrorBodyBytes?: number;
}

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
export function providerFetch({ rules = {}, maxEventBytes = MAX_PROVIDER_EVENT_BYTES, maxErrorBodyBytes = MAX_PROVIDER_ERROR_BODY_BYTES }: ProviderFetchOptions = {}): typeof fetch {
  return async (input, init) => {
    const { [ON_PROVIDER_EVENT]: onEvent, ...fetchInit } = (init ?? {}) as RequestInit & { [ON_PROVIDER_EVENT]?: () => void };
    const response = await fetch(input, { ...fetchInit, redirect: 'manual' });
    // A status no Response may carry (llhttp reads any three digits): not this protocol's answer.
    if (response.status < 200 || response.status > 599) {
      await response.body?.cancel();
      throw new ProviderError('provider_bad_response', false, undefined, new Error(`status ${response.status}`));
    }
    // 204, 205 and 304 have no body (a Response cannot be built with one).
    if (response.body === null || response.status === 204 || response.status === 205 || response.status === 304) return response;
    const body = response.ok ? response.body.pipeThrough(wholeEvents(maxEventBytes, rules, onEvent)) : response.body.pipeThrough(firstBytes(maxErrorBodyBytes));
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
 * Each event is shown to `rules` (ends the stream after the last, errors on
 * a refused one) and told to `onEvent`.
 */
export function wholeEvents(maxEventBytes: number, rules: StreamEventRules = {}, onEvent?: () => void): TransformStream<Uint8Array, Uint8Array> {
  // The event being read: its parts from earlier reads, their size, and whether it holds more than line ends.
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let content = false;
  // The last three bytes since the last boundary, newest first (0: none).
  let b1 = 0;
  let b2 = 0;
  let b3 = 0;
  const { isLast, isRefused } = rules;
  const judged = isLast !== undefined || isRefused !== undefined;
  /** Passes one whole event on; false once the stream has ended (after the last, or a refused one). */
  const pass = (event: Uint8Array, controller: TransformStreamDefaultController<Uint8Array>): boolean => {
    onEvent?.();
    // latin1: the fields the rules read (names, `[DONE]`) are ASCII, and it never fails on a split character.
    const text = judged ? Buffer.from(event.buffer, event.byteOffset, event.byteLength).toString('latin1') : '';
    if (isRefused?.(text)) {
      controller.error(new ProviderError('provider_bad_response', false, undefined, new Error('an event this protocol does not carry')));
      return false;
    }
    controller.enqueue(event);
    if (!isLast?.(text)) return true;
    controller.terminate(); // cancels the rest of the body: the connection is let go
    return false;
  };
  return new TransformStream({
    transform(chunk, controller) {
      let start = 0;
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i];
        if ((b === LF && (b1 === LF || (b1 === CR && b2 === LF && b3 === CR))) || (b === CR && b1 === CR)) {
          if (content) {
            const tail = chunk.subarray(start, i + 1);
            if (!pass(pending.length === 0 ? tail : Buffer.concat([...pending, tail]), controller)) {
              pending = [];
              return;
            }
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
      if (content) pass(Buffer.concat(pending), controller);
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
