import { describe, expect, it } from 'vitest';
import { authorityPlan, checkAuthorityRoles, grantAuthorities, objectAuthorities, type AclRow } from './db-authority.js';
import { authorityStatements } from '../dataplane/local/db-authority.js';
import type { DbRoleRow } from './db-users.js';

const base = { database: 'shop', is_grant: true, role_list: ['analyst'] };
const role = (name: string, over: Partial<DbRoleRow> = {}): DbRoleRow => ({
  name,
  login: true,
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
  ...over,
});
const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as { code: string }).code;
  }
  return 'none';
};

describe('privilege plans', () => {
  it("names PostgreSQL's privileges as GRANT spells them, merging repeats and keeping a grant option", () => {
    const p = authorityPlan({
      ...base,
      type: 'TABLE',
      schema: 's',
      object_list: ['t', 't'],
      grant_list: [{ permission: 'select' }, { permission: 'Select', grant_with: true }, { permission: 'ALL PRIVILEGES' }],
      role_list: ['analyst', 'public'],
    });
    expect(p).toMatchObject({
      type: 'TABLE',
      objects: ['t'],
      roles: ['analyst', 'PUBLIC'],
      privileges: [
        { privilege: 'SELECT', option: true },
        { privilege: 'ALL', option: false },
      ],
    });
    expect(authorityStatements(p, [{ name: 't', target: 's.t', owner: 'dbadmin' }])).toEqual([
      'grant all on table s.t to "analyst", public',
      'grant select on table s.t to "analyst", public with grant option',
    ]);
  });

  it('builds column, revoke and function statements from the server-quoted targets', () => {
    const col = authorityPlan({
      ...base,
      type: 'COLUMN',
      schema: 's',
      table: 't',
      object_list: ['a', 'b'],
      grant_list: [{ permission: 'UPDATE' }],
    });
    expect(
      authorityStatements(
        col,
        [
          { name: 'a', target: 'a', owner: 'x' },
          { name: 'b', target: '"B"', owner: 'x' },
        ],
        's.t',
      ),
    ).toEqual(['grant update (a, "B") on table s.t to "analyst"']);
    const rev = authorityPlan({
      ...base,
      is_grant: false,
      type: 'FUNCTION',
      schema: 's',
      all_object: true,
      revoke_list: [{ permission: 'EXECUTE', revoke_with: true }],
      cascade: true,
    });
    expect(rev.objects).toBeUndefined();
    expect(authorityStatements(rev, [{ name: 'f(integer)', target: 's.f(integer)', owner: 'x' }])).toEqual([
      'revoke grant option for execute on routine s.f(integer) from "analyst" cascade',
    ]);
  });

  it('refuses what PostgreSQL has no meaning for or the request leaves unsaid', () => {
    const t = { ...base, type: 'TABLE', schema: 's', object_list: ['t'] };
    expect(code(() => authorityPlan({ ...t, grant_list: [{ permission: 'VACUUM' }] }))).toBe('VALIDATION');
    expect(code(() => authorityPlan({ ...t, grant_list: [{ permission: 'USAGE' }] }))).toBe('VALIDATION');
    expect(code(() => authorityPlan({ ...t, grant_list: [] }))).toBe('VALIDATION');
    expect(code(() => authorityPlan({ ...t, type: 'NODEGROUP', grant_list: [{ permission: 'CREATE' }] }))).toBe('NOT_SUPPORTED');
    expect(code(() => authorityPlan({ ...t, type: 'TABLES', grant_list: [{ permission: 'SELECT' }] }))).toBe('VALIDATION');
    expect(code(() => authorityPlan({ ...t, schema: '', grant_list: [{ permission: 'SELECT' }] }))).toBe('VALIDATION');
    expect(code(() => authorityPlan({ ...t, type: 'COLUMN', grant_list: [{ permission: 'SELECT' }] }))).toBe('VALIDATION');
    expect(code(() => authorityPlan({ ...t, all_object: true, grant_list: [{ permission: 'SELECT' }] }))).toBe('VALIDATION');
    expect(code(() => authorityPlan({ ...t, object_list: [], grant_list: [{ permission: 'SELECT' }] }))).toBe('VALIDATION');
    expect(code(() => authorityPlan({ ...t, cascade: true, grant_list: [{ permission: 'SELECT' }] }))).toBe('VALIDATION');
    expect(code(() => authorityPlan({ ...t, object_list: ['a\u0000b'], grant_list: [{ permission: 'SELECT' }] }))).toBe('VALIDATION');
    expect(code(() => authorityPlan({ ...t, object_list: ['x'.repeat(64)], grant_list: [{ permission: 'SELECT' }] }))).toBe('VALIDATION');
    expect(code(() => authorityPlan({ ...t, is_grant: false, grant_list: [{ permission: 'SELECT' }] }))).toBe('VALIDATION');
  });

  it("keeps owners and grantees within the administrator's power (D32)", () => {
    const p = authorityPlan({
      ...base,
      type: 'SCHEMA',
      object_list: ['s'],
      grant_list: [{ permission: 'USAGE' }],
      role_list: ['analyst', 'PUBLIC'],
    });
    const ok = [role('dbadmin'), role('analyst')];
    const obj = (owner: string) => [{ name: 's', target: 's', owner }];
    expect(code(() => checkAuthorityRoles(p, obj('dbadmin'), ok, 'dbadmin', 'c'))).toBe('none');
    expect(code(() => checkAuthorityRoles(p, obj('analyst'), ok, 'dbadmin', 'c'))).toBe('none');
    expect(code(() => checkAuthorityRoles(p, obj('postgres'), [...ok, role('postgres', { superuser: true })], 'dbadmin', 'c'))).toBe(
      'DB_AUTHORITY_REFUSED',
    );
    expect(code(() => checkAuthorityRoles(p, obj('pg_database_owner'), ok, 'dbadmin', 'c'))).toBe('DB_AUTHORITY_REFUSED');
    expect(code(() => checkAuthorityRoles(p, obj('dbadmin'), [role('dbadmin')], 'dbadmin', 'c'))).toBe('DB_USER_NOT_FOUND');
    expect(
      code(() => checkAuthorityRoles(p, obj('dbadmin'), [role('dbadmin'), role('analyst', { holdsForbidden: true })], 'dbadmin', 'c')),
    ).toBe('DB_AUTHORITY_REFUSED');
  });
});

describe('privileges read', () => {
  const acl = (over: Partial<AclRow>): AclRow => ({
    type: 'TABLE',
    database: 'shop',
    schema: 's',
    object: 't',
    column: null,
    role: 'analyst',
    privilege: 'SELECT',
    grantable: false,
    ...over,
  });
  it("groups an object's ACL by role, and a role's by object", () => {
    const rows = [
      acl({}),
      acl({ privilege: 'INSERT', grantable: true }),
      acl({ role: 'PUBLIC' }),
      acl({ type: 'COLUMN', column: 'c', privilege: 'UPDATE' }),
    ];
    expect(objectAuthorities(['t', 'gone'], rows.slice(0, 3))).toEqual([
      {
        name: 't',
        role_authority: [
          { role: 'analyst', right_list: ['SELECT', 'INSERT WITH GRANT OPTION'] },
          { role: 'PUBLIC', right_list: ['SELECT'] },
        ],
      },
      { name: 'gone', role_authority: [] },
    ]);
    expect(grantAuthorities([rows[0]!, rows[1]!, rows[3]!])).toEqual([
      {
        type: 'TABLE',
        database: 'shop',
        schema: 's',
        obj_name: 't',
        privileges: [
          { permission: 'SELECT', grant_with: false },
          { permission: 'INSERT', grant_with: true },
        ],
      },
      {
        type: 'COLUMN',
        database: 'shop',
        schema: 's',
        obj_name: 't',
        column_name: ['c'],
        privileges: [{ permission: 'UPDATE', grant_with: false }],
      },
    ]);
  });
});
