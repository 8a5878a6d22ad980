import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectEnvelope, expectErrorShape, expectHostShape, expectRuntimeShape, expectWorkerShape } from './support/shapes';
import { fullRecord, linkEntry, podsDir, writeRecord } from './support/local-fixtures';
import { COMPANION, EMBEDDED, LOCAL, makeTempDir, startTestApp, type TestApp } from './support/test-app';

const hex16 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);
const plain = (field: string) => `value-of-${field}`;

interface Fixture {
  t: TestApp;
  dataDir: string;
  root: string;
}

async function withFixture(build: (f: { dataDir: string; root: string }) => void): Promise<Fixture> {
  const base = makeTempDir('wb-local-');
  const dataDir = join(base, 'data');
  const root = join(base, 'workspace');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(root, { recursive: true });
  build({ dataDir, root });
  const t = await startTestApp({ WORKSPACE_DATA_DIR: dataDir, WORKSPACE_ROOT: root });
  const close = t.close.bind(t);
  t.close = async () => {
    await close();
    rmSync(base, { recursive: true, force: true });
  };
  return { t, dataDir, root };
}

async function listLocal(t: TestApp) {
  const res = await t.get(`${LOCAL}/workers`);
  expect(res.status).toBe(200);
  expectEnvelope(res.body, expectWorkerShape);
  return res.body as { items: any[]; diagnostics: any[] };
}

const codes = (list: any[]) => list.map((d) => d.code);

describe('local compatibility runtime source', () => {
  let f: Fixture | undefined;
  afterEach(async () => {
    await f?.t.close();
    f = undefined;
  });

  it('is registered beside the embedded runtime and told apart by every kind', async () => {
    f = await withFixture(({ dataDir, root }) => writeRecord(dataDir, 'alpha', fullRecord(root, plain)));
    const runtimes = (await f.t.get('/api/runtimes')).body as any;
    const local = runtimes.items.find((r: any) => r.runtime_id === 'local-worker-runtime');
    expectRuntimeShape(local);
    expect(local).toMatchObject({
      kind: 'local_pod',
      status: 'available',
      source: { kind: 'local_compatibility', status: 'active', identity_authority: 'runtime_registry_projection' },
      capabilities: {
        can_list_workers: true,
        can_get_worker: true,
        can_spawn_worker: false,
        can_accept_input: false,
        can_stream_events: false,
        can_read_bounded_transcript: false,
        local_pod_inspection: 'available',
        workspace_scope: 'current_workspace',
      },
    });
    expect(local.host_ids).toEqual([`local-default-${hex16('default')}`]);
    const hosts = (await f.t.get('/api/hosts')).body as any;
    expectEnvelope(hosts, expectHostShape);
    expect(hosts.items.map((h: any) => h.kind).sort()).toEqual(['embedded-worker-runtime-host', 'local-worker-host']);
  });

  it('projects a valid record as SPEC §3 and §7 say', async () => {
    f = await withFixture(({ dataDir, root }) => {
      writeRecord(dataDir, 'Reviewer Beta é', fullRecord(root, plain));
      writeRecord(dataDir, 'idle', fullRecord(root, plain, { worker_name: 'Idle One', active: null }));
      writeRecord(dataDir, 'pending', fullRecord(root, plain, { worker_name: 'Pending', active: {} }));
      writeRecord(dataDir, 'bare', { worker_name: 'Bare', workspace_root: `${root}///` });
    });
    const body = await listLocal(f.t);
    const byName = Object.fromEntries(body.items.map((w) => [w.label, w]));
    expect(byName['Reviewer Beta']).toMatchObject({
      runtime_id: 'local-worker-runtime',
      worker_id: `local-worker-reviewer-beta-${hex16('Reviewer Beta é')}`,
      host_id: `local-default-${hex16('default')}`,
      role: 'reviewer',
      profile: 'builtin:reviewer',
      workspace: { visibility: 'current_workspace', identity: 'runtime_workspace' },
      state: 'active',
      status: 'active:segment',
      implementation: { kind: 'local_pod', display_hint: 'Reviewer Beta é' },
      capabilities: { can_accept_input: false, can_stream_events: false, can_stop: false, can_spawn_followup: false, can_read_bounded_transcript: false },
      diagnostics: [],
    });
    expect(byName['Idle One']).toMatchObject({ state: 'metadata_only', status: 'metadata_only' });
    expect(byName.Pending).toMatchObject({ state: 'active', status: 'active:pending_segment' });
    expect(byName.Bare).toMatchObject({ role: null, profile: null, state: 'metadata_only' });
    expect(byName.Bare.last_seen_at).toEqual(expect.stringMatching(/^\d{4}-\d\d-\d\dT/));

    const detail = await f.t.get(`${LOCAL}/workers/${byName['Reviewer Beta'].worker_id}`);
    expect(detail.status).toBe(200);
    expect(detail.body).toEqual(byName['Reviewer Beta']);
    // the local worker is in the all-runtimes list too, and on its host
    const all = (await f.t.get('/api/workers')).body as any;
    expect(all.items.map((w: any) => w.worker_id)).toContain(byName.Bare.worker_id);
    const onHost = (await f.t.get(`/api/hosts/local-default-${hex16('default')}/workers`)).body as any;
    expect(onHost.items).toHaveLength(4);
  });

  it('skips other workspaces (info), and bad records (warning) without naming or quoting them', async () => {
    f = await withFixture(({ dataDir, root }) => {
      writeRecord(dataDir, 'good', fullRecord(root, plain));
      writeRecord(dataDir, 'other', fullRecord('/somewhere/else', plain, { worker_name: 'Other Workspace Worker' }));
      writeRecord(dataDir, 'prefix', fullRecord(`${root}-sibling`, plain, { worker_name: 'Sibling' }));
      writeRecord(dataDir, 'broken', '{"worker_name": "Broken", "workspace_root": ');
      writeRecord(dataDir, 'array', '[1,2,3]');
      writeRecord(dataDir, 'noroot', { worker_name: 'No Root' });
      writeRecord(dataDir, 'rootnum', { worker_name: 'Num Root', workspace_root: 7 });
      mkdirSync(join(podsDir(dataDir), 'empty-dir'));
      writeFileSync(join(podsDir(dataDir), 'a-file'), 'not a directory');
    });
    const body = await listLocal(f.t);
    expect(body.items.map((w) => w.label)).toEqual(['Reviewer Beta']);
    const diag = Object.fromEntries(body.diagnostics.map((d) => [d.code, d]));
    expect(diag.local_metadata_other_workspace).toMatchObject({ severity: 'info', message: 'Skipped 2 worker records: record belongs to another workspace' });
    expect(diag.local_metadata_invalid).toMatchObject({ severity: 'warning' });
    expect(diag.local_metadata_invalid.message).toContain('2 worker records');
    expect(diag.local_metadata_missing_workspace_root).toMatchObject({ severity: 'warning' });
    expect(diag.local_metadata_missing).toMatchObject({ severity: 'warning' });
    expect(diag.local_metadata_entry_not_directory).toMatchObject({ severity: 'warning' });
    const text = JSON.stringify(body);
    for (const quoted of ['Broken', 'Unexpected', 'JSON at position', 'Other Workspace Worker', 'Sibling', 'No Root', f.dataDir, f.root]) {
      expect(text).not.toContain(quoted);
    }
  });

  it('keeps fields of the wrong type from breaking the projection', async () => {
    f = await withFixture(({ dataDir, root }) => {
      writeRecord(dataDir, 'typed', {
        worker_name: 42,
        workspace_root: root,
        resolved_manifest_snapshot: 'not an object',
        active: 'yes',
      });
      writeRecord(dataDir, 'hints', { worker_name: ['x'], workspace_root: root, resolved_manifest_snapshot: { role: 5, profile_selector: { a: 1 } }, active: { segment_id: 9 } });
    });
    const body = await listLocal(f.t);
    const typed = body.items.find((w) => w.implementation.display_hint === 'typed');
    expect(typed).toMatchObject({ label: 'typed', role: null, profile: null, state: 'metadata_only', status: 'metadata_only' });
    expect(codes(typed.diagnostics)).toContain('local_metadata_field_ignored');
    const hints = body.items.find((w) => w.implementation.display_hint === 'hints');
    expect(hints).toMatchObject({ label: 'hints', role: null, profile: null, state: 'active', status: 'active:pending_segment' });
  });

  it('never follows symbolic links, in pods/ or for metadata.json', async () => {
    f = await withFixture(({ dataDir, root }) => {
      const outside = makeTempDir('wb-outside-');
      writeRecord(outside, 'target', fullRecord(root, plain, { worker_name: 'Outside Target' }));
      linkEntry(dataDir, 'linked-dir', join(outside, 'pods', 'target'));
      const dir = join(podsDir(dataDir), 'linked-file');
      mkdirSync(dir);
      require('node:fs').symlinkSync(join(outside, 'pods', 'target', 'metadata.json'), join(dir, 'metadata.json'));
    });
    const body = await listLocal(f.t);
    expect(body.items).toEqual([]);
    const symlinks = body.diagnostics.find((d) => d.code === 'local_metadata_symlink_skipped');
    expect(symlinks).toMatchObject({ severity: 'warning', message: 'Skipped 2 worker records: symbolic link, not followed' });
    expect(JSON.stringify(body)).not.toContain('Outside Target');
  });

  it('skips a metadata file of several MiB with a warning, without reading it whole', async () => {
    f = await withFixture(({ dataDir, root }) => {
      writeRecord(dataDir, 'huge', JSON.stringify({ ...fullRecord(root, plain), padding: 'x'.repeat(5 * 1024 * 1024) }));
      writeRecord(dataDir, 'fine', fullRecord(root, plain, { worker_name: 'Fine' }));
    });
    const body = await listLocal(f.t);
    expect(body.items.map((w) => w.label)).toEqual(['Fine']);
    expect(body.diagnostics).toContainEqual(expect.objectContaining({ code: 'local_metadata_too_large', severity: 'warning' }));
  });

  it('reads at most 256 entries per page, in name order, and pages through all of them', async () => {
    f = await withFixture(({ dataDir, root }) => {
      // Created in reverse, so disk order is not name order.
      for (let i = 299; i >= 0; i--) writeRecord(dataDir, `w${String(i).padStart(3, '0')}`, { worker_name: `W ${i}`, workspace_root: root });
    });
    const first = (await f.t.get(`${LOCAL}/workers?limit=200`)).body as any;
    expect(first.items).toHaveLength(200);
    expect(first.next_cursor).toEqual(expect.any(String));
    const labels: string[] = first.items.map((w: any) => w.label);
    let cursor: string | null = first.next_cursor;
    while (cursor) {
      const page = (await f.t.get(`${LOCAL}/workers?limit=200&cursor=${encodeURIComponent(cursor)}`)).body as any;
      labels.push(...page.items.map((w: any) => w.label));
      cursor = page.next_cursor;
    }
    expect(labels).toEqual(Array.from({ length: 300 }, (_, i) => `W ${i}`));
  });

  it('answers a page of a sparse pods/ after one scan of at most 256 entries, on every list route, and pages reach every record once', async () => {
    // The attack: entries without a record of this workspace made /api/workers repeat the
    // local scan (each listing all of pods/) until its page was full. Each page now reads at
    // most 256 entries and says so; the work is counted by the skipped-entries diagnostic.
    f = await withFixture(({ dataDir, root }) => {
      for (let i = 0; i < 600; i++) mkdirSync(join(podsDir(dataDir), `e${String(i).padStart(3, '0')}`));
      for (let i = 0; i < 3; i++) writeRecord(dataDir, `z${i}`, { worker_name: `Late ${i}`, workspace_root: root });
    });
    const hostId = (((await f.t.get('/api/hosts')).body as any).items as any[]).find((h) => h.kind === 'local-worker-host').host_id;
    for (const route of ['/api/workers', `${LOCAL}/workers`, `/api/hosts/${hostId}/workers`]) {
      const labels: string[] = [];
      const skippedPerPage: number[] = [];
      let cursor: string | null = null;
      do {
        const res = await f.t.get(`${route}?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(res.status).toBe(200);
        expectEnvelope(res.body, expectWorkerShape);
        const body = res.body as any;
        labels.push(...body.items.map((w: any) => w.label));
        const missing = body.diagnostics.find((d: any) => d.code === 'local_metadata_missing');
        skippedPerPage.push(missing ? Number(/Skipped (\d+) /.exec(missing.message)![1]) : 0);
        cursor = body.next_cursor;
      } while (cursor !== null);
      expect({ route, labels, skippedPerPage }).toEqual({ route, labels: ['Late 0', 'Late 1', 'Late 2'], skippedPerPage: [256, 256, 88] });
    }
  });

  it('pages past directory names of 255 bytes on every list route: each next_cursor it issues is one it takes', async () => {
    // Random letters and digits: hex of them does not deflate much, unlike a name of one repeated letter.
    const letters = (n: number) => Array.from(randomBytes(n), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'[b % 62]).join('');
    const names = [`a${letters(254)}`, `b${'日本語'.repeat(28)}${letters(2)}`, `c${letters(254)}`];
    f = await withFixture(({ dataDir, root }) => names.forEach((name, i) => writeRecord(dataDir, name, { worker_name: `long ${i}`, workspace_root: root })));
    expect(names.map((n) => Buffer.byteLength(n))).toEqual([255, 255, 255]);
    const hostId = (((await f.t.get('/api/hosts')).body as any).items as any[]).find((h) => h.kind === 'local-worker-host').host_id;
    for (const route of [`${LOCAL}/workers`, `/api/hosts/${hostId}/workers`, '/api/workers']) {
      const labels: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await f.t.get(`${route}?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(res.status).toBe(200);
        labels.push(...(res.body as any).items.map((w: any) => w.label));
        cursor = (res.body as any).next_cursor;
        if (cursor !== null) expect(cursor.length).toBeLessThanOrEqual(512);
      } while (cursor !== null);
      expect({ route, labels: labels.filter((l) => l.startsWith('long')) }).toEqual({ route, labels: ['long 0', 'long 1', 'long 2'] });
    }
  });

  it('treats names with unicode, control characters and slashes as display hints only', async () => {
    f = await withFixture(({ dataDir, root }) => {
      writeRecord(dataDir, 'ctl\u0001name\u202e', { worker_name: 'Bad/\\Name\u0000\u0007\u202eX' + 'y'.repeat(200), workspace_root: root });
      writeRecord(dataDir, '日本語', { worker_name: '日本語ワーカー', workspace_root: root });
      writeRecord(dataDir, '---', { worker_name: '', workspace_root: root });
    });
    const body = await listLocal(f.t);
    for (const w of body.items) {
      expect(w.worker_id).toMatch(/^local-worker-[a-z0-9_-]+-[0-9a-f]{16}$/);
      expect(w.worker_id.length).toBeLessThanOrEqual(120);
      expect(w.label).not.toMatch(/[\u0000-\u001f\u007f/\\\u202e]/);
      expect(w.label.length).toBeLessThanOrEqual(80);
      expect(w.implementation.display_hint).not.toMatch(/[\u0000-\u001f\u007f/\\\u202e]/);
    }
    const ids = body.items.map((w) => w.worker_id).sort();
    expect(ids).toEqual([`local-worker-ctl-name-${hex16('ctl\u0001name\u202e')}`, `local-worker-id-${hex16('---')}`, `local-worker-id-${hex16('日本語')}`].sort());
    expect(body.items.find((w) => w.worker_id.includes(hex16('日本語'))).label).toBe('日本語ワーカー');
    expect(body.items.find((w) => w.worker_id.includes(hex16('---'))).label).toBe('---');
    expect(body.items.find((w) => w.worker_id.includes('ctl-name')).label).toMatch(/^BadNameXy+$/);
  });

  it('derives the same ids across restarts', async () => {
    f = await withFixture(({ dataDir, root }) => writeRecord(dataDir, 'stable', fullRecord(root, plain)));
    const first = (await listLocal(f.t)).items[0].worker_id;
    const again = await startTestApp({ WORKSPACE_DATA_DIR: f.dataDir, WORKSPACE_ROOT: f.root });
    try {
      expect(((await again.get(`${LOCAL}/workers`)).body as any).items[0].worker_id).toBe(first);
    } finally {
      await again.close();
    }
  });

  it('survives a missing data dir: degraded host and runtime, warning, no crash', async () => {
    const base = makeTempDir('wb-missing-');
    // A memory store: the default SQLite store would create the data dir for its file.
    const t = await startTestApp({ WORKSPACE_DATA_DIR: join(base, 'does-not-exist'), WORKSPACE_ROOT: base, RUNTIME_STORE_URL: 'memory:' });
    try {
      const runtime = (await t.get(LOCAL)).body as any;
      expect(runtime).toMatchObject({ status: 'degraded', capabilities: { local_pod_inspection: 'unavailable' } });
      expect(codes(runtime.diagnostics)).toEqual(['local_data_dir_missing']);
      const hosts = (await t.get('/api/hosts')).body as any;
      const host = hosts.items.find((h: any) => h.kind === 'local-worker-host');
      expect(host).toMatchObject({ status: 'degraded', last_seen_at: null });
      expect(codes(host.diagnostics)).toEqual(['local_data_dir_missing']);
      const workers = (await t.get(`${LOCAL}/workers`)).body as any;
      expect(workers.items).toEqual([]);
      expect(workers.diagnostics).toContainEqual(expect.objectContaining({ code: 'local_data_dir_missing', severity: 'warning' }));
      expect(JSON.stringify([runtime, hosts, workers])).not.toContain(base);
    } finally {
      await t.close();
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('says the runtime is degraded, inspection unavailable, when pods/ is a file or a FIFO', async () => {
    for (const make of [(pods: string) => writeFileSync(pods, 'not a directory'), (pods: string) => execFileSync('mkfifo', [pods])]) {
      f = await withFixture(({ dataDir }) => make(join(dataDir, 'pods')));
      const runtime = (await f.t.get(LOCAL)).body as any;
      expectRuntimeShape(runtime);
      expect(runtime).toMatchObject({ status: 'degraded', capabilities: { local_pod_inspection: 'unavailable' } });
      expect(codes(runtime.diagnostics)).toEqual(['local_pods_dir_unreadable']);
      const listed = (((await f.t.get('/api/runtimes')).body as any).items as any[]).find((r) => r.runtime_id === 'local-worker-runtime');
      expect(listed).toEqual(runtime);
      const host = (((await f.t.get('/api/hosts')).body as any).items as any[]).find((h) => h.kind === 'local-worker-host');
      expect(host).toMatchObject({ status: 'degraded', capabilities: { local_pod_inspection: 'unavailable' } });
      const workers = await f.t.get('/api/workers');
      expect(workers.status).toBe(200);
      expect(codes((workers.body as any).diagnostics)).toContain('local_pods_dir_unreadable');
      expect(JSON.stringify([runtime, host, workers.body])).not.toContain(f.dataDir);
      await f.t.close();
      f = undefined;
    }
  });

  it('is read-only: create, input and transcript answer 501 with the documented body', async () => {
    f = await withFixture(({ dataDir, root }) => writeRecord(dataDir, 'ro', fullRecord(root, plain)));
    const id = (await listLocal(f.t)).items[0].worker_id;
    for (const res of [
      await f.t.post(`${LOCAL}/workers`, COMPANION),
      await f.t.post(`${LOCAL}/workers/${id}/input`, { content: 'hello' }),
      await f.t.get(`${LOCAL}/workers/${id}/transcript`),
    ]) {
      expect(res.status).toBe(501);
      expectErrorShape(res.body, 501, 'capability_unsupported');
    }
  });

  it('never resolves a local worker id under the embedded runtime', async () => {
    f = await withFixture(({ dataDir, root }) => writeRecord(dataDir, 'mine', fullRecord(root, plain)));
    const id = (await listLocal(f.t)).items[0].worker_id;
    expectErrorShape((await f.t.get(`${EMBEDDED}/workers/${id}`)).body, 404, 'unknown_worker');
    expectErrorShape((await f.t.post(`${EMBEDDED}/workers/${id}/input`, { content: 'x' })).body, 404, 'unknown_worker');
    expectErrorShape((await f.t.get(`${LOCAL}/workers/local-worker-nobody-0000000000000000`)).body, 404, 'unknown_worker');
  });
});
