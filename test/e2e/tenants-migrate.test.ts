/**
 * End to end: migrating a data directory from before per-project OS users (D32,
 * `dwsbox tenants migrate`). A cluster and its snapshot are made, then put back the way an
 * installation before D32 had them: nodes run by the shared `postgres` OS user and owning
 * their data, the stanza in the shared repository layout with a config that names no OS
 * user, the administrator a superuser with the server-program role, an event trigger and a
 * role with CREATEROLE left behind. The service refuses to start on it; the migration moves
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
    create function public.evt() returns event_trigger language plpgsql as $$ begin null; end $$;
    create event trigger planted on ddl_command_start execute function public.evt()`,
  );
  await adminSqlAsDwsbox(svc, `alter system set work_mem = '77MB'`);
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

async function adminSqlAsDwsbox(svc: TestService, sql: string): Promise<void> {
  const nodes = await svc.svc.store.listNodes(cluster.id);
  const rec = (await svc.svc.store.getClusterById(cluster.id))!;
  const c = await svc.svc.dataPlane
    .instance(
      rec,
      nodes.find((n) => n.role === 'primary')!,
    )
    .connect('postgres');
  try {
    await c.query(sql);
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
  const s = await snapshot('before-d32');
  expect(s.status).toBe('AVAILABLE');
  snapId = s.id;
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
    expect(r!.wm).not.toBe('77MB');
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

async function nodesOf(): Promise<string[]> {
  return [1, 2, 3].map((i) => join(dataDir, 'clusters', cluster.id, `node${i}`, 'data'));
}
