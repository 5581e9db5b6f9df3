/**
 * The read-only protection on a member (issue 16, domain/read-only.ts): PostgreSQL's
 * `default_transaction_read_only` set with ALTER SYSTEM (postgresql.auto.conf, so a restart
 * keeps it) and a reload, which every session that did not set its own takes at its next
 * transaction; or reset the same way. dwsbox's own sessions set it off at connect
 * (pg-instance.ts), so snapshots, restores and the database-user calls go on meanwhile.
 */
import type { NodeRecord } from '../../domain/records.js';
import type { ClusterRef } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';

/**
 * What a running member's data takes: every database (pg_database_size) and the WAL it keeps
 * (pg_ls_waldir), asked of the server rather than walked on disk, so the service never blocks
 * on a directory of a million files and a member on another host is measured as well.
 */
export async function memberDataBytes(e: LocalEngine, cluster: ClusterRef, member: NodeRecord): Promise<number> {
  const [row] = await e
    .instance(cluster, member)
    .query<{ b: number }>(
      `select ((select coalesce(sum(pg_database_size(oid)), 0) from pg_database) + (select coalesce(sum(size), 0) from pg_ls_waldir()))::float8 as b`,
    );
  return row?.b ?? 0;
}

/** Make a running member read-only (`on`) or not; true when its configuration changed. */
export async function setReadOnly(e: LocalEngine, cluster: ClusterRef, member: NodeRecord, on: boolean): Promise<boolean> {
  const inst = e.instance(cluster, member);
  // what the configuration files say (not this session's value, which dwsbox sets off)
  const [file] = await inst.query<{ setting: string }>(
    `select setting from pg_file_settings where name = 'default_transaction_read_only' and sourcefile like '%/postgresql.auto.conf' order by seqno desc limit 1`,
  );
  const now = file?.setting === 'on';
  if (now === on) return false;
  await inst.query(on ? 'alter system set default_transaction_read_only = on' : 'alter system reset default_transaction_read_only');
  await inst.query('select pg_reload_conf()');
  return true;
}
