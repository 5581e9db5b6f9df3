-- dwsbox store, version 7: cluster events (D26, issue 15). One row per happening, recorded
-- once: `source_key` names the happening itself (a task and its transition, a member's health
-- change, a Patroni timeline), so that several service processes, or one restarted, that
-- observe it write one row. Read newest first, per project and per cluster; /metrics counts
-- them by kind and severity.
CREATE TABLE events (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  cluster_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  severity TEXT NOT NULL,
  message TEXT NOT NULL,
  subject TEXT,
  source_key TEXT NOT NULL UNIQUE,
  occurred_at BIGINT NOT NULL
);
CREATE INDEX events_project ON events(project_id, occurred_at, id);
CREATE INDEX events_cluster ON events(cluster_id, occurred_at, id);
CREATE INDEX events_counts ON events(project_id, kind, severity);
