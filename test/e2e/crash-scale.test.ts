/**
 * Crash matrix, scale-out (GROWING) and scale-in (CLUSTER_SHRINKING): a SIGKILL of the service
 * at each step, then the restarted service finishes it. What every case of the matrix checks,
 * and its budget, are in test/helpers/crash-matrix.ts. Scale-out adds node 4 and the next
 * scale-in case removes it, one lane running a pair at a time (a scale case that finds the
 * cluster at the wrong size first resizes it without a fault); here also: 4 then 3 nodes,
 * each standby streaming from its own slot.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ExpectStatic } from 'vitest';
import { replicationOf, requestMayDie } from '../helpers/crash.js';
import { casesOf, checkTakenOverAndTrue, crashAndRestart, crashMatrix, newestTask, type Case, type Lane } from '../helpers/crash-matrix.js';
import { standbySlot } from '../helpers/engine.js';
import { adminSql } from '../helpers/restore-data.js';
import { waitIdle } from '../helpers/service.js';

type Kind = 'out' | 'in';

/** Each kind's action name (for faults) and steps; `tool`: its first progress sample comes from a running tool. */
const KINDS: Record<Kind, { action: string; taskKind: string; steps: { step: string; tool?: boolean }[] }> = {
  out: {
    action: 'GROWING',
    taskKind: 'cluster.scale_out',
    steps: [
      { step: 'CHECK_GROW' },
      { step: 'COPY_DATA_4', tool: true },
      { step: 'START_NODE_4' },
      { step: 'CATCH_UP' },
      { step: 'PUBLISH_NODES' },
    ],
  },
  in: {
    action: 'CLUSTER_SHRINKING',
    taskKind: 'cluster.scale_in',
    steps: [{ step: 'CHECK_SHRINK' }, { step: 'REMOVE_NODE_4' }, { step: 'UPDATE_TOPOLOGY' }],
  },
};

/** Bring the lane's cluster to `nodes` nodes (3 or 4) without a fault. */
async function ensureNodes(lane: Lane, nodes: number): Promise<void> {
  const d = await waitIdle(lane.svc.client, lane.id, 240_000);
  if (d.number_of_node === nodes) return;
  if (d.number_of_node < nodes)
    await lane.svc.client.call('POST', `/v1.0/{project_id}/clusters/${lane.id}/resize`, { scale_out: { count: nodes - d.number_of_node } });
  else
    await lane.svc.client.call('POST', `/v1.0/{project_id}/clusters/${lane.id}/cluster-shrink`, {
      shrink_number: d.number_of_node - nodes,
    });
  const after = await waitIdle(lane.svc.client, lane.id, 240_000);
  if (after.number_of_node !== nodes) throw new Error(`the lane's cluster did not reach ${nodes} nodes: ${JSON.stringify(after)}`);
}

async function scaleCase(expect: ExpectStatic, lane: Lane, c: Case): Promise<string[]> {
  const { svc } = lane;
  const out = c.kind === 'out';
  await ensureNodes(lane, out ? 3 : 4);
  const { crashedPid, midFlight } = await crashAndRestart(expect, lane, c, () =>
    out
      ? requestMayDie(svc.client, 'POST', `/v1.0/{project_id}/clusters/${lane.id}/resize`, { scale_out: { count: 1 } })
      : requestMayDie(svc.client, 'POST', `/v1.0/{project_id}/clusters/${lane.id}/cluster-shrink`, { shrink_number: 1 }),
  );
  const done = await waitIdle(svc.client, lane.id, 240_000);
  const task = (await newestTask(svc, lane.id, KINDS[c.kind as Kind].taskKind))!;
  await checkTakenOverAndTrue(expect, lane, c, lane.id, task.id, crashedPid);
  expect(done.status).toBe('AVAILABLE');
  expect(done.task_status).toBe('');
  const standbys = out ? ['node2', 'node3', 'node4'] : ['node2', 'node3'];
  expect(done.number_of_node).toBe(standbys.length + 1);
  expect(done.nodes.map((n) => n.status)).toEqual(['200', ...standbys.map(() => '200')]);
  expect(await replicationOf(done)).toEqual(standbys.map((a) => ({ application_name: a, state: 'streaming' })));
  const slots = await adminSql<{ s: string }>(lane.endpoint, 'select slot_name as s from pg_replication_slots order by 1');
  expect(slots.map((r) => r.s)).toEqual(standbys.map((_, i) => standbySlot(i + 2)));
  if (!out) expect(existsSync(join(svc.dataDir, 'clusters', lane.id, 'node4'))).toBe(false);
  return midFlight;
}

// Scale-out and scale-in cases alternate in one lane (out adds node 4, in removes it), a pair at a time.
const outs = casesOf('out', KINDS.out);
const ins = casesOf('in', KINDS.in);
const pairs: Case[][] = [];
for (let i = 0; i < Math.max(outs.length, ins.length); i++) pairs.push([outs[i], ins[i]].filter((c): c is Case => !!c));

crashMatrix({
  title: 'scale-out, scale-in',
  units: pairs,
  lanes: 1,
  cost: { out: 8, in: 7 },
  run: { out: scaleCase, in: scaleCase },
});
