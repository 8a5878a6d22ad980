/**
 * Runs `work` with a fresh AbortSignal that follows `parent`, and unlinks it
 * when `work` settles.
 *
 * Why a fresh child per request: both SDKs add an `abort` listener to the
 * signal they are given, and the openai SDK never removes it (one leaked
 * listener per request on a reused signal, with Node's MaxListeners warning
 * after ten). Giving each request a throwaway signal confines that leak to an
 * object that is collected with the request; the only listener on `parent` is
 * ours, and it is removed here whatever the outcome.
 *
 * The child is aborted when `work` settles too, so whatever the SDK still
 * holds open for the request (a body read, a socket) is torn down.
 */
export async function withLinkedAbortSignal<T>(
  parent: AbortSignal,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const child = new AbortController();
  const follow = (): void => child.abort(parent.reason);
  if (parent.aborted) follow();
  else parent.addEventListener('abort', follow, { once: true });
  try {
    return await work(child.signal);
  } finally {
    parent.removeEventListener('abort', follow);
    if (!child.signal.aborted) child.abort(new Error('model request finished'));
  }
}
