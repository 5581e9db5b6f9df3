/**
 * Crash matrix, restore in place (RESTORING, issue 20): a SIGKILL of the service while the
 * lane's cluster is being restored in place to its base snapshot, then the restarted service
 * finishes it. Cases: during the `pgbackrest restore --delta` over the stopped primary (the
 * resumed step restores over the partly restored directory again), and before the standbys
 * are rebuilt. What every case of the matrix checks, and its budget, are in
 * test/helpers/crash-matrix.ts. Here also: the cluster holds the base snapshot's rows again on
 * its primary and both streaming standbys, at the same address, and the task's safety
 * snapshot holds what the cluster held when it was stopped. The lane is put back as it was
 * after the base snapshot, so the next case's safety snapshot (the lane's newest snapshot, which
 * the matrix's end check restores) holds what every lane's newest does.
 */
import type { ExpectStatic } from 'vitest';
import { replicationOf, requestMayDie } from '../helpers/crash.js';
import {
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
import { queryRestoredSet } from '../helpers/restore-check.js';
import { adminSql } from '../helpers/restore-data.js';
import { waitIdle } from '../helpers/service.js';

const IN_PLACE: KindSpec = {
  action: 'RESTORING',
  taskKind: 'cluster.restore_in_place',
  steps: [{ step: 'RESTORE_PRIMARY', tool: true }, { step: 'REBUILD_STANDBYS' }],
};
const CASES: Case[] = [
  { kind: 'inplace', spec: IN_PLACE, step: 'RESTORE_PRIMARY', point: 'during', n: 0 },
  { kind: 'inplace', spec: IN_PLACE, step: 'REBUILD_STANDBYS', point: 'before', n: 0 },
];

/** What the lane held before the case: the base snapshot's table with the lane's changes after it. */
const LANE_CHANGES = "delete from events where id > 2500; update events set kind = kind || '!' where id % 10 = 0";

async function inPlaceCase(expect: ExpectStatic, lane: Lane, c: Case): Promise<string[]> {
  const { svc } = lane;
  const before = await eventsSum(lane.endpoint);
  expect(before).not.toBe(lane.base.events);
  const { crashedPid, midFlight } = await crashAndRestart(expect, lane, c, () =>
    requestMayDie(svc.client, 'POST', `/v1.0/{project_id}/clusters/${lane.id}/in-place-restore`, {
      restore: { snapshot_id: lane.base.id },
    }),
  );
  const done = await waitIdle(svc.client, lane.id, 300_000);
  expect(done.status, JSON.stringify(done.failed_reasons)).toBe('AVAILABLE');
  expect(done.endpoints[0]!.connect_info).toBe(lane.endpoint);
  expect(await eventsSum(lane.endpoint)).toBe(lane.base.events);
  expect(await replicationOf(done)).toEqual([
    { application_name: 'node2', state: 'streaming' },
    { application_name: 'node3', state: 'streaming' },
  ]);
  const task = (await newestTask(svc, lane.id, 'cluster.restore_in_place'))!;
  await checkTakenOverAndTrue(expect, lane, c, lane.id, task.id, crashedPid);
  // The safety snapshot holds what the cluster held when the task stopped it.
  const [safety] = svc.storeQuery<{ id: string; status: string; backup_label: string }>(
    "select id, status, backup_label from snapshots where cluster_id = ? and name like 'safety-%' order by created_at desc limit 1",
    lane.id,
  );
  expect(safety?.status).toBe('AVAILABLE');
  const r = await queryRestoredSet<{ h: string }>(
    lane.engine,
    { stanza: lane.stanza, label: safety!.backup_label, sourceBytes: null },
    "select count(*)::text || ':' || md5(coalesce(string_agg(x::text, ',' order by x.id), '')) as h from public.events x",
    DB,
  );
  expect(r[0]!.h).toBe(before);
  await adminSql(lane.endpoint, LANE_CHANGES, DB);
  return midFlight;
}

crashMatrix({
  title: 'restore in place',
  units: CASES.map((c) => [c]),
  lanes: 1,
  cost: { inplace: 30 },
  run: { inplace: inPlaceCase },
});
