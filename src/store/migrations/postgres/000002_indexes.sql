-- dwsbox store, version 2: indexes for the reads the service does most (the restore guard
-- on snapshots, node lists, a project's tasks).
CREATE INDEX tasks_snapshot ON tasks(snapshot_id);
CREATE INDEX tasks_project ON tasks(project_id, created_at);
CREATE INDEX nodes_cluster ON nodes(cluster_id);
CREATE INDEX snapshots_stanza ON snapshots(stanza, expired_at);
