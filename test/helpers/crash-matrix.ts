/* Over 400 lines: the crash matrix's machinery shared by its files (lanes, crash and restart, the checks every case makes). */
/**
 * The crash matrix for snapshot (SNAPSHOTTING), restore into a new cluster (RESTORING), table
 * restore (FINE_GRAINED_RESTORING), scale-out (GROWING) and scale-in (CLUSTER_SHRINKING),
 * design D1, D13, D21, one file per operation family (test/e2e/crash-snapshot.test.ts,
 * crash-restore.test.ts, crash-table-restore.test.ts, crash-scale.test.ts), so that the
 * suite's lanes balance. The service runs as a child process with --enable-crash-faults; a
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
 * - the result is real (each file's case checks its own: a verified snapshot, a restored
 *   cluster with the snapshot's rows, restored tables, 4 then 3 streaming nodes);
 * - the store and the processes agree: the data directories of every node the API shows up
 *   ("200"), in every cluster of the lane, are exactly those of the running postmasters under
 *   the data directory (so no orphan postmaster, no node shown up that does not run, and no
 *   temporary instance of a table restore left);
 * - no snapshot that was AVAILABLE became unrestorable: `pgbackrest verify --set` of every
 *   AVAILABLE snapshot of the lane after each case, and real restores at the end;
 * - no partial backup set is left in the repository, and the crash fault was consumed.
 *
 * Points. CI: every step at `before`, and at `during` the steps whose first progress sample
 * comes from a running tool (`tool: true`). DWSBOX_FULL_CRASH_MATRIX=1: every step at
 * `before`, `during` and `after` (every step of these kinds reports progress).
 *
 * Budget (D21): each file runs a few lanes (child services, each on its own data directory
 * with one 3-node cluster holding a tiny database and a first snapshot); each case is pinned
 * to a lane, and a lane runs its cases one at a time, so at most that many tasks of the file
 * run at once.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it, expect as expectOutside } from 'vitest';
import type { ExpectStatic } from 'vitest';
import { startChildService, watchToolChildren, type ChildService } from './child-service.js';
import {
  deleteCluster,
  engineOn,
  storeVsProcesses,
  toolsLeftAfterCrash,
  unlistedSets,
  verifySet,
  watchDataDirTools,
  type TaskOut,
} from './crash.js';
import { longLivedChildren } from './engine.js';
import { waitFor } from './env.js';
import { queryRestoredSet } from './restore-check.js';
import { adminSql } from './restore-data.js';
import { createAvailableCluster, snapshotDone, waitIdle } from './service.js';
import type { LocalEngine } from '../../src/dataplane/local-engine.js';

export const FULL = process.env['DWSBOX_FULL_CRASH_MATRIX'] === '1';

export type Point = 'before' | 'during' | 'after';

/** A kind's action name (for faults), task kind and steps; `tool`: its first progress sample comes from a running tool. */
export interface KindSpec {
  action: string;
  taskKind: string;
  steps: { step: string; tool?: boolean }[];
}

export interface Case {
  kind: string;
  /** the kind's spec (action name, task kind) */
  spec: KindSpec;
  step: string;
  point: Point;
  n: number;
}

const pointsOf = (tool: boolean | undefined): Point[] => (FULL ? ['before', 'during', 'after'] : tool ? ['before', 'during'] : ['before']);
export const casesOf = (kind: string, spec: KindSpec): Case[] =>
  spec.steps.flatMap((s) => pointsOf(s.tool).map((point) => ({ kind, spec, step: s.step, point, n: 0 })));

/**
 * The crash points of a create's or a delete's matrix (crash-create on the local engine,
 * crash-patroni on the default, crash-lifecycle). CI: as the families' above, every step
 * `before` and `during` the steps named in `ci` (a copy's first sample, a delete's nodes half
 * stopped), and `after` the last step only (`after` = the step's work done, its checkpoint not
 * committed: the restarted service runs the step again over its own work). Full
 * (DWSBOX_FULL_CRASH_MATRIX=1): `before` and `after` every step, `during` every step that
 * reports progress.
 */
export function crashPoints(
  steps: readonly string[],
  o: { progress: ReadonlySet<string>; ci: ReadonlySet<string> },
): { step: string; point: Point }[] {
  const last = steps[steps.length - 1];
  return steps.flatMap((step) =>
    (['before', 'during', 'after'] as const)
      .filter((point) => (point === 'before' ? true : point === 'during' ? (FULL ? o.progress : o.ci).has(step) : FULL || step === last))
      .map((point) => ({ step, point })),
  );
}

/** The steps of a cluster create, in order. */
export const CREATE_STEPS = [
  'CHECK_CAPACITY',
  'INIT_PRIMARY',
  'START_PRIMARY',
  'ENABLE_ARCHIVING',
  'BUILD_STANDBY_2',
  'BUILD_STANDBY_3',
  'CREATE_ADMIN',
  'VERIFY_CLUSTER',
] as const;
/** A create's crash cases: its steps that report progress, and of those the copies (a running tool's first sample). */
export const CREATE_CASES = crashPoints(CREATE_STEPS, {
  progress: new Set(['BUILD_STANDBY_2', 'BUILD_STANDBY_3', 'VERIFY_CLUSTER']),
  ci: new Set(['BUILD_STANDBY_2', 'BUILD_STANDBY_3']),
});

export interface Lane {
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
  kind: string;
  step: string;
  point: Point;
  lane: number;
  seconds: number;
  midFlight: string[];
  outcome: string;
}

export const DB = 'shop';
export const eventsSum = async (endpoint: string, table = 'public.events'): Promise<string> =>
  (
    await adminSql<{ h: string }>(
      endpoint,
      `select count(*)::text || ':' || md5(coalesce(string_agg(x::text, ',' order by x.id), '')) as h from ${table} x`,
      DB,
    )
  )[0]!.h;

export async function snapshotsOf(svc: ChildService, clusterId: string): Promise<{ id: string; name: string; status: string }[]> {
  const r = await svc.client.call<{ snapshots: { id: string; name: string; status: string; cluster_id: string }[] }>(
    'GET',
    '/v1.0/{project_id}/snapshots',
  );
  return r.snapshots.filter((s) => s.cluster_id === clusterId);
}

export const labelOf = (svc: ChildService, snapshotId: string): string =>
  svc.storeQuery<{ backup_label: string | null }>('select backup_label from snapshots where id = ?', snapshotId)[0]?.backup_label ?? '';

export const waitSnapshotDone = (svc: ChildService, id: string): Promise<string> => snapshotDone(svc.client, id);

async function taskById(svc: ChildService, clusterId: string, taskId: string): Promise<TaskOut & { action_name: string }> {
  return svc.client.call<TaskOut & { action_name: string }>('GET', `/dwsbox/v1/{project_id}/clusters/${clusterId}/tasks/${taskId}`);
}

export async function newestTask(svc: ChildService, clusterId: string, kind: string): Promise<TaskOut | undefined> {
  const tasks = (await svc.client.call<{ tasks: TaskOut[] }>('GET', `/dwsbox/v1/{project_id}/clusters/${clusterId}/tasks`)).tasks;
  return tasks.find((t) => t.kind === kind);
}

export async function waitTaskDone(svc: ChildService, clusterId: string, taskId: string): Promise<TaskOut> {
  return waitFor(
    async () => {
      const t = await taskById(svc, clusterId, taskId);
      return ['SUCCESS', 'FAILED', 'ROLLBACK_SUCCESS', 'ROLLBACK_FAIL'].includes(t.status) ? t : null;
    },
    { what: `task ${taskId}`, timeoutMs: 240_000, intervalMs: 100 },
  );
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
export async function crashAndRestart(
  expect: ExpectStatic,
  lane: Lane,
  c: Case,
  start: () => Promise<unknown>,
  afterCrash?: () => Promise<void>,
): Promise<{ crashedPid: number; midFlight: string[] }> {
  const { svc } = lane;
  await svc.client.call('POST', '/dwsbox/v1/{project_id}/faults', {
    cluster_id: lane.id,
    action_name: c.spec.action,
    step: c.step,
    mode: 'crash',
    point: c.point,
    times: 1,
  });
  const crashedPid = svc.pid;
  // The host agent a service started (none answered: another file's stop-all may have stopped the run's) outlives it by design (D23).
  const children = watchToolChildren(crashedPid, 20, longLivedChildren());
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
export async function checkTakenOverAndTrue(
  expect: ExpectStatic,
  lane: Lane,
  c: Case,
  clusterId: string,
  taskId: string,
  crashedPid: number,
): Promise<void> {
  const { svc } = lane;
  const task = await taskById(svc, clusterId, taskId);
  expect(task.kind).toBe(c.spec.taskKind);
  expect(task.status, `${task.failed_step}: ${task.error_msg}`).toBe('SUCCESS');
  expect(task.failed_step).toBeNull();
  const planned = task.items.flatMap((i) => i.sub_items.map((s) => s.step));
  expect(planned).toContain(c.step);
  expect(task.items.flatMap((i) => i.sub_items.map((s) => [s.step, s.status]))).toEqual(planned.map((s) => [s, 'SUCCESS']));
  // The public endpoint of the kind says the same (scale-in has no action name of its own).
  if (c.kind !== 'in') {
    const a = await svc.client.call<TaskOut & { action_name: string }>(
      'GET',
      `/v1/{project_id}/clusters/${clusterId}/actions/${c.spec.action}`,
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

/**
 * The cases of each lane, in the order it runs them. A unit (one case, or cases that must run
 * in order on one lane, like a scale-out and the scale-in that removes its node) goes to the
 * lane with the least work so far; `cost` is a kind's rough seconds per case (measured).
 */
function plan(units: Case[][], lanes: number, cost: Record<string, number>): Case[][] {
  const out: Case[][] = Array.from({ length: lanes }, () => []);
  const load = out.map(() => 0);
  for (const u of units) {
    const i = load.indexOf(Math.min(...load));
    for (const c of u) {
      out[i]!.push(c);
      load[i]! += cost[c.kind] ?? 1;
    }
  }
  let n = 0;
  for (const l of out) for (const c of l) c.n = ++n;
  return out;
}

/** A lane: a child service with one 3-node cluster holding the tiny `shop` database, and its first snapshot taken. */
async function startLane(): Promise<Lane> {
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
}

export type CaseRunner = (expect: ExpectStatic, lane: Lane, c: Case) => Promise<string[]>;

/**
 * Registers one file's matrix: `units` spread over `lanes` lanes by `cost`, each case run by
 * `run[c.kind]`, then the end check that every snapshot the lanes made is restorable.
 */
export function crashMatrix(o: {
  title: string;
  units: Case[][];
  lanes: number;
  cost: Record<string, number>;
  run: Record<string, CaseRunner>;
}): void {
  const LANES = plan(o.units, o.lanes, o.cost);
  const figures: Figure[] = [];

  describe(`crash matrix: ${o.title} (${FULL ? 'full' : 'CI'}: ${LANES.flat().length} cases)`, () => {
    const lanes: Lane[] = [];
    const started = Date.now();

    beforeAll(async () => {
      const made = await Promise.allSettled(LANES.map(() => startLane()));
      for (const m of made) if (m.status === 'fulfilled') lanes.push(m.value);
      const failed = made.find((m): m is PromiseRejectedResult => m.status === 'rejected');
      if (failed) throw failed.reason;
    }, 300_000);

    afterAll(async () => {
      if (figures.length) {
        const kinds = [...new Set(figures.map((f) => f.kind))];
        const byKind = kinds.map((k) => {
          const fs = figures.filter((f) => f.kind === k);
          return `${k}: ${fs.length} cases, ${fs.filter((f) => f.outcome === 'SUCCESS').length} survived, median ${median(fs.map((f) => f.seconds))} s`;
        });
        const during = figures.filter((f) => f.point === 'during');
        console.log(
          `[crash matrix] ${o.title}, ${FULL ? 'full' : 'CI'}: ${figures.length} crash points, ${figures.filter((f) => f.outcome === 'SUCCESS').length} survived; wall clock ${Math.round((Date.now() - started) / 1000)} s\n  ${byKind.join('\n  ')}\n` +
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
          `${c.kind} (${c.spec.action}): crash ${c.point} ${c.step}, the restarted service finishes it`,
          { timeout: 900_000 },
          async ({ expect }) => {
            const lane = lanes[li]!;
            const mine = lane.queue.then(async () => {
              // A lane whose service could not be started again by an earlier case gets another try.
              if (!lane.svc.alive()) await resetLane(lane);
              const t0 = Date.now();
              const figure = (midFlight: string[], outcome: string): Figure => ({
                kind: c.kind,
                step: c.step,
                point: c.point,
                lane: li,
                seconds: Math.round((Date.now() - t0) / 100) / 10,
                midFlight,
                outcome,
              });
              try {
                const run = o.run[c.kind];
                if (!run) throw new Error(`no runner for ${c.kind}`);
                figures.push(figure(await run(expect, lane, c), 'SUCCESS'));
              } catch (e) {
                figures.push(figure([], 'FAILED'));
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
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
}
