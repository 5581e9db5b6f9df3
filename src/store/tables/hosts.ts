/** The registered hosts (issue 18, D27; store version 14). */
import type { Kysely } from 'kysely';
import type { HostRecord } from '../../domain/hosts.js';
import { toNumber, toNumberOrNull } from '../rows.js';
import type { Database, HostsTable } from '../schema.js';

const toRecord = (r: HostsTable): HostRecord => ({
  name: r.name,
  zone: r.zone,
  address: r.address,
  agentPort: toNumber(r.agent_port),
  state: r.state as HostRecord['state'],
  stateReason: r.state_reason,
  report: r.report === null ? null : (JSON.parse(r.report) as HostRecord['report']),
  certFingerprint: r.cert_fingerprint,
  createdAt: toNumber(r.created_at),
  checkedAt: toNumberOrNull(r.checked_at),
});

export async function insertHost(db: Kysely<Database>, h: HostRecord): Promise<void> {
  await db
    .insertInto('hosts')
    .values({
      name: h.name,
      zone: h.zone,
      address: h.address,
      agent_port: h.agentPort,
      state: h.state,
      state_reason: h.stateReason,
      report: h.report === null ? null : JSON.stringify(h.report),
      cert_fingerprint: h.certFingerprint,
      created_at: h.createdAt,
      checked_at: h.checkedAt,
    })
    .execute();
}

export async function listHosts(db: Kysely<Database>): Promise<HostRecord[]> {
  return (await db.selectFrom('hosts').selectAll().orderBy('name').execute()).map(toRecord);
}

export async function getHost(db: Kysely<Database>, name: string): Promise<HostRecord | undefined> {
  const r = await db.selectFrom('hosts').selectAll().where('name', '=', name).executeTakeFirst();
  return r && toRecord(r);
}

/** What a check of the host's agent found. */
export async function recordHostCheck(
  db: Kysely<Database>,
  name: string,
  c: Pick<HostRecord, 'state' | 'stateReason' | 'report' | 'checkedAt'>,
): Promise<void> {
  await db
    .updateTable('hosts')
    .set({
      state: c.state,
      state_reason: c.stateReason,
      // an unreachable host keeps the report of its last good check
      ...(c.report ? { report: JSON.stringify(c.report) } : {}),
      checked_at: c.checkedAt,
    })
    .where('name', '=', name)
    .execute();
}

export async function deleteHost(db: Kysely<Database>, name: string): Promise<boolean> {
  const r = await db.deleteFrom('hosts').where('name', '=', name).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
