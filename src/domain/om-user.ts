/**
 * The O&M account (issue 16: ExecuteDatabaseOmUserAction, ShowDatabaseOmUserStatus): a role the
 * tenant switches on so that the operator of this service can look into the cluster with the
 * administrator's own rights (never more: it is a member of the administrator and nothing
 * else, D32), for a limited time (a real VALID UNTIL). The tenant never learns its password and
 * cannot change it (a dwsbox_ role); the operator sets one on the host while it is on
 * (`dwsbox clusters om-password`). Pure code: the names, the validity, the SDK's answer.
 */
import { AppError } from '../errors/app-error.js';

/** The role's name: dwsbox's, so the database-user calls never list, change or drop it. */
export const OM_ROLE = 'dwsbox_om';

/** How long an addOmUser or an increaseOmUserPeriod keeps it valid, from now. */
export const OM_VALIDITY_MS = 8 * 3600_000;

export const OM_OPERATIONS = ['addOmUser', 'deleteOmUser', 'increaseOmUserPeriod'] as const;
export type OmOperation = (typeof OM_OPERATIONS)[number];

/** The role as pg_roles says (null: there is none). */
export interface OmRoleRow {
  login: boolean;
  /** rolvaliduntil in epoch ms; null when none or infinite */
  validUntilMs: number | null;
}

export function checkOmOperation(op: string): OmOperation {
  if (!(OM_OPERATIONS as readonly string[]).includes(op))
    throw new AppError('VALIDATION', {
      args: [`operation must be one of ${OM_OPERATIONS.join(', ')}, got ${JSON.stringify(op.slice(0, 40))}`],
    });
  return op as OmOperation;
}

/** The SDK's DatabaseOmUserInfo: on while the role can log in and has not expired; its expiry in epoch ms. */
export function omUserInfo(row: OmRoleRow | null, now: number): { om_user_status: 'on' | 'off'; om_user_expires_time?: number } {
  const on = !!row && row.login && row.validUntilMs !== null && row.validUntilMs > now;
  return { om_user_status: on ? 'on' : 'off', ...(row?.validUntilMs != null ? { om_user_expires_time: row.validUntilMs } : {}) };
}
