/**
 * `compute` run at the first call, its value (or its error) remembered for
 * every call after: for what is costly to build, needed by few requests and
 * the same for all (the OpenAPI document). A failure is thrown again rather
 * than computed again, so a broken build costs one attempt, not one per
 * request.
 */
export function once<T>(compute: () => T): () => T {
  let outcome: { value: T } | { error: unknown } | undefined;
  return () => {
    if (outcome === undefined) {
      try {
        outcome = { value: compute() };
      } catch (error) {
        outcome = { error };
      }
    }
    if ('error' in outcome) throw outcome.error;
    return outcome.value;
  };
}
