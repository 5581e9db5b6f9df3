/**
 * Who may connect to a cluster's PostgreSQL, and how (design D7, D32), in one place for every
 * engine: the service reaches the superuser over the unix socket by peer authentication through
 * the `dwsbox` map, which maps only the service's own OS user (root) and the server's own OS user
 * (the project's); every other local role by peer as itself; everything over TCP needs a
 * password (scram-sha-256), replication included, and only from `sources`.
 */
export const PEER_MAP = 'dwsbox';

export function accessRules(o: {
  /** the OS users the map lets in as the superuser: the service's and the server's own */
  peerUsers: readonly string[];
  superuser?: string;
  sources?: readonly string[];
}): { hba: string[]; ident: string[] } {
  const superuser = o.superuser ?? 'postgres';
  const sources = o.sources ?? ['127.0.0.0/8'];
  for (const s of sources)
    if (!/^[0-9a-f.:]+\/\d{1,3}$/i.test(s)) throw new Error(`a pg_hba source must be an address/prefix, not ${JSON.stringify(s)}`);
  return {
    hba: [
      `local all ${superuser} peer map=${PEER_MAP}`,
      'local all all peer',
      ...sources.map((s) => `host replication all ${s} scram-sha-256`),
      ...sources.map((s) => `host all all ${s} scram-sha-256`),
    ],
    ident: [...new Set(o.peerUsers)].map((u) => `${PEER_MAP} ${u} ${superuser}`),
  };
}
