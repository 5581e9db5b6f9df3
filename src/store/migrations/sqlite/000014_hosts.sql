-- dwsbox store, version 14: the registered hosts of several-hosts operation (issue 18, D27). A
-- host is a machine whose agent serves the control plane over mutual TLS at address:agent_port;
-- `zone` its availability zone; `state` what the last check found ('new' before the first, 'up',
-- 'unreachable' with `state_reason`), `report` the agent's answer then (JSON: memory, disk,
-- processors, addresses); `cert_fingerprint` the SHA-256 of the certificate made for its agent.
CREATE TABLE hosts (
  name TEXT PRIMARY KEY,
  zone TEXT NOT NULL,
  address TEXT NOT NULL,
  agent_port INTEGER NOT NULL,
  state TEXT NOT NULL,
  state_reason TEXT,
  report TEXT,
  cert_fingerprint TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  checked_at BIGINT
);
CREATE UNIQUE INDEX hosts_endpoint ON hosts(address, agent_port);
