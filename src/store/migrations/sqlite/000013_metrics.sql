-- dwsbox store, version 13: metrics history (issue 17, D29). One wide row per member per
-- collection (`resolution` 0, `bucket` its epoch second) and per 5-minute average (`resolution`
-- 300, `bucket` the window's start); NULL is a figure not measured then. `service_leases`: the
-- one process of the store that does a job (the collector) holds its named lease. `alarms`: below.
CREATE TABLE metric_samples (
  cluster_id TEXT NOT NULL,
  ordinal INTEGER NOT NULL,
  resolution INTEGER NOT NULL,
  bucket BIGINT NOT NULL,
  project_id TEXT NOT NULL,
  samples INTEGER NOT NULL,
  is_primary INTEGER NOT NULL,
  cpu_percent REAL,
  cpu_user_percent REAL,
  cpu_sys_percent REAL,
  mem_bytes REAL,
  data_bytes REAL,
  fs_avail_bytes REAL,
  disk_read_rate REAL,
  disk_write_rate REAL,
  connections REAL,
  max_connections REAL,
  tps REAL,
  rollback_rate REAL,
  tuples_read_rate REAL,
  tuples_written_rate REAL,
  lag_bytes REAL,
  lag_seconds REAL,
  wal_rate REAL,
  archive_rate REAL,
  archive_fail_rate REAL,
  checkpoint_rate REAL,
  longest_query_seconds REAL,
  PRIMARY KEY (cluster_id, resolution, ordinal, bucket)
);
CREATE INDEX metric_samples_age ON metric_samples(resolution, bucket);
CREATE TABLE service_leases (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);
-- Alarms (issue 17): one row per raising of a rule for a member, cleared_at set when it clears;
-- at most one uncleared alarm per member and rule, whichever process evaluates.
CREATE TABLE alarms (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  cluster_id TEXT NOT NULL,
  ordinal INTEGER NOT NULL,
  rule_id TEXT NOT NULL,
  level TEXT NOT NULL,
  message TEXT NOT NULL,
  raised_at BIGINT NOT NULL,
  cleared_at BIGINT
);
CREATE UNIQUE INDEX alarms_one_active ON alarms(cluster_id, ordinal, rule_id) WHERE cleared_at IS NULL;
CREATE INDEX alarms_project_raised ON alarms(project_id, raised_at);
-- Alarm subscriptions (issue 17) are event subscriptions of kind 'alarm': they deliver the
-- alarm_raised and alarm_cleared events of the alarm rules (alarm_ids) and levels they name.
ALTER TABLE event_subscriptions ADD COLUMN kind TEXT NOT NULL DEFAULT 'event';
ALTER TABLE event_subscriptions ADD COLUMN alarm_ids TEXT NOT NULL DEFAULT '';
ALTER TABLE event_subscriptions ADD COLUMN alarm_levels TEXT NOT NULL DEFAULT '';
ALTER TABLE event_subscriptions ADD COLUMN language TEXT NOT NULL DEFAULT '';
-- The audit trail (issue 17, ListAuditLog): one row per mutating API call that was
-- authenticated, with who, what, when and the result.
CREATE TABLE audit_records (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  cluster_id TEXT,
  started_at BIGINT NOT NULL,
  finished_at BIGINT NOT NULL,
  principal TEXT NOT NULL,
  auth_method TEXT NOT NULL,
  method TEXT NOT NULL,
  route TEXT NOT NULL,
  status INTEGER NOT NULL,
  error_code TEXT,
  error_message TEXT,
  request_id TEXT NOT NULL
);
CREATE INDEX audit_records_cluster ON audit_records(project_id, cluster_id, started_at);
CREATE INDEX audit_records_age ON audit_records(started_at);
