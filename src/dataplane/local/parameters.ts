/**
 * Parameter configurations (issue 16): a member's settings as its `pg_settings` says, and the
 * cluster's own parameters (those set through UpdateConfiguration, kept in the cluster's spec)
 * written where the local engine keeps configuration — each member's `dwsbox.conf`, which
 * `clusterSettings` fills from the node type, dwsbox's own settings and then the spec's
 * parameters — and reloaded. A setting that takes a restart then shows `pending_restart`
 * until the member restarts (`restartMember`).
 */
import type { ClusterRecord, NodeRecord } from '../../domain/records.js';
import type { PgSettingRow } from '../../domain/parameters.js';
import type { ClusterRef, MemberProcess } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';

/** The named settings of a running member, by lower-case name (a name PostgreSQL lacks is absent). */
export async function pgSettings(
  e: LocalEngine,
  cluster: ClusterRef,
  member: NodeRecord,
  names: readonly string[],
): Promise<PgSettingRow[]> {
  // Named as PgSettingRow's fields, so the rows are the answer as they come; by lower-case name
  // (PostgreSQL's names are case-insensitive; pg_settings spells a few mixed, e.g. TimeZone).
  return e.instance(cluster, member).query<PgSettingRow>(
    `select lower(name) as name, setting, unit, vartype, context, min_val as "minVal", max_val as "maxVal", enumvals,
            boot_val as "bootVal", short_desc as "shortDesc", pending_restart as "pendingRestart"
       from pg_catalog.pg_settings where lower(name) = any($1::text[]) order by 1`,
    [names.map((n) => n.toLowerCase())],
    'postgres',
    // No statement_timeout of the session's own (0): pg_settings shows the server's value, not the session's.
    0,
  );
}

/**
 * Every member's `dwsbox.conf` written with the cluster's settings and `parameters` (the
 * spec's, as they are to be), then each running member reloaded. Idempotent.
 */
export async function applyParameters(
  e: LocalEngine,
  cluster: ClusterRecord,
  primary: NodeRecord,
  members: readonly NodeRecord[],
  parameters: Record<string, string>,
): Promise<void> {
  const settings = e.clusterSettings({ ...cluster, spec: { ...cluster.spec, parameters } }, primary, true);
  for (const m of members) {
    const inst = e.instance(cluster, m);
    inst.writeConfig(settings);
    if (e.memberStatus(cluster, m)) await inst.query('select pg_catalog.pg_reload_conf()');
  }
}

/** Restart one member (stopped fast, started again); its new process. */
export async function restartMember(
  e: LocalEngine,
  cluster: ClusterRef,
  member: NodeRecord,
  o: { signal?: AbortSignal } = {},
): Promise<MemberProcess> {
  await e.stopMember(cluster, member, 'fast');
  return e.startMember(cluster, member, o);
}
