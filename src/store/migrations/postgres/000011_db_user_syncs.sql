-- dwsbox store, version 11: SyncIamUsers and ListSyncRecords (issue 16, domain/db-sync.ts).
-- db_user_syncs: one row per sync of a cluster's roles from its project's dwsbox users, with
-- its real start and end and its counts; at most one RUNNING per cluster (the partial unique
-- index refuses a second sync while one runs, across service processes). db_synced_roles: the
-- roles syncs made, each known by its OID, so that a role of the same name made otherwise
-- (CreateDatabaseUser) is never taken for one. Both go with their cluster when it is deleted.
CREATE TABLE db_user_syncs (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  cluster_id TEXT NOT NULL,
  status TEXT NOT NULL,
  start_time BIGINT NOT NULL,
  end_time BIGINT,
  add_count INTEGER NOT NULL,
  update_count INTEGER NOT NULL,
  delete_count INTEGER NOT NULL,
  failed_count INTEGER NOT NULL,
  fail_reason TEXT
);
CREATE INDEX db_user_syncs_cluster ON db_user_syncs(cluster_id, start_time, id);
CREATE UNIQUE INDEX db_user_syncs_running ON db_user_syncs(cluster_id) WHERE status = 'RUNNING';
CREATE TABLE db_synced_roles (
  cluster_id TEXT NOT NULL,
  role_name TEXT NOT NULL,
  role_oid BIGINT NOT NULL,
  user_id TEXT NOT NULL,
  synced_at BIGINT NOT NULL,
  PRIMARY KEY (cluster_id, role_name)
);
