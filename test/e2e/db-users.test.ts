/**
 * End to end (issue 16, D28, D32): database users as real PostgreSQL roles on one real cluster —
 * created, logged in as, listed and shown as pg_roles says, changed (replayed on a standby),
 * every request beyond the administrator's power refused with nothing changed, hostile names
 * refused, dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  ACCESS_KEY,
  ADMIN_PASSWORD,
  createAvailableCluster,
  getCluster,
  PROJECT_ID,
  SECRET_KEY,
  startService,
  type TestService,
} from '../helpers/service.js';
import { runApiCommand } from '../../src/cli/commands/api.js';
import { waitFor } from '../helpers/env.js';
import { omPassword } from '../../src/services/om-password.js';
import { readSheet } from 'read-excel-file/node';
import { request as undiciRequest } from 'undici';
import { signRequest } from '../../src/auth/signer.js';
import { hashPassword } from '../../src/auth/secrets.js';
import { randomUUID } from 'node:crypto';

let t: TestService;
let id: string;
let rw: string;
beforeAll(async () => {
  t = await startService();
  const c = await createAvailableCluster(t.client, { nodes: 3 });
  id = c.id;
  rw = c.detail.endpoints[0]!.connect_info;
});
afterAll(async () => {
  await t?.stop();
});

const PW1 = 'Report-User-Pass1';
const PW2 = 'Report-User-Pass2';
const USERS = () => `/v1/{project_id}/clusters/${id}/db-manager/users`;

async function query<R>(connectInfo: string, user: string, password: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const [host, port] = connectInfo.split(':');
  const c = new pg.Client({ host, port: Number(port), user, password, database: 'postgres', connectionTimeoutMillis: 5000 });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as R[];
  } finally {
    await c.end().catch(() => {});
  }
}
const admin = <R>(sql: string, params: unknown[] = [], at = rw): Promise<R[]> => query<R>(at, 'dbadmin', ADMIN_PASSWORD, sql, params);

/** Every role as pg_roles says, with its memberships: what "nothing changed" compares. */
const rolesNow = (): Promise<unknown[]> =>
  admin(
    `select r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, r.rolreplication, r.rolbypassrls, r.rolinherit,
            r.rolconnlimit, r.rolvaliduntil::text, array(select g.rolname::text from pg_auth_members m join pg_roles g on g.oid = m.roleid
                                                          where m.member = r.oid order by 1) as member_of
       from pg_roles r order by 1`,
  );

describe('database users (real roles)', () => {
  it('creates a user that logs in with its password, with its attributes, comment and membership', async () => {
    const r = await t.client.request('POST', USERS(), {
      name: 'report_user',
      type: 'USER',
      password: PW1,
      conn_limit: 3,
      create_db: true,
      desc: 'the reporting app',
      grant_members: ['pg_monitor'],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const [me] = await query<{ u: string; mon: boolean }>(
      rw,
      'report_user',
      PW1,
      "select current_user as u, pg_has_role('pg_monitor', 'member') as mon",
    );
    expect(me).toEqual({ u: 'report_user', mon: true });
    await expect(query(rw, 'report_user', 'Wrong-Password-12', 'select 1')).rejects.toThrow(/password authentication failed/);
    // a ROLE does not log in
    expect((await t.client.request('POST', USERS(), { name: 'readers', type: 'ROLE' })).status).toBe(200);
    const [readers] = await admin<{ rolcanlogin: boolean }>("select rolcanlogin from pg_roles where rolname = 'readers'");
    expect(readers).toEqual({ rolcanlogin: false });
    // the same name again: 409
    const again = await t.client.request<{ error_code: string }>('POST', USERS(), { name: 'readers', type: 'ROLE' });
    expect([again.status, again.body.error_code]).toEqual([409, 'DWS.9972']);
  });

  it('lists and shows the users as pg_roles says, never the built-in or dwsbox roles', async () => {
    const all = await t.client.call<{ users: { name: string; login: boolean; user_type: string }[] }>('GET', USERS());
    const names = all.users.map((u) => u.name);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['dbadmin', 'readers', 'report_user']));
    expect(names.filter((n) => n.startsWith('pg_') || n.startsWith('dwsbox_') || n === 'postgres')).toEqual([]);
    expect(all.users.find((u) => u.name === 'report_user')).toEqual({ name: 'report_user', login: true, user_type: 'COMMON' });
    const roles = await t.client.call<{ users: { name: string }[] }>('GET', `${USERS()}?type=ROLE`);
    expect(roles.users.map((u) => u.name)).toContain('readers');
    expect(roles.users.map((u) => u.name)).not.toContain('report_user');
    expect((await t.client.call<{ users: unknown[] }>('GET', `${USERS()}?user_type=IAM`)).users).toEqual([]);

    const shown = await t.client.call<Record<string, unknown>>('GET', `${USERS()}/report_user`);
    const [row] = await admin<Record<string, unknown>>(
      "select rolcanlogin, rolcreatedb, rolconnlimit, rolinherit, shobj_description(oid, 'pg_authid') as d from pg_roles where rolname = 'report_user'",
    );
    expect(row).toEqual({ rolcanlogin: true, rolcreatedb: true, rolconnlimit: 3, rolinherit: true, d: 'the reporting app' });
    expect(shown).toEqual({
      name: 'report_user',
      login: true,
      createrole: false,
      createdb: true,
      systemadmin: false,
      inherit: true,
      conn_limit: 3,
      replication: false,
      desc: 'the reporting app',
      user_type: 'COMMON',
      member_of: ['pg_monitor'],
    });
    const missing = await t.client.request<{ error_code: string }>('GET', `${USERS()}/nobody_here`);
    expect([missing.status, missing.body.error_code]).toEqual([404, 'DWS.9971']);
  });

  it('changes a user: conn_limit, valid_until and the password (the new one logs in, the old one fails), replayed on a standby', async () => {
    const r = await t.client.request('POST', `${USERS()}/report_user`, {
      conn_limit: 7,
      valid_until: '2031-05-06T07:08:09Z',
      password: PW2,
      lock: false,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await query<{ u: string }>(rw, 'report_user', PW2, 'select current_user as u')).toEqual([{ u: 'report_user' }]);
    await expect(query(rw, 'report_user', PW1, 'select 1')).rejects.toThrow(/password authentication failed/);
    const shown = await t.client.call<{ conn_limit: number; valid_until: number }>('GET', `${USERS()}/report_user`);
    expect(shown).toMatchObject({ conn_limit: 7, valid_until: Date.parse('2031-05-06T07:08:09Z') });
    const [row] = await admin<{ c: number; v: string }>(
      "select rolconnlimit as c, to_char(rolvaliduntil at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') as v from pg_roles where rolname = 'report_user'",
    );
    expect(row).toEqual({ c: 7, v: '2031-05-06 07:08:09' });
    // a standby has replayed it
    const standby = (await getCluster(t.client, id)).nodes.find((n) => n.role === 'standby')!;
    await waitFor(
      async () => {
        const [s] = await admin<{ c: number }>(
          "select rolconnlimit as c from pg_roles where rolname = 'report_user'",
          [],
          standby.connect_info,
        );
        return s?.c === 7;
      },
      { what: 'the standby to replay the change', timeoutMs: 20_000, intervalMs: 100 },
    );
    // infinity lifts the expiry
    expect((await t.client.request('POST', `${USERS()}/report_user`, { valid_until: 'infinity' })).status).toBe(200);
    expect(await t.client.call('GET', `${USERS()}/report_user`)).not.toHaveProperty('valid_until');
  });

  it("refuses, with 400 and nothing changed, every name and attribute beyond the administrator's power, and hostile names", async () => {
    const before = await rolesNow();
    const cases: [string, string, unknown, string][] = [
      ['POST', USERS(), { name: 'evil1', type: 'USER', password: PW1, system_admin: true }, 'DWS.9970'],
      ['POST', USERS(), { name: 'evil1', type: 'USER', password: PW1, create_role: true }, 'DWS.9970'],
      ['POST', USERS(), { name: 'evil1', type: 'USER', password: PW1, grant_members: ['pg_execute_server_program'] }, 'DWS.9970'],
      ['POST', USERS(), { name: 'evil1', type: 'USER', password: PW1, grant_members: ['pg_read_server_files'] }, 'DWS.9970'],
      ['POST', USERS(), { name: 'evil1', type: 'USER', password: PW1, grant_members: ['postgres'] }, 'DWS.9970'],
      ['POST', USERS(), { name: 'evil1', type: 'USER', password: PW1, grant_members: ['readers', 'pg_write_server_files'] }, 'DWS.9970'],
      ['POST', USERS(), { name: 'evil1', type: 'USER', password: PW1, logical_cluster: 'lc1' }, 'DWS.9901'],
      ['POST', USERS(), { name: 'evil1', type: 'USER', password: 'weak' }, 'DWS.5144'],
      ['POST', USERS(), { name: 'pg_evil', type: 'USER', password: PW1 }, 'DWS.9970'],
      ['POST', USERS(), { name: 'dwsbox_evil', type: 'USER', password: PW1 }, 'DWS.9970'],
      ['POST', USERS(), { name: 'dwsbox_repl', type: 'USER', password: PW1 }, 'DWS.9970'],
      ['POST', USERS(), { name: 'postgres', type: 'USER', password: PW1 }, 'DWS.9970'],
      ['POST', USERS(), { name: 'dbadmin', type: 'USER', password: PW1 }, 'DWS.9970'],
      ['POST', USERS(), { name: 'x"; drop role report_user; --', type: 'USER', password: PW1 }, 'DWS.5057'],
      ['POST', USERS(), { name: "o'neil", type: 'ROLE' }, 'DWS.5057'],
      ['POST', `${USERS()}/report_user`, { systemadmin: true }, 'DWS.9970'],
      ['POST', `${USERS()}/report_user`, { createrole: true }, 'DWS.9970'],
      ['POST', `${USERS()}/report_user`, { replication: true }, 'DWS.9970'],
      ['POST', `${USERS()}/report_user`, { auditadmin: true }, 'DWS.9901'],
      ['POST', `${USERS()}/report_user`, { useft: true }, 'DWS.9901'],
      ['POST', `${USERS()}/report_user`, { valid_begin: '2030-01-01' }, 'DWS.9901'],
      ['POST', `${USERS()}/report_user`, { lock: true }, 'DWS.9901'],
      ['POST', `${USERS()}/report_user`, { valid_until: "2030-01-01'; alter role report_user superuser; --" }, 'DWS.0001'],
      ['POST', `${USERS()}/report_user`, { conn_limit: 5, createrole: true }, 'DWS.9970'],
      ['POST', `${USERS()}/dbadmin`, { conn_limit: 1 }, 'DWS.9970'],
      ['POST', `${USERS()}/dwsbox_repl`, { login: false }, 'DWS.9970'],
      ['POST', `${USERS()}/pg_monitor`, { login: true }, 'DWS.9970'],
      ['POST', `${USERS()}/postgres`, { password: PW1 }, 'DWS.9970'],
      ['POST', `${USERS()}/${encodeURIComponent('report_user"; alter role dbadmin superuser; --')}`, { conn_limit: 1 }, 'DWS.5057'],
      ['DELETE', `${USERS()}/dbadmin`, undefined, 'DWS.9970'],
      ['DELETE', `${USERS()}/dwsbox_repl`, undefined, 'DWS.9970'],
      ['DELETE', `${USERS()}/postgres`, undefined, 'DWS.9970'],
      ['DELETE', `${USERS()}/${encodeURIComponent('a;b')}`, undefined, 'DWS.5057'],
    ];
    // The engine's replication role, whatever its name (dwsbox_repl; Patroni's replicator): never
    // a user to change (its password would be a REPLICATION login for the tenant; its login or
    // its drop would cut the replicas off), drop, show or list.
    const replication = (await admin<{ n: string }>('select rolname::text as n from pg_roles where rolreplication and not rolsuper')).map(
      (x) => x.n,
    );
    expect(replication.length).toBeGreaterThan(0);
    for (const n of replication) {
      cases.push(['POST', `${USERS()}/${n}`, { password: PW1 }, 'DWS.9970']);
      cases.push(['POST', `${USERS()}/${n}`, { login: false }, 'DWS.9970']);
      cases.push(['DELETE', `${USERS()}/${n}`, undefined, 'DWS.9970']);
      const shown = await t.client.request<{ error_code: string }>('GET', `${USERS()}/${n}`);
      // a reserved name (dwsbox_…) is refused as a name; another engine role is not a user to show
      expect([
        [400, 'DWS.9970'],
        [404, 'DWS.9971'],
      ]).toContainEqual([shown.status, shown.body.error_code]);
    }
    const listed = await t.client.call<{ users: { name: string }[] }>('GET', USERS());
    expect(listed.users.map((u) => u.name).filter((u) => replication.includes(u))).toEqual([]);
    for (const [method, path, body, code] of cases) {
      const r = await t.client.request<{ error_code: string; error_msg: string }>(method, path, body);
      expect([r.status, r.body.error_code], `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`).toEqual([400, code]);
    }
    const gaussOnly = await t.client.request<{ error_msg: string }>('POST', `${USERS()}/report_user`, { auditadmin: true });
    expect(gaussOnly.body.error_msg).toMatch(/no PostgreSQL meaning/);
    expect(await rolesNow()).toEqual(before);
  });

  it('the CLI: db-users create, list, show and delete', async () => {
    const lines: string[] = [];
    const out = { write: (s: string) => lines.push(s) > 0 } as unknown as NodeJS.WriteStream;
    const env = {
      DWSBOX_ENDPOINT: t.endpoint,
      DWSBOX_PROJECT_ID: PROJECT_ID,
      DWSBOX_ACCESS_KEY: ACCESS_KEY,
      DWSBOX_SECRET_KEY: SECRET_KEY,
    };
    const run = async (...a: string[]): Promise<unknown> => {
      lines.length = 0;
      expect(await runApiCommand(a, env, out), a.join(' ')).toBe(0);
      return a.includes('--json') ? JSON.parse(lines.join('')) : lines.join('');
    };
    expect(await run('db-users', 'create', id, '--name', 'cli_role', '--role', '--conn-limit', '2')).toMatch(/role cli_role created/);
    expect(
      ((await run('db-users', 'list', id, '--type', 'ROLE', '--json')) as { users: { name: string }[] }).users.map((u) => u.name),
    ).toContain('cli_role');
    expect(await run('db-users', 'show', id, 'cli_role', '--json')).toMatchObject({ name: 'cli_role', login: false, conn_limit: 2 });
    await run('db-users', 'delete', id, 'cli_role');
    expect(await admin("select 1 from pg_roles where rolname = 'cli_role'")).toEqual([]);
  });

  it('drops a user: refused while it holds privileges, dropped with cascade=true, gone from pg_roles', async () => {
    await admin('create table dbu_t(x int); grant select on dbu_t to report_user');
    const held = await t.client.request<{ error_code: string; error_msg: string }>('DELETE', `${USERS()}/report_user`);
    expect([held.status, held.body.error_code], held.body.error_msg).toEqual([409, 'DWS.9973']);
    expect(await admin("select 1 from pg_roles where rolname = 'report_user'")).toHaveLength(1);
    expect((await t.client.request('DELETE', `${USERS()}/report_user?cascade=true`)).status).toBe(200);
    expect((await t.client.request('DELETE', `${USERS()}/readers`)).status).toBe(200);
    expect(await admin("select rolname from pg_roles where rolname in ('report_user', 'readers')")).toEqual([]);
    const gone = await t.client.request<{ error_code: string }>('GET', `${USERS()}/report_user`);
    expect([gone.status, gone.body.error_code]).toEqual([404, 'DWS.9971']);
    expect(await admin('select count(*)::int as n from dbu_t')).toEqual([{ n: 0 }]);
  });
});

describe('database privileges and objects (real GRANT, REVOKE and catalogs)', () => {
  const MANAGER = () => `/v1/{project_id}/clusters/${id}/db-manager`;
  const PW3 = 'Analyst-User-Pass3';
  const grant = (body: Record<string, unknown>) =>
    t.client.request<{ view_sql: string[]; error_code: string; error_msg: string }>('POST', `${MANAGER()}/authority`, {
      database: 'postgres',
      is_grant: true,
      role_list: ['analyst'],
      ...body,
    });
  /** Every ACL of the postgres database's objects and of the databases: what "nothing changed" compares. */
  const aclsNow = (): Promise<unknown[]> =>
    admin(
      `select 'd' k, datname::text n, datacl::text a from pg_database
       union all select 'n', nspname, nspacl::text from pg_namespace
       union all select 'c', relname, relacl::text from pg_class
       union all select 'a', attrelid::regclass::text || '.' || attname, attacl::text from pg_attribute where attacl is not null
       union all select 'f', oid::regprocedure::text, proacl::text from pg_proc order by 1, 2`,
    );

  beforeAll(async () => {
    const r = await t.client.request('POST', USERS(), { name: 'analyst', type: 'USER', password: PW3 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await admin(`create schema sales;
                 create table sales.orders(id int primary key, amount numeric, note text);
                 insert into sales.orders select g, g * 1.5, 'n' || g from generate_series(1, 2000) g;
                 create view sales.big_orders as select * from sales.orders where amount > 100;
                 create sequence sales.order_ids;
                 create function sales.tax(x numeric) returns numeric language sql immutable as 'select x * 0.2';`);
  });

  it('grants a schema, a table, a column and a function: what has_*_privilege says on the primary and, replayed, on a standby; the user can read and not write', async () => {
    const usage = await grant({ type: 'SCHEMA', object_list: ['sales'], grant_list: [{ permission: 'USAGE' }] });
    expect(usage.status, JSON.stringify(usage.body)).toBe(200);
    expect(usage.body.view_sql).toEqual(['grant usage on schema sales to "analyst"']);
    const select = await grant({
      type: 'TABLE',
      schema: 'sales',
      object_list: ['orders'],
      grant_list: [{ permission: 'select' }, { permission: 'INSERT', grant_with: true }],
    });
    expect(select.status, JSON.stringify(select.body)).toBe(200);
    expect(select.body.view_sql).toEqual([
      'grant select on table sales.orders to "analyst"',
      'grant insert on table sales.orders to "analyst" with grant option',
    ]);
    const column = await grant({
      type: 'COLUMN',
      schema: 'sales',
      table: 'orders',
      object_list: ['note'],
      grant_list: [{ permission: 'UPDATE' }],
    });
    expect(column.body.view_sql).toEqual(['grant update (note) on table sales.orders to "analyst"']);
    const fn = await grant({
      type: 'FUNCTION',
      schema: 'sales',
      object_list: ['tax'],
      grant_list: [{ permission: 'EXECUTE' }],
      role_list: ['PUBLIC'],
    });
    expect(fn.body.view_sql).toEqual(['grant execute on routine sales.tax(numeric) to public']);

    const privileges = `select has_schema_privilege('analyst', 'sales', 'USAGE') as usage,
                               has_table_privilege('analyst', 'sales.orders', 'SELECT') as sel,
                               has_table_privilege('analyst', 'sales.orders', 'INSERT WITH GRANT OPTION') as ins,
                               has_table_privilege('analyst', 'sales.orders', 'DELETE') as del,
                               has_column_privilege('analyst', 'sales.orders', 'note', 'UPDATE') as upd_note,
                               has_column_privilege('analyst', 'sales.orders', 'amount', 'UPDATE') as upd_amount,
                               has_function_privilege('analyst', 'sales.tax(numeric)', 'EXECUTE') as exec`;
    const expected = { usage: true, sel: true, ins: true, del: false, upd_note: true, upd_amount: false, exec: true };
    expect(await admin(privileges)).toEqual([expected]);
    const standby = (await getCluster(t.client, id)).nodes.find((n) => n.role === 'standby')!;
    await waitFor(async () => JSON.stringify(await admin(privileges, [], standby.connect_info)) === JSON.stringify([expected]), {
      what: 'the standby to replay the grants',
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    // the user itself: reads, updates the column it may, nothing else
    expect(await query(rw, 'analyst', PW3, 'select count(*)::int as n, sales.tax(10) as t from sales.orders')).toEqual([
      { n: 2000, t: '2.0' },
    ]);
    expect(await query(rw, 'analyst', PW3, "update sales.orders set note = 'seen' where id = 1 returning id")).toEqual([{ id: 1 }]);
    await expect(query(rw, 'analyst', PW3, 'delete from sales.orders')).rejects.toThrow(/permission denied/);
    await expect(query(rw, 'analyst', PW3, 'update sales.orders set amount = 0')).rejects.toThrow(/permission denied/);
  });

  it("shows who holds what on objects, lists a user's privileges and the objects, as the catalogs say", async () => {
    const shown = await t.client.call<{ authorities: { name: string; role_authority: { role: string; right_list: string[] }[] }[] }>(
      'GET',
      `${MANAGER()}/authority?type=TABLE&database=postgres&schema=sales&name=orders`,
    );
    expect(shown.authorities).toHaveLength(1);
    const byRole = Object.fromEntries(shown.authorities[0]!.role_authority.map((r) => [r.role, r.right_list]));
    expect(byRole['analyst']).toEqual(['INSERT WITH GRANT OPTION', 'SELECT']);
    expect(byRole['dbadmin']).toEqual(expect.arrayContaining(['SELECT', 'INSERT', 'DELETE', 'TRUNCATE']));

    const mine = await t.client.call<{
      authority_list: { type: string; schema?: string; obj_name: string; column_name?: string[]; privileges: unknown[] }[];
      count: number;
    }>('GET', `${MANAGER()}/users/analyst/authority`);
    expect(mine.count).toBe(mine.authority_list.length);
    expect(mine.authority_list).toEqual(
      expect.arrayContaining([
        { type: 'SCHEMA', database: 'postgres', obj_name: 'sales', privileges: [{ permission: 'USAGE', grant_with: false }] },
        {
          type: 'TABLE',
          database: 'postgres',
          schema: 'sales',
          obj_name: 'orders',
          privileges: [
            { permission: 'INSERT', grant_with: true },
            { permission: 'SELECT', grant_with: false },
          ],
        },
        {
          type: 'COLUMN',
          database: 'postgres',
          schema: 'sales',
          obj_name: 'orders',
          column_name: ['note'],
          privileges: [{ permission: 'UPDATE', grant_with: false }],
        },
      ]),
    );

    const objects = async (q: string) =>
      (await t.client.call<{ object_list: { obj_name: string }[]; count: string }>('GET', `${MANAGER()}/objects?${q}`)).object_list.map(
        (o) => o.obj_name,
      );
    expect(await objects('type=TABLE&database=postgres&schema=sales')).toEqual(['orders']);
    expect(await objects('type=VIEW&database=postgres&schema=sales')).toEqual(['big_orders']);
    expect(await objects('type=SEQUENCE&database=postgres&schema=sales')).toEqual(['order_ids']);
    expect(await objects('type=FUNCTION&database=postgres&schema=sales')).toEqual(['tax(numeric)']);
    expect(await objects('type=COLUMN&database=postgres&schema=sales&table=orders')).toEqual(['id', 'amount', 'note']);
    expect(await objects('type=SCHEMA&database=postgres&name=SAL')).toEqual(['sales']);
    expect(await objects('type=DATABASE')).toContain('postgres');
    expect(await objects('type=NODEGROUP')).toEqual([]);

    // ListSchemas: the schema's bytes as PostgreSQL measures them
    const schemas = await t.client.call<{ schemas: { schema_name: string; total_value: number; perm_space: number }[]; count: number }>(
      'GET',
      `/v2/{project_id}/clusters/${id}/databases/postgres/schemas?keywords=sales`,
    );
    const [measured] = await admin<{ b: number }>(
      `select sum(pg_relation_size(c.oid, 'main') + pg_relation_size(c.oid, 'fsm') + pg_relation_size(c.oid, 'vm') + pg_relation_size(c.oid, 'init'))::float8 as b
         from pg_class c where c.relnamespace = 'sales'::regnamespace and c.relkind in ('r', 'i', 't', 'm', 'S')`,
    );
    expect(schemas.schemas).toEqual([expect.objectContaining({ schema_name: 'sales', total_value: measured!.b, perm_space: -1 })]);
    expect(measured!.b).toBeGreaterThan(8192);
  });

  it('revokes: the grant option alone, then the privilege; has_table_privilege follows', async () => {
    const option = await t.client.request<{ view_sql: string[] }>('POST', `${MANAGER()}/authority`, {
      type: 'TABLE',
      is_grant: false,
      database: 'postgres',
      schema: 'sales',
      object_list: ['orders'],
      role_list: ['analyst'],
      revoke_list: [{ permission: 'INSERT', revoke_with: true }],
    });
    expect(option.body.view_sql).toEqual(['revoke grant option for insert on table sales.orders from "analyst" restrict']);
    const check =
      "select has_table_privilege('analyst', 'sales.orders', 'INSERT') as ins, has_table_privilege('analyst', 'sales.orders', 'INSERT WITH GRANT OPTION') as opt";
    expect(await admin(check)).toEqual([{ ins: true, opt: false }]);
    const all = await t.client.request('POST', `${MANAGER()}/authority`, {
      type: 'TABLE',
      is_grant: false,
      database: 'postgres',
      schema: 'sales',
      all_object: true,
      role_list: ['analyst'],
      revoke_list: [{ permission: 'ALL' }],
      cascade: true,
    });
    expect(all.status, JSON.stringify(all.body)).toBe(200);
    expect(await admin(check)).toEqual([{ ins: false, opt: false }]);
  });

  it("refuses, with a 4xx and nothing changed, objects or grantees beyond the administrator's power, unknown privileges and objects, and hostile names", async () => {
    const before = await aclsNow();
    const cases: [string, Record<string, unknown>, number, string][] = [
      [
        'a system catalog',
        { type: 'TABLE', schema: 'pg_catalog', object_list: ['pg_authid'], grant_list: [{ permission: 'SELECT' }] },
        400,
        'DWS.9975',
      ],
      [
        'the postgres database (dwsbox owns it)',
        { type: 'DATABASE', object_list: ['postgres'], grant_list: [{ permission: 'CREATE' }] },
        400,
        'DWS.9975',
      ],
      [
        'to postgres',
        { type: 'SCHEMA', object_list: ['sales'], grant_list: [{ permission: 'USAGE' }], role_list: ['postgres'] },
        400,
        'DWS.9975',
      ],
      [
        'to a built-in role',
        { type: 'SCHEMA', object_list: ['sales'], grant_list: [{ permission: 'USAGE' }], role_list: ['pg_write_server_files'] },
        400,
        'DWS.9975',
      ],
      [
        'to nobody',
        { type: 'SCHEMA', object_list: ['sales'], grant_list: [{ permission: 'USAGE' }], role_list: ['nobody_here'] },
        404,
        'DWS.9971',
      ],
      [
        'a GaussDB privilege',
        { type: 'TABLE', schema: 'sales', object_list: ['orders'], grant_list: [{ permission: 'VACUUM' }] },
        400,
        'DWS.0001',
      ],
      ['a node group', { type: 'NODEGROUP', object_list: ['g1'], grant_list: [{ permission: 'CREATE' }] }, 400, 'DWS.9901'],
      [
        'an unknown table',
        { type: 'TABLE', schema: 'sales', object_list: ['nothing'], grant_list: [{ permission: 'SELECT' }] },
        404,
        'DWS.9974',
      ],
      [
        'an unknown database',
        { type: 'SCHEMA', database: 'no_db', object_list: ['sales'], grant_list: [{ permission: 'USAGE' }] },
        404,
        'DWS.9974',
      ],
      [
        'a hostile table name',
        { type: 'TABLE', schema: 'sales', object_list: ['orders; drop table sales.orders; --'], grant_list: [{ permission: 'SELECT' }] },
        404,
        'DWS.9974',
      ],
      [
        'a hostile role name',
        {
          type: 'TABLE',
          schema: 'sales',
          object_list: ['orders'],
          grant_list: [{ permission: 'SELECT' }],
          role_list: ['x" to public; --'],
        },
        404,
        'DWS.9971',
      ],
      [
        'a hostile privilege',
        { type: 'TABLE', schema: 'sales', object_list: ['orders'], grant_list: [{ permission: 'SELECT ON TABLE x TO public --' }] },
        400,
        'DWS.0001',
      ],
      [
        'cascade on a grant',
        { type: 'TABLE', schema: 'sales', object_list: ['orders'], grant_list: [{ permission: 'SELECT' }], cascade: true },
        400,
        'DWS.0001',
      ],
      ['no schema', { type: 'TABLE', object_list: ['orders'], grant_list: [{ permission: 'SELECT' }] }, 400, 'DWS.0001'],
    ];
    for (const [what, body, status, code] of cases) {
      const r = await grant(body);
      expect([r.status, r.body.error_code], `${what}: ${r.body.error_msg}`).toEqual([status, code]);
    }
    expect(await admin('select count(*)::int as n from sales.orders')).toEqual([{ n: 2000 }]);
    expect(await aclsNow()).toEqual(before);
  });
});

describe("exports (XLSX files of the users and of a user's privileges)", () => {
  /** A GET signed as the test client signs, its answer as bytes. */
  async function download(path: string): Promise<{ status: number; type: string; file: Buffer }> {
    const url = new URL(path.replace('{project_id}', PROJECT_ID), t.endpoint);
    const headers: Record<string, string> = { 'x-project-id': PROJECT_ID };
    Object.assign(
      headers,
      signRequest({ method: 'GET', url: url.pathname + url.search, headers, body: undefined, host: url.host }, ACCESS_KEY, SECRET_KEY),
    );
    const res = await undiciRequest(url, { headers });
    return { status: res.statusCode, type: String(res.headers['content-type']), file: Buffer.from(await res.body.arrayBuffer()) };
  }

  it('ExportDatabaseUsers and ExportUserAuthority answer spreadsheets of what the list calls show', async () => {
    const users = await download(`/v1/{project_id}/clusters/${id}/db-manager/users/export?type=USER`);
    expect([users.status, users.type]).toEqual([200, 'application/octet-stream']);
    const rows = await readSheet(users.file);
    expect(rows[0]).toEqual(['name', 'type', 'login', 'createdb', 'inherit', 'conn_limit', 'valid_until', 'member_of', 'desc']);
    const listed = (await t.client.call<{ users: { name: string }[] }>('GET', `${USERS()}?type=USER`)).users.map((u) => u.name);
    expect(rows.slice(1).map((r) => r[0])).toEqual(listed);
    expect(rows.find((r) => r[0] === 'analyst')?.slice(1, 6)).toEqual(['USER', true, false, true, -1]);
    const rights = await download(`/v1/{project_id}/clusters/${id}/db-manager/users/analyst/authority/export`);
    expect(rights.status).toBe(200);
    const held = await readSheet(rights.file);
    expect(held[0]).toEqual(['type', 'database', 'schema', 'object', 'column', 'permission', 'grant_with']);
    expect(held.slice(1)).toContainEqual(['SCHEMA', 'postgres', null, 'sales', null, 'USAGE', false]);
    const missing = await t.client.request<{ error_code: string }>('GET', `${USERS()}/nobody_here/authority/export`);
    expect([missing.status, missing.body.error_code]).toEqual([404, 'DWS.9971']);
  });
});

describe('the O&M account (a real role with a real VALID UNTIL)', () => {
  const OM = () => `/v1/{project_id}/clusters/${id}/db-manager/om-user`;
  type Info = { om_user_info: { om_user_status: string; om_user_expires_time?: number } };
  const action = (operation: string) => t.client.request<Info & { error_code: string }>('POST', `${OM()}/action`, { operation });

  it('is off, then on for 8 hours as a member of the administrator only; the operator sets its password on the host; it logs in with the administrator rights', async () => {
    expect((await t.client.call<Info>('GET', `${OM()}/status`)).om_user_info).toEqual({ om_user_status: 'off' });
    const before = Date.now();
    const on = await action('addOmUser');
    expect(on.status, JSON.stringify(on.body)).toBe(200);
    expect(on.body.om_user_info.om_user_status).toBe('on');
    const expires = on.body.om_user_info.om_user_expires_time!;
    expect(expires).toBeGreaterThanOrEqual(before + 8 * 3600_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 8 * 3600_000 + 1000);
    const [role] = await admin<{ login: boolean; until: number; member_of: string[]; sup: boolean }>(
      `select rolcanlogin as login, floor(extract(epoch from rolvaliduntil) * 1000)::float8 as until, rolsuper as sup,
              array(select g.rolname::text from pg_auth_members m join pg_roles g on g.oid = m.roleid where m.member = r.oid) as member_of
         from pg_roles r where rolname = 'dwsbox_om'`,
    );
    expect(role).toEqual({ login: true, until: expires, member_of: ['dbadmin'], sup: false });
    // never a database user of the tenant's
    const users = await t.client.call<{ users: { name: string }[] }>('GET', USERS());
    expect(users.users.map((u) => u.name)).not.toContain('dwsbox_om');
    const refused = await t.client.request<{ error_code: string }>('POST', `${USERS()}/dwsbox_om`, { password: 'Takeover-Pass-12' });
    expect(refused.body.error_code).toBe('DWS.9970');
    // the operator's side: a fresh password, printed once; the account logs in with it and reads what the administrator can
    const login = await omPassword(t.svc.store, t.svc.dataPlane, id);
    expect(login).toMatchObject({ user: 'dwsbox_om', expires: new Date(expires).toISOString() });
    expect(await query(`${login.host}:${login.port}`, 'dwsbox_om', login.password, 'select count(*)::int as n from sales.orders')).toEqual([
      { n: 2000 },
    ]);
  });

  it('increaseOmUserPeriod moves its expiry; deleteOmUser ends its sessions and drops it; a bad operation is a 400', async () => {
    const [{ until } = { until: 0 }] = await admin<{ until: number }>(
      "select floor(extract(epoch from rolvaliduntil) * 1000)::float8 as until from pg_roles where rolname = 'dwsbox_om'",
    );
    await new Promise((r) => setTimeout(r, 1100));
    const more = await action('increaseOmUserPeriod');
    expect(more.body.om_user_info.om_user_expires_time).toBeGreaterThan(until);
    const bad = await action('becomeSuperuser');
    expect([bad.status, bad.body.error_code]).toEqual([400, 'DWS.0001']);
    const off = await action('deleteOmUser');
    expect(off.body.om_user_info).toEqual({ om_user_status: 'off' });
    expect(await admin("select 1 from pg_roles where rolname = 'dwsbox_om'")).toEqual([]);
    await expect(omPassword(t.svc.store, t.svc.dataPlane, id)).rejects.toThrow(/O&M account is off/);
    const again = await action('increaseOmUserPeriod');
    expect([again.status, again.body.error_code]).toEqual([409, 'DWS.0011']);
  });

  it('its sessions end once its VALID UNTIL has passed (PostgreSQL alone only refuses new logins), on a standby too; a new login is refused', async () => {
    expect((await action('addOmUser')).status).toBe(200);
    const login = await omPassword(t.svc.store, t.svc.dataPlane, id);
    const nodes = await t.svc.store.listNodes(id);
    const primary = nodes.find((n) => n.role === 'primary')!;
    const standby = nodes.find((n) => n.role === 'standby')!;
    const open = async (at: string) => {
      const [host, port] = at.split(':');
      const c = new pg.Client({ host, port: Number(port), user: 'dwsbox_om', password: login.password, database: 'postgres' });
      const ended = new Promise<string>((res) => c.on('error', (e) => res(e.message)));
      await c.connect();
      await c.query('select 1');
      return { c, ended };
    };
    const onPrimary = await open(`${primary.host}:${primary.port}`);
    // the password replayed there first
    const onStandby = await waitFor(async () => open(`${standby.host}:${standby.port}`), {
      what: 'a session on the standby',
      timeoutMs: 30_000,
    });
    // The expiry moved to a moment ago as dwsbox's superuser would (the tenant cannot: the role is dwsbox's).
    const cluster = { id, projectId: (await t.svc.store.getClusterById(id))!.projectId };
    await t.svc.dataPlane
      .instance(cluster, primary)
      .query(`alter role dwsbox_om valid until '${new Date(Date.now() - 1000).toISOString()}'`);
    // The monitor's round ends them (about every 10 s).
    const endedWithin = (x: { ended: Promise<string> }) =>
      Promise.race([x.ended, new Promise<string>((res) => setTimeout(() => res('still open after 60 s'), 60_000))]);
    expect(await endedWithin(onPrimary)).toMatch(/terminat/);
    expect(await endedWithin(onStandby)).toMatch(/terminat/);
    await expect(query(`${primary.host}:${primary.port}`, 'dwsbox_om', login.password, 'select 1')).rejects.toThrow(
      /password authentication failed/,
    );
    // The administrator's sessions are untouched meanwhile.
    expect(await admin('select 1 as one')).toEqual([{ one: 1 }]);
    for (const x of [onPrimary, onStandby]) await x.c.end().catch(() => {});
    expect((await action('deleteOmUser')).body.om_user_info).toEqual({ om_user_status: 'off' });
  });
});

describe("IAM user sync (the project's dwsbox users as real roles)", () => {
  const SYNC = () => `/v1/{project_id}/clusters/${id}/db-manager/sync-iam-user`;
  const RECORDS = () => `/v1/{project_id}/clusters/${id}/db-manager/sync-records`;
  interface SyncRecord {
    id: string;
    identity_source_id: string;
    identity_source_type: string;
    start_time: number;
    end_time?: number;
    add_count: number;
    update_count: number;
    delete_count: number;
    failed_count: number;
    status: string;
    fail_reason?: string;
  }
  const dwsboxUser = async (name: string): Promise<void> => {
    await t.svc.store.insertUser({
      id: randomUUID(),
      projectId: PROJECT_ID,
      name,
      role: 'readonly',
      passwordHash: await hashPassword('Sync-User-Pass1'),
      createdAt: Date.now(),
    });
  };
  const roleRow = async (name: string, at = rw): Promise<unknown[]> =>
    admin(
      `select rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolconnlimit,
              shobj_description(oid, 'pg_authid') as comment,
              array(select g.rolname::text from pg_auth_members m join pg_roles g on g.oid = m.roleid where m.member = r.oid) as member_of
         from pg_roles r where rolname = $1`,
      [name],
      at,
    );
  let firstStart = 0;
  let firstEnd = 0;
  let manualBefore: unknown[] = [];

  it('a sync makes a role of each dwsbox user (LOGIN, no password, nothing above a database user), replayed on a standby; a bad name and a role the administrator made are failed, untouched', async () => {
    expect(
      (await t.client.request('POST', USERS(), { name: 'sync_manual', type: 'ROLE', conn_limit: 4, desc: 'made by the admin' })).status,
    ).toBe(200);
    manualBefore = await roleRow('sync_manual');
    for (const n of ['sync_alice', 'sync_bob', 'Carol.Ops', 'sync_manual', 'dbadmin']) await dwsboxUser(n);
    firstStart = Date.now();
    const r = await t.client.request<{ sync_user: string[] }>('POST', SYNC());
    firstEnd = Date.now();
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.sync_user).toEqual(['sync_alice', 'sync_bob']);
    for (const n of ['sync_alice', 'sync_bob'])
      expect(await roleRow(n)).toEqual([
        {
          rolname: n,
          rolcanlogin: true,
          rolsuper: false,
          rolcreaterole: false,
          rolcreatedb: false,
          rolreplication: false,
          rolbypassrls: false,
          rolconnlimit: -1,
          comment: expect.stringContaining(`dwsbox user ${n} (id `),
          member_of: [],
        },
      ]);
    // no password: nobody logs in as it until the administrator sets one
    await expect(query(rw, 'sync_alice', 'Sync-User-Pass1', 'select 1')).rejects.toThrow(/password authentication failed/);
    expect(await admin("select 1 from pg_roles where rolname = 'Carol.Ops'")).toEqual([]);
    expect(await roleRow('sync_manual')).toEqual(manualBefore);
    const standby = (await getCluster(t.client, id)).nodes.find((n) => n.role === 'standby')!;
    await waitFor(async () => (await roleRow('sync_bob', standby.connect_info)).length === 1, {
      what: 'the standby to replay the synced roles',
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    // ShowDatabaseUser shows it with its comment
    const shown = await t.client.request<{ login: boolean; desc: string }>('GET', `${USERS()}/sync_alice`);
    expect(shown.body).toMatchObject({ login: true, desc: expect.stringContaining('synced by SyncIamUsers'), user_type: 'IAM' });
    // ListDatabaseUsers: the synced ones are IAM, the administrator's COMMON
    const iam = await t.client.call<{ users: { name: string; user_type: string }[] }>('GET', `${USERS()}?user_type=IAM`);
    expect(iam.users).toEqual([
      { name: 'sync_alice', login: true, user_type: 'IAM' },
      { name: 'sync_bob', login: true, user_type: 'IAM' },
    ]);
    const common = await t.client.call<{ users: { name: string; user_type: string }[] }>('GET', `${USERS()}?user_type=COMMON`);
    expect(common.users.map((u) => u.name)).toContain('sync_manual');
    expect(common.users.map((u) => u.name)).not.toContain('sync_alice');
    expect(new Set(common.users.map((u) => u.user_type))).toEqual(new Set(['COMMON']));
  });

  it('a second sync after a dwsbox user is deleted drops its role (what it owns handed to the administrator), delete_count 1; the others untouched', async () => {
    // sync_bob logs in once the administrator gives it a password, and makes a table
    expect((await t.client.request('POST', `${USERS()}/sync_bob`, { password: 'Sync-Bob-Pass12' })).status).toBe(200);
    await admin('create schema sync_s; grant usage, create on schema sync_s to sync_bob');
    await query(rw, 'sync_bob', 'Sync-Bob-Pass12', 'create table sync_s.bobs(x int); insert into sync_s.bobs values (7)');
    const alice = await roleRow('sync_alice');
    // a session of sync_bob on a standby (once the standby has replayed its password)
    const standby = (await getCluster(t.client, id)).nodes.find((n) => n.role === 'standby')!;
    const [host, port] = standby.connect_info.split(':');
    const session = await waitFor(
      async () => {
        const s = new pg.Client({ host, port: Number(port), user: 'sync_bob', password: 'Sync-Bob-Pass12', database: 'postgres' });
        s.on('error', () => {});
        return s.connect().then(
          () => s,
          () => null,
        );
      },
      { what: "sync_bob's login on the standby", timeoutMs: 20_000, intervalMs: 100 },
    );
    expect((await session.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    expect(await t.svc.store.deleteUser('sync_bob')).toBe(true);
    const r = await t.client.request<{ sync_user: string[] }>('POST', SYNC());
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.sync_user).toEqual([]);
    expect(await admin("select 1 from pg_roles where rolname = 'sync_bob'")).toEqual([]);
    // its standby session was ended with it
    await expect(session.query('select 1')).rejects.toThrow();
    await session.end().catch(() => {});
    expect(await admin("select tableowner from pg_tables where schemaname = 'sync_s' and tablename = 'bobs'")).toEqual([
      { tableowner: 'dbadmin' },
    ]);
    expect(await admin('select x from sync_s.bobs')).toEqual([{ x: 7 }]);
    expect(await roleRow('sync_alice')).toEqual(alice);
    expect(await roleRow('sync_manual')).toEqual(manualBefore);
    // a role the administrator made under a synced name after dropping the synced one is never the sync's
    expect((await t.client.request('DELETE', `${USERS()}/sync_alice`)).status).toBe(200);
    expect((await t.client.request('POST', USERS(), { name: 'sync_alice', type: 'ROLE', desc: 'mine now' })).status).toBe(200);
    const mine = await roleRow('sync_alice');
    await t.svc.store.deleteUser('sync_alice');
    const third = await t.client.request<{ sync_user: string[] }>('POST', SYNC());
    expect([third.status, third.body.sync_user]).toEqual([200, []]);
    expect(await roleRow('sync_alice')).toEqual(mine);
  });

  it('ListSyncRecords: every sync newest first with its real times and counts, paged', async () => {
    const r = await t.client.request<{ count: number; sync_records: SyncRecord[] }>('GET', RECORDS());
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.count).toBe(3);
    const [third, second, first] = r.body.sync_records;
    expect(first).toMatchObject({
      identity_source_id: PROJECT_ID,
      identity_source_type: 'DWSBOX_USERS',
      status: 'SUCCESS',
      add_count: 2,
      update_count: 0,
      delete_count: 0,
      failed_count: 3,
    });
    expect(first!.start_time).toBeGreaterThanOrEqual(firstStart);
    expect(first!.end_time).toBeGreaterThanOrEqual(first!.start_time);
    expect(first!.end_time).toBeLessThanOrEqual(firstEnd);
    expect(first!.fail_reason).toMatch(/Carol\.Ops: .*lower-case/);
    expect(first!.fail_reason).toMatch(/sync_manual: a role of this name exists and was not made by a sync/);
    expect(first!.fail_reason).toMatch(/dbadmin: .*administrator/);
    expect(second).toMatchObject({ status: 'SUCCESS', add_count: 0, update_count: 0, delete_count: 1, failed_count: 3 });
    expect(second!.start_time).toBeGreaterThanOrEqual(first!.end_time!);
    // the third: sync_alice's synced role was dropped by the administrator, so nothing was deleted
    expect(third).toMatchObject({ status: 'SUCCESS', add_count: 0, delete_count: 0, failed_count: 3 });
    const page = await t.client.request<{ count: number; sync_records: SyncRecord[] }>('GET', `${RECORDS()}?offset=1&limit=1`);
    expect([page.body.count, page.body.sync_records.map((x) => x.id)]).toEqual([3, [second!.id]]);
  });

  it('refuses, changing nothing: another sync running (one left RUNNING by a stopped process is closed FAILED), bad paging, an unknown cluster', async () => {
    const running = {
      id: randomUUID(),
      projectId: PROJECT_ID,
      clusterId: id,
      status: 'RUNNING' as const,
      startTime: Date.now(),
      endTime: null,
      addCount: 0,
      updateCount: 0,
      deleteCount: 0,
      failedCount: 0,
      failReason: null,
    };
    await t.svc.store.insertDbSync(running);
    const roles = await rolesNow();
    const busy = await t.client.request<{ error_code: string; error_msg: string }>('POST', SYNC());
    expect([busy.status, busy.body.error_code], busy.body.error_msg).toEqual([409, 'DWS.0011']);
    expect(busy.body.error_msg).toMatch(/another sync/);
    expect(await rolesNow()).toEqual(roles);
    // the same record as one whose process stopped 20 minutes ago: the next sync closes it FAILED and runs
    await t.svc.store.adapter.db
      .updateTable('db_user_syncs')
      .set({ start_time: Date.now() - 20 * 60_000 })
      .where('id', '=', running.id)
      .execute();
    expect((await t.client.request('POST', SYNC())).status).toBe(200);
    const listed = await t.client.request<{ count: number; sync_records: SyncRecord[] }>('GET', RECORDS());
    expect(listed.body.count).toBe(5);
    expect(listed.body.sync_records.find((x) => x.id === running.id)).toMatchObject({
      status: 'FAILED',
      fail_reason: expect.stringMatching(/cut off/),
    });
    for (const q of ['limit=0', 'limit=1001', 'offset=-1', 'limit=x']) {
      const bad = await t.client.request<{ error_code: string }>('GET', `${RECORDS()}?${q}`);
      expect(bad.status, q).toBe(400);
    }
    const unknown = `/v1/{project_id}/clusters/${randomUUID()}/db-manager`;
    expect((await t.client.request('POST', `${unknown}/sync-iam-user`)).status).toBe(404);
    expect((await t.client.request('GET', `${unknown}/sync-records`)).status).toBe(404);
    expect(await rolesNow()).toEqual(roles);
  });

  it('the CLI: db-users sync and sync-records', async () => {
    const lines: string[] = [];
    const out = { write: (s: string) => lines.push(s) > 0 } as unknown as NodeJS.WriteStream;
    const env = {
      DWSBOX_ENDPOINT: t.endpoint,
      DWSBOX_PROJECT_ID: PROJECT_ID,
      DWSBOX_ACCESS_KEY: ACCESS_KEY,
      DWSBOX_SECRET_KEY: SECRET_KEY,
    };
    await dwsboxUser('sync_cli');
    lines.length = 0;
    expect(await runApiCommand(['db-users', 'sync', id], env, out)).toBe(0);
    expect(lines.join('')).toMatch(/synced: sync_cli/);
    lines.length = 0;
    expect(await runApiCommand(['db-users', 'sync-records', id, '--limit', '1', '--json'], env, out)).toBe(0);
    const r = JSON.parse(lines.join('')) as { count: number; sync_records: SyncRecord[] };
    expect(r.count).toBe(6);
    expect(r.sync_records[0]).toMatchObject({ add_count: 1, status: 'SUCCESS' });
    lines.length = 0;
    expect(await runApiCommand(['db-users', 'sync-records', id], env, out)).toBe(0);
    expect(lines.join('')).toMatch(/6 sync\(s\) in all/);
    expect(await admin("select 1 as one from pg_roles where rolname = 'sync_cli'")).toEqual([{ one: 1 }]);
  });
  it('a dwsbox user deleted and made again under the same name: its role re-bound (update_count 1, in sync_user), its attributes kept', async () => {
    // the administrator changed the synced role: a sync keeps what the administrator set
    expect((await t.client.request('POST', `${USERS()}/sync_cli`, { login: false, conn_limit: 2 })).status).toBe(200);
    const [before] = (await roleRow('sync_cli')) as { comment: string }[];
    await t.svc.store.deleteUser('sync_cli');
    await dwsboxUser('sync_cli');
    const r = await t.client.request<{ sync_user: string[] }>('POST', SYNC());
    expect([r.status, r.body.sync_user]).toEqual([200, ['sync_cli']]);
    const [after] = (await roleRow('sync_cli')) as { comment: string; rolcanlogin: boolean; rolconnlimit: number }[];
    expect(after).toMatchObject({ rolcanlogin: false, rolconnlimit: 2 });
    const newId = (await t.svc.store.getUserByName('sync_cli'))!.id;
    expect(after!.comment).toContain(`(id ${newId},`);
    expect(after!.comment).not.toEqual(before!.comment);
    const { sync_records } = await t.client.call<{ sync_records: SyncRecord[] }>('GET', `${RECORDS()}?limit=1`);
    expect(sync_records[0]).toMatchObject({ status: 'SUCCESS', add_count: 0, update_count: 1, delete_count: 0 });
    // nothing changed since: a sync does nothing more
    const again = await t.client.request<{ sync_user: string[] }>('POST', SYNC());
    expect([again.status, again.body.sync_user]).toEqual([200, []]);
    expect(await roleRow('sync_cli')).toEqual([after]);
  });
});
