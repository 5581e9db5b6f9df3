/**
 * Crash matrix, table restore (FINE_GRAINED_RESTORING): a SIGKILL of the service at each step
 * of a table restore from the lane's first snapshot, then the restarted service finishes it.
 * What every case of the matrix checks, and its budget, are in test/helpers/crash-matrix.ts.
 * Here also: the restored table has the snapshot's rows, and no temporary instance runs.
 */
import { join } from 'node:path';
import type { ExpectStatic } from 'vitest';
import { postmastersUnder } from '../helpers/child-service.js';
import { requestMayDie } from '../helpers/crash.js';
import {
  DB,
  casesOf,
  checkTakenOverAndTrue,
  crashAndRestart,
  crashMatrix,
  eventsSum,
  newestTask,
  waitTaskDone,
  type Case,
  type KindSpec,
  type Lane,
} from '../helpers/crash-matrix.js';
import { adminSql } from '../helpers/restore-data.js';

const TABLE: KindSpec = {
  action: 'FINE_GRAINED_RESTORING',
  taskKind: 'snapshot.table_restore',
  steps: [
    { step: 'RESTORE_TEMP', tool: true },
    { step: 'START_TEMP' },
    { step: 'EXPORT_TABLES', tool: true },
    { step: 'IMPORT_TABLES', tool: true },
    { step: 'VERIFY_ROWS' },
    { step: 'REMOVE_TEMP' },
  ],
};

async function tableCase(expect: ExpectStatic, lane: Lane, c: Case): Promise<string[]> {
  const { svc } = lane;
  const target = `events_c${c.n}`;
  const body = {
    case_sensitive: true,
    database: DB,
    restore_table_list: [{ schema_name: 'public', table_name: 'events' }],
    target_table_list: [{ schema_name: 'public', table_name: target }],
  };
  const { crashedPid, midFlight } = await crashAndRestart(expect, lane, c, () =>
    requestMayDie(svc.client, 'POST', `/v1/{project_id}/snapshots/${lane.base.id}/table-restore`, body),
  );
  const task = (await newestTask(svc, lane.id, 'snapshot.table_restore'))!;
  const done = await waitTaskDone(svc, lane.id, task.id);
  expect(done.status, `${done.failed_step}: ${done.error_msg}`).toBe('SUCCESS');
  await checkTakenOverAndTrue(expect, lane, c, lane.id, task.id, crashedPid);
  expect(await eventsSum(lane.endpoint, `public.${target}`)).toBe(lane.base.events);
  expect(postmastersUnder(join(svc.dataDir, 'tmp') + '/')).toEqual([]);
  await adminSql(lane.endpoint, `drop table public.${target}`, DB);
  return midFlight;
}

crashMatrix({
  title: 'table restore',
  units: casesOf('table', TABLE).map((c) => [c]),
  lanes: 1,
  cost: { table: 9 },
  run: { table: tableCase },
});
