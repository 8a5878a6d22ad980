import { join } from 'node:path';
import { rmSync, utimesSync } from 'node:fs';
import { writeRecord } from './support/local-fixtures';
import { createEmbeddedWorker, EMBEDDED, makeTempDir, startTestApp, type TestApp } from './support/test-app';

/**
 * GET /api/workers serves a cached serialisation of unchanged state. These
 * tests pin down that every change a client could observe invalidates it.
 */
describe('GET /api/workers list cache', () => {
  let t: TestApp;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = makeTempDir('wb-cache-');
    t = await startTestApp({ WORKSPACE_DATA_DIR: dataDir, WORKSPACE_ROOT: dataDir, RUNTIME_STORE_URL: 'memory:' });
  });
  afterAll(async () => {
    await t.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const list = async () => ((await t.get('/api/workers')).body as any).items as any[];

  it('shows a new embedded worker and the new last_seen_at after an input', async () => {
    const before = await list();
    expect(await list()).toEqual(before); // same state, same answer
    const id = await createEmbeddedWorker(t);
    const afterCreate = await list();
    expect(afterCreate.map((w) => w.worker_id)).toContain(id);
    const seenAt = afterCreate.find((w) => w.worker_id === id).last_seen_at;
    await new Promise((r) => setTimeout(r, 5));
    await t.post(`${EMBEDDED}/workers/${id}/input`, { content: 'touch' });
    const afterInput = (await list()).find((w) => w.worker_id === id);
    expect(afterInput.last_seen_at).not.toBe(seenAt);
  });

  it('shows local records as they appear, change and disappear', async () => {
    expect((await list()).filter((w) => w.runtime_id === 'local-worker-runtime')).toEqual([]);
    const file = writeRecord(dataDir, 'alpha', { worker_name: 'Alpha', workspace_root: dataDir });
    expect((await list()).filter((w) => w.runtime_id === 'local-worker-runtime').map((w) => w.label)).toEqual(['Alpha']);
    writeRecord(dataDir, 'alpha', { worker_name: 'Alpha Renamed', workspace_root: dataDir, active: { segment_id: 's' } });
    utimesSync(file, new Date(), new Date(Date.now() + 5000)); // a different mtime even on coarse clocks
    const renamed = (await list()).filter((w) => w.runtime_id === 'local-worker-runtime');
    expect(renamed.map((w) => [w.label, w.status])).toEqual([['Alpha Renamed', 'active:segment']]);
    rmSync(join(dataDir, 'pods', 'alpha'), { recursive: true });
    expect((await list()).filter((w) => w.runtime_id === 'local-worker-runtime')).toEqual([]);
  });

  it('keys on the limit', async () => {
    await createEmbeddedWorker(t);
    expect(((await t.get('/api/workers?limit=1')).body as any).items).toHaveLength(1);
    expect(((await t.get('/api/workers?limit=2')).body as any).items).toHaveLength(2);
  });
});
