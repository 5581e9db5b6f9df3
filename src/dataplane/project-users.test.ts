import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../log/logger.js';
import { markedUsers, parseMarker } from './os-user.js';
import { ProjectUsers, removeOrphanGroups, removeProjectUser, type UidRecord } from './project-users.js';
import { tempDir } from '../../test/helpers/env.js';

/** The store's record of uids, in memory. */
function record(): UidRecord & { rows: Map<string, number> } {
  const rows = new Map<string, number>();
  return {
    rows,
    highest: async () => (rows.size ? Math.max(...rows.values()) : null),
    record: async (projectId, _name, uid) => void rows.set(projectId, uid),
  };
}

const dataDir = tempDir('users');
const groups = (): string[][] =>
  readFileSync('/etc/group', 'utf8')
    .split('\n')
    .map((l) => l.split(':'));

afterAll(async () => {
  for (const u of markedUsers().filter((x) => parseMarker(x.comment)?.dataDir === dataDir)) await removeProjectUser(u.name);
  await removeOrphanGroups();
});

describe('project users (D32)', () => {
  it('several projects made at the same moment get distinct uids and a group each, recorded, marked', async () => {
    const users = new ProjectUsers(dataDir, silentLogger());
    const uids = record();
    const made = await Promise.all(['p1', 'p2', 'p3', 'p4'].map((p) => users.ensure(p, uids)));
    expect(new Set(made.map((u) => u.uid)).size).toBe(4);
    expect(new Set(made.map((u) => u.gid)).size).toBe(4);
    for (const u of made) {
      expect(u.gid).toBe(u.uid);
      expect(
        groups()
          .filter((g) => Number(g[2]) === u.gid)
          .map((g) => g[0]),
      ).toEqual([u.name]);
    }
    expect([...uids.rows.values()].sort()).toEqual(made.map((u) => u.uid).sort());
    expect(
      users
        .list()
        .map((u) => u.projectId)
        .sort(),
    ).toEqual(['p1', 'p2', 'p3', 'p4']);
    // Asked again, the same user; a new project gets an id above every recorded one, even after a user is gone.
    expect((await users.ensure('p2', uids)).uid).toBe(made[1]!.uid);
    const top = Math.max(...made.map((u) => u.uid));
    await removeProjectUser(made.find((u) => u.uid === top)!.name);
    expect((await users.ensure('p5', uids)).uid).toBeGreaterThan(top);
  });
});
