/**
 * Upgrades: a store at schema version 1 holding data is migrated to the current version on
 * both backends; the data survives, the new schema objects exist, and the service's reads work.
 */
import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { STORE_BACKENDS, useStore } from '../helpers/store-backends.js';
import { codeVersion, currentVersion, migrate } from '../../src/store/migrate.js';
import { makeCluster as clusterRecord, makeTask as taskRecord } from '../helpers/records.js';
import { clusterRows } from '../../src/store/rows.js';

for (const backend of STORE_BACKENDS)
  describe(`${backend}: upgrade from schema version 1`, () => {
    const h = useStore(backend);

    it('migrates a version-1 store with data in it to the current version', async () => {
      const { store } = await h.fresh('upgrade');
      const r1 = await migrate(store.adapter, { upTo: 1, now: 1 });
      expect(r1.map((x) => x.status)).toEqual(['applied']);
      expect(await currentVersion(store.adapter)).toBe(1);
      // Data written by a version-1 dwsbox.
      await store.ensureProject({ id: 'p1', name: 'p1', createdAt: 1 });
      const c = clusterRecord({ projectId: 'p1', name: 'old-cluster' });
      // the row as version 1 had it: the columns later versions added are left out
      const { maintain_window, pending_restart, restart_due_at, read_only, ...v1Row } = clusterRows.toNewRow(c);
      void [maintain_window, pending_restart, restart_due_at, read_only];
      await store.adapter.db
        .insertInto('clusters')
        .values(v1Row as never)
        .execute();
      const t = taskRecord({ projectId: 'p1', clusterId: c.id, snapshotId: 'snap-1' });
      await store.insertTask(t, []);

      const r = await migrate(store.adapter, { now: 2 });
      expect(r.filter((x) => x.status === 'applied').map((x) => x.version)).toEqual(
        Array.from({ length: codeVersion(store.adapter) - 1 }, (_, i) => i + 2),
      );
      expect(await currentVersion(store.adapter)).toBe(codeVersion(store.adapter));
      expect((await store.getCluster('p1', c.id))?.name).toBe('old-cluster');
      expect((await store.activeTasksOfSnapshot('snap-1')).map((x) => x.id)).toEqual([t.id]);
      // The indexes of version 2 exist.
      const names =
        backend === 'sqlite'
          ? (await sql<{ name: string }>`select name from sqlite_master where type = 'index'`.execute(store.adapter.db)).rows.map(
              (x) => x.name,
            )
          : (
              await sql<{ name: string }>`select indexname as name from pg_indexes where schemaname = current_schema()`.execute(
                store.adapter.db,
              )
            ).rows.map((x) => x.name);
      expect(names).toEqual(expect.arrayContaining(['tasks_snapshot', 'tasks_project', 'nodes_cluster', 'snapshots_stanza']));
    });
  });
