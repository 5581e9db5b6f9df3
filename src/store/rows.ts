/**
 * Row mapping, in one place: how each record kind of src/domain is kept in its table of
 * schema.ts. Rows are snake_case; JSON is kept as text; booleans as 0/1; numbers may come
 * back as strings (PostgreSQL's bigint and numeric aggregates), so every number is read
 * through `Number`. A mapping lists every field of its record (the type check says so), with
 * its column and codec; `toRecord` reads a row, `toRow` writes the fields a record or patch
 * has (an absent or `undefined` field is left alone).
 */
import type { Insertable, Selectable } from 'kysely';
import type {
  ClusterRecord,
  CredentialRecord,
  FaultRecord,
  NodeRecord,
  ProgressSample,
  ProjectRecord,
  SnapshotRecord,
  StepRecord,
  TaskRecord,
  TokenRecord,
  UserRecord,
} from '../domain/records.js';
import type { DbSyncRecord, SyncedRoleRecord } from '../domain/db-sync.js';
import type { PolicyFireRecord, PolicySettingsRecord, SnapshotPolicyRecord } from '../domain/snapshot-policy.js';
import type {
  ClustersTable,
  CredentialsTable,
  DbSyncedRolesTable,
  DbUserSyncsTable,
  EventsTable,
  EventSubscriptionsTable,
  FaultsTable,
  NodesTable,
  PolicyFiresTable,
  ProgressSamplesTable,
  ProjectOsUsersTable,
  ProjectsTable,
  SnapshotPoliciesTable,
  SnapshotPolicySettingsTable,
  SnapshotsTable,
  TasksTable,
  TaskStepsTable,
  TokensTable,
  UsersTable,
} from './schema.js';

// ------------------------------------------------------------------ codecs

/** How one field's value is kept in its column. */
export interface Codec<Value> {
  read(stored: unknown): Value;
  write(value: Value): unknown;
}

/** A number as it comes back from either driver (a bigint or numeric may be a string). */
export function toNumber(stored: unknown): number {
  return typeof stored === 'string' ? Number(stored) : (stored as number);
}
export function toNumberOrNull(stored: unknown): number | null {
  return stored === null || stored === undefined ? null : toNumber(stored);
}
/** A value as JSON text (`null` for null or undefined). */
export function toJson(value: unknown): string {
  return JSON.stringify(value ?? null);
}
function fromJson(stored: unknown): unknown {
  return stored === null || stored === undefined || stored === '' ? null : JSON.parse(stored as string);
}

/** Text as stored; `Value` narrows it to the record's union type (a status, a role). */
const text = <Value extends string | null>(): Codec<Value> => ({ read: (stored) => stored as Value, write: (value) => value });
/** A number column: integer, bigint or real. */
const numeric: Codec<number> = { read: toNumber, write: (value) => value };
const numericOrNull: Codec<number | null> = { read: toNumberOrNull, write: (value) => value };
/** A boolean kept as 0/1. */
const flag: Codec<boolean> = { read: (stored) => toNumber(stored) === 1, write: (value) => (value ? 1 : 0) };
/** JSON in a NOT NULL column (null is kept as the text `null`). */
const json = <Value>(): Codec<Value> => ({ read: (stored) => fromJson(stored) as Value, write: toJson });
/** JSON in a nullable column: null is kept as SQL NULL. */
const jsonOrNull = <Value>(): Codec<Value | null> => ({
  read: (stored) => fromJson(stored) as Value | null,
  write: (value) => (value === null ? null : toJson(value)),
});

// ------------------------------------------------------------------ the mapping mechanism

/** Each field of `Rec`, the column of `Row` that keeps it, and how. */
type Columns<Rec, Row> = { readonly [Field in keyof Rec]-?: readonly [column: keyof Row & string, codec: Codec<Rec[Field]>] };

interface MappingOptions<Rec, Row> {
  /** fields read from the row but never written (a generated key) */
  readOnly?: readonly (keyof Rec)[];
  /** columns computed from the fields being written */
  derived?: (written: Partial<Rec>) => Partial<Row>;
}

export class RowMapping<Rec, Row> {
  private readonly entries: [keyof Rec, keyof Row & string, Codec<unknown>][];

  constructor(
    columns: Columns<Rec, Row>,
    private readonly options: MappingOptions<Rec, Row> = {},
  ) {
    this.entries = (Object.keys(columns) as (keyof Rec)[]).map((field) => {
      const [column, codec] = columns[field];
      return [field, column, codec as Codec<unknown>];
    });
  }

  /** The record a row holds. */
  toRecord(row: Selectable<Row>): Rec {
    const stored = row as Record<string, unknown>;
    const record = {} as Record<keyof Rec, unknown>;
    for (const [field, column, codec] of this.entries) record[field] = codec.read(stored[column]);
    return record as Rec;
  }

  /** The columns of the fields `record` has (a patch writes only its own). */
  toRow(record: Partial<Rec>): Partial<Row> {
    const row: Record<string, unknown> = {};
    for (const [field, column, codec] of this.entries) {
      const value = record[field];
      if (value !== undefined && !this.options.readOnly?.includes(field)) row[column] = codec.write(value);
    }
    return { ...(row as Partial<Row>), ...this.options.derived?.(record) };
  }

  /** A whole record as a new row. */
  toNewRow(record: Rec): Insertable<Row> {
    return this.toRow(record) as Insertable<Row>;
  }
}

// ------------------------------------------------------------------ projects, credentials, users, tokens

export const projectRows = new RowMapping<ProjectRecord, ProjectsTable>({
  id: ['id', text()],
  name: ['name', text()],
  createdAt: ['created_at', numeric],
});

export const credentialRows = new RowMapping<CredentialRecord, CredentialsTable>({
  accessKey: ['access_key', text()],
  projectId: ['project_id', text()],
  role: ['role', text()],
  secretEnc: ['secret_enc', text()],
  description: ['description', text()],
  createdAt: ['created_at', numeric],
});

export const userRows = new RowMapping<UserRecord, UsersTable>({
  id: ['id', text()],
  projectId: ['project_id', text()],
  name: ['name', text()],
  role: ['role', text()],
  passwordHash: ['password_hash', text()],
  createdAt: ['created_at', numeric],
});

export const tokenRows = new RowMapping<TokenRecord, TokensTable>({
  tokenHash: ['token_hash', text()],
  userId: ['user_id', text()],
  projectId: ['project_id', text()],
  role: ['role', text()],
  expiresAt: ['expires_at', numeric],
  createdAt: ['created_at', numeric],
});

/** A project's OS user (D32). */
export interface OsUserRecord {
  projectId: string;
  name: string;
  uid: number;
}

export const osUserRows = new RowMapping<OsUserRecord, ProjectOsUsersTable>({
  projectId: ['project_id', text()],
  name: ['name', text()],
  uid: ['uid', numeric],
});

// ------------------------------------------------------------------ events (D26)

/** How much an event matters: `normal` (a task started or succeeded, a member back), `warning`, `major` (a failover). */
export type EventSeverity = 'normal' | 'warning' | 'major';

/** One happening to a cluster, recorded once (D26). */
export interface EventRecord {
  id: string;
  projectId: string;
  clusterId: string;
  /** what happened: `failover`, `switchover`, `member_down`, `member_up`, `repair`, `task_started`, `task_succeeded`, `task_failed`, … */
  kind: string;
  severity: EventSeverity;
  message: string;
  /** what it concerns within the cluster (a node's ordinal, a task's id), or null */
  subject: string | null;
  /** what makes the happening itself unique (a task and its transition, a Patroni timeline): a second recording of it writes nothing */
  sourceKey: string;
  /** when it happened (or was first observed), epoch ms */
  occurredAt: number;
}

export const eventRows = new RowMapping<EventRecord, EventsTable>({
  id: ['id', text()],
  projectId: ['project_id', text()],
  clusterId: ['cluster_id', text()],
  kind: ['kind', text()],
  severity: ['severity', text()],
  message: ['message', text()],
  subject: ['subject', text()],
  sourceKey: ['source_key', text()],
  occurredAt: ['occurred_at', numeric],
});

// ------------------------------------------------------------------ IAM user syncs (SyncIamUsers)

export const dbSyncRows = new RowMapping<DbSyncRecord, DbUserSyncsTable>({
  id: ['id', text()],
  projectId: ['project_id', text()],
  clusterId: ['cluster_id', text()],
  status: ['status', text()],
  startTime: ['start_time', numeric],
  endTime: ['end_time', numericOrNull],
  addCount: ['add_count', numeric],
  updateCount: ['update_count', numeric],
  deleteCount: ['delete_count', numeric],
  failedCount: ['failed_count', numeric],
  failReason: ['fail_reason', text()],
});

export const syncedRoleRows = new RowMapping<SyncedRoleRecord, DbSyncedRolesTable>({
  clusterId: ['cluster_id', text()],
  roleName: ['role_name', text()],
  roleOid: ['role_oid', numeric],
  userId: ['user_id', text()],
  syncedAt: ['synced_at', numeric],
});

// ------------------------------------------------------------------ clusters and nodes

export const clusterRows = new RowMapping<ClusterRecord, ClustersTable>({
  id: ['id', text()],
  projectId: ['project_id', text()],
  name: ['name', text()],
  status: ['status', text()],
  subStatus: ['sub_status', text()],
  stickyTaskStatus: ['sticky_task_status', text()],
  stopped: ['stopped', flag],
  nodeType: ['node_type', text()],
  numberOfNode: ['number_of_node', numeric],
  port: ['port', numeric],
  subnetIndex: ['subnet_index', numericOrNull],
  userName: ['user_name', text()],
  adminPasswordEnc: ['admin_password_enc', text()],
  replPasswordEnc: ['repl_password_enc', text()],
  stanza: ['stanza', text()],
  spec: ['spec', json()],
  failedReasons: ['failed_reasons', jsonOrNull()],
  healthNote: ['health_note', text()],
  maintainWindow: ['maintain_window', json()],
  pendingRestart: ['pending_restart', jsonOrNull()],
  restartDueAt: ['restart_due_at', numericOrNull],
  readOnly: ['read_only', text()],
  createdAt: ['created_at', numeric],
  updatedAt: ['updated_at', numeric],
  deletedAt: ['deleted_at', numericOrNull],
});

export const nodeRows = new RowMapping<NodeRecord, NodesTable>({
  id: ['id', text()],
  clusterId: ['cluster_id', text()],
  ordinal: ['ordinal', numeric],
  role: ['role', text()],
  host: ['host', text()],
  port: ['port', numeric],
  dataDir: ['data_dir', text()],
  membership: ['membership', text()],
  pid: ['pid', numericOrNull],
  pidStart: ['pid_start', numericOrNull],
  health: ['health', text()],
  slotName: ['slot_name', text()],
  createdAt: ['created_at', numeric],
  updatedAt: ['updated_at', numeric],
});

// ------------------------------------------------------------------ snapshots

export const snapshotRows = new RowMapping<SnapshotRecord, SnapshotsTable>(
  {
    id: ['id', text()],
    projectId: ['project_id', text()],
    clusterId: ['cluster_id', text()],
    clusterName: ['cluster_name', text()],
    name: ['name', text()],
    description: ['description', text()],
    status: ['status', text()],
    type: ['type', text()],
    stanza: ['stanza', text()],
    backupLabel: ['backup_label', text()],
    backupKey: ['backup_key', text()],
    priorBackupKey: ['prior_backup_key', text()],
    backupType: ['backup_type', text()],
    sizeBytes: ['size_bytes', numericOrNull],
    totalBackupSize: ['total_backup_size', numericOrNull],
    sourceBytes: ['source_bytes', numericOrNull],
    sourceSpec: ['source_spec', json()],
    schemaInfo: ['schema_info', jsonOrNull()],
    fineGrained: ['fine_grained_detail', jsonOrNull()],
    taskId: ['task_id', text()],
    startedAt: ['started_at', numericOrNull],
    finishedAt: ['finished_at', numericOrNull],
    createdAt: ['created_at', numeric],
    updatedAt: ['updated_at', numeric],
    deletedAt: ['deleted_at', numericOrNull],
    expiredAt: ['expired_at', numericOrNull],
  },
  {
    // 000004: the level column follows the detail (a cluster-level snapshot has none).
    derived: (written) => (written.fineGrained === undefined ? {} : { backup_level: written.fineGrained?.level ?? 'cluster' }),
  },
);

// ------------------------------------------------------------------ tasks, steps, progress samples

export const taskRows = new RowMapping<TaskRecord, TasksTable>({
  id: ['id', text()],
  projectId: ['project_id', text()],
  clusterId: ['cluster_id', text()],
  clusterName: ['cluster_name', text()],
  snapshotId: ['snapshot_id', text()],
  kind: ['kind', text()],
  lockKey: ['lock_key', text()],
  status: ['status', text()],
  phase: ['phase', text()],
  params: ['params', json()],
  state: ['state', json()],
  progress: ['progress', numeric],
  attempt: ['attempt', numeric],
  maxAttempts: ['max_attempts', numeric],
  runAt: ['run_at', numeric],
  lockedBy: ['locked_by', text()],
  leaseEpoch: ['lease_epoch', numeric],
  leaseExpiresAt: ['lease_expires_at', numericOrNull],
  ranBy: ['ran_by', json()],
  errorCode: ['error_code', text()],
  errorMsg: ['error_msg', text()],
  failedStep: ['failed_step', text()],
  createdAt: ['created_at', numeric],
  startedAt: ['started_at', numericOrNull],
  finishedAt: ['finished_at', numericOrNull],
  updatedAt: ['updated_at', numeric],
});

export const stepRows = new RowMapping<StepRecord, TaskStepsTable>({
  taskId: ['task_id', text()],
  stepId: ['step_id', text()],
  seq: ['seq', numeric],
  itemKey: ['item_key', text()],
  phase: ['phase', text()],
  status: ['status', text()],
  weight: ['weight', numeric],
  beginAt: ['begin_at', numericOrNull],
  endAt: ['end_at', numericOrNull],
  estimatedTime: ['estimated_time', numeric],
  progress: ['progress', numeric],
  progressInfo: ['progress_info', json()],
  checkpoint: ['checkpoint', jsonOrNull()],
  errorCode: ['error_code', text()],
  errorMsg: ['error_msg', text()],
  attempts: ['attempts', numeric],
});

export const sampleRows = new RowMapping<ProgressSample, ProgressSamplesTable>(
  {
    id: ['id', numeric],
    taskId: ['task_id', text()],
    stepId: ['step_id', text()],
    at: ['at', numeric],
    source: ['source', text()],
    bytesDone: ['bytes_done', numericOrNull],
    bytesTotal: ['bytes_total', numericOrNull],
    percent: ['percent', numericOrNull],
    data: ['data', json()],
  },
  { readOnly: ['id'] },
);

// ------------------------------------------------------------------ faults

export const faultRows = new RowMapping<FaultRecord, FaultsTable>({
  id: ['id', text()],
  projectId: ['project_id', text()],
  clusterId: ['cluster_id', text()],
  actionName: ['action_name', text()],
  step: ['step', text()],
  mode: ['mode', text()],
  point: ['point', text()],
  delayMs: ['delay_ms', numericOrNull],
  timesLeft: ['times_left', numericOrNull],
  createdAt: ['created_at', numeric],
});

// ------------------------------------------------------------------ snapshot policies

export const policySettingsRows = new RowMapping<PolicySettingsRecord, SnapshotPolicySettingsTable>({
  clusterId: ['cluster_id', text()],
  projectId: ['project_id', text()],
  keepDay: ['keep_day', numeric],
  deviceName: ['device_name', text()],
  serverIps: ['server_ips', { read: (stored) => (fromJson(stored) as string[] | null) ?? [], write: toJson }],
  serverPort: ['server_port', text()],
  backupParam: ['backup_param', text()],
  autoBackup: ['auto_backup', flag],
  createdAt: ['created_at', numeric],
  updatedAt: ['updated_at', numeric],
});

export const policyRows = new RowMapping<SnapshotPolicyRecord, SnapshotPoliciesTable>({
  id: ['id', text()],
  projectId: ['project_id', text()],
  clusterId: ['cluster_id', text()],
  name: ['name', text()],
  schedule: ['schedule', text()],
  backupType: ['backup_type', text()],
  backupLevel: ['backup_level', text()],
  timeZoneOffset: ['time_zone_offset', numeric],
  backupDatabase: ['backup_database', text()],
  backupSchemaList: ['backup_schema_list', text()],
  backupTableList: ['backup_table_list', text()],
  nextFireAt: ['next_fire_at', numericOrNull],
  createdAt: ['created_at', numeric],
  updatedAt: ['updated_at', numeric],
  deletedAt: ['deleted_at', numericOrNull],
});

export const policyFireRows = new RowMapping<PolicyFireRecord, PolicyFiresTable>({
  policyId: ['policy_id', text()],
  fireTime: ['fire_time', numeric],
  outcome: ['outcome', text()],
  snapshotId: ['snapshot_id', text()],
  detail: ['detail', text()],
  createdAt: ['created_at', numeric],
});

// ------------------------------------------------------------------ event subscriptions (D26, issue 17)

/** One event subscription and its delivery state (docs/api.md#event-subscriptions). */
export interface EventSubscriptionRecord {
  id: string;
  projectId: string;
  name: string;
  /** filters, each a list of accepted values; empty: any */
  sourceTypes: string[];
  sourceIds: string[];
  categories: string[];
  severities: string[];
  /** kept and shown; events have no tags */
  tag: string;
  enabled: boolean;
  /** the HTTP(S) URL events are POSTed to (the SDK's notification_target) */
  endpoint: string;
  targetName: string;
  targetType: string;
  timeZone: string;
  /** the signing secret, sealed under the master key */
  secret: string;
  createdAt: number;
  updatedAt: number;
  /** every event numbered up to this one (events.seq) is delivered, or was not for this subscription */
  cursorSeq: number;
  deliveredEventId: string | null;
  deliveredAt: number | null;
  /** failed attempts at the event after the cursor */
  failedAttempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  lastErrorAt: number | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
  /** 'alarm': an alarm subscription (issue 17), which delivers the alarm events of `alarmIds` and `alarmLevels` */
  kind: 'event' | 'alarm';
  alarmIds: string[];
  alarmLevels: string[];
  language: string;
}

/** A list of values kept as comma-separated text ('' for none). */
const commaList: Codec<string[]> = {
  read: (stored) => (typeof stored === 'string' && stored !== '' ? stored.split(',') : []),
  write: (value) => value.join(','),
};

export const eventSubRows = new RowMapping<EventSubscriptionRecord, EventSubscriptionsTable>({
  id: ['id', text()],
  projectId: ['project_id', text()],
  name: ['name', text()],
  sourceTypes: ['source_type', commaList],
  sourceIds: ['source_id', commaList],
  categories: ['category', commaList],
  severities: ['severity', commaList],
  tag: ['tag', text()],
  enabled: ['enabled', flag],
  endpoint: ['endpoint', text()],
  targetName: ['target_name', text()],
  targetType: ['target_type', text()],
  timeZone: ['time_zone', text()],
  secret: ['secret', text()],
  createdAt: ['created_at', numeric],
  updatedAt: ['updated_at', numeric],
  cursorSeq: ['cursor_seq', numeric],
  deliveredEventId: ['delivered_event_id', text()],
  deliveredAt: ['delivered_at', numericOrNull],
  failedAttempts: ['failed_attempts', numeric],
  nextAttemptAt: ['next_attempt_at', numeric],
  lastError: ['last_error', text()],
  lastErrorAt: ['last_error_at', numericOrNull],
  leaseOwner: ['lease_owner', text()],
  leaseUntil: ['lease_until', numericOrNull],
  kind: ['kind', text<'event' | 'alarm'>()],
  alarmIds: ['alarm_ids', commaList],
  alarmLevels: ['alarm_levels', commaList],
  language: ['language', text()],
});
