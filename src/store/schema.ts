/** Kysely table types: the rows as the databases hold them (snake_case, JSON as text). */
import type { Generated } from 'kysely';

export interface ProjectsTable {
  id: string;
  name: string;
  created_at: number;
}
export interface CredentialsTable {
  access_key: string;
  project_id: string;
  role: string;
  secret_enc: string;
  description: string | null;
  created_at: number;
}
export interface UsersTable {
  id: string;
  project_id: string;
  name: string;
  role: string;
  password_hash: string;
  created_at: number;
}
export interface TokensTable {
  token_hash: string;
  user_id: string;
  project_id: string;
  role: string;
  expires_at: number;
  created_at: number;
}
export interface ClustersTable {
  id: string;
  project_id: string;
  name: string;
  status: string;
  sub_status: string;
  sticky_task_status: string | null;
  stopped: number;
  node_type: string;
  number_of_node: number;
  port: number;
  subnet_index: number | null;
  user_name: string;
  admin_password_enc: string;
  repl_password_enc: string;
  stanza: string;
  spec: string;
  failed_reasons: string | null;
  health_note: string | null;
  /** 000008: JSON of domain/maintenance-window.ts */
  maintain_window: string;
  /** 000009: JSON of PendingRestart, or null */
  pending_restart: string | null;
  restart_due_at: number | null;
  /** 000010: the read-only protection, null, 'ON' or 'LIFTED' */
  read_only: string | null;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}
export interface NodesTable {
  id: string;
  cluster_id: string;
  ordinal: number;
  role: string;
  host: string;
  port: number;
  data_dir: string;
  membership: string;
  pid: number | null;
  pid_start: number | null;
  health: string;
  slot_name: string | null;
  created_at: number;
  updated_at: number;
}
export interface SnapshotsTable {
  id: string;
  project_id: string;
  cluster_id: string;
  cluster_name: string;
  name: string;
  description: string;
  status: string;
  type: string;
  stanza: string;
  backup_label: string | null;
  backup_key: string | null;
  prior_backup_key: string | null;
  backup_type: string | null;
  size_bytes: number | null;
  total_backup_size: number | null;
  source_bytes: number | null;
  source_spec: string;
  schema_info: string | null;
  task_id: string | null;
  started_at: number | null;
  finished_at: number | null;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
  expired_at: number | null;
  /** 000004 */
  backup_level: string;
  fine_grained_detail: string | null;
}
export interface TasksTable {
  id: string;
  project_id: string;
  cluster_id: string | null;
  cluster_name: string;
  snapshot_id: string | null;
  kind: string;
  lock_key: string;
  status: string;
  phase: string;
  params: string;
  state: string;
  progress: number;
  attempt: number;
  max_attempts: number;
  run_at: number;
  locked_by: string | null;
  lease_epoch: number;
  lease_expires_at: number | null;
  ran_by: string;
  error_code: string | null;
  error_msg: string | null;
  failed_step: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  updated_at: number;
}
export interface TaskStepsTable {
  task_id: string;
  step_id: string;
  seq: number;
  item_key: string;
  phase: string;
  status: string;
  weight: number;
  begin_at: number | null;
  end_at: number | null;
  estimated_time: number;
  progress: number;
  progress_info: string;
  checkpoint: string | null;
  error_code: string | null;
  error_msg: string | null;
  attempts: number;
}
export interface ProgressSamplesTable {
  id: Generated<number>;
  task_id: string;
  step_id: string;
  at: number;
  source: string;
  bytes_done: number | null;
  bytes_total: number | null;
  percent: number | null;
  data: string;
}
export interface FaultsTable {
  id: string;
  project_id: string;
  cluster_id: string | null;
  action_name: string;
  step: string;
  mode: string;
  point: string;
  delay_ms: number | null;
  times_left: number | null;
  created_at: number;
}
export interface MigrationsTable {
  version: number;
  name: string;
  applied_at: number;
}

export interface SnapshotPolicySettingsTable {
  cluster_id: string;
  project_id: string;
  keep_day: number;
  device_name: string;
  server_ips: string;
  server_port: string | null;
  backup_param: string | null;
  auto_backup: number;
  created_at: number;
  updated_at: number;
}
export interface SnapshotPoliciesTable {
  id: string;
  project_id: string;
  cluster_id: string;
  name: string;
  schedule: string;
  backup_type: string;
  backup_level: string;
  time_zone_offset: number;
  backup_database: string | null;
  backup_schema_list: string | null;
  backup_table_list: string | null;
  next_fire_at: number | null;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}
export interface PolicyFiresTable {
  policy_id: string;
  fire_time: number;
  outcome: string;
  snapshot_id: string | null;
  detail: string | null;
  created_at: number;
}
/** 000005: each project's OS user (D32). */
export interface ProjectOsUsersTable {
  project_id: string;
  name: string;
  uid: number;
  created_at: number;
}
/** 000007: cluster events (D26), each happening once by its source key. */
export interface EventsTable {
  id: string;
  project_id: string;
  cluster_id: string;
  kind: string;
  severity: string;
  message: string;
  subject: string | null;
  source_key: string;
  occurred_at: number;
  /** 000012: the commit order of the events (event_sequence); null only for a row written before it (none: the migration numbers them) */
  seq: number | null;
}
/** 000011: SyncIamUsers' records and the roles syncs made (domain/db-sync.ts). */
export interface DbUserSyncsTable {
  id: string;
  project_id: string;
  cluster_id: string;
  status: string;
  start_time: number;
  end_time: number | null;
  add_count: number;
  update_count: number;
  delete_count: number;
  failed_count: number;
  fail_reason: string | null;
}
export interface DbSyncedRolesTable {
  cluster_id: string;
  role_name: string;
  role_oid: number;
  user_id: string;
  synced_at: number;
}

export interface Database {
  projects: ProjectsTable;
  credentials: CredentialsTable;
  users: UsersTable;
  tokens: TokensTable;
  clusters: ClustersTable;
  nodes: NodesTable;
  snapshots: SnapshotsTable;
  tasks: TasksTable;
  task_steps: TaskStepsTable;
  progress_samples: ProgressSamplesTable;
  faults: FaultsTable;
  dwsbox_migrations: MigrationsTable;
  snapshot_policy_settings: SnapshotPolicySettingsTable;
  snapshot_policies: SnapshotPoliciesTable;
  policy_fires: PolicyFiresTable;
  project_os_users: ProjectOsUsersTable;
  events: EventsTable;
  event_sequence: EventSequenceTable;
  event_subscriptions: EventSubscriptionsTable;
  db_user_syncs: DbUserSyncsTable;
  db_synced_roles: DbSyncedRolesTable;
  metric_samples: MetricSamplesTable;
  service_leases: ServiceLeasesTable;
  alarms: AlarmsTable;
  audit_records: AuditRecordsTable;
  hosts: HostsTable;
  disaster_recoveries: DisasterRecoveriesTable;
}

/** 000015: disaster-recovery pairings (issue 19, D31). */
export interface DisasterRecoveriesTable {
  id: string;
  project_id: string;
  name: string;
  dr_type: string;
  primary_cluster_id: string;
  standby_cluster_id: string;
  sync_period: string;
  status: string;
  slot: string;
  discard_standby_data: number;
  roles_swapped: number;
  last_switch_at: number | null;
  last_switch_ms: number | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  updated_at: number;
  deleted_at: number | null;
}

/** 000014: the registered hosts of several-hosts operation (issue 18, D27). */
export interface HostsTable {
  name: string;
  zone: string;
  address: string;
  agent_port: number;
  state: string;
  state_reason: string | null;
  report: string | null;
  cert_fingerprint: string;
  created_at: number;
  checked_at: number | null;
}

/** 000013: the audit trail (issue 17): each authenticated mutating API call. */
export interface AuditRecordsTable {
  id: string;
  project_id: string;
  cluster_id: string | null;
  started_at: number;
  finished_at: number;
  principal: string;
  auth_method: string;
  method: string;
  route: string;
  status: number;
  error_code: string | null;
  error_message: string | null;
  request_id: string;
}

/** 000013: alarms (issue 17): each raising of a rule for a member; at most one uncleared per member and rule. */
export interface AlarmsTable {
  id: string;
  project_id: string;
  cluster_id: string;
  ordinal: number;
  rule_id: string;
  level: string;
  message: string;
  raised_at: number;
  cleared_at: number | null;
}

/** 000013: metrics history (D29): one wide row per member per collection (resolution 0) or 5-minute average (300). */
export interface MetricSamplesTable {
  cluster_id: string;
  ordinal: number;
  resolution: number;
  bucket: number;
  project_id: string;
  samples: number;
  is_primary: number;
  cpu_percent: number | null;
  cpu_user_percent: number | null;
  cpu_sys_percent: number | null;
  mem_bytes: number | null;
  data_bytes: number | null;
  fs_avail_bytes: number | null;
  disk_read_rate: number | null;
  disk_write_rate: number | null;
  connections: number | null;
  max_connections: number | null;
  tps: number | null;
  rollback_rate: number | null;
  tuples_read_rate: number | null;
  tuples_written_rate: number | null;
  lag_bytes: number | null;
  lag_seconds: number | null;
  wal_rate: number | null;
  archive_rate: number | null;
  archive_fail_rate: number | null;
  checkpoint_rate: number | null;
  longest_query_seconds: number | null;
}
/** 000013: a job one process of the store does at a time (the metrics collector), by name. */
export interface ServiceLeasesTable {
  name: string;
  owner: string;
  expires_at: number;
}

/** 000012: the last event number given (one row, id 1); each recording takes the next inside its transaction. */
export interface EventSequenceTable {
  id: number;
  last_seq: number;
}
/** 000012: event subscriptions (D26, issue 17): filters, endpoint, sealed secret, cursor, delivery state and lease. */
export interface EventSubscriptionsTable {
  id: string;
  project_id: string;
  name: string;
  source_type: string;
  source_id: string;
  category: string;
  severity: string;
  tag: string;
  enabled: number;
  endpoint: string;
  target_name: string;
  target_type: string;
  time_zone: string;
  secret: string;
  created_at: number;
  updated_at: number;
  cursor_seq: number;
  delivered_event_id: string | null;
  delivered_at: number | null;
  failed_attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  last_error_at: number | null;
  lease_owner: string | null;
  lease_until: number | null;
  /** 000013: 'event', or 'alarm' for an alarm subscription (issue 17) */
  kind: string;
  /** 000013: an alarm subscription's rules and levels (comma-separated; empty: all) and its language */
  alarm_ids: string;
  alarm_levels: string;
  language: string;
}
