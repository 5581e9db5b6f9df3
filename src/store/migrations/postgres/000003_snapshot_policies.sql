-- dwsbox store, version 3: automated snapshots (docs/snapshot-policies.md).
-- snapshot_policy_settings: a cluster's policy-wide fields (keep_day, device, auto_backup).
-- snapshot_policies: one row per backup strategy; next_fire_at is the scheduler's cursor
-- (the next slot to fire, in epoch ms UTC; null when a one-off schedule has fired).
-- policy_fires: one row per fired slot. Its primary key makes each fire time produce at
-- most one AUTO snapshot, however many service processes share the store: the row is
-- inserted in the same transaction as the snapshot and its snapshot.create task.
CREATE TABLE snapshot_policy_settings (
  cluster_id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  keep_day INTEGER NOT NULL,
  device_name TEXT NOT NULL,
  server_ips TEXT NOT NULL DEFAULT '[]',
  server_port TEXT,
  backup_param TEXT,
  auto_backup INTEGER NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE snapshot_policies (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  cluster_id TEXT NOT NULL,
  name TEXT NOT NULL,
  schedule TEXT NOT NULL,
  backup_type TEXT NOT NULL,
  backup_level TEXT NOT NULL,
  time_zone_offset INTEGER NOT NULL DEFAULT 0,
  backup_database TEXT,
  backup_schema_list TEXT,
  backup_table_list TEXT,
  next_fire_at BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  deleted_at BIGINT
);
CREATE UNIQUE INDEX snapshot_policies_live_name ON snapshot_policies(cluster_id, lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX snapshot_policies_due ON snapshot_policies(next_fire_at) WHERE deleted_at IS NULL;
CREATE TABLE policy_fires (
  policy_id TEXT NOT NULL,
  fire_time BIGINT NOT NULL,
  outcome TEXT NOT NULL,
  snapshot_id TEXT,
  detail TEXT,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (policy_id, fire_time)
);
