/**
 * A small API client, written the way a new user would: types generated from
 * openapi.json by openapi-typescript (`./schema`, written by
 * test/openapi-clients.e2e-spec.ts into a temp dir and mapped here with
 * `rootDirs`), requests made with openapi-fetch. The test typechecks this
 * file against those types (so a field the document makes optional, renames
 * or drops breaks the build) and then runs it against a real server.
 */
import createClient from 'openapi-fetch';
import type { ClientRun } from './result';
import type { components, paths } from './schema';

type ErrorBody = components['schemas']['ErrorResponseDto'];
type WorkerSummary = components['schemas']['WorkerSummaryDto'];
type WorkerEvent = components['schemas']['WorkerInputAcceptedEventDto'];

const RUNTIME = 'embedded-worker-runtime';

/** What a person would show for an error, decided by its stable code (the switch only compiles for documented codes). */
function explain(error: ErrorBody): string {
  switch (error.error) {
    case 'unknown_worker':
      return `no such worker (${error.statusCode})`;
    case 'validation_failed':
      return `invalid request: ${(error.details ?? []).map((d) => `${d.path}: ${d.message}`).join('; ')}`;
    case 'idempotency_key_reused':
      return 'that Idempotency-Key was used for another request';
    case 'unauthorized':
      return 'log in first';
    default:
      return `${error.error}: ${error.message}`;
  }
}

export async function runClient(baseUrl: string, apiKey: string): Promise<ClientRun> {
  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });
  const errors: string[] = [];

  // Create a worker: `worker` is always there on a 201, so no `?.` is needed.
  const created = await api.POST('/api/runtimes/{runtime_id}/workers', {
    params: { path: { runtime_id: RUNTIME } },
    body: { intent: { kind: 'ticket_role', ticket_id: '00001KVZSGT0Q', role: 'reviewer' }, acceptance: { kind: 'run_accepted', expected_segments: 0 } },
  });
  if (created.error) throw new Error(`create: ${explain(created.error)}`);
  const worker: WorkerSummary = created.data.worker;
  const workerId: string = worker.worker_id;
  const worker_path = { runtime_id: RUNTIME, worker_id: workerId };

  // Send input, safely retryable with an Idempotency-Key; then retry it.
  const input = { params: { path: worker_path, header: { 'Idempotency-Key': `review-${workerId.slice(-8)}` } }, body: { content: 'Review the diff please' } };
  const sent = await api.POST('/api/runtimes/{runtime_id}/workers/{worker_id}/input', input);
  if (sent.error) throw new Error(`input: ${explain(sent.error)}`);
  const transcriptSequence: number = sent.data.transcript_sequence;
  const eventId: string = sent.data.event_id;
  const retried = await api.POST('/api/runtimes/{runtime_id}/workers/{worker_id}/input', input);
  if (retried.error) throw new Error(`retry: ${explain(retried.error)}`);

  // The same key with another body is a typed 422.
  const reused = await api.POST('/api/runtimes/{runtime_id}/workers/{worker_id}/input', { ...input, body: { content: 'Something else' } });
  if (reused.error) errors.push(explain(reused.error));

  // Page through the runtime's workers two at a time with next_cursor (string | null).
  for (let i = 0; i < 3; i++) {
    const more = await api.POST('/api/runtimes/{runtime_id}/workers', {
      params: { path: { runtime_id: RUNTIME } },
      body: { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted' } },
    });
    if (more.error) throw new Error(`create: ${explain(more.error)}`);
  }
  const listPage = async (cursor: string | null): Promise<{ ids: string[]; next: string | null }> => {
    const page = await api.GET('/api/runtimes/{runtime_id}/workers', {
      params: { path: { runtime_id: RUNTIME }, query: { limit: 2, ...(cursor === null ? {} : { cursor }) } },
    });
    if (page.error) throw new Error(`list: ${explain(page.error)}`);
    return { ids: page.data.items.map((w) => w.worker_id), next: page.data.next_cursor };
  };
  const pagedWorkerIds: string[] = [];
  let pages = 0;
  let cursor: string | null = null;
  do {
    const page = await listPage(cursor);
    pages++;
    pagedWorkerIds.push(...page.ids);
    cursor = page.next;
  } while (cursor !== null);

  // Conditional GET: the ETag of a detail, sent back, is a 304. (`cache: 'no-cache'`: else fetch() adds
  // `Cache-Control: no-cache` to a request that sets If-None-Match itself, and the server answers in full.)
  const detail = await api.GET('/api/runtimes/{runtime_id}/workers/{worker_id}', { params: { path: worker_path } });
  if (detail.error) throw new Error(`detail: ${explain(detail.error)}`);
  const etag = detail.response.headers.get('ETag') ?? '';
  const again = await api.GET('/api/runtimes/{runtime_id}/workers/{worker_id}', { params: { path: worker_path, header: { 'If-None-Match': etag } }, cache: 'no-cache' });

  // The event stream is text/event-stream: read it as a stream, resumed after the creation event.
  const controller = new AbortController();
  const stream = await api.GET('/api/runtimes/{runtime_id}/workers/{worker_id}/events', {
    params: { path: worker_path, header: { 'Last-Event-ID': 'evt-0' } },
    parseAs: 'stream',
    signal: controller.signal,
  });
  if (stream.error || !stream.data) throw new Error('stream did not open');
  const firstEvent = await readFirstWorkerEvent(stream.data);
  controller.abort();

  // Typed errors: narrow on the stable code.
  const missing = await api.GET('/api/runtimes/{runtime_id}/workers/{worker_id}', { params: { path: { runtime_id: RUNTIME, worker_id: 'embedded-worker-0000' } } });
  if (missing.error) errors.push(explain(missing.error));
  const invalid = await api.POST('/api/runtimes/{runtime_id}/workers/{worker_id}/input', { params: { path: worker_path }, body: { content: '   ' } });
  if (invalid.error) errors.push(explain(invalid.error));
  const anonymous = await createClient<paths>({ baseUrl }).GET('/api/workers');
  if (anonymous.error) errors.push(explain(anonymous.error));

  return {
    workerId,
    location: created.response.headers.get('Location'),
    role: worker.role,
    profile: worker.profile,
    transcriptSequence,
    eventId,
    replayedHeader: retried.response.headers.get('Idempotency-Replayed'),
    replayedSameAnswer: retried.data.event_id === eventId && retried.data.transcript_sequence === transcriptSequence,
    pagedWorkerIds,
    pages,
    notModifiedStatus: again.response.status,
    firstEvent,
    errors,
  };
}

/** Reads SSE blocks until the first `worker.input_accepted` event and returns what it says. */
async function readFirstWorkerEvent(body: ReadableStream<Uint8Array>): Promise<ClientRun['firstEvent']> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the stream ended first');
      buffered += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (!block.includes('event: worker.input_accepted') || !data) continue;
        const event = JSON.parse(data) as WorkerEvent;
        return { kind: event.kind, eventId: event.event_id, content: event.item.content };
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
