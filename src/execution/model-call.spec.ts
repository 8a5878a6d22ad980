import { getEventListeners } from 'node:events';
import { callModel } from './model-call';
import { ProviderError } from './model-provider';
import { createModelProvider } from './providers/create-model-provider';

/**
 * The checks callModel makes before any request. The provider points at a
 * port nothing is asked on: none of these cases may reach the network (the
 * e2e spec covers everything that does, against real fake servers).
 */
const provider = createModelProvider({
  kind: 'openai-compatible',
  baseUrl: 'http://127.0.0.1:9/v1',
  model: 'm',
  apiKey: null,
  streamUsage: true,
  maxTokens: null,
});
const messages = [{ role: 'user' as const, content: 'q' }];

describe('callModel before any request', () => {
  it('rejects an already aborted signal with its reason', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled');
    controller.abort(reason);
    await expect(
      callModel(provider, messages, () => undefined, { signal: controller.signal, timeoutMs: 1000, deadlineAt: Date.now() + 1000 }),
    ).rejects.toBe(reason);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('fails provider_timeout, not retryable, when the deadline has passed', async () => {
    const error = await callModel(provider, messages, () => undefined, {
      signal: new AbortController().signal,
      timeoutMs: 1000,
      deadlineAt: Date.now() - 1,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'provider_timeout', retryable: false });
  });

  it.each([0, -1, Number.NaN, 2 ** 31])('refuses timeoutMs %p (a timer cannot hold it)', async (timeoutMs) => {
    await expect(
      callModel(provider, messages, () => undefined, { signal: new AbortController().signal, timeoutMs, deadlineAt: Date.now() + 1000 }),
    ).rejects.toBeInstanceOf(RangeError);
  });

  it('refuses a deadline that is not a finite time', async () => {
    await expect(
      callModel(provider, messages, () => undefined, {
        signal: new AbortController().signal,
        timeoutMs: 1000,
        deadlineAt: Number.POSITIVE_INFINITY,
      }),
    ).rejects.toBeInstanceOf(RangeError);
  });
});
