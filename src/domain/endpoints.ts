/**
 * Where a client writes, as the console and the CLI suggest it (pure: the console's bundle
 * imports it too).
 */

/**
 * The read-write endpoint of a cluster behind a router (`endpoints[0]`, an address no member
 * has, which follows a failover: docs/api.md, D24), else the primary member's own address (the
 * local engine: each member is an endpoint).
 */
export function writeEndpoint(c: {
  endpoints: { connect_info: string }[];
  nodes: { role: string; connect_info: string }[];
}): string | null {
  const rw = c.endpoints[0]?.connect_info;
  if (rw && !c.nodes.some((n) => n.connect_info === rw)) return rw;
  return c.nodes.find((n) => n.role === 'primary')?.connect_info ?? rw ?? null;
}

/** An endpoint (`host:port`) as a psql command line. */
export function psqlCommand(connectInfo: string, userName: string, dbname = 'postgres'): string {
  const i = connectInfo.lastIndexOf(':');
  const host = i > 0 ? connectInfo.slice(0, i) : connectInfo;
  const port = i > 0 ? connectInfo.slice(i + 1) : '';
  return `psql "host=${host}${port ? ` port=${port}` : ''} user=${userName} dbname=${dbname}"`;
}
