/**
 * The contract through a real client (issue 16, D28): the operations of issue 16 driven only
 * through the official SDK's own core (test/helpers/sdk-client.ts: its ClientBuilder, HcClient,
 * BasicCredentials signer and axios HTTP client, with each operation's method, path template,
 * query and body as the SDK's DwsClient builds them, bodies in the SDK models' snake_case
 * names) against a running service with ONE real cluster (three members, the least a create
 * takes; made through the SDK's CreateCluster too), and each checked by its real effect:
 * in PostgreSQL (a user made through the SDK logs in with its password; a privilege granted is
 * what has_table_privilege says and lets the user read; a parameter updated and a time zone set
 * are what `show` says on every member; a user deleted is gone from pg_roles; a password reset
 * is the one the administrator logs in with; the endpoint named is the one connected through;
 * the project's dwsbox users synced are roles in pg_roles)
 * or in the answer's figures (the members, their roles and zone; a schema's bytes as
 * pg_relation_size sums them; the project's node quota as used). An error status arrives as the
 * SDK's own ClientRequestException with the DWS error_code. Operations that need a second
 * cluster are not here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { ADMIN_PASSWORD, PROJECT_ID, SUBNET, VPC, startService, type TestService } from '../helpers/service.js';
import { randomUUID } from 'node:crypto';
import { hashPassword } from '../../src/auth/secrets.js';
import { ClientRequestException } from '@huaweicloud/huaweicloud-sdk-core/exception/ClientRequestException.js';
import { sdkClient, sdkError, type Sdk } from '../helpers/sdk-client.js';
import { freePort, waitFor } from '../helpers/env.js';

let t: TestService;
let sdk: Sdk;
let clusterId: string;
/** host:port of the read-write endpoint ListClusterEndpoints names */
let rw: string;
/** host:port of each member, as ListClusterNodes names them */
let members: string[] = [];

const USER = 'sdk_user';
const USER_PW = 'Sdk-Contract-Pass1';
const ZONE = 'local-1b';

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

beforeAll(async () => {
  t = await startService();
  sdk = sdkClient(t.endpoint);
  // CreateCluster through the SDK too (CreateClusterInfo: security_group_id is required there), in a zone of our choosing.
  const created = await sdk<{ cluster: { id: string } }>('CreateCluster', {
    body: {
      cluster: {
        name: 'sdk-contract',
        node_type: 'dwsx.small',
        number_of_node: 3,
        subnet_id: SUBNET,
        vpc_id: VPC,
        security_group_id: '5e4d3c2b-1a09-4f8e-9d7c-6b5a4e3d2c1b',
        availability_zone: ZONE,
        user_name: 'dbadmin',
        user_pwd: ADMIN_PASSWORD,
        port: await freePort(),
      },
    },
  });
  clusterId = created.body.cluster.id;
  // followed through the SDK too: ListClusterDetails until the create's task is over
  type Detail = { status: string; action_progress: Record<string, string>; failed_reasons?: unknown };
  const detail = await waitFor(
    async () => {
      const d = (await sdk<{ cluster: Detail }>('ListClusterDetails', { path: { cluster_id: clusterId } })).body.cluster;
      return d.status !== 'CREATING' && Object.keys(d.action_progress).length === 0 ? d : null;
    },
    { what: 'the cluster to be created', timeoutMs: 180_000, intervalMs: 200 },
  );
  expect(detail.status, JSON.stringify(detail.failed_reasons)).toBe('AVAILABLE');
});
afterAll(async () => {
  await t?.stop();
});

const cluster = (): { cluster_id: string } => ({ cluster_id: clusterId });

describe('the cluster and the project, as the SDK reads them', () => {
  it('ListClusterEndpoints names the read-write address, and it is the primary: the administrator connects through it', async () => {
    const r = await sdk<{ private_endpoints: { ip: string; port: number }; public_ip_infos: unknown[] }>('ListClusterEndpoints', {
      path: cluster(),
    });
    expect(r.status).toBe(200);
    const { ip, port } = r.body.private_endpoints;
    rw = `${ip}:${port}`;
    expect(await admin('select pg_is_in_recovery() as standby, current_user as u')).toEqual([{ standby: false, u: 'dbadmin' }]);
    expect(r.body.public_ip_infos).toEqual([]);
  });

  it('ListClusterNodes: the real members, each with the role its PostgreSQL plays, in the zone the create asked for', async () => {
    const r = await sdk<{
      node_list: { id: string; name: string; status: string; role: string; connect_info: string; az_code?: string }[];
      count: number;
      failed_count: number;
    }>('ListClusterNodes', { path: cluster(), query: { offset: 0, limit: 100 } });
    expect(r.status).toBe(200);
    expect([r.body.count, r.body.failed_count, r.body.node_list.length]).toEqual([3, 0, 3]);
    for (const n of r.body.node_list) {
      expect(n).toMatchObject({ status: 'ACTIVE', az_code: ZONE });
      const [me] = await admin<{ standby: boolean }>('select pg_is_in_recovery() as standby', [], n.connect_info);
      expect(me!.standby, n.name).toBe(n.role === 'standby');
    }
    expect(r.body.node_list.map((n) => n.role).sort()).toEqual(['primary', 'standby', 'standby']);
    members = r.body.node_list.map((n) => n.connect_info);

    // node_ids as an array (node_ids=a&node_ids=b, as the SDK sends its Array<string>), ordered by name
    const ids = r.body.node_list.map((n) => n.id);
    const two = await sdk<{ node_list: { id: string; name: string }[]; count: number }>('ListClusterNodes', {
      path: cluster(),
      query: { node_ids: [ids[0]!, ids[2]!], order_by: 'name', order: 'desc' },
    });
    expect(two.body.count).toBe(2);
    expect(two.body.node_list.map((n) => n.id).sort()).toEqual([ids[0], ids[2]].sort());
    expect(two.body.node_list.map((n) => n.name)).toEqual(
      two.body.node_list
        .map((n) => n.name)
        .sort()
        .reverse(),
    );
  });

  it('ShowInstance: each member by its node id, its role and state, and the GB its data takes, measured on it', async () => {
    const nodes = (
      await sdk<{ node_list: { id: string; name: string; role: string; connect_info: string }[] }>('ListClusterNodes', { path: cluster() })
    ).body.node_list;
    for (const n of nodes) {
      const r = await sdk<{
        id: string;
        cluster_id: string;
        role: string;
        status: string;
        traffic_ip: string;
        volume: { size: number; used?: number };
      }>('ShowInstance', { path: { instance_id: n.id } });
      expect(r.body).toMatchObject({
        id: n.id,
        cluster_id: clusterId,
        role: n.role,
        status: 'ACTIVE',
        traffic_ip: n.connect_info.split(':')[0],
      });
      // used: the member's databases and WAL; at least the databases as PostgreSQL sizes them there, and less than a WAL segment budget more.
      const [dbs] = await admin<{ bytes: string }>(
        'select sum(pg_database_size(datname))::text as bytes from pg_database where datallowconn',
        [],
        n.connect_info,
      );
      const dbGb = Number(dbs!.bytes) / 1024 ** 3;
      expect(r.body.volume.used, n.name).toBeGreaterThanOrEqual(dbGb - 0.01);
      expect(r.body.volume.used! - dbGb, n.name).toBeLessThan(1.5);
      expect(r.body.volume.size).toBeGreaterThan(r.body.volume.used!);
    }
    const e = await sdkError(sdk('ShowInstance', { path: { instance_id: '00000000-0000-4000-8000-000000000000' } }));
    expect([e.httpStatusCode, e.errorCode]).toEqual([404, 'DWS.9981']);
  });

  it('ListTagsForResource: the enterprise project the cluster was created in, as its system tag', async () => {
    const r = await sdk<{ sys_tags: { key: string; value: string }[]; count: number }>('ListTagsForResource', { path: cluster() });
    const detail = await sdk<{ cluster: { enterprise_project_id: string } }>('ListClusterDetails', { path: cluster() });
    expect(r.body).toEqual({
      sys_tags: [{ key: '_sys_enterprise_project_id', value: detail.body.cluster.enterprise_project_id }],
      count: 1,
    });
  });

  it('ListAvailabilityZones lists the zone the cluster runs in; ListQuotas counts its node against the node quota', async () => {
    const zones = await sdk<{ availability_zones: { code: string; status: string }[]; count: number }>('ListAvailabilityZones');
    expect(zones.body.count).toBe(zones.body.availability_zones.length);
    expect(zones.body.availability_zones).toContainEqual({ code: ZONE, status: 'available' });
    const quotas = await sdk<{ quotas: { resources: { type: string; used: number; quota: number }[] } }>('ListQuotas');
    const byType = Object.fromEntries(quotas.body.quotas.resources.map((q) => [q.type, q]));
    expect(byType['instances']).toMatchObject({ used: 3, quota: t.config.projectNodeQuota });
    expect(byType['snapshots']).toMatchObject({ used: 0 });
  });

  it('ModifyClusterName renames it (ListClusterDetails and ListClusters show the name); BatchCreateResourceTag tags it (ListClusterTags)', async () => {
    expect((await sdk('ModifyClusterName', { path: cluster(), body: { cluster_name: 'sdk-renamed' } })).status).toBe(200);
    const detail = await sdk<{ cluster: { id: string; name: string } }>('ListClusterDetails', { path: cluster() });
    expect(detail.body.cluster).toMatchObject({ id: clusterId, name: 'sdk-renamed' });
    const all = await sdk<{ clusters: { id: string; name: string }[] }>('ListClusters');
    expect(all.body.clusters.map((c) => [c.id, c.name])).toEqual([[clusterId, 'sdk-renamed']]);

    const tags = [
      { key: 'team', value: 'bi' },
      { key: 'cost-center', value: '42' },
    ];
    expect((await sdk('BatchCreateResourceTag', { path: cluster(), body: { tags } })).status).toBe(200);
    const listed = await sdk<{ tags: { key: string; value: string }[] }>('ListClusterTags', { path: cluster() });
    expect(listed.body.tags).toEqual(expect.arrayContaining(tags));
    expect(listed.body.tags).toHaveLength(2);
    expect((await sdk('BatchDeleteResourceTag', { path: cluster(), body: { tags: [tags[1]] } })).status).toBe(200);
    expect((await sdk<{ tags: unknown[] }>('ListClusterTags', { path: cluster() })).body.tags).toEqual([tags[0]]);
    expect((await sdk<{ tags: unknown[] }>('ListTags')).body.tags).toEqual([{ key: 'team', values: ['bi'] }]);
  });

  it('UpdateMaintenanceWindow (MaintenanceWindow) sets the window ListClusterDetails shows in maintain_window', async () => {
    const window = { day: 'Sat', start_time: '10:00', end_time: '14:00' };
    expect((await sdk('UpdateMaintenanceWindow', { path: cluster(), body: window })).status).toBe(200);
    const detail = await sdk<{ cluster: { maintain_window: unknown } }>('ListClusterDetails', { path: cluster() });
    expect(detail.body.cluster.maintain_window).toEqual(window);
    // the real service's rule: four hours on the hour; a refusal is the SDK exception, the window unchanged
    const bad = await sdkError(sdk('UpdateMaintenanceWindow', { path: cluster(), body: { ...window, end_time: '12:00' } }));
    expect([bad.httpStatusCode, bad.errorCode]).toEqual([400, 'DWS.0001']);
    expect(
      (await sdk<{ cluster: { maintain_window: unknown } }>('ListClusterDetails', { path: cluster() })).body.cluster.maintain_window,
    ).toEqual(window);
  });

  it('an operation dwsbox does not serve is the SDK exception 400 DWS.9901 naming it, never "does not exist"', async () => {
    const e = await sdkError(sdk('ListElbs', { path: cluster() }));
    expect(e).toBeInstanceOf(ClientRequestException);
    expect([e.httpStatusCode, e.errorCode]).toEqual([400, 'DWS.9901']);
    expect(e.errorMsg).toMatch(/^ListElbs \(GET \/v2\/\{project_id\}\/clusters\/\{cluster_id\}\/elbs\) is not supported by dwsbox: /);
  });
});

describe('database users and privileges, as PostgreSQL has them', () => {
  beforeAll(async () => {
    rw ??= await readEndpoint();
    await admin(`create schema sdk;
                 create table sdk.facts(id int primary key, amount numeric, note text);
                 insert into sdk.facts select g, g * 2.5, repeat('x', 40) from generate_series(1, 3000) g;
                 create table sdk.dims(id int, label text);
                 insert into sdk.dims values (1, 'one');
                 create table sdk.notes(id int);`);
  });

  it('CreateDatabaseUser (UserAuthorityReq) makes a role that logs in with its password, with the attributes asked', async () => {
    const r = await sdk('CreateDatabaseUser', {
      path: cluster(),
      body: {
        name: USER,
        type: 'USER',
        login: true,
        password: USER_PW,
        create_db: true,
        inherit: true,
        conn_limit: 3,
        desc: 'made through the SDK',
      },
    });
    expect(r).toEqual({ status: 200, body: {} });
    expect(await query(rw, USER, USER_PW, 'select current_user as u')).toEqual([{ u: USER }]);
    const [row] = await admin<Record<string, unknown>>(
      `select rolcanlogin, rolcreatedb, rolinherit, rolconnlimit, rolsuper, shobj_description(oid, 'pg_authid') as d
         from pg_roles where rolname = $1`,
      [USER],
    );
    expect(row).toEqual({
      rolcanlogin: true,
      rolcreatedb: true,
      rolinherit: true,
      rolconnlimit: 3,
      rolsuper: false,
      d: 'made through the SDK',
    });
  });

  it('ShowDatabaseUser and ListDatabaseUsers say what pg_roles says; an unknown user is the SDK exception with DWS.9971', async () => {
    const shown = await sdk<Record<string, unknown>>('ShowDatabaseUser', { path: { ...cluster(), name: USER } });
    expect(shown.body).toMatchObject({
      name: USER,
      login: true,
      createdb: true,
      createrole: false,
      systemadmin: false,
      inherit: true,
      conn_limit: 3,
      desc: 'made through the SDK',
      user_type: 'COMMON',
    });
    const users = await sdk<{ users: { name: string; login: boolean; user_type: string }[] }>('ListDatabaseUsers', {
      path: cluster(),
      query: { offset: 0, limit: 100, type: 'USER' },
    });
    const logins = await admin<{ n: string }>(
      "select rolname::text as n from pg_roles where rolcanlogin and rolname !~ '^(pg_|dwsbox_)' and rolname <> 'postgres' and not rolreplication order by 1",
    );
    expect(users.body.users.map((u) => u.name)).toEqual(logins.map((l) => l.n));
    expect(users.body.users).toContainEqual({ name: USER, login: true, user_type: 'COMMON' });

    const missing = await sdkError(sdk('ShowDatabaseUser', { path: { ...cluster(), name: 'nobody_here' } }));
    expect(missing).toBeInstanceOf(ClientRequestException);
    expect([missing.httpStatusCode, missing.errorCode]).toEqual([404, 'DWS.9971']);
    expect(missing.errorMsg).toBeTruthy();
  });

  it('UpdateDatabaseUserInfo (DatabaseUserInfoReq) alters the role: conn_limit and valid_until in pg_roles', async () => {
    const r = await sdk('UpdateDatabaseUserInfo', {
      path: { ...cluster(), name: USER },
      body: { conn_limit: 5, valid_until: '2031-05-06T07:08:09Z', createdb: false },
    });
    expect(r.status).toBe(200);
    const [row] = await admin<{ c: number; db: boolean; v: string }>(
      `select rolconnlimit as c, rolcreatedb as db, to_char(rolvaliduntil at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') as v
         from pg_roles where rolname = $1`,
      [USER],
    );
    expect(row).toEqual({ c: 5, db: false, v: '2031-05-06 07:08:09' });
    const shown = await sdk<{ conn_limit: number; createdb: boolean; valid_until: number }>('ShowDatabaseUser', {
      path: { ...cluster(), name: USER },
    });
    expect(shown.body).toMatchObject({ conn_limit: 5, createdb: false, valid_until: Date.parse('2031-05-06T07:08:09Z') });
    // still logs in (the expiry is in the future)
    expect(await query(rw, USER, USER_PW, 'select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('UpdateDatabaseAuthority (DatabasePermissionReq) grants: has_table_privilege says so and the user reads the table', async () => {
    const usage = await sdk<{ view_sql: string[] }>('UpdateDatabaseAuthority', {
      path: cluster(),
      body: {
        type: 'SCHEMA',
        is_grant: true,
        database: 'postgres',
        object_list: ['sdk'],
        role_list: [USER],
        grant_list: [{ permission: 'USAGE', grant_with: false }],
      },
    });
    expect(usage.status).toBe(200);
    await expect(query(rw, USER, USER_PW, 'select count(*) from sdk.facts')).rejects.toThrow(/permission denied for table facts/);
    const select = await sdk<{ view_sql: string[] }>('UpdateDatabaseAuthority', {
      path: cluster(),
      body: {
        type: 'TABLE',
        is_grant: true,
        database: 'postgres',
        schema: 'sdk',
        object_list: ['facts'],
        role_list: [USER],
        grant_list: [{ permission: 'SELECT', grant_with: false }],
      },
    });
    expect(select.body.view_sql).toEqual([`grant select on table sdk.facts to "${USER}"`]);
    const [has] = await admin<{ sel: boolean; ins: boolean; dims: boolean }>(
      `select has_table_privilege($1, 'sdk.facts', 'SELECT') as sel, has_table_privilege($1, 'sdk.facts', 'INSERT') as ins,
              has_table_privilege($1, 'sdk.dims', 'SELECT') as dims`,
      [USER],
    );
    expect(has).toEqual({ sel: true, ins: false, dims: false });
    expect(await query(rw, USER, USER_PW, 'select count(*)::int as n from sdk.facts')).toEqual([{ n: 3000 }]);
    await expect(query(rw, USER, USER_PW, 'delete from sdk.facts')).rejects.toThrow(/permission denied/);
  });

  it('ShowDatabaseAuthority with `name` as an array (name=facts&name=dims, as the SDK sends it) shows each ACL', async () => {
    const r = await sdk<{ authorities: { name: string; role_authority: { role: string; right_list: string[] }[] }[] }>(
      'ShowDatabaseAuthority',
      { path: cluster(), query: { type: 'TABLE', database: 'postgres', schema: 'sdk', name: ['facts', 'dims'] } },
    );
    const byObject = Object.fromEntries(
      r.body.authorities.map((a) => [a.name, Object.fromEntries(a.role_authority.map((x) => [x.role, x.right_list]))]),
    );
    // both asked for, and only those (sdk.notes is not)
    expect(Object.keys(byObject).sort()).toEqual(['dims', 'facts']);
    expect(byObject['facts']![USER]).toEqual(['SELECT']);
    expect(byObject['dims']![USER]).toBeUndefined();
    expect(byObject['facts']!['dbadmin']).toEqual(expect.arrayContaining(['SELECT', 'INSERT', 'UPDATE', 'DELETE']));
  });

  it("ListDatabaseUserAuthorities lists the user's grants; ListDatabaseObjects the schema's tables as pg_tables has them", async () => {
    const mine = await sdk<{ authority_list: Record<string, unknown>[]; count: number }>('ListDatabaseUserAuthorities', {
      path: { ...cluster(), name: USER },
      query: { offset: 0, limit: 100 },
    });
    expect(mine.body.count).toBe(mine.body.authority_list.length);
    expect(mine.body.authority_list).toEqual(
      expect.arrayContaining([
        { type: 'SCHEMA', database: 'postgres', obj_name: 'sdk', privileges: [{ permission: 'USAGE', grant_with: false }] },
        {
          type: 'TABLE',
          database: 'postgres',
          schema: 'sdk',
          obj_name: 'facts',
          privileges: [{ permission: 'SELECT', grant_with: false }],
        },
      ]),
    );
    const objects = await sdk<{ type: string; object_list: { obj_name: string }[]; count: string }>('ListDatabaseObjects', {
      path: cluster(),
      query: { type: 'TABLE', database: 'postgres', schema: 'sdk', offset: 0, limit: 100 },
    });
    const tables = await admin<{ n: string }>("select tablename::text as n from pg_tables where schemaname = 'sdk' order by 1");
    expect(objects.body.object_list.map((o) => o.obj_name).sort()).toEqual(tables.map((x) => x.n));
    expect(objects.body.count).toBe(String(tables.length));
  });

  it("ListSchemas: the schema's total_value is the bytes pg_relation_size sums for it", async () => {
    const r = await sdk<{ schemas: { schema_name: string; database_name: string; total_value: number; perm_space: number }[] }>(
      'ListSchemas',
      { path: { ...cluster(), database_name: 'postgres' }, query: { keywords: 'sdk', offset: 0, limit: 10 } },
    );
    const [measured] = await admin<{ b: number }>(
      `select sum(pg_relation_size(c.oid, 'main') + pg_relation_size(c.oid, 'fsm') + pg_relation_size(c.oid, 'vm') + pg_relation_size(c.oid, 'init'))::float8 as b
         from pg_class c where c.relnamespace = 'sdk'::regnamespace and c.relkind in ('r', 'i', 't', 'm', 'S')`,
    );
    expect(measured!.b).toBeGreaterThan(8192);
    expect(r.body.schemas).toEqual([expect.objectContaining({ schema_name: 'sdk', total_value: measured!.b, perm_space: -1 })]);
  });

  it('DeleteDatabaseUser: refused (SDK exception, DWS.9973) while the user holds a grant; with cascade=true gone from pg_roles', async () => {
    const held = await sdkError(sdk('DeleteDatabaseUser', { path: { ...cluster(), name: USER } }));
    expect([held.httpStatusCode, held.errorCode]).toEqual([409, 'DWS.9973']);
    expect(await admin('select 1 as one from pg_roles where rolname = $1', [USER])).toEqual([{ one: 1 }]);
    expect((await sdk('DeleteDatabaseUser', { path: { ...cluster(), name: USER }, query: { cascade: true } })).status).toBe(200);
    expect(await admin('select 1 from pg_roles where rolname = $1', [USER])).toEqual([]);
    const [left] = await admin<{ n: number }>('select count(*)::int as n from sdk.facts');
    expect(left).toEqual({ n: 3000 });
  });
});

describe("IAM user sync, the project's dwsbox users as roles", () => {
  it('SyncIamUsers makes a role of each dwsbox user (sync_user, pg_roles); ListSyncRecords (offset, limit) records it with its real times and counts', async () => {
    for (const name of ['sdk_sync_a', 'sdk_sync_b'])
      await t.svc.store.insertUser({
        id: randomUUID(),
        projectId: PROJECT_ID,
        name,
        role: 'readonly',
        passwordHash: await hashPassword('Sdk-Sync-Pass1'),
        createdAt: Date.now(),
      });
    const before = Date.now();
    const r = await sdk<{ sync_user: string[] }>('SyncIamUsers', { path: cluster() });
    const after = Date.now();
    expect(r.body.sync_user).toEqual(['sdk_sync_a', 'sdk_sync_b']);
    expect(
      await admin("select rolname, rolcanlogin, rolsuper from pg_roles where rolname in ('sdk_sync_a', 'sdk_sync_b') order by 1"),
    ).toEqual([
      { rolname: 'sdk_sync_a', rolcanlogin: true, rolsuper: false },
      { rolname: 'sdk_sync_b', rolcanlogin: true, rolsuper: false },
    ]);
    const records = await sdk<{ count: number; sync_records: Record<string, unknown>[] }>('ListSyncRecords', {
      path: cluster(),
      query: { offset: 0, limit: 10 },
    });
    expect(records.body.count).toBe(1);
    const [rec] = records.body.sync_records;
    expect(rec).toMatchObject({
      identity_source_id: PROJECT_ID,
      identity_source_type: 'DWSBOX_USERS',
      add_count: 2,
      update_count: 0,
      delete_count: 0,
      failed_count: 0,
      status: 'SUCCESS',
    });
    expect(rec!['start_time']).toBeGreaterThanOrEqual(before);
    expect(rec!['end_time']).toBeGreaterThanOrEqual(rec!['start_time'] as number);
    expect(rec!['end_time']).toBeLessThanOrEqual(after);
  });
});

describe('parameters, as the running PostgreSQL has them', () => {
  const PARAM = 'random_page_cost';
  const VALUE = '1.7';

  it('UpdateConfiguration of a reload-only parameter: its SETTING_CONFIGURATION task ends, `show` says the value, the parameter list and the audit records say it too', async () => {
    rw ??= await readEndpoint();
    const configs = await sdk<{ configurations: { id: string; status: string }[] }>('ListClusterConfigurations', { path: cluster() });
    expect(configs.body.configurations).toHaveLength(1);
    const configurationId = configs.body.configurations[0]!.id;
    const [before] = await admin<{ v: string }>(`select current_setting('${PARAM}') as v`);
    expect(before!.v).not.toBe(VALUE);

    const r = await sdk('UpdateConfiguration', {
      path: { ...cluster(), configuration_id: configurationId },
      body: { configurations: [{ type: 'dn', name: PARAM, value: VALUE }] },
    });
    expect(r.status).toBe(200);
    type Record_ = { id: string; status: string; parameters: { name: string; old_value: string; new_value: string }[] };
    const record = await waitFor(
      async () => {
        const records = await sdk<{ records: Record_[]; count: number }>('ListConfigurationsAuditRecords', {
          path: cluster(),
          query: { offset: 0, limit: 10 },
        });
        const newest = records.body.records[0];
        return newest && ['SUCCESS', 'FAIL'].includes(newest.status) ? newest : null;
      },
      { what: 'the SETTING_CONFIGURATION task to end', timeoutMs: 120_000, intervalMs: 200 },
    );
    expect(record.status).toBe('SUCCESS');
    // the record is the task, and its id a job ListJobDetails follows
    const job = await sdk<{ status: string }>('ListJobDetails', { path: { job_id: record.id } });
    expect(job.body.status).toBe('SUCCESS');
    expect(record.parameters).toEqual([expect.objectContaining({ name: PARAM, old_value: before!.v, new_value: VALUE })]);

    expect(await admin(`show ${PARAM}`)).toEqual([{ [PARAM]: VALUE }]);
    // every member runs it (a reload on each, standbys included)
    for (const m of members.length ? members : await memberAddresses())
      expect(await admin(`show ${PARAM}`, [], m), m).toEqual([{ [PARAM]: VALUE }]);
    const after = await sdk<{ configurations: { id: string; status: string }[] }>('ListClusterConfigurations', { path: cluster() });
    expect(after.body.configurations[0]).toMatchObject({ id: configurationId, status: 'In-Sync' });
    const params = await sdk<{ configurations: { name: string; values: { type: string; value: string }[]; restart_required: boolean }[] }>(
      'ListClusterConfigurationsParameter',
      { path: { ...cluster(), configuration_id: configurationId } },
    );
    expect(params.body.configurations.find((p) => p.name === PARAM)).toMatchObject({
      values: [expect.objectContaining({ type: 'dn', value: VALUE })],
      restart_required: false,
    });
  });
});

describe('the time zone, as the running PostgreSQL has it', () => {
  it('ModifyClusterTimezone (ClusterTimezoneReq): its job ends, every member shows the zone, the detail says cluster_timezone', async () => {
    const r = await sdk<{ job_id: string }>('ModifyClusterTimezone', { path: cluster(), body: { cluster_timezone: 'Asia/Shanghai' } });
    expect(r.body.job_id).toMatch(/^[0-9a-f-]{36}$/);
    const job = await waitFor(
      async () => {
        const j = await sdk<{ status: string }>('ListJobDetails', { path: { job_id: r.body.job_id } });
        return ['SUCCESS', 'FAIL'].includes(j.body.status) ? j.body : null;
      },
      { what: 'the time zone job to end', timeoutMs: 120_000, intervalMs: 200 },
    );
    expect(job.status).toBe('SUCCESS');
    for (const m of members.length ? members : await memberAddresses())
      expect(await admin('show timezone', [], m), m).toEqual([{ TimeZone: 'Asia/Shanghai' }]);
    const detail = await sdk<{ cluster: { cluster_timezone: string } }>('ListClusterDetails', { path: cluster() });
    expect(detail.body.cluster.cluster_timezone).toBe('Asia/Shanghai');
  });
});

describe('what runs, as pg_stat_activity has it, and the tables, as pg_stat_user_tables counts them', () => {
  type Q = {
    query_id: string;
    pid: string;
    inst_name: string;
    user_name?: string;
    application_name?: string;
    query?: string;
    duration?: number;
  };
  type Queries = { data: { queries: Q[]; status: { queries_count: number; session_count: number } }; count: number };

  it('ListQueries finds statements running on the primary and a standby, with their real backends and durations; ShowQueryDetail shows one while it runs, 404 once cancelled', async () => {
    rw ??= await readEndpoint();
    const nodes = (
      await sdk<{ node_list: { name: string; role: string; connect_info: string }[] }>('ListClusterNodes', { path: cluster() })
    ).body.node_list;
    const standby = nodes.find((n) => n.role === 'standby')!;
    const primary = nodes.find((n) => n.role === 'primary')!;
    const sleepers = await Promise.all(
      [primary, standby].map(async (n) => {
        const [host, port] = n.connect_info.split(':');
        const c = new pg.Client({
          host,
          port: Number(port),
          user: 'dbadmin',
          password: ADMIN_PASSWORD,
          database: 'postgres',
          application_name: 'sdk-sleeper',
        });
        c.on('error', () => {});
        await c.connect();
        const [{ pid }] = (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows as [{ pid: number }];
        const done = c.query('select pg_sleep(120)').then(
          () => 'finished',
          (e: Error) => e.message,
        );
        return { node: n, c, pid, done };
      }),
    );
    try {
      const body = { conditions: [{ field: 'application_name', operator: '=', value: 'sdk-sleeper' }], offset: '0', limit: '10' };
      const first = await waitFor(
        async () => {
          const r = (await sdk<Queries>('ListQueries', { path: cluster(), body })).body;
          return r.count === 2 ? r : null;
        },
        { what: 'both statements listed', timeoutMs: 30_000, intervalMs: 200 },
      );
      expect(new Map(first.data.queries.map((q) => [q.inst_name, Number(q.pid)]))).toEqual(
        new Map(sleepers.map((x) => [x.node.name, x.pid])),
      );
      for (const q of first.data.queries) expect(q).toMatchObject({ user_name: 'dbadmin', query: 'select pg_sleep(120)' });
      expect(first.data.status.queries_count).toBeGreaterThanOrEqual(2);
      // The durations are measured: they grow while the statements run.
      await new Promise((r) => setTimeout(r, 1200));
      const later = (await sdk<Queries>('ListQueries', { path: cluster(), body })).body.data.queries;
      for (const q of later) expect(q.duration!).toBeGreaterThan(first.data.queries.find((x) => x.query_id === q.query_id)!.duration!);
      // dwsbox's own sessions are never listed, even asking for every session
      const everySession = (await sdk<Queries>('ListQueries', { path: cluster(), body: { target: 'session', limit: '1000' } })).body.data
        .queries;
      expect(everySession.every((q) => q.application_name !== 'dwsbox' && q.user_name !== 'postgres')).toBe(true);

      const onStandby = later.find((q) => q.inst_name === standby.name)!;
      const shown = await sdk<{ data: Q }>('ShowQueryDetail', { path: { ...cluster(), query_id: onStandby.query_id } });
      expect(shown.body.data).toMatchObject({ query_id: onStandby.query_id, pid: String(sleepers[1]!.pid), inst_name: standby.name });
      // cancelled by its own user: it ends, and its id no longer names a running statement
      await admin('select pg_cancel_backend($1)', [sleepers[1]!.pid], standby.connect_info);
      expect(await sleepers[1]!.done).toMatch(/canceling statement/);
      const gone = await sdkError(sdk('ShowQueryDetail', { path: { ...cluster(), query_id: onStandby.query_id } }));
      expect([gone.httpStatusCode, gone.errorCode]).toEqual([404, 'DWS.9982']);
      const bad = await sdkError(
        sdk('ListQueries', { path: cluster(), body: { conditions: [{ field: 'password', operator: '=', value: 'x' }] } }),
      );
      expect([bad.httpStatusCode, bad.errorCode]).toEqual([400, 'DWS.0001']);
    } finally {
      for (const x of sleepers) await x.c.end().catch(() => {});
    }
  });

  it('ListTablesStatistic: a table with 400 of its 1,000 rows deleted has a dirty page rate of 40 % and its real size; skew is refused', async () => {
    rw ??= await readEndpoint();
    await admin(
      "create table dirty_pages(id int primary key, pad text); insert into dirty_pages select g, repeat('x', 100) from generate_series(1, 1000) g",
    );
    await admin('delete from dirty_pages where id <= 400');
    type Stats = {
      collect_time: number;
      data: {
        db_name: string;
        schema_name: string;
        table_name: string;
        table_owner: string;
        table_size: string;
        dirty_page_rate?: number;
      }[];
      count: number;
    };
    const query = { rate_type: 'dirtyPage', offset: 0, limit: 10, filter: 'table_name', value: 'dirty_pages' };
    // the statistics are flushed by the backend within a second or so of its commit
    const r = await waitFor(
      async () => {
        const b = (await sdk<Stats>('ListTablesStatistic', { path: cluster(), query })).body;
        return b.data[0]?.dirty_page_rate === 40 ? b : null;
      },
      { what: 'the dead tuples counted', timeoutMs: 30_000, intervalMs: 300 },
    );
    const [size] = await admin<{ b: string }>("select pg_total_relation_size('dirty_pages')::text as b");
    expect(r.data).toEqual([
      {
        db_name: 'postgres',
        schema_name: 'public',
        table_name: 'dirty_pages',
        table_owner: 'dbadmin',
        table_size: size!.b,
        dirty_page_rate: 40,
      },
    ]);
    expect(r.count).toBe(1);
    const skew = await sdkError(sdk('ListTablesStatistic', { path: cluster(), query: { rate_type: 'skew', offset: 0, limit: 10 } }));
    expect([skew.httpStatusCode, skew.errorCode]).toEqual([400, 'DWS.9901']);
    await admin('drop table dirty_pages');
  });
});

describe("the administrator's password", () => {
  it('ResetPassword: the administrator logs in with the new password, no longer with the old one (last: the others use the old)', async () => {
    rw ??= await readEndpoint();
    const NEW = 'Sdk-Contract-Admin2';
    expect((await sdk('ResetPassword', { path: cluster(), body: { new_password: NEW } })).status).toBe(200);
    expect(await query(rw, 'dbadmin', NEW, 'select current_user as u')).toEqual([{ u: 'dbadmin' }]);
    await expect(admin('select 1')).rejects.toThrow(/password authentication failed/);
  });
});

/** The members' addresses, when a test runs alone (`-t`). */
async function memberAddresses(): Promise<string[]> {
  const r = await sdk<{ node_list: { connect_info: string }[] }>('ListClusterNodes', { path: cluster() });
  return r.body.node_list.map((n) => n.connect_info);
}

/** The read-write endpoint, when a test runs alone (`-t`). */
async function readEndpoint(): Promise<string> {
  const r = await sdk<{ private_endpoints: { ip: string; port: number } }>('ListClusterEndpoints', { path: cluster() });
  return `${r.body.private_endpoints.ip}:${r.body.private_endpoints.port}`;
}
