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
