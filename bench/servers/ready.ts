/**
 * How a bench server tells the runner it is listening: one `ready` message on
 * the IPC channel when it was spawned with one (the runner does that), else
 * one JSON line on stdout (for running it by hand). stdout stays free for the
 * app's own log lines.
 */
export function reportReady(info: Record<string, unknown>): void {
  if (process.send) process.send({ type: 'ready', ...info });
  else process.stdout.write(`${JSON.stringify(info)}\n`);
}

/** Answers `{ type: 'stats', id }` requests of the runner (IPC) with `stats()`. */
export function serveStats(stats: (request: { reset?: boolean }) => unknown): void {
  process.on('message', (msg: { type?: string; id?: number; reset?: boolean }) => {
    if (msg?.type !== 'stats') return;
    Promise.resolve()
      .then(() => stats(msg))
      .catch((err) => ({ error: err instanceof Error ? err.message : String(err) }))
      .then((reply) => process.send?.({ type: 'stats', id: msg.id, stats: reply }));
  });
}
