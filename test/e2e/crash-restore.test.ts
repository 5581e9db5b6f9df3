/**
 * Crash matrix, restore into a new cluster (RESTORING): a SIGKILL of the service at each step
 * of a restore of the lane's first snapshot, then the restarted service finishes it. What every
 * case of the matrix checks, and its budget, are in test/helpers/crash-matrix.ts. Here also:
 * the restored cluster has the snapshot's rows and two streaming standbys, the source stanza
 * got no history file and no WAL of another timeline (D4), and the deleted cluster leaves
 * nothing behind. A restore to a point in time (issue 20) survives a crash before its first step
 * (the source's WAL archived) and while its copy starts and recovers to the time: the restored
 * cluster holds what the source had committed by then and nothing after.
 */
import { join } from 'node:path';
import type { ExpectStatic } from 'vitest';
import { deleteCluster, leftovers, replicationOf, requestMayDie } from '../helpers/crash.js';
import {
  casesOf,
  checkTakenOverAndTrue,
  crashAndRestart,
  crashMatrix,
  DB,
  eventsSum,
  newestTask,
  type Case,
  type KindSpec,
  type Lane,
} from '../helpers/crash-matrix.js';
import { adminSql, archiveFiles, archiveTimelines } from '../helpers/restore-data.js';
import { waitIdle } from '../helpers/service.js';

const RESTORE: KindSpec = {
  action: 'RESTORING',
  taskKind: 'cluster.restore',
  steps: [
    { step: 'ALLOCATE_NODES' },
    { step: 'RESTORE_PRIMARY', tool: true },
    { step: 'RECOVER_PRIMARY' },
    { step: 'ENABLE_NEW_ARCHIVING' },
    { step: 'BUILD_STANDBYS', tool: true },
    { step: 'CHECK_CONNECTIONS' },
  ],
};

/** A restore to a point in time: the steps where a crash matters most for it (the others are the restore's own). */
const PITR: KindSpec = {
  action: 'RESTORING',
  taskKind: 'cluster.restore',
  steps: [{ step: 'ARCHIVE_SOURCE_WAL' }, { step: 'RECOVER_PRIMARY' }],
};
const PITR_CASES: Case[] = [
  { kind: 'pitr', spec: PITR, step: 'ARCHIVE_SOURCE_WAL', point: 'before', n: 0 },
  { kind: 'pitr', spec: PITR, step: 'RECOVER_PRIMARY', point: 'during', n: 0 },
];

async function restoreCase(expect: ExpectStatic, lane: Lane, c: Case): Promise<string[]> {
  const { svc } = lane;
  const name = `restored-${c.n}`;
  const pitr = c.kind === 'pitr';
  // To a point in time: a table committed before it, and one after it, which must not come back.
  let restorePoint: { restore_time: number } | null = null;
  // The restore holds the snapshot's rows, or, to a point in time, the source's rows then (its lane changed them since the snapshot).
  let events = lane.base.events;
  if (pitr) {
    events = await eventsSum(lane.endpoint);
    await adminSql(lane.endpoint, `create table pitr_before_${c.n} as select 1 as x`, DB);
    restorePoint = { restore_time: Date.now() };
    await new Promise((r) => setTimeout(r, 20));
    await adminSql(lane.endpoint, `create table pitr_after_${c.n} as select 1 as x`, DB);
  }
  const sourceArchive = archiveFiles(join(svc.dataDir, 'repo'), lane.stanza);
  const { crashedPid, midFlight } = await crashAndRestart(expect, lane, c, () =>
    requestMayDie(svc.client, 'POST', `/v1.0/{project_id}/snapshots/${lane.base.id}/actions`, {
      restore: { name, ...(restorePoint ? { restore_point: restorePoint } : {}) },
    }),
  );
  const id = (await svc.client.call<{ clusters: { id: string; name: string }[] }>('GET', '/v1.0/{project_id}/clusters')).clusters.find(
    (x) => x.name === name,
  )!.id;
  const done = await waitIdle(svc.client, id, 240_000);
  expect(done.status, JSON.stringify(done.failed_reasons)).toBe('AVAILABLE');
  expect(done.nodes.map((n) => [n.role, n.status])).toEqual([
    ['primary', '200'],
    ['standby', '200'],
    ['standby', '200'],
  ]);
  expect(await eventsSum(done.endpoints[0]!.connect_info)).toBe(events);
  if (pitr) {
    const tables = await adminSql<{ t: string }>(
      done.endpoints[0]!.connect_info,
      `select relname as t from pg_class where relname like 'pitr\\_%' order by 1`,
      DB,
    );
    expect(tables.map((r) => r.t)).toEqual([`pitr_before_${c.n}`]);
    await adminSql(lane.endpoint, `drop table pitr_before_${c.n}; drop table pitr_after_${c.n}`, DB);
  }
  expect(await replicationOf(done)).toEqual([
    { application_name: 'node2', state: 'streaming' },
    { application_name: 'node3', state: 'streaming' },
  ]);
  const task = (await newestTask(svc, id, 'cluster.restore'))!;
  await checkTakenOverAndTrue(expect, lane, c, id, task.id, crashedPid);
  // D4 after a crash too: the source stanza got no history file and no WAL of another timeline.
  const after = archiveTimelines(archiveFiles(join(svc.dataDir, 'repo'), lane.stanza));
  expect(after.histories).toEqual(archiveTimelines(sourceArchive).histories);
  expect([...after.segments].filter((x) => x !== '00000001')).toEqual([]);
  await deleteCluster(svc.client, id);
  expect(leftovers(svc.dataDir, id)).toEqual([]);
  return midFlight;
}

crashMatrix({
  title: 'restore into a new cluster',
  units: [...casesOf('restore', RESTORE), ...PITR_CASES].map((c) => [c]),
  lanes: 2,
  cost: { restore: 16, pitr: 18 },
  run: { restore: restoreCase, pitr: restoreCase },
});
