-- dwsbox store, version 1 (PostgreSQL). Times are epoch milliseconds; JSON is stored as text.
CREATE TABLE projects (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE credentials (
  access_key TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects(id),
  role TEXT NOT NULL,
  secret_enc TEXT NOT NULL,
  description TEXT,
  created_at BIGINT NOT NULL
);
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects(id),
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE tokens (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  role TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE clusters (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  sub_status TEXT NOT NULL,
  sticky_task_status TEXT,
  stopped INTEGER NOT NULL DEFAULT 0,
  node_type TEXT NOT NULL,
  number_of_node INTEGER NOT NULL,
  port INTEGER NOT NULL,
  subnet_index INTEGER,
  user_name TEXT NOT NULL,
  admin_password_enc TEXT NOT NULL,
  repl_password_enc TEXT NOT NULL,
  stanza TEXT NOT NULL,
  spec TEXT NOT NULL,
  failed_reasons TEXT,
  health_note TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  deleted_at BIGINT
);
CREATE UNIQUE INDEX clusters_live_name ON clusters(project_id, name) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX clusters_live_subnet ON clusters(subnet_index) WHERE deleted_at IS NULL AND subnet_index IS NOT NULL;
CREATE TABLE nodes (
  id TEXT PRIMARY KEY,
  cluster_id TEXT NOT NULL REFERENCES clusters(id),
  ordinal INTEGER NOT NULL,
  role TEXT NOT NULL,
  host TEXT NOT NULL,
  port INTEGER NOT NULL,
  data_dir TEXT NOT NULL,
  membership TEXT NOT NULL,
  pid INTEGER,
  pid_start BIGINT,
  health TEXT NOT NULL DEFAULT 'unknown',
  slot_name TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (cluster_id, ordinal)
);
CREATE TABLE snapshots (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  cluster_id TEXT NOT NULL,
  cluster_name TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  type TEXT NOT NULL,
  stanza TEXT NOT NULL,
  backup_label TEXT,
  backup_key TEXT,
  prior_backup_key TEXT,
  backup_type TEXT,
  size_bytes BIGINT,
  total_backup_size BIGINT,
  source_bytes BIGINT,
  source_spec TEXT NOT NULL,
  schema_info TEXT,
  task_id TEXT,
  started_at BIGINT,
  finished_at BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  deleted_at BIGINT,
  expired_at BIGINT
);
CREATE UNIQUE INDEX snapshots_live_name ON snapshots(project_id, name) WHERE deleted_at IS NULL;
CREATE INDEX snapshots_cluster ON snapshots(cluster_id, created_at);
CREATE TABLE tasks (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  cluster_id TEXT,
  cluster_name TEXT NOT NULL DEFAULT '',
  snapshot_id TEXT,
  kind TEXT NOT NULL,
  lock_key TEXT NOT NULL,
  status TEXT NOT NULL,
  phase TEXT NOT NULL,
  params TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT '{}',
  progress DOUBLE PRECISION NOT NULL DEFAULT 0,
  attempt INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  run_at BIGINT NOT NULL,
  locked_by TEXT,
  lease_epoch INTEGER NOT NULL DEFAULT 0,
  lease_expires_at BIGINT,
  ran_by TEXT NOT NULL DEFAULT '[]',
  error_code TEXT,
  error_msg TEXT,
  failed_step TEXT,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  finished_at BIGINT,
  updated_at BIGINT NOT NULL
);
CREATE INDEX tasks_claim ON tasks(status, run_at);
CREATE INDEX tasks_cluster ON tasks(cluster_id, kind, created_at);
CREATE UNIQUE INDEX tasks_one_active ON tasks(lock_key) WHERE status IN ('WAITING', 'RUNNING', 'ROLLBACK_RUNNING');
CREATE TABLE task_steps (
  task_id TEXT NOT NULL REFERENCES tasks(id),
  step_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  item_key TEXT NOT NULL,
  phase TEXT NOT NULL,
  status TEXT NOT NULL,
  weight DOUBLE PRECISION NOT NULL DEFAULT 1,
  begin_at BIGINT,
  end_at BIGINT,
  estimated_time INTEGER NOT NULL DEFAULT -1,
  progress DOUBLE PRECISION NOT NULL DEFAULT 0,
  progress_info TEXT NOT NULL DEFAULT '{}',
  checkpoint TEXT,
  error_code TEXT,
  error_msg TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (task_id, step_id)
);
CREATE TABLE progress_samples (
  id BIGSERIAL PRIMARY KEY,
  task_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  at BIGINT NOT NULL,
  source TEXT NOT NULL,
  bytes_done BIGINT,
  bytes_total BIGINT,
  percent DOUBLE PRECISION,
  data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX progress_samples_step ON progress_samples(task_id, step_id, id);
CREATE TABLE faults (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  cluster_id TEXT,
  action_name TEXT NOT NULL,
  step TEXT NOT NULL,
  mode TEXT NOT NULL,
  point TEXT NOT NULL,
  delay_ms INTEGER,
  times_left INTEGER,
  created_at BIGINT NOT NULL
);
