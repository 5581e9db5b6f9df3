/** Complete store records with sensible values, for store and service tests. Override what matters. */
import { randomUUID } from 'node:crypto';
import type { ClusterRecord, FaultRecord, NodeRecord, ProgressSample, StepRecord, TaskRecord } from '../../src/domain/records.js';

export const T0 = Date.UTC(2025, 0, 15, 8, 0, 0);

export function makeCluster(o: Partial<ClusterRecord> = {}): ClusterRecord {
  const id = o.id ?? randomUUID();
  return {
    id,
    projectId: 'proj-a',
    name: `c-${id.slice(0, 8)}`,
    status: 'AVAILABLE',
    subStatus: 'NORMAL',
    stickyTaskStatus: null,
    stopped: false,
    nodeType: 'dwsx.small',
    numberOfNode: 3,
    port: 8000,
    subnetIndex: null,
    userName: 'dbadmin',
    adminPasswordEnc: 'v1:enc:admin',
    replPasswordEnc: 'v1:enc:repl',
    stanza: `cluster-${id}`,
    spec: {
      availabilityZone: 'local-1a',
      vpcId: '3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98',
      subnetId: '7d6c5b4a-3f2e-4d1c-8b0a-9e8d7c6b5a43',
      securityGroupId: '',
      enterpriseProjectId: '0',
      tags: [{ key: 'team', value: '数据' }],
      description: 'a "quoted" description',
      version: '15.0',
      numberOfCn: null,
      publicIp: null,
      volume: { volume: 'SSD', capacity: '100' },
    },
    failedReasons: null,
    healthNote: null,
    maintainWindow: { day: 'Thu', startTime: '22:00', endTime: '02:00' },
    pendingRestart: null,
    restartDueAt: null,
    readOnly: null,
    createdAt: T0,
    updatedAt: T0,
    deletedAt: null,
    ...o,
  };
}

export function makeNode(cluster: ClusterRecord, ordinal: number, o: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id: randomUUID(),
    clusterId: cluster.id,
    ordinal,
    role: ordinal === 1 ? 'primary' : 'standby',
    host: `127.0.${cluster.subnetIndex ?? 1}.${ordinal}`,
    port: cluster.port,
    dataDir: `/data/${cluster.id}/node${ordinal}/data`,
    membership: 'active',
    pid: null,
    pidStart: null,
    health: 'unknown',
    slotName: ordinal === 1 ? null : `dwsbox_node${ordinal}`,
    createdAt: T0,
    updatedAt: T0,
    ...o,
  };
}

export function makeTask(o: Partial<TaskRecord> = {}): TaskRecord {
  const id = o.id ?? randomUUID();
  const clusterId = o.clusterId === undefined ? randomUUID() : o.clusterId;
  return {
    id,
    projectId: 'proj-a',
    clusterId,
    clusterName: 'c1',
    snapshotId: null,
    kind: 'cluster.restart',
    lockKey: clusterId ? `cluster:${clusterId}` : 'project:proj-a',
    status: 'WAITING',
    phase: 'run',
    params: { clusterId, ordinals: [1, 2, 3] },
    state: {},
    progress: 0,
    attempt: 0,
    maxAttempts: 3,
    runAt: T0,
    lockedBy: null,
    leaseEpoch: 0,
    leaseExpiresAt: null,
    ranBy: [],
    errorCode: null,
    errorMsg: null,
    failedStep: null,
    createdAt: T0,
    startedAt: null,
    finishedAt: null,
    updatedAt: T0,
    ...o,
  };
}

export function makeStep(task: TaskRecord, stepId: string, seq: number, o: Partial<StepRecord> = {}): StepRecord {
  return {
    taskId: task.id,
    stepId,
    seq,
    itemKey: 'RESTART_CLUSTER',
    phase: 'run',
    status: 'WAITING',
    weight: 1,
    beginAt: null,
    endAt: null,
    estimatedTime: -1,
    progress: 0,
    progressInfo: {},
    checkpoint: null,
    errorCode: null,
    errorMsg: null,
    attempts: 0,
    ...o,
  };
}

export function makeSample(task: TaskRecord, stepId: string, o: Partial<ProgressSample> = {}): ProgressSample {
  return { taskId: task.id, stepId, at: T0, source: 'pgbackrest', bytesDone: null, bytesTotal: null, percent: null, data: {}, ...o };
}

export function makeFault(o: Partial<FaultRecord> = {}): FaultRecord {
  return {
    id: randomUUID(),
    projectId: 'proj-a',
    clusterId: null,
    actionName: 'SNAPSHOTTING',
    step: 'BACKUP',
    mode: 'fail',
    point: 'before',
    delayMs: null,
    timesLeft: null,
    createdAt: T0,
    ...o,
  };
}
