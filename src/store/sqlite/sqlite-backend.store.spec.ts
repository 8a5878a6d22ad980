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
