import { ProviderError, type ChatMessage, type ModelProvider, type ModelUsage, type StreamSink } from './model-provider';
import { StorableTextStream } from '../common/validation/storable-text';

/**
 * SPEC §9's policy for one model call, once for every adapter:
 * - connection errors, timeouts, 429 and 5xx before the first reply text are
 *   retried (at most `maxRetries`), after a backoff that honours Retry-After;
 * - nothing is retried once text has reached `onText`;
 * - MODEL_TIMEOUT_MS (`timeoutMs`) bounds the wait for the first chunk and
 *   every gap between chunks; RUN_MAX_MS (`deadlineAt`) bounds everything,
 *   backoff included; either ends the call `provider_timeout`;
 * - the caller's `signal` ends it at once with the signal's reason (not a
 *   ProviderError) and aborts the HTTP request;
 * - `onText` gets text a store can keep as it is (common/validation/storable-text.ts), so what
 *   a delta event carries is what the stored reply holds.
 */

export interface CallModelOptions {
  /** The run's cancel signal. */
  signal: AbortSignal;
  /** MODEL_TIMEOUT_MS: the longest wait for the first chunk, and between two chunks (text or not). */
  timeoutMs: number;
  /** Epoch ms (from RUN_MAX_MS): nothing of this call, retries and backoff included, runs past it. */
  deadlineAt: number;
  /** Attempts after the first one. */
  maxRetries?: number;
  /** A Retry-After longer than this is not waited for: the call fails with that error. */
  maxRetryAfterMs?: number;
  /** Backoff before the first retry when the provider gave no Retry-After; doubles per retry. */
  initialBackoffMs?: number;
  /** For the operator log: attempt `attempt` failed with `error` and is retried after `delayMs`. */
  onRetry?: (attempt: number, error: ProviderError, delayMs: number) => void;
}

export interface ModelCallResult {
  usage: ModelUsage | null;
  /** How many HTTP requests the call made (1 + retries). */
  attempts: number;
}

export const DEFAULT_MAX_RETRIES = 2;
export const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;
export const DEFAULT_INITIAL_BACKOFF_MS = 1_000;

/** setTimeout fires at once for anything longer than this (2^31 - 1 ms, about 24.8 days). */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

export async function callModel(
  provider: ModelProvider,
  messages: ChatMessage[],
  onText: (text: string) => void,
  options: CallModelOptions,
): Promise<ModelCallResult> {
  const {
    signal,
    timeoutMs,
    deadlineAt,
    maxRetries = DEFAULT_MAX_RETRIES,
    maxRetryAfterMs = DEFAULT_MAX_RETRY_AFTER_MS,
    initialBackoffMs = DEFAULT_INITIAL_BACKOFF_MS,
    onRetry,
  } = options;
  if (!(timeoutMs > 0 && timeoutMs <= LONGEST_TIMER_MS)) throw new RangeError('timeoutMs must be between 1 and 2^31-1');
  if (!Number.isFinite(deadlineAt)) throw new RangeError('deadlineAt must be a finite epoch time in ms');

  const progress = { textDelivered: false };
  for (let attempt = 1; ; attempt++) {
    // An abort listener added to an already aborted signal never fires: look first.
    signal.throwIfAborted();
    if (Date.now() >= deadlineAt) throw deadlinePassed();
    try {
      const { usage } = await runAttempt(provider, messages, onText, { signal, timeoutMs, deadlineAt, progress });
      return { usage, attempts: attempt };
    } catch (error) {
      // A cancel wins over whatever the attempt ended with.
      if (signal.aborted) throw signal.reason;
      // Errors thrown by onText are the caller's own: never retried or reclassified.
      if (!(error instanceof ProviderError)) throw error;
      if (progress.textDelivered || !error.retryable || attempt > maxRetries) throw error;
      const delayMs = backoffMs(error, attempt, initialBackoffMs, maxRetryAfterMs);
      // Asked to wait longer than we may (Retry-After over the cap, or past the deadline): fail now with what we know.
      if (delayMs === null || Date.now() + delayMs >= deadlineAt) throw error;
      onRetry?.(attempt, error, delayMs);
      await sleep(delayMs, signal);
    }
  }
}

interface AttemptContext {
  signal: AbortSignal;
  timeoutMs: number;
  deadlineAt: number;
  /** Shared across attempts: once true, nothing is retried. */
  progress: { textDelivered: boolean };
}

/**
 * One request through the adapter, raced against the watchdog, the deadline
 * and the caller's signal: whichever ends first settles the attempt and
 * aborts the request, so a slow or stuck adapter cannot delay the caller.
 */
function runAttempt(
  provider: ModelProvider,
  messages: ChatMessage[],
  onText: (text: string) => void,
  { signal, timeoutMs, deadlineAt, progress }: AttemptContext,
): Promise<{ usage: ModelUsage | null }> {
  return new Promise((resolve, reject) => {
    const request = new AbortController();
    let settled = false;
    let watchdog: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;

    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(watchdog);
      clearTimeout(deadline);
      signal.removeEventListener('abort', onCallerAbort);
      return true;
    };
    const fail = (error: unknown): void => {
      if (!settle()) return;
      request.abort(error);
      reject(error);
    };
    const onCallerAbort = (): void => fail(signal.reason);
    const armWatchdog = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => fail(timedOut('no chunk within MODEL_TIMEOUT_MS')), timeoutMs);
    };

    signal.addEventListener('abort', onCallerAbort, { once: true });
    armWatchdog();
    const untilDeadline = deadlineAt - Date.now();
    // A deadline beyond what one timer can hold is weeks away: the watchdog ends any stall long before.
    if (untilDeadline <= LONGEST_TIMER_MS) deadline = setTimeout(() => fail(deadlinePassed()), Math.max(0, untilDeadline));

    const storable = new StorableTextStream();
    const deliver = (text: string): void => {
      progress.textDelivered = true;
      try {
        onText(text);
      } catch (error) {
        fail(error);
        throw error;
      }
    };
    const sink: StreamSink = {
      text(text) {
        // An adapter still unwinding after the attempt settled must not deliver anything more.
        if (settled) return;
        armWatchdog();
        const clean = storable.push(text);
        if (clean !== '') deliver(clean);
      },
      activity() {
        if (!settled) armWatchdog();
      },
    };

    let streaming: Promise<{ usage: ModelUsage | null }>;
    try {
      streaming = provider.stream({ messages, signal: request.signal }, sink);
    } catch (error) {
      streaming = Promise.reject(error);
    }
    streaming.then(
      (result) => {
        if (settled) return;
        const rest = storable.end();
        if (rest !== '') {
          try {
            deliver(rest);
          } catch {
            return; // deliver failed the attempt
          }
        }
        if (settle()) resolve(result);
      },
      (error: unknown) =>
        fail(
          error instanceof ProviderError
            ? error
            : // An adapter broke its contract (the port promises ProviderErrors only): do not retry it.
              new ProviderError('provider_error', false, undefined, error),
        ),
    );
  });
}

/** The backoff before retry number `attempt`, or null when the provider asks for more than `maxRetryAfterMs`. */
function backoffMs(error: ProviderError, attempt: number, initialBackoffMs: number, maxRetryAfterMs: number): number | null {
  if (error.retryAfterMs !== undefined) return error.retryAfterMs <= maxRetryAfterMs ? error.retryAfterMs : null;
  // Exponential, with up to 25 % jitter so workers that failed together do not retry together.
  const base = initialBackoffMs * 2 ** (attempt - 1);
  return Math.min(maxRetryAfterMs, Math.round(base * (1 + Math.random() * 0.25)));
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts; leaves no timer or listener behind. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function timedOut(why: string): ProviderError {
  return new ProviderError('provider_timeout', true, undefined, new Error(why));
}

function deadlinePassed(): ProviderError {
  return new ProviderError('provider_timeout', false, undefined, new Error('RUN_MAX_MS deadline reached'));
}
