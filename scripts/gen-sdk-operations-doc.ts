// Writes the "Every SDK operation" section of docs/api.md (D28): one row per operation of
// test/fixtures/dws-v2-operations.tsv, its state read from src/api/routes/unsupported.ts (not
// supported, with why) or from the notes below (real, or partial with what is missing; kept by
// hand from the route and service code). Run `npx tsx scripts/gen-sdk-operations-doc.ts` after
// changing either; test/api/sdk-coverage.test.ts checks that docs/api.md has every row.
import { readFileSync, writeFileSync } from 'node:fs';
import { UNSUPPORTED_OPERATIONS } from '../src/api/routes/unsupported.js';

/** The routed operations: null when real, else what is missing ("partial"). */
const ROUTED: Record<string, string | null> = {
  CreateCluster:
    'partial: a `public_ip` to bind is refused (400 DWS.9901); `vpc_id`, `subnet_id`, `security_group_id` and `availability_zone` are checked and recorded, not enforced (nodes listen on loopback addresses of this host)',
  CreateClusterV2:
    'partial: KMS (`master_key_id`, `master_key_name`, `crypt_algorithm`), `ipv6_enable` and `dss_pool_id` are refused (400 DWS.9901), as is a `public_ip` to bind; `volume` and the network fields are recorded, not enforced',
  ListClusters: null,
  ShowClusters: null,
  ListClusterDetails:
    'partial: `parameter_group` and `elb` are null and `public_endpoints` is empty (no parameter groups, load balancers or public addresses)',
  DeleteCluster: null,
  DeleteDwsCluster: 'partial: `release_eip_type` is checked and has nothing to release',
  RestartCluster: null,
  SwitchOverCluster: 'partial: the Patroni engine only; the local engine refuses it (400 DWS.9901)',
  StartCluster: null,
  StopCluster: null,
  ResetPassword: null,
  BatchCreateResourceTag: null,
  BatchDeleteResourceTag: null,
  SaveClusterDescriptionInfo: null,
  ChangeSecurityGroup: 'partial: the group is checked and recorded; nothing filters traffic by it',
  ListEvents: null,
  ListEventSpecs:
    'the kinds of event dwsbox records (`id` and `name` are the kind; `severity` lists the severities its events take, comma-separated); `tag` covers none (events carry no tags); see api.md#event-specs',
  CreateEventSub:
    "partial: `notification_target` is an http(s) URL each event is POSTed to, signed with the secret the answer carries once (dwsbox's `secret`), and `notification_target_type` is `HTTP` or `HTTPS` (no SMN: `SMN` is refused, 400 DWS.0001); `tag` is kept, not a filter; see api.md#event-subscriptions",
  ListEventSubs:
    "the project's subscriptions, each with dwsbox's `delivery` state (pending, last delivered, failed attempts, last error, next attempt)",
  UpdateEventSub: 'the fields sent change; enabled again, a subscription gets the events from then on; a new endpoint is tried at once',
  DeleteEventSub: null,
  ListNodeTypes: "dwsbox's node types (memory budgets and PostgreSQL settings on this host)",
  RestoreCluster: 'partial: `ipv6_enable` is refused (400 DWS.9901); network fields are recorded, not enforced',
  CheckTableRestore: null,
  RestoreTable: null,
  ResizeCluster:
    'partial: the nodes added are hot standbys; `create_node_only`, `auto_redistribute: false` and `logical_cluster_name` are refused (400 DWS.9901); `waiting_for_killing` has no effect',
  CheckGrowCluster: null,
  ShrinkCluster:
    'partial: the highest-numbered standbys are removed; `need_agency`, `parallel_jobs`, `type` and `force_backup` have no effect',
  CheckClusterShrink: null,
  ListClusterScaleInNumbers: 'partial: `logical_cluster_name` is not supported (there are no logical clusters)',
  CreateSnapshotPolicy: 'partial: `device_name` NBU and NFS are refused (400 DWS.9901); see snapshot-policies.md',
  ListSnapshotPolicy: null,
  DeleteSnapshotPolicy: null,
  CreateSnapshot: null,
  ListSnapshots: null,
  ListClusterSnapshots: null,
  ListSnapshotDetails: null,
  DeleteSnapshot: null,
  CopySnapshot:
    'a SNAPSHOT_COPYING task (job_id, a dwsbox field): the snapshot restored into a temporary instance and backed up in full with its WAL (`--archive-copy`) into a stanza of its own in the configured repository; a MANUAL snapshot that restores on its own after the source, its stanza and its cluster are gone; AUTO and MANUAL sources alike (the real service copies AUTO ones); a schema- or table-level snapshot is refused (400 DWS.9911); see api.md#copying-a-snapshot',
  ListSnapshotStatistics:
    "partial: `storage.used` (the cluster's kept snapshots, as measured) and `storage.free` (what the project's repository quota leaves them), in GB, and the dwsbox counts `snapshots.manual` and `snapshots.auto`; `storage.paid` is absent (nothing is paid for); see api.md#snapshot-statistics-and-flavors",
  ListSnapshotFlavorInfo:
    "partial: the node type and node count the snapshot was taken of (`type=restore`: and those it restores to); `classify`, `scenario`, `version`, `flavor_id`, `flavor_code`, `volume_num` and the versions' `min_cn`, `max_cn`, `version_type` are absent (no product classes, VM flavors or coordinators)",
  ListClusterActions: null,
  ListJobDetails: null,
  ModifyClusterName: 'real, at once: the answer has no `job_id` (no task renames a cluster)',
  UpdateMaintenanceWindow:
    "at once, by the real service's rules (Mon…Sun, HH:mm on the hour in UTC, 4 hours); stored and shown in the detail's `maintain_window`; a restart a parameter change needs waits for it, as its own task; see api.md#the-maintenance-window",
  ShowClusterFlavor:
    'partial: the node type, its member count and resize limits, its settings as `attribute`, its disk budget; `classify` is absent',
  ListTargetFlavors: 'every node type, the current one marked; with `cluster_id` only those the host has the memory for',
  ExecuteFlavorChange:
    "a SETTING_CONFIGURATION task: the new type's settings applied and every member restarted (standbys first; the primary first when max_connections goes down); `force_backup` has no effect (deprecated in DWS); see api.md#node-type-changes",
  ExecuteDatabaseOmUserAction:
    "the role dwsbox_om: LOGIN, VALID UNTIL 8 hours on, a member of the administrator only; its password is the operator's (`dwsbox clusters om-password`); the answer is `om_user_info` alone; see api.md#the-om-account",
  ShowDatabaseOmUserStatus: "`om_user_info` from the primary's pg_roles; the answer has no `error_code`",
  ExportDatabaseUsers: "an XLSX file (application/octet-stream) of the users ListDatabaseUsers lists, with ShowDatabaseUser's fields",
  ExportUserAuthority: 'an XLSX file (application/octet-stream) of the privileges ListDatabaseUserAuthorities lists, one row per privilege',
  ListStatistics:
    "the project's clusters (all, AVAILABLE), members (all, seen up by the health monitor) and their node types' disk (GB); `unit` is `count` or `GB`",
  ShowResourceStatistics: "the project's clusters (AVAILABLE of all) and members (up of all); `namespace` is accepted",
  CancelReadonlyCluster:
    'lifts the data-disk read-only protection (sub_status READONLY, `default_transaction_read_only` on the primary) at once; it arms again once the data is below the threshold; see api.md#read-only-protection',
  ModifyClusterTimezone:
    "real: PostgreSQL's timezone on every member by a SETTING_CONFIGURATION task (a reload, no restart), `job_id` that task; the zones the DWS API lists; the detail's `cluster_timezone` shows it",
  ListClusterTags: null,
  ListTags: null,
  ListQuotas:
    "dwsbox's per-project quotas and their use: `instances` (nodes), `snapshots` and `snapshot_storage` (MB); there is no vCPU, memory or cluster-count quota to show",
  ListAvailabilityZones:
    'partial: the zone codes a create accepts, `status` `available`; `name` and `public_border_group` are absent (the zones are labels: every node runs on this host)',
  ListClusterNodes:
    'partial: `sub_status` and `alias_name` are absent; `az_code` only for a cluster of one zone; `inst_create_type` is always `INST` (no idle nodes); `deleted` is ignored',
  ListQueries:
    "partial: the tenant's sessions on every running member from pg_stat_activity, read now, with conditions, order and pages (offset a page number minus 1); the workload-manager fields (queues, resource pools, memory, spill, skew, estimates) are absent: PostgreSQL has no source for them",
  ShowQueryDetail:
    'partial: one running statement by its query_id, read now from its member (404 DWS.9982 once it is over); the same fields as ListQueries',
  ListTablesStatistic:
    'partial: rate_type dirtyPage is real (every user table of the primary: owner, size, dead tuples in percent from pg_stat_user_tables); rate_type skew is refused (400 DWS.9901): every member holds each whole table',
  ListMonitorIndicators:
    'the figures the metrics collector measures of each member (`instance.*`), with `unit` and `description`; see api.md#monitoring-metrics-history',
  ListMonitorIndicatorData:
    'partial: one indicator of a cluster (`dim0`) per member (`dim1` node<n>) from the metrics history, `period` and `function` (avg, max, min) applied; raw samples up to 6 h within their retention, 5-minute averages beyond; see api.md#monitoring-metrics-history',
  ListHostOverview:
    "partial: each member as a host, from its newest sample: CPU (% of one core), memory (PSS against its node type's budget), disk, I/O, sessions, TPS, lag; swap, page cache, I/O wait and network are absent with the reason (`absent`)",
  ListHostDisk:
    "partial: each member's data disk (its node type's disk, its databases and WAL, I/O rates from /proc); await, svctm and util are absent (a shared block device)",
  ListHostNet:
    "partial: each member's address and whether it is collected; its traffic is absent with the reason (members share the host's network namespace)",
  ListMetrics: 'the metric groups of ListMetricsData (cpu, memory, disk, connections, transactions, replication, wal) with their columns',
  ListMetricsData:
    'one row per member per collection of a metric group over at most a day, from the metrics history; a figure not measured then is null',
  ListAlarmConfigs:
    "the alarm rules dwsbox evaluates after each metrics collection (member down, archiving failing, disk, connections, replication lag in bytes and time, CPU, memory, long-running query) with dwsbox's `threshold` and `unit`; `is_converge`/`converge_time` say which wait for the alarmForSeconds setting; see api.md#alarms",
  ListAlarmDetail:
    "the project's alarms raised and cleared by the measurements, newest first (`alarm_status` active or cleared, `alarm_location` the cluster and member, dates in `time_zone`); `recent_day` or from/to (epoch ms)",
  CreateAlarmSub:
    'partial: an event subscription of kind alarm: the alarm_raised and alarm_cleared events of the rules (`alarm_detail`, alarm_ids) and levels (`alarm_level`) it names, on its clusters (`cluster_id`), POSTed signed to an http(s) `notification_target` (no SMN); the answer carries the signing secret once; see api.md#alarms',
  ListAlarmSubs: "the project's alarm subscriptions with their delivery state",
  UpdateAlarmSub: 'the fields sent (`alarm_details` the rules)',
  DeleteAlarmSub: null,
  ListAuditLog:
    "partial: the audit trail of every authenticated mutating API call that named the cluster (refusals included), newest first: `executor_time`, `begin_time`, `end_time` (epoch ms), `result` SUCCESS or FAILED, `failed_reason`, and dwsbox's `operator`, `auth_method`, `method`, `operation`, `status_code`, `request_id`; `bucket_name` and `location_prefix` are absent (no dump of audit logs to a bucket); see api.md#the-audit-trail-listauditlog",
  ListAlarmStatistic: 'alarms raised per day (in `time_zone`) and level over the last 7 days',
  ListTagsForResource:
    "the cluster's enterprise project as its system tag `_sys_enterprise_project_id` (the only system tag dwsbox records)",
  ShowInstance:
    "partial: a node of the project (ListClusterNodes' id) with its real role, state and measured `volume.used` (GB); `region`, `group`, `internal_subnet_id`, `locality`, `fault`, `storage_engine`, `pay_model` and `public_ip` are absent (no source on one host, no billing, no public addresses)",
  ListClusterEndpoints:
    'partial: `private_endpoints` has `ip` and `port` only (no private DNS or load balancer); `public_endpoints` is absent and `public_ip_infos` empty (no public addresses)',
  CreateDatabaseUser:
    "partial: a real role (login, create_db, inherit, conn_limit, password as a SCRAM verifier, password_disable, desc as its comment, grant_members within the administrator's memberships); `system_admin` and `create_role` are refused (400 DWS.9970, beyond the administrator), `logical_cluster` and a non-empty `grant_list` (400 DWS.9901); see api.md#database-users",
  ListDatabaseUsers:
    "the primary's pg_roles but the built-in (`pg_…`, `postgres`) and dwsbox's own (`dwsbox_…`); `user_type` `IAM` for the roles SyncIamUsers made, `COMMON` for the others (`user_type=IAM` or `COMMON` filters; OneAccess lists none)",
  ShowDatabaseUser:
    'partial: from pg_roles; `auditadmin`, `useft`, `valid_begin`, `lock` and `logical_cluster` are absent (no PostgreSQL source)',
  UpdateDatabaseUserInfo:
    'partial: ALTER ROLE of `login`, `createdb`, `inherit`, `conn_limit`, `valid_until` (and the dwsbox field `password`); `systemadmin`, `createrole`, `replication` are refused (400 DWS.9970), `auditadmin`, `useft`, `valid_begin` and `lock: true` (400 DWS.9901)',
  DeleteDatabaseUser: 'DROP ROLE; `cascade=true` runs DROP OWNED BY in every database first',
  SyncIamUsers:
    "the project's dwsbox users (`dwsbox users create`: dwsbox's IAM users) made roles of the cluster, LOGIN with no password; a deleted user's synced role dropped (what it owns handed to the administrator); names that cannot be roles counted failed; at once, recorded; see api.md#iam-user-sync",
  ListSyncRecords:
    "every sync of the cluster, newest first, with its real times and counts; `identity_source_type` is `DWSBOX_USERS`, `identity_source_id` the project's id",
  UpdateDatabaseAuthority:
    "real GRANT / REVOKE (PostgreSQL 15's privileges) in one transaction, `view_sql` the statements run; objects owned by the administrator or a database user, grantees database users, the administrator or PUBLIC (D32); NODEGROUP is refused",
  ShowDatabaseAuthority: "the objects' ACLs as aclexplode says; a grant option reads `… WITH GRANT OPTION`",
  ListDatabaseUserAuthorities:
    'the privileges granted to the role itself, in every database; `future` and `all_object` are absent (default privileges are not listed)',
  ListDatabaseObjects:
    "from the primary's catalogs; FUNCTION as name(argument types); NODEGROUP lists none; `is_fine_grained_disaster` has no meaning",
  ListSchemas:
    "partial: `total_value` is the schema's bytes on the primary (every fork); `perm_space` -1 (no schema limits), one data node (`dn_num` 1, `skew_percent` 0, min and max the total)",
  ListClusterConfigurations: "the cluster's one configuration (its id is the cluster's); `status` from its SETTING_CONFIGURATION tasks",
  ListClusterConfigurationsParameter:
    "partial: the offered PostgreSQL parameters (and the node type's, read-only) from the primary's pg_settings; `values` has one entry, type `dn` (every member); see api.md#parameters",
  UpdateConfiguration:
    'a SETTING_CONFIGURATION task (reload; a restart of every member, standbys first, waits for the maintenance window as a task of its own unless the dwsbox field `restart_now` asks for it at once); values checked against pg_settings first (400 DWS.0001, nothing changed); no `job_id` in the answer (the SDK has none): the audit records name the task',
  ListConfigurationsAuditRecords:
    'partial: the SETTING_CONFIGURATION tasks with the parameters changed (a dwsbox field); `operator` is absent (tasks record no user), `action_time`, `filter_by` and `filter` are accepted and ignored',
  CreateDisasterRecovery:
    'partial: the pairing recorded (`unstart`); `dr_type` az only (one region); `dr_sync_period` is the lag past which the pairing alarms (replication is continuous); the OBS, region and project fields of other sites are not taken; dwsbox `discard_standby_data`; see api.md#disaster-recovery',
  ListDisasterRecover:
    "the project's pairings, each side's name, status and role as they are now; `last_disaster_time` the last switchover's or failover's end",
  CheckDisasterName: 'an empty answer for a valid name no pairing has; else 400 (invalid) or 409 DWS.9934',
  ListAvailableDisasterClusters: 'available clusters of the same node type and count, in no pairing',
  ShowDisasterDetail:
    "each side now; the standby's `last_success_time` its last replayed commit; dwsbox `replication` (receiver, positions, lag in bytes and seconds, pause) read from the standby leader and production's primary",
  UpdateDisasterInfo: '`dr_sync_period` only; other fields refused',
  DeleteDisasterRecovery:
    "a DR_DELETING task: a started standby promoted into an independent cluster with its data, production's slot dropped",
  ShowDisasterProgress:
    "`latest_barrier_time` the last replayed commit, `recovery_point_object` the lag in seconds now, `recovery_time_object` and `last_recovery_spend` the last switch's measured length, the last operation",
  StartDisasterRecovery:
    "a DR_STARTING task: the standby made a Patroni standby cluster of production (a base backup from production's read-write endpoint, then streaming; the repository's WAL the fallback), or its replay resumed from a pause",
  SwitchoverDisasterRecovery:
    'a DR_SWITCHOVER task: production demoted into a standby cluster, the standby caught up to its last position and promoted, the old production following it; no acknowledged write lost; the write outage is measured in bench/dr.ts',
  SwitchFailoverDisaster:
    "a DR_FAILOVER task: the standby promoted with what it received (refused while production's primary runs); the pairing then `abnormal` until RestoreDisaster",
  RestoreDisaster:
    "a DR_RECOVERING task: the old production rebuilt as the new production's standby (its own writes discarded), streaming again",
  PauseDisasterRecovery:
    "a DR_PAUSING task: replay paused on every standby member, streaming kept (Patroni's maintenance mode while paused)",
};

const BEGIN = '<!-- sdk-operations:begin -->';
const END = '<!-- sdk-operations:end -->';

const ops = readFileSync(new URL('../test/fixtures/dws-v2-operations.tsv', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => l.split('\t') as [string, string, string]);
const unsupported = new Map(UNSUPPORTED_OPERATIONS.map((o) => [o.name, o]));

const rows: string[] = [];
const counts = { real: 0, partial: 0, planned: 0, meaningless: 0 };
for (const [name, method, path] of ops) {
  const u = unsupported.get(name);
  let state: string;
  if (u) {
    state = `not supported (${u.planned ? 'planned' : 'no local meaning'}): ${u.why}`;
    counts[u.planned ? 'planned' : 'meaningless']++;
  } else if (name in ROUTED) {
    const note = ROUTED[name];
    if (note?.startsWith('partial: ')) counts.partial++;
    else counts.real++;
    state = note === null ? 'real' : note.startsWith('partial: ') ? note : `real: ${note}`;
  } else {
    throw new Error(`${name} is neither routed nor in the unsupported table`);
  }
  rows.push(`| ${name} | ${method} | \`${path}\` | ${state.replace(/\|/g, '\\|')} |`);
}

const section = [
  BEGIN,
  `<!-- generated by \`npx tsx scripts/gen-sdk-operations-doc.ts\` from test/fixtures/dws-v2-operations.tsv and src/api/routes/unsupported.ts -->`,
  '',
  `${ops.length} operations: ${counts.real} real, ${counts.partial} partial, ${counts.planned + counts.meaningless} not supported ` +
    `(${counts.planned} planned, ${counts.meaningless} with no local meaning).`,
  '',
  '| operation | method | path (as the SDK writes it) | state |',
  '|---|---|---|---|',
  ...rows,
  END,
].join('\n');

const docUrl = new URL('../docs/api.md', import.meta.url);
const doc = readFileSync(docUrl, 'utf8');
const a = doc.indexOf(BEGIN);
const b = doc.indexOf(END);
if (a < 0 || b < a) throw new Error(`docs/api.md has no ${BEGIN} … ${END} section`);
writeFileSync(docUrl, doc.slice(0, a) + section + doc.slice(b + END.length));
console.log(`docs/api.md: ${ops.length} operations (${JSON.stringify(counts)})`);
