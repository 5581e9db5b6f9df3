/**
 * The shapes the store keeps (camelCase, parsed). The wire shapes (snake_case) live in
 * api/schemas and are mapped from these.
 */
import type { ClusterStatus, SubStatus } from './cluster.js';
import type { ReadOnlyState } from './read-only.js';
import type { MaintenanceWindow } from './maintenance-window.js';
import type { StepStatus, TaskKind, TaskStatus } from './task.js';

/** admin: changes its project; readonly: reads it; operator: reads its project and every project's /metrics series (docs/security.md). */
export type Role = 'admin' | 'readonly' | 'operator';

export interface ProjectRecord {
  id: string;
  name: string;
  createdAt: number;
}
export interface CredentialRecord {
  accessKey: string;
  projectId: string;
  role: Role;
  secretEnc: string;
  description: string | null;
  createdAt: number;
}
export interface UserRecord {
  id: string;
  projectId: string;
  name: string;
  role: Role;
  passwordHash: string;
  createdAt: number;
}
export interface TokenRecord {
  tokenHash: string;
  userId: string;
  projectId: string;
  role: Role;
  expiresAt: number;
  createdAt: number;
}

export interface Tag {
  key: string;
  value: string;
}

/** Metadata real clients send and read back (D19); echoed, with no local effect. */
export interface ClusterSpec {
  availabilityZone: string;
  vpcId: string;
  subnetId: string;
  securityGroupId: string;
  enterpriseProjectId: string;
  tags: Tag[];
  description: string;
  version: string;
  numberOfCn: number | null;
  publicIp: { public_bind_type: string; eip_id: string } | null;
  volume: { volume: string; capacity: string } | null;
  /** the backup repository of the cluster's stanza (absent: the local one); snapshots copy it */
  repository?: { id: string; kind: 'local' | 's3' };
  /** a highly available cluster's router hosts (D24), on the cluster's port; absent: each node is an endpoint (the local engine) */
  endpoints?: { readWrite: string; readOnly: string };
  /** a highly available cluster's replication (D25): chosen at create (dwsbox's `sync_mode`), else the service's `syncMode` */
  syncMode?: 'sync' | 'strict' | 'async';
  /** the parameters set through UpdateConfiguration (issue 16), by PostgreSQL name, as pg_settings shows them; every member's configuration carries them */
  parameters?: Record<string, string>;
}

export interface FailedReason {
  error_code: string;
  error_msg: string;
}

export interface ClusterRecord {
  id: string;
  projectId: string;
  name: string;
  status: ClusterStatus;
  subStatus: SubStatus;
  stickyTaskStatus: string | null;
  stopped: boolean;
  nodeType: string;
  numberOfNode: number;
  port: number;
  /** c of 127.0.c.i (D6); null once the cluster's addresses are released */
  subnetIndex: number | null;
  userName: string;
  adminPasswordEnc: string;
  replPasswordEnc: string;
  stanza: string;
  spec: ClusterSpec;
  failedReasons: FailedReason[] | null;
  healthNote: string | null;
  /** when dwsbox may restart it on its own (UpdateMaintenanceWindow), UTC */
  maintainWindow: MaintenanceWindow;
  /** parameters set that only a restart applies, waiting for the window (null: none waits) */
  pendingRestart: PendingRestart | null;
  /** when the scheduler fires that restart (epoch ms); null once fired, or when none waits */
  restartDueAt: number | null;
  /** the read-only protection of its data disk (domain/read-only.ts): null armed, 'ON' read-only, 'LIFTED' by a user */
  readOnly: ReadOnlyState;
  createdAt: number;
  updatedAt: number;
  deletedAt: number | null;
}

/** A restart a parameter change needs, deferred to the cluster's maintenance window (docs/api.md#the-maintenance-window). */
export interface PendingRestart {
  /** the parameters it applies: the value set (the latest of each), and the one the members ran before (its order, D23) */
  parameters: { name: string; value: string; running: string }[];
  /** when the first of them was set */
  since: number;
  /** the SETTING_CONFIGURATION task that set the latest */
  taskId: string;
}

export type NodeRole = 'primary' | 'standby';
/** building: being added (not yet listed); active: part of the cluster; removing: being taken out */
export type NodeMembership = 'building' | 'active' | 'removing';
export type NodeHealth = 'unknown' | 'up' | 'down' | 'stopped';

export interface NodeRecord {
  id: string;
  clusterId: string;
  ordinal: number;
  role: NodeRole;
  host: string;
  port: number;
  dataDir: string;
  membership: NodeMembership;
  pid: number | null;
  /** /proc/<pid>/stat start time (clock ticks since boot), to tell a reused PID from ours */
  pidStart: number | null;
  health: NodeHealth;
  slotName: string | null;
  createdAt: number;
  updatedAt: number;
}

export type SnapshotStatus = 'CREATING' | 'AVAILABLE' | 'UNAVAILABLE';

/** What a restore needs of the source cluster, kept with the snapshot (D16). */
export interface SourceSpec {
  nodeType: string;
  numberOfNode: number;
  userName: string;
  port: number;
  clusterSpec: ClusterSpec;
  adminPasswordEnc: string;
  pgVersion: string;
  /**
   * An AUTO snapshot: the strategy fire that took it (absent for a MANUAL one, and for an AUTO
   * one taken before dwsbox recorded it). Kept in this JSON, which every snapshot row has, so
   * no store migration was needed.
   */
  policyFire?: SnapshotPolicyFire;
  /**
   * A copy (CopySnapshot): the snapshot it was copied from. Its stanza (`copy-<id>`) is its
   * own, archived into by no cluster: deleting the copy removes it (snapshot-chain.ts).
   */
  copyOf?: string;
}

/** Databases → schemas → tables, recorded at snapshot time (D16). */
export interface SchemaInfo {
  databases: { name: string; sizeBytes: number; tables: { schema: string; name: string; rows: number; bytes: number }[] }[];
}

export type BackupLevel = 'cluster' | 'schema' | 'table';

/**
 * What an AUTO snapshot records of the snapshot-policy strategy that fired it: its
 * `bak_period` and `bak_expected_start_time`. Kept with the snapshot, since the strategy may be
 * rescheduled or deleted afterwards.
 */
export interface SnapshotPolicyFire {
  /** the strategy (`policy_id`) */
  policyId: string;
  /** the slot it was fired for (epoch ms UTC): the time it was scheduled to start */
  fireTime: number;
  /** the strategy's `backup_strategy` expression at the fire, as given */
  schedule: string;
  /** hours east of UTC of the schedule's wall time */
  timeZoneOffset: number;
}

/**
 * What a schema- or table-level (logical) snapshot holds: a `pg_dump -Fd` of exactly these
 * objects of one database. It is not part of the pgBackRest chain (D2).
 */
export interface FineGrainedDetail {
  level: 'schema' | 'table';
  database: string;
  /** the schemas asked for (schema level), in request order */
  schemas: string[];
  /** the tables asked for (table level), `schema.table`, in request order */
  tables: string[];
  /** the dump directory, once the dump is complete */
  dumpDir: string | null;
  /**
   * Source OIDs (as the dump's TOC shows them) of foreign keys of dumped tables whose
   * referenced table is not in the dump: left out when the dump is loaded into a scratch
   * database, since the table they point at is not there.
   */
  outsideForeignKeys: number[];
  /**
   * Those foreign keys as the source catalog defined them (`pg_get_constraintdef` with an
   * empty search_path, so the referenced table is schema-qualified): a table restore adds
   * each one to the restored table when its referenced table exists in the cluster (D15).
   */
  outsideForeignKeyDefs?: OutsideForeignKey[];
}

export interface OutsideForeignKey {
  oid: number;
  schema: string;
  table: string;
  name: string;
  definition: string;
}

export interface SnapshotRecord {
  id: string;
  projectId: string;
  clusterId: string;
  clusterName: string;
  name: string;
  description: string;
  status: SnapshotStatus;
  type: 'MANUAL' | 'AUTO';
  stanza: string;
  backupLabel: string | null;
  backupKey: string | null;
  priorBackupKey: string | null;
  backupType: 'full' | 'diff' | null;
  sizeBytes: number | null;
  totalBackupSize: number | null;
  sourceBytes: number | null;
  sourceSpec: SourceSpec;
  schemaInfo: SchemaInfo | null;
  /** null (or absent): a cluster-level snapshot (a pgBackRest set) */
  fineGrained?: FineGrainedDetail | null;
  taskId: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  createdAt: number;
  updatedAt: number;
  deletedAt: number | null;
  expiredAt: number | null;
}

export type TaskPhase = 'run' | 'undo' | 'done';

export interface TaskRecord {
  id: string;
  projectId: string;
  clusterId: string | null;
  clusterName: string;
  snapshotId: string | null;
  kind: TaskKind;
  lockKey: string;
  status: TaskStatus;
  phase: TaskPhase;
  params: Record<string, unknown>;
  /** scratch state shared by the task's steps (e.g. ids chosen by an earlier step) */
  state: Record<string, unknown>;
  progress: number;
  attempt: number;
  maxAttempts: number;
  runAt: number;
  lockedBy: string | null;
  leaseEpoch: number;
  leaseExpiresAt: number | null;
  ranBy: string[];
  errorCode: string | null;
  errorMsg: string | null;
  failedStep: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  updatedAt: number;
}

export interface StepRecord {
  taskId: string;
  stepId: string;
  seq: number;
  itemKey: string;
  phase: 'run' | 'undo';
  status: StepStatus;
  weight: number;
  beginAt: number | null;
  endAt: number | null;
  estimatedTime: number;
  progress: number;
  /** the inner progressInfo object (D14) */
  progressInfo: Record<string, unknown>;
  checkpoint: unknown;
  errorCode: string | null;
  errorMsg: string | null;
  attempts: number;
}

export interface ProgressSample {
  id?: number;
  taskId: string;
  stepId: string;
  at: number;
  source: string;
  bytesDone: number | null;
  bytesTotal: number | null;
  percent: number | null;
  data: Record<string, unknown>;
}

export type FaultMode = 'fail' | 'delay' | 'hang' | 'crash';
export type FaultPoint = 'before' | 'during' | 'after';

export interface FaultRecord {
  id: string;
  projectId: string;
  clusterId: string | null;
  actionName: string;
  step: string;
  mode: FaultMode;
  point: FaultPoint;
  delayMs: number | null;
  /** null: every time */
  timesLeft: number | null;
  createdAt: number;
}
