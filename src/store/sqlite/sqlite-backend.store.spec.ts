import { mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDirectories, SqliteBackendStore } from './sqlite-backend.store';

describe('makeDirectories', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'wb-mkdir-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('makes every missing directory, and does nothing more for one that exists', () => {
    const deep = join(root, 'a', 'b', 'c');
    makeDirectories(deep);
    expect(statSync(deep).isDirectory()).toBe(true);
    expect(() => makeDirectories(deep)).not.toThrow();
    expect(() => makeDirectories(root)).not.toThrow();
  });

  it('fails with the system error where a dangling symbolic link stands in the way', () => {
    symlinkSync(join(root, 'nowhere'), join(root, 'link'));
    expect(() => makeDirectories(join(root, 'link'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('fails with the system error where a file stands in the way', () => {
    writeFileSync(join(root, 'file'), '');
    expect(() => makeDirectories(join(root, 'file', 'sub'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
  });
});

/**
 * The one connection's queue: a read that finds it idle runs at once, and a
 * write that arrives meanwhile waits for the read to finish, so the read's
 * statements never see another job's uncommitted or committed-midway rows.
 */
describe('SqliteBackendStore queue', () => {
  let store: SqliteBackendStore;
  beforeEach(async () => {
    store = new SqliteBackendStore({ file: null, identity: 'memory:queue-unit' });
    await store.init();
    await store.write((tx) => tx.putSetting('probe', 'before'));
  });
  afterEach(async () => store.close());

  it('runs a read on an idle connection in the same turn', async () => {
    let ran = false;
    const read = store.read(async (q) => {
      ran = true;
      return q.getSetting('probe');
    });
    expect(ran).toBe(true);
    await expect(read).resolves.toBe('before');
  });

  it('holds a write that arrives during a read until the read is done', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const read = store.read(async (q) => {
      const first = await q.getSetting('probe');
      await gate; // the read is still running when the write arrives
      const second = await q.getSetting('probe');
      return [first, second];
    });
    const write = store.write((tx) => tx.putSetting('probe', 'after'));
    // Give the write every chance to run (several turns) before the read goes on.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    release();
    await expect(read).resolves.toEqual(['before', 'before']);
    await write;
    await expect(store.read((q) => q.getSetting('probe'))).resolves.toBe('after');
  });

  it('queues a read behind a write of the same turn', async () => {
    const write = store.write((tx) => tx.putSetting('probe', 'after'));
    const read = store.read((q) => q.getSetting('probe'));
    await write;
    await expect(read).resolves.toBe('after');
  });
});

describe('SqliteBackendStore under SQLITE_MAX_MB', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'wb-cap-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('opens a file already over its cap: says so, may not grow, and is ready only once its use is back under the cap', async () => {
    const file = join(root, 'over.sqlite3');
    const uncapped = new SqliteBackendStore({ file, identity: file });
    await uncapped.init();
    for (let i = 0; i < 40; i++) await uncapped.write((tx) => tx.putSetting(`big-${i}`, 'x'.repeat(64 * 1024)));
    await uncapped.close();
    const warnings: string[] = [];
    const store = new SqliteBackendStore({ file, identity: file, maxBytes: 1024 * 1024, log: { warn: (m) => warnings.push(m) } });
    await store.init();
    try {
      expect(warnings).toEqual([expect.stringMatching(/^the SQLite store holds \d MiB, over SQLITE_MAX_MB \(1\): it may not grow/)]);
      await expect(store.checkReady()).rejects.toMatchObject({ reason: 'full' });
      await expect(store.write((tx) => tx.putSetting('more', 'y'.repeat(64 * 1024)))).rejects.toMatchObject({ reason: 'full' });
      // Freeing pages below the file's size is not enough: its use must fall under the cap.
      for (let i = 0; i < 10; i++) await store.write((tx) => tx.putSetting(`big-${i}`, ''));
      await expect(store.checkReady()).rejects.toMatchObject({ reason: 'full' });
      for (let i = 10; i < 40; i++) await store.write((tx) => tx.putSetting(`big-${i}`, ''));
      await expect(store.checkReady()).resolves.toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
