import { type FakeBehaviour, startFakeOpenAiServer } from '../../test/support/fake-openai-server';
import { reportReady, serveStats } from './ready';

/**
 * The test suite's fake OpenAI-compatible server (real HTTP, streaming chat
 * completions) in its own process, so that its work does not share an event
 * loop with the app or the load. BENCH_FAKE_BEHAVIOUR (JSON) is the reply
 * every request gets (default: the fake's echo reply). `stats` requests on the
 * IPC channel answer how many requests arrived under each path prefix (each
 * instance can be given its own prefix: `<origin>/<prefix>/v1`) and how many
 * the client abandoned.
 */
async function main(): Promise<void> {
  const fake = await startFakeOpenAiServer();
  if (process.env.BENCH_FAKE_BEHAVIOUR) fake.setDefault(JSON.parse(process.env.BENCH_FAKE_BEHAVIOUR) as FakeBehaviour);
  serveStats(({ reset }) => {
    const byPrefix: Record<string, number> = {};
    let abandoned = 0;
    for (const r of fake.requests) {
      const prefix = r.path.split('/')[1] === 'v1' ? '' : r.path.split('/')[1];
      byPrefix[prefix] = (byPrefix[prefix] ?? 0) + 1;
      if (r.clientClosedAt !== null) abandoned++;
    }
    const out = { requests: fake.requests.length, byPrefix, abandoned, inFlight: fake.inFlight() };
    if (reset) fake.requests.length = 0;
    return out;
  });
  reportReady({ port: Number(new URL(fake.origin).port), origin: fake.origin });
  process.on('SIGTERM', () => void fake.close().then(() => process.exit(0)));
}

void main();
