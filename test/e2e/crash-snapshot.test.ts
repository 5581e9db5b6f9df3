/**
 * Crash matrix, snapshot (SNAPSHOTTING): a SIGKILL of the service at each step of a snapshot,
 * then the restarted service finishes it. What every case of the matrix checks, and its
 * budget, are in test/helpers/crash-matrix.ts. Here also: the snapshot ends AVAILABLE with its
 * own set in the catalog, every AVAILABLE snapshot of the lane still verifies, and at `during`
 * BACKUP pgBackRest had not finished before the restart (no set with the snapshot's annotation
 * is in the catalog).
 */
import type { ExpectStatic } from 'vitest';
import { requestMayDie } from '../helpers/crash.js';
import {
  casesOf,
  checkTakenOverAndTrue,
  crashAndRestart,
  crashMatrix,
  labelOf,
  newestTask,
  snapshotsOf,
  waitSnapshotDone,
  type Case,
  type KindSpec,
  type Lane,
} from '../helpers/crash-matrix.js';

const SNAPSHOT: KindSpec = {
  action: 'SNAPSHOTTING',
  taskKind: 'snapshot.create',
  steps: [{ step: 'CHECK_CLUSTER' }, { step: 'BACKUP', tool: true }, { step: 'VERIFY_BACKUP' }, { step: 'RECORD_SNAPSHOT' }],
};

async function snapshotCase(expect: ExpectStatic, lane: Lane, c: Case): Promise<string[]> {
  const { svc } = lane;
  const name = `crash-${c.n}-${c.step.toLowerCase()}-${c.point}`;
  const before = (await snapshotsOf(svc, lane.id)).filter((s) => s.status === 'AVAILABLE').map((s) => s.id);
  expect(before.length).toBeGreaterThan(0);
  const { crashedPid, midFlight } = await crashAndRestart(
    expect,
    lane,
    c,
    () => requestMayDie(svc.client, 'POST', '/v1.0/{project_id}/snapshots', { snapshot: { name, cluster_id: lane.id } }),
    async () => {
      if (c.step !== 'BACKUP' || c.point !== 'during') return;
      // The crash hit the backup itself: pgBackRest had not finished (its catalog has no set of this snapshot).
      const [snap] = svc.storeQuery<{ id: string }>('select id from snapshots where name = ?', name);
      const sets = (await lane.engine.backrest.info({ stanza: lane.stanza, configFile: lane.engine.stanzaConfigFile(lane.stanza) })).sets;
      expect(sets.filter((s) => s.annotation['snapshot_id'] === snap!.id)).toEqual([]);
    },
  );
  const snap = (await snapshotsOf(svc, lane.id)).find((s) => s.name === name)!;
  expect(await waitSnapshotDone(svc, snap.id)).toBe('AVAILABLE');
  const task = (await newestTask(svc, lane.id, 'snapshot.create'))!;
  await checkTakenOverAndTrue(expect, lane, c, lane.id, task.id, crashedPid);
  // The new set and every one before it verify (checkTakenOverAndTrue); the set is the snapshot's own.
  const sets = (await lane.engine.backrest.info({ stanza: lane.stanza, configFile: lane.engine.stanzaConfigFile(lane.stanza) })).sets;
  expect(sets.filter((s) => s.annotation['snapshot_id'] === snap.id).map((s) => s.label)).toEqual([labelOf(svc, snap.id)]);
  return midFlight;
}

crashMatrix({
  title: 'snapshot',
  units: casesOf('snapshot', SNAPSHOT).map((c) => [c]),
  lanes: 1,
  cost: { snapshot: 6 },
  run: { snapshot: snapshotCase },
});
