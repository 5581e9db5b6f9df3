-- dwsbox store, version 9: a restart a parameter change needs, waiting for the cluster's
-- maintenance window (issue 16; services/maintenance-restarts.ts). `pending_restart` is JSON
-- {parameters: [{name, value}], since, taskId}: what waits, shown in the detail; `restart_due_at`
-- (epoch ms) is when the scheduler fires it as a SETTING_CONFIGURATION task, null once fired
-- or when nothing waits. Every scheduler pass reads the due ones by this index.
ALTER TABLE clusters ADD COLUMN pending_restart TEXT;
ALTER TABLE clusters ADD COLUMN restart_due_at BIGINT;
CREATE INDEX clusters_restart_due ON clusters(restart_due_at);
