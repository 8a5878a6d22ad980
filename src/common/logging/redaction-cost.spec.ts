import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { AppLogger } from './app-logger';
import { redactJsonLine } from './redact';
import { SecretRegistry } from './secret-registry';

/** A typical access line, as the access log writes it (before redaction). */
const ACCESS_LINE = `${JSON.stringify({
  level: 'info',
  time: '2026-11-26T10:00:00.000Z',
  context: 'HTTP',
  reqId: '6f1c2b9e-3d4a-4f7b-9c1e-2a8b7d6e5f40',
  method: 'GET',
  url: '/api/runtimes/embedded-worker-runtime/workers/w_01J9Z8/transcript?start=0&limit=50',
  status: 200,
  durationMs: 3.42,
  bytes: 5321,
  headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36', 'content-type': 'application/json' },
  msg: 'request completed',
})}\n`;

/** The same line where the fast path cannot apply (`key` in the URL): every literal is scanned. */
const SLOW_ACCESS_LINE = ACCESS_LINE.replace('/api/runtimes/embedded-worker-runtime/workers/w_01J9Z8/transcript?start=0&limit=50', '/api/keys?limit=50');

function registryWith(n: number): SecretRegistry {
  // API keys as the integrator may create them: ≥ 128 random bits, base64url.
  return new SecretRegistry(Array.from({ length: n }, () => `wbk_${randomBytes(24).toString('base64url')}`));
}

/** Mean µs per call of `fn` over `iterations`, after a warm-up. */
function perCallMicros(fn: () => unknown, iterations: number): number {
  for (let i = 0; i < Math.min(2000, iterations); i++) fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - start) / 1000 / iterations;
}

/** Measures, does not assert on time (shared CI machines): the figures are printed for the record. */
describe('redaction cost per line', () => {
  it('measures redacting a typical access line with 1 and 1,000 registered secrets', () => {
    const iterations = Number(process.env.REDACTION_COST_ITERATIONS ?? 20000);
    const figures: Record<string, string> = {};
    for (const n of [1, 1000]) {
      const registry = registryWith(n);
      expect(redactJsonLine(ACCESS_LINE, registry)).toBe(ACCESS_LINE); // nothing to redact: the line is returned as is
      figures[`redactJsonLine, ${n} secret(s)`] = `${perCallMicros(() => redactJsonLine(ACCESS_LINE, registry), iterations).toFixed(2)} µs`;
      expect(redactJsonLine(SLOW_ACCESS_LINE, registry)).toBe(SLOW_ACCESS_LINE);
      figures[`redactJsonLine, every literal scanned, ${n} secret(s)`] = `${perCallMicros(() => redactJsonLine(SLOW_ACCESS_LINE, registry), iterations).toFixed(2)} µs`;
      const logger = new AppLogger({ registry, destination: { write: () => undefined } });
      const fields = JSON.parse(ACCESS_LINE);
      figures[`whole pino line (serialise + redact), ${n} secret(s)`] = `${perCallMicros(() => logger.pino.info(fields, 'request completed'), iterations).toFixed(2)} µs`;
    }
    const fields = JSON.parse(ACCESS_LINE);
    const plain = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, { write: () => undefined });
    figures['baseline: plain pino line, no redaction at all'] = `${perCallMicros(() => plain.info(fields, 'request completed'), iterations).toFixed(2)} µs`;
    const secrets = Array.from({ length: 1000 }, () => `wbk_${randomBytes(24).toString('base64url')}`);
    figures['rebuilding the expression of 1,000 secrets (after a change)'] = `${perCallMicros(() => new SecretRegistry(secrets).test('compile it'), 20).toFixed(0)} µs`;
    process.stdout.write(`\nredaction cost (${iterations} iterations):\n${Object.entries(figures).map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n`);
  });
});
