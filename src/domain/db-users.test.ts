import { describe, expect, it } from 'vitest';
import { checkChangeable, checkMemberships, dbRoleChange, dbRoleToCreate, parseValidUntil, type DbRoleRow } from './db-users.js';

const ADMIN = 'dbadmin';
const PW = 'Dwsbox-User-Pass1';
const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
};

describe('database users (issue 16, D32)', () => {
  it('turns a create into the role it asks for', () => {
    expect(dbRoleToCreate({ name: 'app_user', type: 'USER', password: PW, conn_limit: 5, create_db: true, desc: 'app' }, ADMIN)).toEqual({
      name: 'app_user',
      login: true,
      createdb: true,
      connLimit: 5,
      password: PW,
      memberOf: [],
      comment: 'app',
    });
    expect(dbRoleToCreate({ name: 'readers', type: 'ROLE' }, ADMIN)).toMatchObject({ login: false, memberOf: [] });
    expect(dbRoleToCreate({ name: 'nopw', type: 'USER', password_disable: true }, ADMIN)).toMatchObject({ password: null });
  });

  it('refuses names that are not database users, and hostile ones', () => {
    for (const n of ['pg_monitor', 'postgres', 'dwsbox_repl', 'dwsbox_load_x', ADMIN])
      expect(
        code(() => dbRoleToCreate({ name: n, type: 'USER', password: PW }, ADMIN)),
        n,
      ).toBe('DB_USER_REFUSED');
    for (const n of ['a"b', 'x; drop role y', 'Upper', '', 'a'.repeat(64), '1abc'])
      expect(
        code(() => dbRoleToCreate({ name: n, type: 'USER', password: PW }, ADMIN)),
        n,
      ).toBe('INVALID_NAME');
  });

  it("refuses what the administrator lacks and GaussDB's attributes", () => {
    const base = { name: 'u1', type: 'USER' as const, password: PW };
    expect(code(() => dbRoleToCreate({ ...base, system_admin: true }, ADMIN))).toBe('DB_USER_REFUSED');
    expect(code(() => dbRoleToCreate({ ...base, create_role: true }, ADMIN))).toBe('DB_USER_REFUSED');
    expect(code(() => dbRoleToCreate({ ...base, logical_cluster: 'lc' }, ADMIN))).toBe('NOT_SUPPORTED');
    expect(code(() => dbRoleToCreate({ ...base, grant_list: [{}] }, ADMIN))).toBe('NOT_SUPPORTED');
    expect(code(() => dbRoleToCreate({ ...base, password: 'short' }, ADMIN))).toBe('INVALID_PASSWORD');
    expect(code(() => dbRoleToCreate({ name: 'u1', type: 'USER' }, ADMIN))).toBe('VALIDATION');
    for (const k of ['systemadmin', 'createrole', 'replication'])
      expect(
        code(() => dbRoleChange('u1', { [k]: true }, ADMIN)),
        k,
      ).toBe('DB_USER_REFUSED');
    for (const k of ['auditadmin', 'useft', 'lock'])
      expect(
        code(() => dbRoleChange('u1', { [k]: true }, ADMIN)),
        k,
      ).toBe('NOT_SUPPORTED');
    expect(code(() => dbRoleChange('u1', { valid_begin: '2030-01-01' }, ADMIN))).toBe('NOT_SUPPORTED');
    expect(code(() => dbRoleChange('u1', { conn_limit: -2 }, ADMIN))).toBe('VALIDATION');
    expect(dbRoleChange('u1', { lock: false, createdb: false }, ADMIN)).toEqual({ createdb: false });
  });

  it('reads valid_until as ISO 8601 or infinity', () => {
    expect(parseValidUntil('2030-01-31')).toBe('2030-01-31T00:00:00.000Z');
    expect(parseValidUntil('2030-01-31 12:30:00+08:00')).toBe('2030-01-31T04:30:00.000Z');
    expect(parseValidUntil('2030-01-31T12:30:00.5Z')).toBe('2030-01-31T12:30:00.500Z');
    expect(parseValidUntil('infinity')).toBe('infinity');
    for (const bad of ['2030-02-30', '2030-13-01', "2030-01-01'; drop role x", 'tomorrow'])
      expect(
        code(() => parseValidUntil(bad)),
        bad,
      ).toBe('VALIDATION');
  });

  it('gives memberships only within the administrator’s own power', () => {
    const row = (name: string, o: Partial<DbRoleRow> = {}): DbRoleRow => ({
      name,
      login: false,
      createrole: false,
      createdb: false,
      superuser: false,
      inherit: true,
      replication: false,
      bypassrls: false,
      connLimit: -1,
      validUntilMs: null,
      comment: null,
      memberOf: [],
      adminIsMember: false,
      holdsForbidden: false,
      ...o,
    });
    expect(() =>
      checkMemberships('u', ['pg_monitor', 'readers'], [row('pg_monitor', { adminIsMember: true }), row('readers')]),
    ).not.toThrow();
    expect(
      code(() => checkMemberships('u', ['pg_execute_server_program'], [row('pg_execute_server_program', { holdsForbidden: true })])),
    ).toBe('DB_USER_REFUSED');
    expect(code(() => checkMemberships('u', ['pg_read_server_files'], [row('pg_read_server_files')]))).toBe('DB_USER_REFUSED');
    // The engine's replication role (Patroni's replicator: no reserved name), even once the administrator was made its member.
    expect(
      code(() =>
        checkMemberships('u', ['replicator'], [row('replicator', { replication: true, adminIsMember: true, holdsForbidden: true })]),
      ),
    ).toBe('DB_USER_REFUSED');
    // A role that reaches a strong one through others (holdsForbidden, from pg_has_role in the query).
    expect(code(() => checkMemberships('u', ['chain'], [row('chain', { holdsForbidden: true })]))).toBe('DB_USER_REFUSED');
    expect(code(() => checkChangeable(row('replicator', { replication: true })))).toBe('DB_USER_REFUSED');
    expect(code(() => checkChangeable(row('postgres', { superuser: true })))).toBe('DB_USER_REFUSED');
    expect(() => checkChangeable(row('report_user'))).not.toThrow();
    expect(code(() => checkMemberships('u', ['boss'], [row('boss', { createrole: true })]))).toBe('DB_USER_REFUSED');
    expect(code(() => checkMemberships('u', ['ghost'], []))).toBe('DB_USER_REFUSED');
  });
});
