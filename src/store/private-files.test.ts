import { describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from './migrate.js';
import { openStore } from './open-store.js';
import { privateFile, sqliteFiles } from './private-files.js';

const mode = (f: string): number => statSync(f).mode & 0o777;

describe("the SQLite store's files", () => {
  it('a new store and its -wal and -shm files are 0600', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dwsbox-store-'));
    try {
      const file = join(dir, 'dwsbox.sqlite');
      const store = openStore(file);
      await migrate(store.adapter);
      await store.ensureProject({ id: 'p1', name: 'p1', createdAt: 1 });
      for (const f of sqliteFiles(file)) expect(mode(f), f).toBe(0o600);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an existing store left 0644 (and its -wal/-shm) is tightened when it is opened', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dwsbox-store-'));
    try {
      const file = join(dir, 'dwsbox.sqlite');
      const first = openStore(file);
      await migrate(first.adapter);
      await first.ensureProject({ id: 'p1', name: 'p1', createdAt: 1 });
      for (const f of sqliteFiles(file)) chmodSync(f, 0o644);
      const second = openStore(file);
      for (const f of sqliteFiles(file)) expect(mode(f), f).toBe(0o600);
      expect(await second.getProject('p1')).toBeTruthy();
      await second.close();
      await first.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('privateFile refuses a symbolic link and leaves its target alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dwsbox-store-'));
    try {
      const target = join(dir, 'target');
      writeFileSync(target, 'x', { mode: 0o644 });
      symlinkSync(target, join(dir, 'link'));
      expect(() => privateFile(join(dir, 'link'), true)).toThrow(/symbolic link/);
      expect(mode(target)).toBe(0o644);
      privateFile(join(dir, 'absent'), false);
      expect(() => statSync(join(dir, 'absent'))).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
