/* Over 400 lines: one crash matrix over five task kinds sharing two service lanes and their clusters. */
/**
 * Crash matrix for snapshot (SNAPSHOTTING), restore into a new cluster (RESTORING), table
 * restore (FINE_GRAINED_RESTORING), scale-out (GROWING) and scale-in (CLUSTER_SHRINKING),
 * design D1, D13, D21. The service runs as a child process with --enable-crash-faults; a
 * `crash` fault (SIGKILL of the service, by the service itself) fires at a chosen step and
 * point, the service is started again on the same data directory, and:
 * - nothing the crashed service had started outlived it: no tool child (watchToolChildren),
 *   and no tool working on the data directory at any depth (pgBackRest and its workers,
 *   pg_basebackup, pg_dump, pg_restore) seen before the crash is still alive afterwards;
 * - the restarted service releases the dead owner's lease at once (its log says so; the lanes
 *   run with a 60 s lease, so without that the takeover would wait for the lease to run out)
 *   and takes the task over: `ran_by` names the crashed process, then the restarted one;
 * - the task ends SUCCESS with every sub-item SUCCESS, through both task-details endpoints
 *   (`…/actions/{NAME}` where the kind has one, and `/dwsbox/v1/…/tasks/{id}`). Every step is
 *   idempotent and finds its finished work or redoes a partial one, so a crash at any point
 *   is expected to be survived, never rolled back;
 * - the result is real: a snapshot AVAILABLE with its set verified by `pgbackrest verify`; a
 *   restored cluster with the snapshot's rows, two streaming standbys and nothing new in the
 *   source stanza's archive; restored tables with the snapshot's rows; 4 then 3 streaming nodes;
 * - the store and the processes agree: the data directories of every node the API shows up
 *   ("200"), in every cluster of the lane, are exactly those of the running postmasters under
 *   the data directory (so no orphan postmaster, no node shown up that does not run, and no
 *   temporary instance of a table restore left);
 * - no snapshot that was AVAILABLE became unrestorable: `pgbackrest verify --set` of every
 *   AVAILABLE snapshot of the lane after each case, and real restores at the end;
 * - no partial backup set is left in the repository, and the crash fault was consumed.
 *
 * Points. CI: every step at `before`, and at `during` the steps whose first progress sample
 * comes from a running tool (BACKUP, RESTORE_PRIMARY, BUILD_STANDBYS, RESTORE_TEMP,
 * EXPORT_TABLES, IMPORT_TABLES, COPY_DATA_n): 31 cases. DWSBOX_FULL_CRASH_MATRIX=1: every step
 * at `before`, `during` and `after` (every step of these kinds reports progress): 72 cases.
 * At `during` BACKUP the test also shows, before the restart, that pgBackRest had not finished:
 * no set with the snapshot's annotation is in the catalog.
 *
 * Budget (D21): two lanes (child services, each on its own data directory with one 3-node
 * cluster holding a tiny database); each case is pinned to a lane, and a lane runs its cases
 * one at a time, so at most two tasks run at once. Snapshots are taken of the lane's cluster;
 * restores and table restores read the lane's first snapshot; scale-out adds node 4 and the
 * next scale-in case removes it (a scale case that finds the cluster at the wrong size first
 * resizes it without a fault).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it, expect as expectOutside } from 'vitest';
import type { ExpectStatic } from 'vitest';
import { postmastersUnder, startChildService, watchToolChildren, type ChildService } from '../helpers/child-service.js';
import {
  deleteCluster,
  engineOn,
  leftovers,
  replicationOf,
  requestMayDie,
  storeVsProcesses,
  toolsLeftAfterCrash,
  unlistedSets,
  verifySet,
  watchDataDirTools,
  type TaskOut,
} from '../helpers/crash.js';
import { waitFor } from '../helpers/env.js';
import { queryRestoredSet } from '../helpers/restore-check.js';
import { adminSql, archiveFiles, archiveTimelines } from '../helpers/restore-data.js';
import { createAvailableCluster, waitIdle } from '../helpers/service.js';
import type { LocalEngine } from '../../src/dataplane/local-engine.js';

const FULL = process.env['DWSBOX_FULL_CRASH_MATRIX'] === '1';

type Kind = 'snapshot' | 'restore' | 'table' | 'out' | 'in';
type Point = 'before' | 'during' | 'after';

/** Each kind's action name (for faults) and steps; `tool`: its first progress sample comes from a running tool. */
const KINDS: Record<Kind, { action: string; taskKind: string; steps: { step: string; tool?: boolean }[] }> = {
  snapshot: {
    action: 'SNAPSHOTTING',
    taskKind: 'snapshot.create',
    steps: [{ step: 'CHECK_CLUSTER' }, { step: 'BACKUP', tool: true }, { step: 'VERIFY_BACKUP' }, { step: 'RECORD_SNAPSHOT' }],
  },
  restore: {
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
  },
  table: {
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
  },
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

interface Case {
  kind: Kind;
  step: string;
  point: Point;
  n: number;
}

const pointsOf = (tool: boolean | undefined): Point[] => (FULL ? ['before', 'during', 'after'] : tool ? ['before', 'during'] : ['before']);
const casesOf = (kind: Kind): Case[] =>
  KINDS[kind].steps.flatMap((s) => pointsOf(s.tool).map((point) => ({ kind, step: s.step, point, n: 0 })));

/** Rough seconds per case (measured), to balance the lanes. */
const COST: Record<Kind, number> = { snapshot: 6, restore: 16, table: 9, out: 8, in: 7 };

/**
 * The cases of each lane, in the order it runs them: scale-out and scale-in cases alternate in
 * one lane (out adds node 4, in removes it); the rest go to the lane with less work so far.
 */
function plan(): Case[][] {
  const lanes: Case[][] = [[], []];
  const cost = [0, 0];
  const add = (i: number, c: Case): void => {
    lanes[i]!.push(c);
    cost[i]! += COST[c.kind];
  };
  const outs = casesOf('out');
  const ins = casesOf('in');
  // Scale pairs are split between the lanes too, a pair at a time.
  const pairs: Case[][] = [];
  for (let i = 0; i < Math.max(outs.length, ins.length); i++) pairs.push([outs[i], ins[i]].filter((c): c is Case => !!c));
  const units: Case[][] = [
    ...casesOf('restore').map((c) => [c]),
    ...pairs,
    ...casesOf('table').map((c) => [c]),
    ...casesOf('snapshot').map((c) => [c]),
  ];
  for (const u of units) {
    const i = cost[0]! <= cost[1]! ? 0 : 1;
    for (const c of u) add(i, c);
  }
  let n = 0;
  for (const l of lanes) for (const c of l) c.n = ++n;
  return lanes;
}

interface Lane {
  svc: ChildService;
  engine: LocalEngine;
  /** the lane's cluster */
  id: string;
  stanza: string;
  endpoint: string;
  /** the lane's first snapshot (read by the restores) and the checksum of shop.public.events in it */
  base: { id: string; label: string; events: string };
  /** serialises the lane's cases */
  queue: Promise<unknown>;
}

interface Figure {
  kind: Kind;
  step: string;
  point: Point;
  lane: number;
  seconds: number;
  midFlight: string[];
  outcome: string;
}
const figures: Figure[] = [];

const DB = 'shop';
const eventsSum = async (endpoint: string, table = 'public.events'): Promise<string> =>
  (
    await adminSql<{ h: string }>(
      endpoint,
      `select count(*)::text || ':' || md5(coalesce(string_agg(x::text, ',' order by x.id), '')) as h from ${table} x`,
      DB,
    )
  )[0]!.h;

async function snapshotsOf(svc: ChildService, clusterId: string): Promise<{ id: string; name: string; status: string }[]> {
  const r = await svc.client.call<{ snapshots: { id: string; name: string; status: string; cluster_id: string }[] }>(
    'GET',
    '/v1.0/{project_id}/snapshots',
  );
  return r.snapshots.filter((s) => s.cluster_id === clusterId);
}

const labelOf = (svc: ChildService, snapshotId: string): string =>
  svc.storeQuery<{ backup_label: string | null }>('select backup_label from snapshots where id = ?', snapshotId)[0]?.backup_label ?? '';

async function waitSnapshotDone(svc: ChildService, id: string): Promise<string> {
  return waitFor(
    async () => {
      const s = (await svc.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${id}`)).snapshot;
      return s.status === 'CREATING' ? null : s.status;
    },
    { what: `snapshot ${id}`, timeoutMs: 180_000, intervalMs: 100 },
  );
}

async function taskById(svc: ChildService, clusterId: string, taskId: string): Promise<TaskOut & { action_name: string }> {
  return svc.client.call<TaskOut & { action_name: string }>('GET', `/dwsbox/v1/{project_id}/clusters/${clusterId}/tasks/${taskId}`);
}

async function newestTask(svc: ChildService, clusterId: string, kind: string): Promise<TaskOut | undefined> {
  const tasks = (await svc.client.call<{ tasks: TaskOut[] }>('GET', `/dwsbox/v1/{project_id}/clusters/${clusterId}/tasks`)).tasks;
  return tasks.find((t) => t.kind === kind);
}

async function waitTaskDone(svc: ChildService, clusterId: string, taskId: string): Promise<TaskOut> {
  return waitFor(
    async () => {
      const t = await taskById(svc, clusterId, taskId);
      return ['SUCCESS', 'FAILED', 'ROLLBACK_SUCCESS', 'ROLLBACK_FAIL'].includes(t.status) ? t : null;
    },
    { what: `task ${taskId}`, timeoutMs: 240_000, intervalMs: 100 },
  );
}

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

/** Every AVAILABLE snapshot of the lane still verifies (`pgbackrest verify --set`). */
async function availableSnapshotsVerify(lane: Lane): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const s of (await snapshotsOf(lane.svc, lane.id)).filter((x) => x.status === 'AVAILABLE')) {
    const problems = await verifySet(lane.engine, lane.stanza, labelOf(lane.svc, s.id));
    if (problems.length) out[s.name] = problems;
  }
  return out;
}

/**
 * One crash: arm the fault, start the operation, see the service die by SIGKILL, check that
 * none of its tools survived, run `afterCrash` (while the service is down), start it again.
 */
async function crashAndRestart(
  expect: ExpectStatic,
  lane: Lane,
  c: Case,
  start: () => Promise<unknown>,
  afterCrash?: () => Promise<void>,
): Promise<{ crashedPid: number; midFlight: string[] }> {
  const { svc } = lane;
  await svc.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
    cluster_id: lane.id,
    action_name: KINDS[c.kind].action,
    step: c.step,
    mode: 'crash',
    point: c.point,
    times: 1,
  });
  const crashedPid = svc.pid;
  const children = watchToolChildren(crashedPid);
  const tools = watchDataDirTools(svc.dataDir, crashedPid);
  await start();
  const exit = await svc.waitExit(180_000);
  tools.stop();
  children.stop();
  expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
  const midFlight = [...new Set(tools.midFlight().map((p) => toolName(p.cmd)))];
  // D1: nothing it started outlives it, at any depth (no pgbackrest from before the crash).
  expect(await toolsLeftAfterCrash(children, svc.dataDir)).toEqual([]);
  await waitFor(async () => tools.survivors().length === 0, { timeoutMs: 5000, intervalMs: 50 }).catch(() => {});
  expect(tools.survivors().map((p) => `${p.pid} ${p.cmd}`)).toEqual([]);
  await afterCrash?.();
  await svc.restart();
  return { crashedPid, midFlight };
}

/** `pgbackrest backup`, `pg_dump`, … from a command line. */
function toolName(cmd: string): string {
  const br = / (backup|restore|check|verify|info|stanza-create|stanza-delete|expire)$/.exec(cmd);
  if (/pgbackrest/.test(cmd)) return `pgbackrest ${br?.[1] ?? ''}`.trim();
  return /(pg_basebackup|pg_dump|pg_restore|initdb)/.exec(cmd)?.[1] ?? cmd.split(' ')[0]!;
}

/** What every case checks once its task has ended. */
async function checkTakenOverAndTrue(
  expect: ExpectStatic,
  lane: Lane,
  c: Case,
  clusterId: string,
  taskId: string,
  crashedPid: number,
): Promise<void> {
  const { svc } = lane;
  const task = await taskById(svc, clusterId, taskId);
  expect(task.kind).toBe(KINDS[c.kind].taskKind);
  expect(task.status, `${task.failed_step}: ${task.error_msg}`).toBe('SUCCESS');
  expect(task.failed_step).toBeNull();
  const planned = task.items.flatMap((i) => i.sub_items.map((s) => s.step));
  expect(planned).toContain(c.step);
  expect(task.items.flatMap((i) => i.sub_items.map((s) => [s.step, s.status]))).toEqual(planned.map((s) => [s, 'SUCCESS']));
  // The public endpoint of the kind says the same (scale-in has no action name of its own).
  if (c.kind !== 'in') {
    const a = await svc.client.call<TaskOut & { action_name: string }>(
      'GET',
      `/v1/{project_id}/clusters/${clusterId}/actions/${KINDS[c.kind].action}`,
    );
    expect(a.id).toBe(taskId);
    expect(a.status).toBe('SUCCESS');
    expect(a.items.flatMap((i) => i.sub_items.map((s) => s.status))).toEqual(planned.map(() => 'SUCCESS'));
  }
  // Taken over at once (D1): the restarted service released the dead owner's lease, then ran it to the end.
  expect(svc.ranBy(taskId)).toEqual([crashedPid, svc.pid]);
  const lines = svc.logLines().filter((l) => l.pid === svc.pid && l['taskId'] === taskId);
  expect(lines.some((l) => l.msg === 'took over the task of a dead process on this host at once')).toBe(true);
  expect(lines.some((l) => l.msg === 'task succeeded')).toBe(true);
  expect((await svc.client.call<{ count: number }>('GET', '/dwsbox/v1/{project_id}/faults')).count).toBe(0);
  // Store and processes agree across the lane; no temporary instance is left.
  const agree = await storeVsProcesses(svc);
  expect(agree.running).toEqual(agree.up);
  expect(existsSync(join(svc.dataDir, 'tmp')) ? readdirSync(join(svc.dataDir, 'tmp')) : []).toEqual([]);
  // No partial backup set; the snapshots that were AVAILABLE still verify: all of them after a
  // snapshot case (it wrote into their repository), the base one (the one restores read) after the others.
  expect(await unlistedSets(lane.engine, lane.stanza)).toEqual([]);
  if (c.kind === 'snapshot') expect(await availableSnapshotsVerify(lane)).toEqual({});
  else expect(await verifySet(lane.engine, lane.stanza, lane.base.label)).toEqual([]);
}

// ------------------------------------------------------------------ the cases

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

async function restoreCase(expect: ExpectStatic, lane: Lane, c: Case): Promise<string[]> {
  const { svc } = lane;
  const name = `restored-${c.n}`;
  const sourceArchive = archiveFiles(join(svc.dataDir, 'repo'), lane.stanza);
  const { crashedPid, midFlight } = await crashAndRestart(expect, lane, c, () =>
    requestMayDie(svc.client, 'POST', `/v1.0/{project_id}/snapshots/${lane.base.id}/actions`, { restore: { name } }),
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
  expect(await eventsSum(done.endpoints[0]!.connect_info)).toBe(lane.base.events);
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
  const task = (await newestTask(svc, lane.id, KINDS[c.kind].taskKind))!;
  await checkTakenOverAndTrue(expect, lane, c, lane.id, task.id, crashedPid);
  expect(done.status).toBe('AVAILABLE');
  expect(done.task_status).toBe('');
  const standbys = out ? ['node2', 'node3', 'node4'] : ['node2', 'node3'];
  expect(done.number_of_node).toBe(standbys.length + 1);
  expect(done.nodes.map((n) => n.status)).toEqual(['200', ...standbys.map(() => '200')]);
  expect(await replicationOf(done)).toEqual(standbys.map((a) => ({ application_name: a, state: 'streaming' })));
  const slots = await adminSql<{ s: string }>(lane.endpoint, 'select slot_name as s from pg_replication_slots order by 1');
  expect(slots.map((r) => r.s)).toEqual(standbys.map((a) => `dwsbox_${a}`));
  if (!out) expect(existsSync(join(svc.dataDir, 'clusters', lane.id, 'node4'))).toBe(false);
  return midFlight;
}

const RUN: Record<Kind, (expect: ExpectStatic, lane: Lane, c: Case) => Promise<string[]>> = {
  snapshot: snapshotCase,
  restore: restoreCase,
  table: tableCase,
  out: scaleCase,
  in: scaleCase,
};

/** After a failed case: the service up, no fault, the lane's cluster idle, no other cluster, no restored table. */
async function resetLane(lane: Lane): Promise<void> {
  const { svc } = lane;
  if (!svc.alive()) await svc.restart();
  await svc.client.call('DELETE', '/dwsbox/v1/{project_id}/faults');
  for (const c of (await svc.client.call<{ clusters: { id: string }[] }>('GET', '/v1.0/{project_id}/clusters')).clusters) {
    await waitIdle(svc.client, c.id, 240_000).catch(() => {});
    if (c.id !== lane.id) await deleteCluster(svc.client, c.id).catch(() => {});
  }
  const tables = await adminSql<{ t: string }>(
    lane.endpoint,
    `select tablename as t from pg_tables where schemaname = 'public' and tablename like 'events_c%'`,
    DB,
  ).catch(() => []);
  for (const t of tables) await adminSql(lane.endpoint, `drop table public."${t.t}"`, DB).catch(() => {});
}

// ------------------------------------------------------------------ the suite

const LANES = plan();

describe(`crash matrix: snapshot, restore, table restore, scale-out, scale-in (${FULL ? 'full' : 'CI'}: ${LANES.flat().length} cases)`, () => {
  const lanes: Lane[] = [];
  const started = Date.now();

  beforeAll(async () => {
    const made = await Promise.all(
      [0, 1].map(async (): Promise<Lane> => {
        // A long lease: the takeover is quick only because the restarted service sees the owner
        // dead and releases its lease at once (D1), which the cases check in its log.
        const svc = await startChildService({ settings: { leaseMs: 60_000, logLevel: 'info' } });
        try {
          const c = await createAvailableCluster(svc.client, { nodes: 3 });
          const endpoint = c.detail.endpoints[0]!.connect_info;
          // A tiny database (D21): one table with a key, an index and a few hundred KB.
          await adminSql(endpoint, `create database ${DB}`);
          await adminSql(
            endpoint,
            `create table events (id int primary key, kind text not null, payload text not null);
          create index events_kind_idx on events (kind);
          insert into events select g, 'k' || (g % 7), md5(g::text) || md5((g * 7)::text) from generate_series(1, 3000) g; analyze events`,
            DB,
          );
          const r = await svc.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
            snapshot: { name: 'base', cluster_id: c.id },
          });
          const events = await eventsSum(endpoint);
          if ((await waitSnapshotDone(svc, r.snapshot.id)) !== 'AVAILABLE') throw new Error('the base snapshot failed');
          // After the snapshot the table changes, so restores must bring back the snapshot's rows.
          await adminSql(endpoint, "delete from events where id > 2500; update events set kind = kind || '!' where id % 10 = 0", DB);
          const stanza = `cluster-${c.id}`;
          return {
            svc,
            engine: engineOn(svc.dataDir),
            id: c.id,
            stanza,
            endpoint,
            base: { id: r.snapshot.id, label: labelOf(svc, r.snapshot.id), events },
            queue: Promise.resolve(),
          };
        } catch (e) {
          await svc.cleanup().catch(() => {});
          throw e;
        }
      }),
    );
    lanes.push(...made);
  }, 300_000);

  afterAll(async () => {
    if (figures.length) {
      const byKind = (Object.keys(KINDS) as Kind[])
        .map((k) => figures.filter((f) => f.kind === k))
        .filter((fs) => fs.length)
        .map(
          (fs) =>
            `${fs[0]!.kind}: ${fs.length} cases, ${fs.filter((f) => f.outcome === 'SUCCESS').length} survived, median ${median(fs.map((f) => f.seconds))} s`,
        );
      const during = figures.filter((f) => f.point === 'during');
      console.log(
        `[crash matrix] ${FULL ? 'full' : 'CI'}: ${figures.length} crash points, ${figures.filter((f) => f.outcome === 'SUCCESS').length} survived; wall clock ${Math.round((Date.now() - started) / 1000)} s\n  ${byKind.join('\n  ')}\n` +
          `  during: ${during.map((f) => `${f.step}: ${f.midFlight.join('+') || 'no tool running'}`).join('; ')}\n` +
          figures.map((f) => `  lane ${f.lane} ${f.kind} ${f.point} ${f.step}: ${f.outcome} in ${f.seconds} s`).join('\n'),
      );
    }
    const errors: unknown[] = [];
    for (const l of lanes) {
      await waitIdle(l.svc.client, l.id, 120_000).catch(() => {});
      await deleteCluster(l.svc.client, l.id).catch((e: unknown) => errors.push(e));
      await l.svc.cleanup().catch((e: unknown) => errors.push(e));
    }
    if (errors.length) throw errors[0];
  }, 300_000);

  // Registered lane by lane, interleaved, so each lane takes its cases in its own order.
  const longest = Math.max(...LANES.map((l) => l.length));
  for (let i = 0; i < longest; i++) {
    for (const [li, cases] of LANES.entries()) {
      const c = cases[i];
      if (!c) continue;
      it.concurrent(
        `${c.kind} (${KINDS[c.kind].action}): crash ${c.point} ${c.step}, the restarted service finishes it`,
        { timeout: 900_000 },
        async ({ expect }) => {
          const lane = lanes[li]!;
          const mine = lane.queue.then(async () => {
            // A lane whose service could not be started again by an earlier case gets another try.
            if (!lane.svc.alive()) await resetLane(lane);
            const t0 = Date.now();
            let outcome = 'FAILED';
            try {
              const midFlight = await RUN[c.kind](expect, lane, c);
              outcome = 'SUCCESS';
              figures.push({
                kind: c.kind,
                step: c.step,
                point: c.point,
                lane: li,
                seconds: Math.round((Date.now() - t0) / 100) / 10,
                midFlight,
                outcome,
              });
            } catch (e) {
              figures.push({
                kind: c.kind,
                step: c.step,
                point: c.point,
                lane: li,
                seconds: Math.round((Date.now() - t0) / 100) / 10,
                midFlight: [],
                outcome,
              });
              await resetLane(lane).catch(() => {});
              throw e;
            }
          });
          lane.queue = mine.catch(() => {});
          await mine;
        },
      );
    }
  }

  it(
    'every snapshot the matrix made is restorable: a real restore of the base snapshot and of the newest one, in each lane',
    { timeout: 600_000 },
    async () => {
      for (const lane of lanes) {
        await lane.queue;
        // Every snapshot of the lane's cluster ended AVAILABLE (a crash never left one UNAVAILABLE).
        expectOutside((await snapshotsOf(lane.svc, lane.id)).filter((s) => s.status !== 'AVAILABLE')).toEqual([]);
        const [newest] = lane.svc.storeQuery<{ id: string }>(
          "select id from snapshots where cluster_id = ? and status = 'AVAILABLE' and deleted_at is null order by created_at desc limit 1",
          lane.id,
        );
        // The base snapshot has the 3000 rows; every later one the 2500 left after it.
        for (const [id, rows] of [
          [lane.base.id, 3000],
          [newest!.id, newest!.id === lane.base.id ? 3000 : 2500],
        ] as const) {
          const r = await queryRestoredSet<{ n: number }>(
            lane.engine,
            { stanza: lane.stanza, label: labelOf(lane.svc, id), sourceBytes: null },
            'select count(*)::int as n from events',
            DB,
          );
          expectOutside(r[0]!.n).toBe(rows);
        }
      }
    },
  );
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
}
