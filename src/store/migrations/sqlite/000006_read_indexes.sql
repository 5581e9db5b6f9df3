-- dwsbox store, version 6: indexes for the API's hot reads at scale (issue 14, measured on a
-- store of 50,000 tasks): a step's past durations (the estimate of a running step, D14), read
-- newest first by step name; a cluster's tasks newest first, of a kind or of any (the
-- task-details endpoint and the cluster views), without a sort; a project's snapshots, newest
-- first (ListSnapshots).
CREATE INDEX task_steps_history ON task_steps(step_id, status, end_at);
DROP INDEX tasks_cluster;
CREATE INDEX tasks_cluster ON tasks(cluster_id, kind, created_at, id);
CREATE INDEX tasks_cluster_recent ON tasks(cluster_id, created_at, id);
CREATE INDEX snapshots_project ON snapshots(project_id, created_at);
