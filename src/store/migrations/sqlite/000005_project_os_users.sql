-- dwsbox store, version 5: each project's OS user on the host (D32). A uid recorded here is
-- never given to another project, even after its project's clusters are gone.
CREATE TABLE project_os_users (
  project_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  uid BIGINT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);
