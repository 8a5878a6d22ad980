/**
 * In-process fan-out of runtime events to subscribers: per worker, and for
 * everything. Publishing is synchronous and a throwing listener cannot stop
 * the others. Subscriptions are removed by the function `subscribe` returns;
 * empty per-worker sets are deleted, so nothing grows with disconnected
 * clients (checked by the SSE tests through `listenerCount`).
 */
export class EventHub<E extends { workerId: string }> {
  private readonly byWorker = new Map<string, Set<(event: E) => void>>();
  private readonly all = new Set<(event: E) => void>();

  subscribe(workerId: string | null, listener: (event: E) => void): () => void {
    // Wrap so the same function can subscribe twice and unsubscribe once each.
    const entry = (event: E) => listener(event);
    if (workerId === null) {
      this.all.add(entry);
      return () => void this.all.delete(entry);
    }
    let set = this.byWorker.get(workerId);
    if (!set) {
      set = new Set();
      this.byWorker.set(workerId, set);
    }
    set.add(entry);
    return () => {
      const current = this.byWorker.get(workerId);
      if (!current) return;
      current.delete(entry);
      if (current.size === 0) this.byWorker.delete(workerId);
    };
  }

  publish(event: E): void {
    const targets = [...(this.byWorker.get(event.workerId) ?? []), ...this.all];
    for (const listener of targets) {
      try {
        listener(event);
      } catch {
        // A subscriber's failure is its own; the event still reaches the rest.
      }
    }
  }

  listenerCount(): number {
    let n = this.all.size;
    for (const set of this.byWorker.values()) n += set.size;
    return n;
  }
}
