-- dwsbox store, version 15: disaster-recovery pairings (issue 19, D31). A pairing makes the
-- standby cluster a Patroni standby cluster of the primary one once started. `status` is the DWS
-- value (unstart, starting, running, stopping, stopped, deleting, start_failed, stop_failed,
-- abnormal); `slot` the permanent replication slot the production side keeps for the standby;
-- `sync_period` DWS's dr_sync_period, the lag past which the pairing's alarm is raised;
-- `discard_standby_data` 1 when the create agreed that the standby's own data is replaced (a
-- standby with tables of its own is refused at start otherwise); `roles_swapped` 1 after an odd
-- number of switches (the standby side leads: the sides keep their ids, their roles swap, as DWS
-- shows them); `last_switch_at` and `last_switch_ms` the last switch's end and its length (RTO); `error` what the last failed operation said; `started_at` when it first streamed.
CREATE TABLE disaster_recoveries (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  name TEXT NOT NULL,
  dr_type TEXT NOT NULL,
  primary_cluster_id TEXT NOT NULL,
  standby_cluster_id TEXT NOT NULL,
  sync_period TEXT NOT NULL,
  status TEXT NOT NULL,
  slot TEXT NOT NULL,
  discard_standby_data INTEGER NOT NULL DEFAULT 0,
  roles_swapped INTEGER NOT NULL DEFAULT 0,
  last_switch_at BIGINT,
  last_switch_ms BIGINT,
  error TEXT,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  updated_at BIGINT NOT NULL,
  deleted_at BIGINT
);
CREATE UNIQUE INDEX disaster_recoveries_live_name ON disaster_recoveries(project_id, name) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX disaster_recoveries_live_primary ON disaster_recoveries(primary_cluster_id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX disaster_recoveries_live_standby ON disaster_recoveries(standby_cluster_id) WHERE deleted_at IS NULL;
