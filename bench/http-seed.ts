/**
 * The store of the HTTP benchmark (bench/http.ts), seeded through the store layer (the Store's
 * insert methods, one transaction per batch of clusters), before any service opens it.
 *
 * Project A (the bench's credentials) gets `clusters` clusters of 3 nodes; each has
 * `snapshotsPerCluster` snapshots and `tasksPerCluster` finished tasks with their real step
 * plans (tasks/registry.ts) and progress samples: a create, one snapshot task per snapshot
 * (one of them failed, its snapshot UNAVAILABLE), scale-outs and scale-ins by one node in
 * pairs, restarts, stop/start pairs, and a last stop. Project B gets a few of the same, so
 * every read has another project's rows to filter out.
 *
 * Every seeded cluster ends stopped by a `cluster.stop` task (status UNAVAILABLE, `stopped`,
 * its nodes' health `stopped`), the state a user's stop leaves. The health monitor never
 * starts a stopped cluster, at start-up (`adopt`) or later, and finds nothing to change in
 * one (services/health-monitor.ts): nothing tries to run these nodes, which have no data
 * directory.
 *
 * The target cluster (the one the per-cluster routes read) has a newest snapshot task that
 * looks like a real one: its four steps with their timings and progressInfo, and the BACKUP
 * step's samples every 500 ms as pgBackRest's progress poll stores them, then its final one.
 */
import { randomUUID } from 'node:crypto';
import type { AuthService } from '../src/auth/auth-service.js';
import type { Secrets } from '../src/auth/secrets.js';
import { AVAILABILITY_ZONES } from '../src/api/schemas/cluster.js';
import { DEFAULT_MAINTENANCE_WINDOW } from '../src/domain/maintenance-window.js';
import { DATASTORE_VERSION } from '../src/domain/node-types.js';
import type {
  ClusterRecord,
  NodeRecord,
  ProgressSample,
  SnapshotRecord,
  StepRecord,
  TaskRecord,
  TaskPhase,
} from '../src/domain/records.js';
import { ACTION_TYPE_OF_KIND, type TaskKind, type TaskStatus } from '../src/domain/task.js';
import { backupKeyTime } from '../src/domain/time.js';
import type { Store } from '../src/store/store.js';
import type { TaskDefinition } from '../src/tasks/definition.js';
import { buildProgressInfo, type StepFigures } from '../src/tasks/progress.js';
import { createRegistry } from '../src/tasks/registry.js';
import { newStepRecord } from '../src/tasks/runner.js';

export interface SeedOptions {
  /** project A: the bench's credentials */
  projectId: string;
  /** project B: a few rows of another tenant */
  otherProjectId: string;
  clusters: number;
  snapshotsPerCluster: number;
  tasksPerCluster: number;
  /** project B's clusters (each with 4 snapshots and 10 tasks) */
  otherClusters: number;
  /** where node data directories would be (they are never created) */
  dataDir: string;
  /** `now` of the seeded history: everything happened before it */
  now: number;
  /** clusters per transaction */
  batch?: number;
}

export interface SeedResult {
  targetClusterId: string;
  /** the newest snapshot task of the target cluster (ListJobDetails reads it) */
  targetTaskId: string;
  counts: { clusters: number; nodes: number; snapshots: number; tasks: number; steps: number; samples: number };
  seconds: number;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** A small deterministic PRNG (mulberry32): the same store on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface PlannedTask {
  kind: TaskKind;
  params: (c: ClusterRecord) => Record<string, unknown>;
  status: TaskStatus;
}

/**
 * A cluster's history, oldest first: a create, then `snapshots` snapshot tasks spread among
 * the others, then a final stop; `total` tasks in all.
 */
function history(total: number, snapshots: number): PlannedTask[] {
  const others: PlannedTask[] = [];
  const ordinals = { ordinals: [1, 2, 3] };
  const fillers = total - 2 - snapshots;
  for (let k = 0; others.length < fillers; k++) {
    switch (k % 4) {
      case 0:
        others.push({ kind: 'cluster.scale_out', params: scaleOut, status: 'SUCCESS' });
        if (others.length < fillers) others.push({ kind: 'cluster.scale_in', params: scaleIn, status: 'SUCCESS' });
        break;
      case 1:
      case 3:
        others.push({ kind: 'cluster.restart', params: (c) => ({ clusterId: c.id, ...ordinals }), status: 'SUCCESS' });
        break;
      default:
        others.push({ kind: 'cluster.stop', params: (c) => ({ clusterId: c.id, ...ordinals }), status: 'SUCCESS' });
        if (others.length < fillers)
          others.push({ kind: 'cluster.start', params: (c) => ({ clusterId: c.id, ...ordinals }), status: 'SUCCESS' });
    }
  }
  const out: PlannedTask[] = [{ kind: 'cluster.create', params: (c) => ({ clusterId: c.id, numberOfNode: 3 }), status: 'SUCCESS' }];
  // Snapshot tasks interleaved evenly with the rest; the one in the middle failed.
  const snap = (n: number): PlannedTask => ({
    kind: 'snapshot.create',
    params: (c) => ({ clusterId: c.id }),
    status: n === Math.floor(snapshots / 2) ? 'FAILED' : 'SUCCESS',
  });
  let s = 0;
  for (let k = 0; k < others.length || s < snapshots; k++) {
    if (s < snapshots && (k >= others.length || (s * others.length) / snapshots <= k)) out.push(snap(s++));
    if (k < others.length) out.push(others[k]!);
  }
  out.push({ kind: 'cluster.stop', params: (c) => ({ clusterId: c.id, ...ordinals }), status: 'SUCCESS' });
  return out;
}

function scaleOut(c: ClusterRecord): Record<string, unknown> {
  return { clusterId: c.id, count: 1, ordinals: [4], nodeIds: [randomUUID()], originNodeNum: 3 };
}
function scaleIn(c: ClusterRecord): Record<string, unknown> {
  return { clusterId: c.id, count: 1, ordinals: [4], originNodeNum: 4 };
}

const NO_FIGURES: StepFigures = {
  percent: null,
  bytesDone: null,
  bytesTotal: null,
  producerRate: null,
  consumerRate: null,
  compressRate: null,
  secondsLeft: null,
};

/** How long each step of a seeded task took (ms): a snapshot's as measured on this machine, others about a second. */
function stepMs(stepId: string, rnd: () => number): number {
  const base: Record<string, number> = { CHECK_CLUSTER: 600, BACKUP: 4300, VERIFY_BACKUP: 400, RECORD_SNAPSHOT: 200, INIT_PRIMARY: 900 };
  return Math.round((base[stepId] ?? 1000) * (0.8 + 0.4 * rnd()));
}

export async function seedStore(store: Store, auth: AuthService, secrets: Secrets, o: SeedOptions): Promise<SeedResult> {
  const began = performance.now();
  const registry = createRegistry();
  const rnd = prng(14);
  const counts = { clusters: 0, nodes: 0, snapshots: 0, tasks: 0, steps: 0, samples: 0 };
  const owner = `bench-seed:${process.pid}:000000:0`;
  // One sealed password for every seeded cluster: decryptable with the data directory's master key, as a real one is.
  const adminPasswordEnc = secrets.encrypt('Dwsbox-Bench-Pass1');
  const replPasswordEnc = secrets.encrypt('Dwsbox-Bench-Repl1');
  for (const p of [o.projectId, o.otherProjectId]) await store.ensureProject({ id: p, name: p, createdAt: o.now - 100 * DAY });
  const targetIndex = Math.floor(o.clusters / 2);
  let targetTaskId = '';
  let targetClusterId = '';

  const seedCluster = async (
    tx: Store,
    projectId: string,
    i: number,
    snapshotsN: number,
    tasksN: number,
    target: boolean,
  ): Promise<void> => {
    const id = randomUUID();
    const createdAt = o.now - 90 * DAY + Math.floor((i / Math.max(1, o.clusters)) * 30 * DAY);
    const c: ClusterRecord = {
      id,
      projectId,
      name: `${projectId === o.projectId ? 'bench' : 'other'}-${String(i).padStart(4, '0')}`,
      status: 'UNAVAILABLE',
      subStatus: 'NORMAL',
      stickyTaskStatus: null,
      stopped: true,
      nodeType: 'dwsx.small',
      numberOfNode: 3,
      port: 8000,
      // 127.0.c.i has 254 values of c: the clusters beyond them hold no addresses.
      subnetIndex: projectId === o.projectId && i < 250 ? i + 1 : null,
      userName: 'dbadmin',
      adminPasswordEnc,
      replPasswordEnc,
      stanza: `cluster-${id}`,
      spec: {
        availabilityZone: AVAILABILITY_ZONES[i % AVAILABILITY_ZONES.length]!,
        vpcId: '3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98',
        subnetId: '7d6c5b4a-3f2e-4d1c-8b0a-9e8d7c6b5a43',
        securityGroupId: '',
        enterpriseProjectId: '0',
        tags: i % 3 === 0 ? [{ key: 'team', value: `t${i % 7}` }] : [],
        description: '',
        version: DATASTORE_VERSION,
        numberOfCn: null,
        publicIp: null,
        volume: null,
      },
      failedReasons: null,
      healthNote: null,
      maintainWindow: DEFAULT_MAINTENANCE_WINDOW,
      pendingRestart: null,
      restartDueAt: null,
      readOnly: null,
      createdAt,
      updatedAt: o.now - 2 * 60 * MINUTE,
      deletedAt: null,
    };
    await tx.insertCluster(c);
    counts.clusters++;
    for (let n = 1; n <= 3; n++) {
      const node: NodeRecord = {
        id: randomUUID(),
        clusterId: id,
        ordinal: n,
        role: n === 1 ? 'primary' : 'standby',
        host: `127.0.${(i % 250) + 1}.${n}`,
        port: 8000,
        dataDir: `${o.dataDir}/clusters/${id}/node${n}/data`,
        membership: 'active',
        pid: null,
        pidStart: null,
        health: 'stopped',
        slotName: n === 1 ? null : `dwsbox_node${n}`,
        createdAt,
        updatedAt: o.now - 2 * 60 * MINUTE,
      };
      await tx.insertNode(node);
      counts.nodes++;
    }

    const plan = history(tasksN, snapshotsN);
    // Tasks spread from the cluster's creation to two hours ago; the target's newest snapshot is the last snapshot task.
    const span = o.now - 2 * 60 * MINUTE - createdAt;
    let snapNo = 0;
    let prevBackup: string | null = null;
    let fullLabel: string | null = null;
    for (let k = 0; k < plan.length; k++) {
      const pt = plan[k]!;
      const def = registry.get(pt.kind) as TaskDefinition<Record<string, unknown>> | undefined;
      if (!def) throw new Error(`no task definition for ${pt.kind}`);
      const at = createdAt + Math.floor((k / plan.length) * span);
      const taskId = randomUUID();
      let snapshotId: string | null = null;
      const params = pt.params(c);
      const isSnapshot = pt.kind === 'snapshot.create';
      const failed = pt.status === 'FAILED';
      const newest = isSnapshot && snapNo === snapshotsN - 1;
      // The steps: planned as the queue plans them, run one after another.
      const steps: StepRecord[] = def.plan(params).map((s, seq) => newStepRecord(taskId, s, seq, 'run'));
      const samples: ProgressSample[] = [];
      let t = at + 150;
      const failAt = failed ? steps.findIndex((s) => s.stepId === 'BACKUP') : -1;
      const backupBytes = Math.round(20e6 + rnd() * 200e6);
      const label = isSnapshot ? `${backupKeyTime(at).replace('_', '-')}${snapNo % 7 === 0 ? 'F' : 'D'}` : '';
      const fullish = snapNo % 7 === 0;
      for (const [seq, s] of steps.entries()) {
        if (failAt >= 0 && seq > failAt) break;
        const ms = stepMs(s.stepId, rnd);
        const failedHere = seq === failAt;
        s.status = failedHere ? 'FAILED' : 'SUCCESS';
        s.beginAt = t;
        s.endAt = t + ms;
        s.attempts = 1;
        s.progress = failedHere ? 37 : 100;
        s.estimatedTime = failedHere ? -1 : 0;
        let figures = NO_FIGURES;
        let extra: Record<string, unknown> = {};
        if (s.stepId === 'BACKUP') {
          const done = failedHere ? Math.round(backupBytes * 0.37) : backupBytes;
          const rate = backupBytes / (ms / 1000);
          figures = {
            ...NO_FIGURES,
            percent: s.progress,
            bytesDone: done,
            bytesTotal: backupBytes,
            producerRate: rate,
            consumerRate: rate / 4,
          };
          extra = {
            key: `${backupKeyTime(at)}`,
            priorKey: fullish ? 'FULL' : (prevBackup ?? 'FULL'),
            backupType: fullish ? 'full' : 'diff',
          };
          // pgBackRest's progress, polled every 500 ms (the target's all of them; others the last poll), then its final figure.
          const polls = newest && target ? Math.floor(ms / 500) : 1;
          for (let q = 1; q <= polls; q++) {
            const f = Math.min(1, (q * 500) / ms) * (failedHere ? 0.37 : 1);
            samples.push({
              taskId,
              stepId: s.stepId,
              at: t + q * 500,
              source: 'pgbackrest backup (repository and /proc)',
              bytesDone: Math.round(backupBytes * f),
              bytesTotal: backupBytes,
              percent: Math.round(1000 * f * 100) / 1000,
              data: { consumedBytes: Math.round((backupBytes * f) / 4) },
            });
          }
          if (!failedHere)
            samples.push({
              taskId,
              stepId: s.stepId,
              at: s.endAt,
              source: 'pgbackrest info',
              bytesDone: backupBytes,
              bytesTotal: backupBytes,
              percent: 100,
              data: {
                label,
                repoBytes: Math.round(backupBytes / 4),
                databaseBytes: backupBytes,
                consumedBytes: Math.round(backupBytes / 4),
              },
            });
        } else if (isSnapshot) {
          samples.push({
            taskId,
            stepId: s.stepId,
            at: s.endAt,
            source: s.stepId === 'CHECK_CLUSTER' ? 'pgbackrest check' : s.stepId === 'VERIFY_BACKUP' ? 'pgbackrest verify' : 'store',
            bytesDone: null,
            bytesTotal: null,
            percent: 100,
            data: {},
          });
        }
        s.progressInfo = buildProgressInfo({
          actionType: ACTION_TYPE_OF_KIND[pt.kind],
          stepId: s.stepId,
          beginAt: s.beginAt,
          endAt: s.endAt,
          now: s.endAt,
          status: s.status,
          figures,
          ...(failedHere
            ? { errorCode: 'DWS.9941', errorMsg: 'pgBackRest failed: [082]: WAL segment was not archived before the 60000ms timeout' }
            : {}),
          extra,
        });
        if (failedHere) {
          s.errorCode = 'DWS.9941';
          s.errorMsg = 'pgBackRest failed: [082]: WAL segment was not archived before the 60000ms timeout';
        }
        t = s.endAt + 20;
      }
      if (isSnapshot) {
        snapshotId = randomUUID();
        params['snapshotId'] = snapshotId;
        const snap: SnapshotRecord = {
          id: snapshotId,
          projectId,
          clusterId: id,
          clusterName: c.name,
          name: `${c.name}-snap-${String(snapNo).padStart(3, '0')}`,
          description: snapNo % 5 === 0 ? 'nightly' : '',
          status: failed ? 'UNAVAILABLE' : 'AVAILABLE',
          type: snapNo % 2 === 0 ? 'MANUAL' : 'AUTO',
          stanza: c.stanza,
          backupLabel: failed ? null : fullish ? label : `${fullLabel ?? label}_${label}`,
          backupKey: failed ? null : backupKeyTime(at),
          priorBackupKey: failed ? null : fullish ? 'FULL' : (prevBackup ?? 'FULL'),
          backupType: failed ? null : fullish ? 'full' : 'diff',
          sizeBytes: failed ? null : Math.round(backupBytes / 4),
          totalBackupSize: failed ? null : Math.round(backupBytes / 3),
          sourceBytes: backupBytes,
          sourceSpec: {
            nodeType: c.nodeType,
            numberOfNode: c.numberOfNode,
            userName: c.userName,
            port: c.port,
            clusterSpec: c.spec,
            adminPasswordEnc,
            pgVersion: '15',
          },
          schemaInfo: failed
            ? null
            : {
                databases: [
                  {
                    name: 'postgres',
                    sizeBytes: backupBytes,
                    tables: [
                      { schema: 'public', name: 'orders', rows: 120_000 + snapNo, bytes: Math.round(backupBytes * 0.6) },
                      { schema: 'public', name: 'customers', rows: 9_000, bytes: Math.round(backupBytes * 0.1) },
                      { schema: 'sales', name: 'events', rows: 400_000, bytes: Math.round(backupBytes * 0.3) },
                    ],
                  },
                ],
              },
          taskId,
          startedAt: at,
          finishedAt: t,
          createdAt: at,
          updatedAt: t,
          deletedAt: null,
          expiredAt: null,
        };
        await tx.insertSnapshot(snap);
        counts.snapshots++;
        if (!failed) {
          prevBackup = backupKeyTime(at);
          if (fullish) fullLabel = label;
        }
        if (newest && target) targetTaskId = taskId;
        snapNo++;
      }
      const phase: TaskPhase = 'done';
      const task: TaskRecord = {
        id: taskId,
        projectId,
        clusterId: id,
        clusterName: c.name,
        snapshotId,
        kind: pt.kind,
        lockKey: `cluster:${id}`,
        status: pt.status,
        phase,
        params,
        state: isSnapshot && !failed ? { label, type: fullish ? 'full' : 'diff', prior: fullish ? null : fullLabel } : {},
        progress: failed ? 9 : 100,
        attempt: 1,
        maxAttempts: def.maxAttempts,
        runAt: at,
        lockedBy: null,
        leaseEpoch: 1,
        leaseExpiresAt: null,
        ranBy: [owner],
        errorCode: failed ? 'DWS.9941' : null,
        errorMsg: failed ? 'pgBackRest failed: [082]: WAL segment was not archived before the 60000ms timeout' : null,
        failedStep: failed ? 'BACKUP' : null,
        createdAt: at,
        startedAt: at + 100,
        finishedAt: t,
        updatedAt: t,
      };
      await tx.insertTask(task, steps);
      counts.tasks++;
      counts.steps += steps.length;
      for (const smp of samples) await tx.insertSample(smp);
      counts.samples += samples.length;
    }
    if (target) targetClusterId = id;
  };

  const batch = o.batch ?? 20;
  for (let i = 0; i < o.clusters; i += batch) {
    await store.transaction(async (tx) => {
      for (let j = i; j < Math.min(o.clusters, i + batch); j++)
        await seedCluster(tx, o.projectId, j, o.snapshotsPerCluster, o.tasksPerCluster, j === targetIndex);
    });
  }
  await store.transaction(async (tx) => {
    for (let j = 0; j < o.otherClusters; j++) await seedCluster(tx, o.otherProjectId, j, 4, 10, false);
  });
  // The X-Auth-Token route's user: a sign-in through POST /v3/auth/tokens gets its token once the service runs.
  await auth.createUser(o.projectId, BENCH_USER, BENCH_PASSWORD, 'admin');
  if (!targetTaskId || !targetClusterId)
    throw new Error('seeding made no target cluster (clusters and snapshots per cluster must be at least 1)');
  return { targetClusterId, targetTaskId, counts, seconds: Math.round((performance.now() - began) / 100) / 10 };
}

export const BENCH_USER = 'bench-reader';
export const BENCH_PASSWORD = 'Bench-Reader-Pass1';
