/**
 * What runs on a member and how its tables fare, read live from PostgreSQL's statistics views
 * (issue 17, D29): the tenant's sessions from `pg_stat_activity` (ListQueries, ShowQueryDetail),
 * and each table's dead-tuple share from `pg_stat_user_tables` with its real size
 * (ListTablesStatistic). dwsbox's own sessions (superuser, replication, a table restore's
 * `dwsbox_load_…` login) are never listed: their text can carry role passwords' verifiers, and
 * they are not the tenant's work; the O&M account's are (the tenant sees what the operator does).
 */
import type { NodeRecord } from '../../domain/records.js';
import type { SessionRow, TableStatRow } from '../../domain/activity.js';
import type { ClusterRef } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';

/** Every client session of a role that is not a superuser on a running member, with the server's clock. */
export async function memberSessions(e: LocalEngine, cluster: ClusterRef, member: NodeRecord): Promise<SessionRow[]> {
  return e.instance(cluster, member).query<SessionRow>(
    `select a.pid, a.datname as "dbName", a.usename as "userName", a.application_name as "applicationName",
            host(a.client_addr) as "clientAddress", a.client_hostname as "clientHostname", a.client_port as "clientPort",
            a.state, a.wait_event_type as "waitEventType", a.wait_event as "waitEvent", a.query,
            (extract(epoch from a.backend_start) * 1000)::float8 as "backendStart",
            (extract(epoch from a.xact_start) * 1000)::float8 as "xactStart",
            (extract(epoch from a.query_start) * 1000)::float8 as "queryStart",
            (extract(epoch from a.state_change) * 1000)::float8 as "stateChange",
            (select (extract(epoch from min(l.waitstart)) * 1000)::float8 from pg_locks l where l.pid = a.pid and not l.granted) as "waitStart",
            (extract(epoch from clock_timestamp()) * 1000)::float8 as "now"
       from pg_stat_activity a join pg_roles r on r.oid = a.usesysid
      where a.backend_type = 'client backend' and not r.rolsuper and not r.rolreplication and a.pid <> pg_backend_pid()
        and (r.rolname !~ '^dwsbox_' or r.rolname = 'dwsbox_om')
      order by a.pid`,
  );
}

/** Every user table of every database on the primary: owner, total size, live and dead tuples as PostgreSQL counts them. */
export async function tableStatistics(e: LocalEngine, cluster: ClusterRef, primary: NodeRecord): Promise<TableStatRow[]> {
  const inst = e.instance(cluster, primary);
  const dbs = await inst.query<{ d: string }>('select datname as d from pg_database where datallowconn and not datistemplate order by 1');
  const out: TableStatRow[] = [];
  for (const { d } of dbs) {
    const rows = await inst.query<Omit<TableStatRow, 'dbName'>>(
      `select s.schemaname as "schemaName", s.relname as "tableName", pg_get_userbyid(c.relowner) as "tableOwner",
              pg_total_relation_size(s.relid)::float8 as "tableBytes", s.n_live_tup::float8 as "liveTuples", s.n_dead_tup::float8 as "deadTuples"
         from pg_stat_user_tables s join pg_class c on c.oid = s.relid
        order by 1, 2`,
      [],
      d,
    );
    for (const r of rows) out.push({ dbName: d, ...r });
  }
  return out;
}
