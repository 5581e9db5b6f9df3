/**
 * End to end: migrating a data directory from before per-project OS users (D32,
 * `dwsbox tenants migrate`). A cluster and its snapshot are made, then put back the way an
 * installation before D32 had them: nodes run by the shared `postgres` OS user and owning
 * their data, the stanza in the shared repository layout with a config that names no OS
 * user, the administrator a superuser with the server-program role, an event trigger and a
 * role with CREATEROLE left behind; and (F4) a database that allows no connections holding an
 * event trigger and untrusted functions, an internal-language function in pg_catalog,
 * superuser-only settings stored per database and per role (one naming a library that does
 * not exist, so every session that takes it fails), privileges on parameters; and, in the
 * snapshot's postgresql.auto.conf, a shared_preload_libraries naming a library that does not
 * exist (a restored copy that read it would not start). The service
 * refuses to start on it; the migration moves
 * it (downtime reported), cleans it, and the service then runs it as the project's user: the
 * data intact, the old snapshot restorable, a new snapshot taken, the admin no superuser.
 * Installations from before D32 knew only the local engine, so this file runs on it (`LOCAL_ENGINE`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { tenantsMigrate } from '../../src/cli/commands/tenants.js';
import { createService } from '../../src/main.js';
import { lookupUser } from '../../src/dataplane/os-user.js';
import { PgInstance } from '../../src/dataplane/pg-instance.js';
import { silentLogger } from '../../src/log/logger.js';
import { adminSql, checksums, SCHEMA_SQL } from '../helpers/restore-data.js';
import {
  ACCESS_KEY,
  createAvailableCluster,
  getCluster,
  PROJECT_ID,
  SECRET_KEY,
  startService,
  waitIdle,
  type TestService,
} from '../helpers/service.js';
import { killPostmastersUnder, removeDir, removeProjectUsersUnder, tempDir, waitFor } from '../helpers/env.js';
import { LOCAL_ENGINE } from '../helpers/engine.js';

const dataDir = tempDir('migrate');
let t: TestService | null = null;
let cluster: { id: string; endpoint: string; stanza: string };
let before: Record<string, string>;
let snapId: string;
let migrated: { clusters: { cluster_id: string; os_user: string; downtime_s: number; changes: string[] }[]; next: string[] };

const postgres = lookupUser('postgres')!;
const run = (cmd: string, args: string[]): string => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

async function snapshot(name: string): Promise<{ id: string; status: string }> {
  const r = await t!.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
    snapshot: { name, cluster_id: cluster.id },
  });
  return waitFor(
    async () => {
      const s = (await t!.client.call<{ snapshot: { id: string; status: string } }>('GET', `/v1.0/{project_id}/snapshots/${r.snapshot.id}`))
        .snapshot;
      return s.status === 'CREATING' ? null : s;
    },
    { what: `snapshot ${name}`, intervalMs: 200, timeoutMs: 180_000 },
  );
}

/** Turn the service's cluster into what an installation before D32 had. */
async function makePreD32(svc: TestService): Promise<void> {
  const engine = svc.svc.dataPlane;
  const nodes = await svc.svc.store.listNodes(cluster.id);
  // The administrator a superuser, with what a superuser tenant could leave behind.
  await adminSqlAsDwsbox(
    svc,
    `alter role dbadmin superuser createrole; grant pg_execute_server_program to dbadmin;
    create role leftover createrole login;
    create aggregate public.tenant_sum(int) (sfunc = int4pl, stype = int, initcond = '0');
    create subscription planted_sub connection 'host=127.0.0.1 port=1 dbname=nowhere' publication nothing with (connect = false);
    create function public.evt() returns event_trigger language plpgsql as $$ begin null; end $$;
    create event trigger planted on ddl_command_start execute function public.evt();
    update pg_catalog.pg_language set lanpltrusted = true where lanname = 'c'`,
  );
  await adminSqlAsDwsbox(svc, `alter system set work_mem = '77MB'`);
  // F4: a closed database with an event trigger and untrusted functions; an internal-language
  // function hidden in pg_catalog; stored settings and parameter privileges only a superuser gives.
  await adminSqlAsDwsbox(svc, 'create database closed');
  await adminSqlAsDwsbox(
    svc,
    `create function public.evt() returns event_trigger language plpgsql as $$ begin null; end $$;
    create event trigger closed_evt on ddl_command_start execute function public.evt();
    create function public.planted_c() returns void language c as '$libdir/plpgsql', 'plpgsql_call_handler';
    create function public.planted_read(text) returns text language internal strict as 'pg_read_file_all'`,
    'closed',
  );
  await adminSqlAsDwsbox(
    svc,
    `create function pg_catalog.planted_read(text) returns text language internal strict as 'pg_read_file_all';
    alter database closed allow_connections false;
    alter database postgres set log_statement = 'all';
    alter database postgres set extwlist.extensions = 'file_fdw';
    alter role dbadmin set session_replication_role = 'replica';
    alter role dbadmin in database closed set lo_compat_privileges = on;
    alter role all set log_min_duration_statement = 600000;
    alter database postgres set lock_timeout = '42s';
    alter role leftover set work_mem = '3MB';
    grant alter system on parameter archive_command to dbadmin;
    grant set on parameter log_statement to public;
    grant execute on function pg_catalog.pg_read_file(text) to dbadmin;
    grant select on pg_catalog.pg_authid to leftover;
    grant select (rolpassword) on pg_catalog.pg_authid to leftover;
    grant create on schema pg_catalog to public`,
  );
  // Last: from now on a session that takes this setting fails (dwsbox's superuser's override it).
  await adminSqlAsDwsbox(svc, `alter database postgres set session_preload_libraries = 'dwsbox_no_such_library'`);
  // The test service runs with synchronous_commit off, and its stop ends the nodes with SIGQUIT.
  await adminSqlAsDwsbox(svc, 'checkpoint');
  await svc.stop({ keepDir: true });
  t = null;
  // Its files the shared postgres user's, the stanza in the shared repository layout, its config naming no OS user.
  const repo = join(dataDir, 'repo');
  for (const kind of ['backup', 'archive']) {
    mkdirSync(join(repo, kind), { recursive: true });
    renameSync(join(repo, cluster.stanza, kind, cluster.stanza), join(repo, kind, cluster.stanza));
  }
  run('rm', ['-rf', join(repo, cluster.stanza)]);
  run('chown', ['-R', `${postgres.uid}:${postgres.gid}`, join(repo, 'backup'), join(repo, 'archive')]);
  const conf = engine.stanzaConfigFile(cluster.stanza);
  writeFileSync(
    conf,
    readFileSync(conf, 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('# dwsbox-os-user='))
      .map((l) => (l.startsWith('repo1-path=') ? `repo1-path=${repo}` : l))
      .join('\n'),
  );
  for (const n of nodes) {
    run('chown', ['-R', `${postgres.uid}:${postgres.gid}`, n.dataDir]);
    const p = engine.nodePaths(cluster.id, n.ordinal);
    run('chown', [`${postgres.uid}:${postgres.gid}`, p.sockDir]);
    writeFileSync(join(n.dataDir, 'pg_ident.conf'), 'dwsbox root postgres\ndwsbox postgres postgres\n');
    const inst = new PgInstance(
      { os: postgres, dataDir: n.dataDir, sockDir: p.sockDir, host: n.host, port: n.port, logFile: p.logFile },
      engine.bins,
      silentLogger(),
    );
    await inst.start({ timeoutMs: 60_000 });
  }
}

async function adminSqlAsDwsbox<R extends Record<string, unknown> = Record<string, unknown>>(
  svc: TestService,
  sql: string,
  database = 'postgres',
): Promise<R[]> {
  const nodes = await svc.svc.store.listNodes(cluster.id);
  const rec = (await svc.svc.store.getClusterById(cluster.id))!;
  const c = await svc.svc.dataPlane
    .instance(
      rec,
      nodes.find((n) => n.role === 'primary')!,
    )
    .connect(database);
  try {
    return (await c.query<R>(sql)).rows;
  } finally {
    await c.end();
  }
}

const flags = {
  dataDir,
  host: '127.0.0.1',
  port: 0,
  logLevel: 'debug',
  projectId: PROJECT_ID,
  accessKey: ACCESS_KEY,
  secretKey: SECRET_KEY,
  unsafeNoFsync: true,
  pollMs: 50,
  monitorIntervalMs: 500,
  shutdownTimeoutMs: 1000,
  ...LOCAL_ENGINE,
};

beforeAll(async () => {
  t = await startService({ dataDir, flags: LOCAL_ENGINE });
  const c = await createAvailableCluster(t.client);
  cluster = { id: c.id, endpoint: c.detail.endpoints[0]!.connect_info, stanza: (await t.svc.store.getClusterById(c.id))!.stanza };
  await adminSql(cluster.endpoint, SCHEMA_SQL);
  before = await checksums(cluster.endpoint);
  // What a superuser's ALTER SYSTEM left in the snapshot (postgresql.auto.conf) never applies to a
  // restored copy, not even at its first start: this library does not exist, so a copy that read
  // the setting would not start.
  await adminSqlAsDwsbox(t, `alter system set shared_preload_libraries = 'pg_stat_statements', 'dwsbox_no_such_library'`);
  const s = await snapshot('before-d32');
  expect(s.status).toBe('AVAILABLE');
  snapId = s.id;
  await adminSqlAsDwsbox(t, 'alter system reset shared_preload_libraries');
  await makePreD32(t);
}, 300_000);

afterAll(async () => {
  await t?.stop({ keepDir: true }).catch(() => {});
  await killPostmastersUnder(dataDir);
  removeDir(dataDir);
  await removeProjectUsersUnder(dataDir);
});

describe('dwsbox tenants migrate', () => {
  it('the service refuses to start on clusters from before per-project users, naming the command', async () => {
    const e = await createService(loadConfig({ env: {}, flags }), { log: silentLogger() }).then(
      () => null,
      (x: Error) => x,
    );
    expect(e?.message).toMatch(/run as the shared postgres OS user.*npx dwsbox tenants migrate/s);
    expect(e?.message).toContain(cluster.id);
  });

  it('--dry-run lists the cluster and changes nothing', async () => {
    const r = (await tenantsMigrate(loadConfig({ env: {}, flags }), silentLogger(), { dryRun: true })) as {
      clusters: { cluster_id: string }[];
    };
    expect(r.clusters.map((c) => c.cluster_id)).toEqual([cluster.id]);
    expect(lstatSync(join(dataDir, 'repo', 'backup', cluster.stanza)).uid).toBe(postgres.uid);
  });

  it("moves the cluster to its project's user, reports its downtime, and cleans what a superuser admin left", async () => {
    migrated = (await tenantsMigrate(loadConfig({ env: {}, flags }), silentLogger(), { dryRun: false })) as typeof migrated;
    const m = migrated.clusters.find((c) => c.cluster_id === cluster.id)!;
    expect(m.os_user).toMatch(/^dws[0-9a-f]{13}$/);
    expect(m.downtime_s).toBeGreaterThan(0);
    expect(m.changes).toEqual(
      expect.arrayContaining([
        'role dbadmin demoted',
        'role leftover demoted',
        'pg_execute_server_program revoked from dbadmin',
        'event trigger planted dropped in postgres',
        'event trigger closed_evt dropped in closed',
        'subscription planted_sub dropped in postgres',
        'function public.planted_c() (untrusted language) dropped in closed',
        'language c made untrusted in postgres',
        'function public.planted_read(text) (untrusted language) dropped in closed',
        'function planted_read(text) (untrusted language) dropped in postgres',
        'setting session_preload_libraries of database postgres reset',
        'setting log_statement of database postgres reset',
        'setting extwlist.extensions of database postgres reset',
        'setting session_replication_role of role dbadmin reset',
        'setting lo_compat_privileges of role dbadmin in database closed reset',
        'setting log_min_duration_statement of all roles reset',
        'privileges on parameter archive_command revoked from dbadmin',
        'privileges on parameter log_statement revoked from public',
        'EXECUTE on function pg_read_file(text) revoked from dbadmin in postgres',
        'SELECT on table pg_authid revoked from leftover in postgres',
        'SELECT (rolpassword) on table pg_authid revoked from leftover in postgres',
        'CREATE on schema pg_catalog revoked from public in postgres',
        'archiving checked (pgbackrest check)',
      ]),
    );
    expect(migrated.next.join(' ')).toMatch(/rotate the master key.*compromised/s);
    const os = lookupUser(m.os_user)!;
    for (const n of await nodesOf()) expect(lstatSync(n).uid).toBe(os.uid);
    expect(lstatSync(join(dataDir, 'repo', cluster.stanza, 'backup', cluster.stanza)).uid).toBe(os.uid);
    expect(existsSync(join(dataDir, 'repo', 'backup', cluster.stanza))).toBe(false);
    // A second run finds nothing to do.
    const again = (await tenantsMigrate(loadConfig({ env: {}, flags }), silentLogger(), { dryRun: false })) as typeof migrated;
    expect(again.clusters).toEqual([]);
  });

  it('then the service runs it: data intact, the admin no superuser, the old snapshot restorable, a new one taken', async () => {
    t = await startService({ dataDir, flags: LOCAL_ENGINE });
    const d = await waitIdle(t.client, cluster.id);
    expect([d.status, d.sub_status]).toEqual(['AVAILABLE', 'NORMAL']);
    expect(await checksums(cluster.endpoint)).toEqual(before);
    const [r] = await adminSql<{ su: boolean; cr: boolean; prog: boolean; wm: string; evt: number }>(
      cluster.endpoint,
      `select rolsuper as su, rolcreaterole as cr, pg_has_role('dbadmin', 'pg_execute_server_program', 'member') as prog,
              current_setting('work_mem') as wm, (select count(*)::int from pg_event_trigger) as evt from pg_roles where rolname = 'dbadmin'`,
    );
    expect(r).toMatchObject({ su: false, cr: false, prog: false, evt: 0 });
    // a tenant's own aggregate (internal language, like every aggregate) is no untrusted function: kept, and it works
    expect(await adminSql(cluster.endpoint, 'select public.tenant_sum(x) as s from generate_series(1, 3) x')).toEqual([{ s: 6 }]);
    // no subscription left, and none would ever start
    expect(
      await adminSql(
        cluster.endpoint,
        "select (select count(*)::int from pg_subscription) as subs, current_setting('max_logical_replication_workers') as workers",
      ),
    ).toEqual([{ subs: 0, workers: '0' }]);
    expect(r!.wm).not.toBe('77MB');
    await cleanedOfF4();
    const restored = await t.client.call<{ cluster: { id: string } }>('POST', `/v1.0/{project_id}/snapshots/${snapId}/actions`, {
      restore: { name: 'from-before-d32' },
    });
    const rc = await waitFor(
      async () => {
        const c = await getCluster(t!.client, restored.cluster.id);
        return c.status === 'CREATING' ? null : c;
      },
      { what: 'the restore', intervalMs: 200, timeoutMs: 240_000 },
    );
    expect(rc.status, JSON.stringify(rc.failed_reasons)).toBe('AVAILABLE');
    expect(await checksums(rc.endpoints[0]!.connect_info)).toEqual(before);
    expect((await snapshot('after-d32')).status).toBe('AVAILABLE');
  });
});

/** F4: nothing a superuser stored or hid in a closed database is left; the database closed again, user settings kept. */
async function cleanedOfF4(): Promise<void> {
  const dbs = await adminSqlAsDwsbox<{ d: string; allow: boolean }>(
    t!,
    `select datname as d, datallowconn as allow from pg_database where datname in ('closed', 'template0') order by 1`,
  );
  expect(dbs).toEqual([
    { d: 'closed', allow: false },
    { d: 'template0', allow: false },
  ]);
  const settings = await adminSqlAsDwsbox<{ d: string | null; r: string | null; c: string[] }>(
    t!,
    `select d.datname as d, r.rolname as r, s.setconfig as c from pg_db_role_setting s
       left join pg_database d on d.oid = s.setdatabase left join pg_roles r on r.oid = s.setrole order by 1, 2`,
  );
  expect(settings).toEqual([
    { d: 'postgres', r: null, c: ['lock_timeout=42s'] },
    { d: null, r: 'leftover', c: ['work_mem=3MB'] },
  ]);
  const acl = await adminSqlAsDwsbox<{ n: number }>(
    t!,
    `select count(*)::int as n from pg_parameter_acl a, aclexplode(a.paracl) x where x.grantee <> 10`,
  );
  expect(acl).toEqual([{ n: 0 }]);
  const [sys] = await adminSqlAsDwsbox<Record<string, boolean>>(
    t!,
    `select has_function_privilege('dbadmin', 'pg_catalog.pg_read_file(text)', 'execute') as read_file,
            has_table_privilege('leftover', 'pg_catalog.pg_authid', 'select') as authid,
            has_column_privilege('leftover', 'pg_catalog.pg_authid', 'rolpassword', 'select') as rolpassword,
            has_schema_privilege('dbadmin', 'pg_catalog', 'create') as create_catalog,
            has_function_privilege('dbadmin', 'pg_catalog.pg_switch_wal()', 'execute') as switch_wal`,
  );
  expect(sys).toEqual({ read_file: false, authid: false, rolpassword: false, create_catalog: false, switch_wal: true });
  const [hidden] = await adminSql<{ f: string | null }>(
    cluster.endpoint,
    `select to_regprocedure('pg_catalog.planted_read(text)')::text as f`,
  );
  expect(hidden).toEqual({ f: null });
  // Language c trusted again would let the administrator load any symbol of the host's libraries.
  await expect(
    adminSql(cluster.endpoint, `create function public.mine() returns void language c as '$libdir/plpgsql', 'plpgsql_call_handler'`),
  ).rejects.toMatchObject({ code: '42501' });
  // Inside the closed database (opened for the look, closed again).
  await adminSqlAsDwsbox(t!, 'alter database closed allow_connections true');
  try {
    const [inside] = await adminSqlAsDwsbox<{ evt: number; fns: string[] }>(
      t!,
      `select (select count(*)::int from pg_event_trigger) as evt,
              array(select p.proname::text from pg_proc p join pg_language l on l.oid = p.prolang
                     where p.oid >= 16384 and (p.proname like 'planted%' or not l.lanpltrusted) order by 1) as fns`,
      'closed',
    );
    expect(inside).toEqual({ evt: 0, fns: [] });
  } finally {
    await adminSqlAsDwsbox(t!, 'alter database closed allow_connections false');
  }
}

async function nodesOf(): Promise<string[]> {
  return [1, 2, 3].map((i) => join(dataDir, 'clusters', cluster.id, `node${i}`, 'data'));
}
