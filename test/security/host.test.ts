/* Over 700 lines: the host attack suite, one service and two projects' clusters shared by all its attacks (the suite's time budget). */
/**
 * The attack suite for the host (issue 12, design D32): what a tenant can try with its own
 * API credentials, its own cluster's administrator login and, at worst, its own OS user —
 * against its own cluster, another tenant's, the service's secrets and root. Two projects
 * share one service: project A (the bootstrap project) with one cluster and project B with
 * one cluster; every attack comes from B. Each `it` is one attack: it states the refusal
 * precisely (SQLSTATE, DWS code, the path named), that the thing aimed at is untouched
 * (content, owner, mode), and what goes on working.
 *
 * Victims are root-owned files and directories made for the purpose (`Victims`); links and
 * FIFOs are planted as B's OS user (`setpriv` with its uid and gid), as a tenant that reached
 * its own OS user would; the code a tenant plants (kit.ts `plantedNoteSql`) reports who runs
 * it in the server log and tries to become the session's authenticated user, writing a file
 * when it is a superuser. docs/reliability.md ("Security") lists each attack and its result.
 *
 * It runs on the local engine (`LOCAL_ENGINE`): many attacks aim at what that engine itself
 * does as root by path (its node configuration, `postmaster.pid`, the starts and stops it makes).
 * On the Patroni engine, Patroni owns those; its members running as the project's user, its
 * administrator being no superuser and its REST refusing unauthenticated actions are asserted by
 * `ha-failover` and `patroni-engine`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { DwsClient } from '../../src/cli/client.js';
import type { ClusterRecord, NodeRecord } from '../../src/domain/records.js';
import type { OsUser } from '../../src/dataplane/os-user.js';
import { scratchDatabaseName } from '../../src/tasks/definitions/table-restore.js';
import { LOCAL_ENGINE } from '../helpers/engine.js';
import { tempDir, waitFor } from '../helpers/env.js';
import {
  createAvailableCluster,
  delayStep,
  getCluster,
  PROJECT_ID,
  projectClient,
  startService,
  waitIdle,
  type TestService,
} from '../helpers/service.js';
import {
  alive,
  asUser,
  connectAs,
  facts,
  plantedCatalogShadowsSql,
  plantedNoteSql,
  plantedRuns,
  plantFifo,
  plantLink,
  refusal,
  sizeOf,
  Victims,
  type PlantedRun,
} from './kit.js';

/** Project B: the attacker. Project A is the bootstrap project of the test service. */
const PROJECT_B = 'b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0';
const DB = 'shop';

interface Cl {
  id: string;
  ep: string;
  port: number;
  rec: ClusterRecord;
  nodes: NodeRecord[];
}
interface TaskBody {
  id: string;
  status: string;
  error_code: string | null;
  error_msg: string | null;
  failed_step: string | null;
}
interface Job {
  job_id: string;
  status: string;
  failed_code: string;
  failed_detail: string;
}

let t: TestService;
let bc: DwsClient;
let A: Cl;
let B: Cl;
let osA: OsUser;
let osB: OsUser;
let victims: Victims;
/** Where planted code that became a superuser writes its proof (B's: the postmaster writes there). */
let escapeDir: string;
const sleepers: ChildProcess[] = [];
/** The schema-level snapshot of B's schema `planted` (section 4). */
let schemaSnapId = '';

const engine = () => t.svc.dataPlane;
const node = (c: Cl, ordinal: number): NodeRecord => c.nodes.find((n) => n.ordinal === ordinal)!;
const dataDirOf = (c: Cl, ordinal: number): string => node(c, ordinal).dataDir;
const sockDirOf = (c: Cl, ordinal: number): string => engine().nodePaths(c.id, ordinal).sockDir;
const logOf = (c: Cl, ordinal: number): string => engine().nodePaths(c.id, ordinal).logFile;
const escapes = (): string[] => readdirSync(escapeDir);

async function load(client: DwsClient, id: string): Promise<Cl> {
  const rec = (await t.svc.store.getClusterById(id))!;
  const nodes = (await t.svc.store.listNodes(id)).filter((n) => n.membership === 'active');
  const d = await getCluster(client, id);
  const ep = d.endpoints[0]!.connect_info;
  return { id, ep, port: Number(ep.split(':')[1]), rec, nodes };
}

/** As B's administrator, over TCP to B's primary (what the tenant has). */
async function asAdminB<T>(fn: (c: pg.Client) => Promise<T>, database = 'postgres'): Promise<T> {
  const c = await connectAs(B.ep, { database });
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

async function restart(client: DwsClient, id: string): Promise<TaskBody> {
  await client.call('POST', `/v1.0/{project_id}/clusters/${id}/restart`, { restart: {} });
  await waitIdle(client, id);
  const tasks = (
    await client.call<{ tasks: (TaskBody & { kind: string })[] }>('GET', `/dwsbox/v1/{project_id}/clusters/${id}/tasks?limit=5`)
  ).tasks;
  return tasks.find((x) => x.kind === 'cluster.restart')!;
}

async function job(client: DwsClient, id: string): Promise<Job> {
  return waitFor(
    async () => {
      const j = await client.call<Job>('GET', `/v1.0/{project_id}/job/${id}`);
      return j.status === 'SUCCESS' || j.status === 'FAIL' ? j : null;
    },
    { what: `job ${id}`, intervalMs: 150, timeoutMs: 200_000 },
  );
}

async function snapshotB(name: string): Promise<string> {
  const r = await bc.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', { snapshot: { name, cluster_id: B.id } });
  const s = await waitFor(
    async () => {
      const x = (await bc.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${r.snapshot.id}`)).snapshot;
      return x.status === 'AVAILABLE' || x.status === 'UNAVAILABLE' ? x : null;
    },
    { what: `snapshot ${name}`, timeoutMs: 200_000 },
  );
  expect(s.status).toBe('AVAILABLE');
  return r.snapshot.id;
}

/** Postpone a step of B's next task of this action by `ms` (the window in which B plants). */
const delayB = (action: string, step: string, ms: number): Promise<void> => delayStep(bc, B.id, action, step, ms);

function tableRestoreBody(schema: string, table: string): unknown {
  const tbl = { schema_name: schema, table_name: table };
  return { case_sensitive: true, database: DB, restore_table_list: [tbl], target_table_list: [tbl] };
}

/** A process unrelated to any cluster, started as root, that a rewritten postmaster.pid names. */
function unrelatedProcess(): number {
  const p = spawn('sleep', ['3600'], { detached: true, stdio: 'ignore' });
  p.unref();
  sleepers.push(p);
  return p.pid!;
}

/** As B's OS user: replace the PID on the first line of a node's postmaster.pid (the file is B's). */
function rewritePid(c: Cl, ordinal: number, pid: number): void {
  const file = join(dataDirOf(c, ordinal), 'postmaster.pid');
  const lines = readFileSync(file, 'utf8').split('\n');
  lines[0] = String(pid);
  const r = asUser(osB, 'sh', ['-c', 'printf "%s" "$1" > "$2"', 'sh', lines.join('\n'), file]);
  expect(r.code, r.stderr).toBe(0);
}

/** The postmasters (by /proc) running on one of a cluster's data directories. */
function postmastersOf(c: Cl): number[] {
  const dir = engine().clusterDir(c.id);
  const found = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        const d = argv.indexOf('-D');
        return d >= 0 && (argv[d + 1] ?? '').startsWith(`${dir}/`) && alive(Number(p)) ? [Number(p)] : [];
      } catch {
        return [];
      }
    });
  // A postmaster's child keeps its parent's command line for a moment after the fork, before it
  // names itself ("postgres: checkpointer", …): one seen then is not a postmaster of its own.
  const ppid = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1] ?? 0);
  return found.filter((pid) => {
    try {
      return !found.includes(ppid(pid));
    } catch {
      return false;
    }
  });
}

beforeAll(async () => {
  t = await startService({ flags: LOCAL_ENGINE });
  bc = await projectClient(t, PROJECT_B);
  const [a, b] = await Promise.all([createAvailableCluster(t.client), createAvailableCluster(bc)]);
  A = await load(t.client, a.id);
  B = await load(bc, b.id);
  osA = engine().projectUser(PROJECT_ID);
  osB = engine().projectUser(PROJECT_B);
  victims = new Victims(join(tempDir('victims'), 'v'));
  escapeDir = join(tempDir('escapes'), 'e');
  mkdirSync(escapeDir, { mode: 0o700 });
  chownSync(escapeDir, osB.uid, osB.gid);
});

afterAll(async () => {
  for (const p of sleepers) p.kill('SIGKILL');
  await t?.stop();
});

describe('the set-up', () => {
  it("gives each project its own OS user, and each cluster's files to it", () => {
    expect(osA.uid).not.toBe(osB.uid);
    expect(
      osA.gid,
      "A and B were given one group: their users were made at the same moment (src/dataplane/project-users.ts ensure: two groupadd --gid N race and both succeed), so B reads A's group-readable stanza config and credentials",
    ).not.toBe(osB.gid);
    expect([osA.uid, osB.uid].every((u) => u >= 1_000_000)).toBe(true);
    expect(facts(dataDirOf(A, 1))).toMatchObject({ kind: 'dir', uid: osA.uid, mode: '0700' });
    expect(facts(dataDirOf(B, 1))).toMatchObject({ kind: 'dir', uid: osB.uid, mode: '0700' });
  });
});

describe("1. project B's administrator, over TCP on its own cluster", () => {
  const expectRefused = async (c: pg.Client, sql: string, code = '42501'): Promise<void> => {
    const r = await refusal(c, sql);
    expect({ sql, refusal: r }).toMatchObject({ sql, refusal: { code } });
  };

  it('cannot run a program or touch a server file: COPY … PROGRAM, COPY to and from files, pg_read_file, pg_ls_dir, lo_import, lo_export (42501)', async () => {
    await asAdminB(async (c) => {
      await c.query('create table public.sink (line text)');
      for (const sql of [
        `copy public.sink from program 'id'`,
        `copy public.sink to program 'cat > /tmp/dwsbox-attack'`,
        `copy public.sink to '/tmp/dwsbox-attack'`,
        `copy public.sink from '/etc/passwd'`,
        `select pg_read_file('/etc/passwd')`,
        `select pg_read_file('postgresql.auto.conf')`,
        `select pg_read_binary_file('global/pg_control')`,
        `select pg_ls_dir('.')`,
        `select pg_stat_file('postgresql.auto.conf')`,
        `select lo_import('/etc/passwd')`,
        `select lo_export(lo_from_bytea(0, 'x'), '/tmp/dwsbox-attack')`,
      ])
        await expectRefused(c, sql);
      expect((await c.query('select count(*)::int as n from public.sink')).rows[0]).toEqual({ n: 0 });
    });
    expect(existsSync('/tmp/dwsbox-attack')).toBe(false);
  });

  it("cannot change the server's settings: ALTER SYSTEM, superuser-only settings, reloads (42501)", async () => {
    await asAdminB(async (c) => {
      await expectRefused(c, `alter system set archive_command = 'id'`);
      await expectRefused(c, 'alter system reset all');
      await expectRefused(c, `set session_replication_role = replica`);
      await expectRefused(c, `set log_statement = 'none'`);
      await expectRefused(c, 'select pg_reload_conf()');
      await expectRefused(c, `load 'auto_explain'`);
    });
    expect(readFileSync(join(dataDirOf(B, 1), 'postgresql.auto.conf'), 'utf8')).not.toMatch(/archive_command/);
  });

  it('cannot become a superuser nor gain role powers: CREATE ROLE, ALTER ROLE itself, SET ROLE postgres, GRANT of the server roles (42501)', async () => {
    await asAdminB(async (c) => {
      for (const sql of [
        'create role attacker superuser login',
        'create role attacker login',
        'alter role current_user superuser',
        'alter role current_user createrole',
        'alter role current_user replication',
        'alter role current_user bypassrls',
        'grant pg_execute_server_program to current_user',
        'grant pg_read_server_files to current_user',
        'grant pg_write_server_files to current_user',
        'grant postgres to current_user',
        'set role postgres',
        'set session authorization postgres',
      ])
        await expectRefused(c, sql);
      const me = (
        await c.query(`select rolsuper, rolcreaterole, rolreplication, rolbypassrls, rolcreatedb, rolcanlogin,
          pg_has_role(current_user, 'pg_execute_server_program', 'member') as program, pg_has_role(current_user, 'pg_read_server_files', 'member') as readf,
          pg_has_role(current_user, 'pg_write_server_files', 'member') as writef
        from pg_roles where rolname = current_user`)
      ).rows[0];
      expect(me).toEqual({
        rolsuper: false,
        rolcreaterole: false,
        rolreplication: false,
        rolbypassrls: false,
        rolcreatedb: true,
        rolcanlogin: true,
        program: false,
        readf: false,
        writef: false,
      });
      expect((await c.query(`select count(*)::int as n from pg_roles where rolname = 'attacker'`)).rows[0]).toEqual({ n: 0 });
    });
  });

  it('cannot load host code: untrusted extensions and C or internal functions (42501)', async () => {
    await asAdminB(async (c) => {
      for (const ext of ['adminpack', 'file_fdw', 'dblink']) await expectRefused(c, `create extension ${ext}`);
      const untrusted = (
        await c.query<{ name: string }>(`select name from pg_available_extensions where name in ('plpython3u', 'plperlu', 'pltclu')`)
      ).rows.map((r) => r.name);
      for (const ext of untrusted) await expectRefused(c, `create extension ${ext}`);
      await expectRefused(c, `create function public.from_c() returns int language c as '$libdir/dblink', 'dblink_connect'`);
      await expectRefused(c, `create function public.from_internal(int, int) returns int language internal as 'int4pl'`);
      expect((await c.query(`select extname from pg_extension where extname in ('adminpack', 'file_fdw', 'dblink')`)).rows).toEqual([]);
    });
  });

  it("keeps what a managed service's administrator needs: databases, tables in public, pgcrypto, CHECKPOINT, pg_switch_wal, everyone's activity, cancelling a non-superuser's query", async () => {
    // Another database user, as dwsbox's database-user API would make it.
    const primaryB = engine().instance(B.rec, node(B, 1));
    await primaryB.query(`create role sec_other login password 'Other-Pass-1234'`);
    await asAdminB(async (c) => {
      await c.query('create database keep_db');
      await c.query('create table public.keep_t (id int primary key)');
      await c.query('create extension if not exists pgcrypto');
      expect((await c.query(`select encode(digest('x', 'sha256'), 'hex') as h`)).rows[0]).toEqual({
        h: '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881',
      });
      await c.query('checkpoint');
      expect((await c.query('select pg_switch_wal()::text as lsn')).rows[0]!.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      const other = await connectAs(B.ep, { user: 'sec_other', password: 'Other-Pass-1234' });
      const sleeping = other.query('select pg_sleep(60) /* sec-other-sleeps */').then(
        () => null,
        (e: { code?: string }) => e.code,
      );
      const seen = await waitFor(
        async () =>
          (
            await c.query<{ pid: number; query: string }>(
              `select pid, query from pg_stat_activity where usename = 'sec_other' and state = 'active'`,
            )
          ).rows[0],
        { what: 'the other session in pg_stat_activity' },
      );
      expect(seen.query).toMatch(/sec-other-sleeps/);
      expect((await c.query('select pg_cancel_backend($1) as ok', [seen.pid])).rows[0]).toEqual({ ok: true });
      expect(await sleeping).toBe('57014');
      await other.end();
      // A superuser's (dwsbox's) session stays out of reach.
      const su = await primaryB.connect();
      const suPid = (await su.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      const suSleeping = su.query('select pg_sleep(30)').catch(() => null);
      await expectRefused(c, `select pg_cancel_backend(${suPid})`);
      await expectRefused(c, `select pg_terminate_backend(${suPid})`);
      await su.end().catch(() => {});
      await suSleeping;
      await c.query('drop database keep_db');
    });
  });
});

describe("2. project B's OS user against project A", () => {
  it("cannot connect to A's unix socket, nor as postgres to A's TCP address without a password", () => {
    const psql = (o: string[]) =>
      asUser(osB, 'psql', ['-X', '-w', '-At', '-U', 'postgres', '-d', 'postgres', ...o, '-c', 'select current_user']);
    // Its own cluster answers it (D32: its OS user is its own cluster's superuser), so the refusals below are about A.
    const own = psql(['-h', sockDirOf(B, 1), '-p', String(B.port)]);
    expect({ code: own.code, out: own.stdout.trim() }).toEqual({ code: 0, out: 'postgres' });
    const sock = psql(['-h', sockDirOf(A, 1), '-p', String(A.port)]);
    expect(sock.code).not.toBe(0);
    expect(sock.stderr).toMatch(/Permission denied/);
    const tcp = psql(['-h', node(A, 1).host, '-p', String(A.port)]);
    expect(tcp.code).not.toBe(0);
    expect(tcp.stderr).toMatch(/no password supplied|password authentication failed/);
  });

  it("cannot read A's data directory, postgresql.auto.conf, passfile, stanza config, repository and logs, nor the store and master.key", () => {
    const stanzaA = A.rec.stanza;
    const readers: [string, string[]][] = [
      ['ls', [dataDirOf(A, 1)]],
      ['cat', [join(dataDirOf(A, 2), 'postgresql.auto.conf')]],
      ['cat', [join(engine().nodeDir(A.id, 2), 'replication.pgpass')]],
      ['cat', [logOf(A, 1)]],
      ['cat', [engine().stanzaConfigFile(stanzaA)]],
      ['ls', [engine().backrest.includeDirOf(engine().stanzaConfigFile(stanzaA))]],
      ['ls', [join(engine().settings.repoPath, stanzaA)]],
      ['ls', [join(t.dataDir, 'log', 'pgbackrest', stanzaA)]],
      ['ls', [sockDirOf(A, 1)]],
      ['cat', [join(t.dataDir, 'dwsbox.sqlite')]],
      ['cat', [join(t.dataDir, 'master.key')]],
      ['ls', [join(t.dataDir, 'locks')]],
    ];
    const results = readers.map(([cmd, args]) => ({ what: `${cmd} ${args.join(' ')}`, ...asUser(osB, cmd, args) }));
    for (const r of results) {
      expect({ what: r.what, failed: r.code !== 0, denied: /Permission denied/.test(r.stderr) }).toEqual({
        what: r.what,
        failed: true,
        denied: true,
      });
    }
    for (const f of readdirSync(join(t.dataDir, 'repositories'))) {
      expect(asUser(osB, 'cat', [join(t.dataDir, 'repositories', f)]).stderr).toMatch(/Permission denied/);
    }
  });
});

describe("3. links and FIFOs planted by project B's OS user", () => {
  it('cannot plant anything where root creates, opens or chowns by path: locks, node and socket directories, stanza configs, dump and temporary roots', () => {
    const v = victims.file('root-paths');
    const stanzaConf = engine().stanzaConfigFile(B.rec.stanza);
    const paths = [
      engine().lockFile(B.id),
      `${engine().lockFile(B.id)}.new`,
      engine().nodeDir(B.id, 9),
      join(engine().nodeDir(B.id, 1), 'postgres.log'),
      join(engine().nodeDir(B.id, 2), 'copy.done'),
      engine().nodePaths(B.id, 9).sockDir,
      sockDirOf(B, 1),
      join(engine().backrest.includeDirOf(stanzaConf), 'repo-credentials.conf'),
      join(t.dataDir, 'logical'),
      join(t.dataDir, 'logical', B.rec.stanza),
      join(t.dataDir, 'tmp', 'planted'),
      join(t.dataDir, 'repo', 'planted'),
    ];
    for (const p of paths) {
      // An existing directory is moved away (to put a link in its place), anything else replaced by a link.
      const r = facts(p).kind === 'dir' ? asUser(osB, 'mv', ['-T', '--', p, `${p}.moved`]) : asUser(osB, 'ln', ['-sfnT', '--', v, p]);
      expect({ p, failed: r.code !== 0, denied: /Permission denied|No such file/.test(r.stderr) }).toEqual({
        p,
        failed: true,
        denied: true,
      });
    }
    const w = asUser(osB, 'sh', ['-c', 'echo "repo1-path=/" >> "$1"', 'sh', stanzaConf]);
    expect(w.stderr).toMatch(/Permission denied/);
    expect(facts(stanzaConf)).toMatchObject({ kind: 'file', uid: 0, gid: osB.gid, mode: '0640' });
    expect(victims.changed()).toEqual([]);
  });

  it("restart: a link and a FIFO at a node's dwsbox-node.conf are replaced, never followed", async () => {
    const v = victims.file('dwsbox-node.conf');
    plantLink(osB, join(dataDirOf(B, 1), 'dwsbox-node.conf'), v);
    plantFifo(osB, join(dataDirOf(B, 2), 'dwsbox-node.conf'));
    const r = await restart(bc, B.id);
    expect({ status: r.status, error: r.error_msg }).toEqual({ status: 'SUCCESS', error: null });
    for (const n of [1, 2]) {
      const f = facts(join(dataDirOf(B, n), 'dwsbox-node.conf'));
      expect(f).toMatchObject({ kind: 'file', uid: osB.uid, gid: osB.gid, mode: '0600' });
      expect(f.content).toContain(`port = ${B.port}`);
    }
    expect(victims.changed()).toEqual([]);
    expect((await getCluster(bc, B.id)).status).toBe('AVAILABLE');
  });

  it("a socket replaced by a link to A's socket: dwsbox's superuser never talks through it (DWS.9928 naming the socket), A is untouched", async () => {
    const sock = join(sockDirOf(B, 1), `.s.PGSQL.${B.port}`);
    plantLink(osB, sock, join(sockDirOf(A, 1), `.s.PGSQL.${A.port}`));
    // Resetting B's password runs ALTER ROLE as dwsbox's superuser over B's socket: through the link it would change A's.
    const r = await bc.request<{ error_code: string; error_msg: string }>('POST', `/v1.0/{project_id}/clusters/${B.id}/reset-password`, {
      new_password: 'Attack-Pass-4567',
    });
    expect({ status: r.status, code: r.body.error_code }).toEqual({ status: 500, code: 'DWS.9928' });
    expect(r.body.error_msg).toContain(sock);
    // A's administrator keeps its password; B's too (nothing was changed anywhere).
    const a = await connectAs(A.ep);
    await a.end();
    const b = await connectAs(B.ep);
    await b.end();
    // Repair B: a restart makes the postmaster bind a new socket.
    const rs = await restart(bc, B.id);
    expect(rs.status, rs.error_msg ?? '').toBe('SUCCESS');
    expect(facts(sock)).toMatchObject({ kind: 'socket', uid: osB.uid });
  });

  it("scale-out: the new node's paths cannot be planted, and the copy brings no link or FIFO of the primary along", async () => {
    const v = victims.file('scale-out');
    for (const p of [engine().nodeDir(B.id, 4), engine().nodePaths(B.id, 4).sockDir, join(engine().nodeDir(B.id, 4), 'data')]) {
      expect(asUser(osB, 'ln', ['-sfnT', '--', v, p]).code).toBe(1);
    }
    plantLink(osB, join(dataDirOf(B, 1), 'planted.link'), v);
    plantFifo(osB, join(dataDirOf(B, 1), 'planted.fifo'));
    await bc.call('POST', `/v1.0/{project_id}/clusters/${B.id}/resize`, { scale_out: { count: 1 } });
    const d = await waitIdle(bc, B.id);
    expect({ status: d.status, nodes: d.number_of_node }).toEqual({ status: 'AVAILABLE', nodes: 4 });
    B = await load(bc, B.id);
    const data4 = dataDirOf(B, 4);
    expect(facts(data4)).toMatchObject({ kind: 'dir', uid: osB.uid, mode: '0700' });
    expect(facts(join(data4, 'planted.link')).kind).toBe('missing');
    expect(facts(join(data4, 'planted.fifo')).kind).toBe('missing');
    expect(facts(join(data4, 'dwsbox-node.conf'))).toMatchObject({ kind: 'file', uid: osB.uid, mode: '0600' });
    expect(facts(engine().nodeDir(B.id, 4))).toMatchObject({ kind: 'dir', uid: 0, mode: '0711' });
    expect(victims.changed()).toEqual([]);
    expect(asUser(osB, 'rm', ['-f', join(dataDirOf(B, 1), 'planted.link'), join(dataDirOf(B, 1), 'planted.fifo')]).code).toBe(0);
  });
});

describe("4. code B plants, and links in a table restore's work directory (a physical snapshot and a table restore from it)", () => {
  let snapshotRuns: PlantedRun[] = [];
  let restoreRuns: PlantedRun[] = [];
  let restoreJob: Job;
  let listVictim = '';
  let listPlanted = false;
  let policyPlanted = false;

  beforeAll(async () => {
    await asAdminB((c) => c.query(`create database ${DB}`));
    for (const db of [DB, 'postgres']) {
      await asAdminB(async (c) => {
        await c.query('create schema planted');
        await c.query(plantedNoteSql('planted', escapeDir));
        await c.query(plantedCatalogShadowsSql('planted'));
      }, db);
    }
    await asAdminB(async (c) => {
      await c.query(
        `create function planted.stamp() returns trigger language plpgsql as $$ begin perform planted.note('trigger'); return new; end $$`,
      );
      await c.query(
        `create table planted.guarded (id int primary key check (planted.note('check')), v text not null, tagged boolean default planted.note('default'))`,
      );
      await c.query(`create trigger stamp before insert on planted.guarded for each row execute function planted.stamp()`);
      await c.query(`insert into planted.guarded (id, v) select g, md5(g::text) from generate_series(1, 300) g`);
    }, DB);
    const log = logOf(B, 1);
    let from = sizeOf(log);
    await snapshotB('planted-physical');
    snapshotRuns = plantedRuns(log, from);
    const snapId = (await t.svc.store.listSnapshots(PROJECT_B, B.id)).find((s) => s.name === 'planted-physical')!.id;

    await asAdminB((c) => c.query('drop table planted.guarded'), DB);
    await delayB('FINE_GRAINED_RESTORING', 'IMPORT_TABLES', 10_000);
    await delayB('FINE_GRAINED_RESTORING', 'VERIFY_ROWS', 10_000);
    listVictim = victims.file('tables.list');
    from = sizeOf(log);
    const r = await bc.call<{ job_id: string }>(
      'POST',
      `/v1/{project_id}/snapshots/${snapId}/table-restore`,
      tableRestoreBody('planted', 'guarded'),
    );
    const work = join(t.dataDir, 'tmp', r.job_id, 'work');
    // While IMPORT_TABLES waits: the dump is there, the list not yet written.
    await waitFor(async () => existsSync(join(work, 'tables.dump')), { what: 'the exported dump', timeoutMs: 120_000, intervalMs: 50 });
    plantLink(osB, join(work, 'tables.list'), listVictim);
    listPlanted = true;
    // While VERIFY_ROWS waits: the table is imported; a forced row-security policy makes the row count run planted code.
    await waitFor(
      async () =>
        asAdminB(async (c) => (await c.query(`select to_regclass('planted.guarded') is not null as ok`)).rows[0]!.ok as boolean, DB),
      { what: 'the imported table', timeoutMs: 120_000, intervalMs: 50 },
    );
    await asAdminB(async (c) => {
      await c.query('alter table planted.guarded enable row level security');
      await c.query('alter table planted.guarded force row level security');
      await c.query(`create policy spy on planted.guarded using (planted.note('policy'))`);
    }, DB);
    policyPlanted = true;
    restoreJob = await job(bc, r.job_id);
    restoreRuns = plantedRuns(log, from);
    await bc.call('DELETE', '/dwsbox/v1/{project_id}/faults');
  });

  const byDwsbox = (runs: PlantedRun[]): PlantedRun[] => runs.filter((r) => r.su !== 'dbadmin');

  it("a physical snapshot calls no function B put in public under a catalog function's name", () => {
    expect(snapshotRuns.filter((r) => r.tag.startsWith('pg_'))).toEqual([]);
    expect(snapshotRuns.filter((r) => r.cu === 'postgres' || r.escaped)).toEqual([]);
  });

  it("table restore: a link planted at the work directory's list file is replaced, never followed", () => {
    expect(listPlanted).toBe(true);
    expect(restoreJob.status, restoreJob.failed_detail).toBe('SUCCESS');
    expect(victims.changed()).toEqual([]);
  });

  it('table restore: the planted CHECK constraint runs during the import as the administrator, never as postgres, and cannot become it', () => {
    const checks = byDwsbox(restoreRuns).filter((r) => r.tag === 'check');
    expect(checks.length).toBeGreaterThan(0);
    expect(
      checks.filter((r) => r.cu === 'postgres' || r.su === 'postgres' || r.escaped),
      'planted code ran as postgres during the import: pg_restore --role=<admin> on a superuser session can be left with RESET ROLE',
    ).toEqual([]);
    expect(escapes()).toEqual([]);
  });

  it('table restore: a row-security policy planted before the row counts runs as the administrator, never as postgres', () => {
    expect(policyPlanted).toBe(true);
    const policies = byDwsbox(restoreRuns).filter((r) => r.tag === 'policy');
    expect(policies.length).toBeGreaterThan(0);
    expect(
      policies.filter((r) => r.cu === 'postgres' || r.su === 'postgres' || r.escaped),
      'planted code ran as postgres during the row counts: SET ROLE on a superuser session can be left with RESET ROLE',
    ).toEqual([]);
    expect(escapes()).toEqual([]);
  });

  it('table restore: no trigger, default or catalog shadow B planted runs at all', () => {
    expect(byDwsbox(restoreRuns).filter((r) => !['check', 'policy'].includes(r.tag))).toEqual([]);
  });
});

describe("4. code B plants, and a FIFO in a table restore's work directory (a schema-level snapshot and a restore through a scratch database)", () => {
  let snapshotRuns: PlantedRun[] = [];
  let restoreRuns: PlantedRun[] = [];
  let snapJob: Job;
  let restoreJob: Job;
  let fifoPlanted = false;

  beforeAll(async () => {
    const log = logOf(B, 1);
    // The policy of the previous restore stays: dwsbox's superuser bypasses row security, so it never runs it.
    let from = sizeOf(log);
    const s = await t.svc.snapshots.createSnapshot(PROJECT_B, {
      clusterId: B.id,
      name: 'planted-schema',
      type: 'MANUAL',
      level: 'schema',
      database: DB,
      schemas: ['planted'],
    });
    snapJob = await job(bc, s.taskId!);
    schemaSnapId = s.id;
    snapshotRuns = plantedRuns(log, from);
    await asAdminB((c) => c.query('drop table planted.guarded'), DB);
    await delayB('FINE_GRAINED_RESTORING', 'LOAD_SCRATCH_DB', 10_000);
    from = sizeOf(log);
    const r = await bc.call<{ job_id: string }>(
      'POST',
      `/v1/{project_id}/snapshots/${s.id}/table-restore`,
      tableRestoreBody('planted', 'guarded'),
    );
    const work = join(t.dataDir, 'tmp', r.job_id, 'work');
    await waitFor(async () => existsSync(work), { what: 'the work directory', timeoutMs: 120_000, intervalMs: 50 });
    plantFifo(osB, join(work, 'scratch.list'));
    fifoPlanted = true;
    restoreJob = await job(bc, r.job_id);
    restoreRuns = plantedRuns(log, from);
    await bc.call('DELETE', '/dwsbox/v1/{project_id}/faults');
  });

  it("a schema-level snapshot calls no function B put in public under a catalog function's name", () => {
    expect(snapJob.status, snapJob.failed_detail).toBe('SUCCESS');
    expect(snapshotRuns.filter((r) => r.tag.startsWith('pg_'))).toEqual([]);
    expect(snapshotRuns.filter((r) => r.cu === 'postgres' || r.escaped)).toEqual([]);
  });

  it('restore through a scratch database: a FIFO planted at its list file is replaced, never opened', () => {
    expect(fifoPlanted).toBe(true);
    expect(restoreJob.status, restoreJob.failed_detail).toBe('SUCCESS');
  });

  it('restore through a scratch database: the planted CHECK constraint (loaded with the dump, then imported) never runs as postgres', () => {
    const checks = restoreRuns.filter((r) => r.su !== 'dbadmin' && r.tag === 'check');
    expect(checks.length).toBeGreaterThan(0);
    expect(
      restoreRuns.filter((r) => r.cu === 'postgres' || r.su === 'postgres' || r.escaped),
      'planted code ran as postgres while the scratch database was loaded or the table imported',
    ).toEqual([]);
    expect(escapes()).toEqual([]);
  });
});

describe("4. a view swapped in for the table dwsbox's superuser counts in the scratch database", () => {
  let restoreJob: Job;
  let swapped = false;
  let runs: PlantedRun[] = [];

  /** Sessions of B's administrator waiting on a lock: the relation, and whether dwsbox's own session waits on it. */
  const waiting = async (c: pg.Client, relation: number, app: string | null, pid?: number): Promise<boolean> =>
    (
      await c.query(
        `select 1 from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where not l.granted and l.relation = $1 and ($2::text is null or a.application_name = $2) and ($3::int is null or l.pid = $3)`,
        [relation, app, pid ?? null],
      )
    ).rows.length > 0;

  beforeAll(async () => {
    // The table is back in the live database (the previous restore); the restore's target must be free.
    await asAdminB((c) => c.query('drop table planted.guarded'), DB);
    await delayB('FINE_GRAINED_RESTORING', 'EXPORT_TABLES', 10_000);
    const log = logOf(B, 1);
    const from = sizeOf(log);
    const r = await bc.call<{ job_id: string }>(
      'POST',
      `/v1/{project_id}/snapshots/${schemaSnapId}/table-restore`,
      tableRestoreBody('planted', 'guarded'),
    );
    const scratch = scratchDatabaseName(r.job_id);
    // The scratch database is loaded (B's administrator owns it and may connect to it).
    await waitFor(
      async () => {
        const task = await bc.call<{ items: { sub_items: { step: string; status: string }[] }[] }>(
          'GET',
          `/dwsbox/v1/{project_id}/clusters/${B.id}/tasks/${r.job_id}`,
        );
        return task.items.flatMap((i) => i.sub_items).find((x) => x.step === 'LOAD_SCRATCH_DB')?.status === 'SUCCESS';
      },
      { what: 'the scratch database to be loaded', timeoutMs: 120_000, intervalMs: 50 },
    );
    const watch = await connectAs(B.ep, { database: scratch });
    const s1 = await connectAs(B.ep, { database: scratch });
    const s2 = await connectAs(B.ep, { database: scratch });
    try {
      const rel = Number((await watch.query<{ oid: string }>(`select 'planted.guarded'::regclass::oid::text as oid`)).rows[0]!.oid);
      const s2pid = (await s2.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      // 1. Hold the table so that dwsbox's renames (its first step on it) wait.
      await s1.query('begin');
      await s1.query('lock table planted.guarded in access share mode');
      await waitFor(() => waiting(watch, rel, 'dwsbox'), { what: 'dwsbox to wait for the table', timeoutMs: 60_000, intervalMs: 20 });
      // 2. Queue an exclusive lock behind dwsbox's, and let dwsbox go: after its renames commit, this session holds the table.
      await s2.query('begin');
      const locked = s2.query('lock table planted.guarded in access exclusive mode');
      await waitFor(() => waiting(watch, rel, null, s2pid), { what: 'the exclusive lock to queue', timeoutMs: 60_000, intervalMs: 20 });
      await s1.query('commit');
      await locked;
      // 3. dwsbox now waits to measure the table; swap a view in under its name, calling the planted code.
      await waitFor(() => waiting(watch, rel, 'dwsbox'), {
        what: 'dwsbox to wait to measure the table',
        timeoutMs: 60_000,
        intervalMs: 20,
      });
      await s2.query('alter table planted.guarded rename to guarded_real');
      await s2.query(`create view planted.guarded as select g.* from planted.guarded_real g where planted.note('view')`);
      await s2.query('commit');
      swapped = true;
    } finally {
      for (const c of [watch, s1, s2]) await c.end().catch(() => {});
    }
    restoreJob = await job(bc, r.job_id);
    runs = plantedRuns(log, from);
    await bc.call('DELETE', '/dwsbox/v1/{project_id}/faults');
  });

  it("the view is never run by dwsbox's superuser: the restore reads the table it locked, or refuses, naming it", () => {
    expect(swapped).toBe(true);
    expect(
      runs.filter((r) => r.tag === 'view' && (r.cu === 'postgres' || r.su === 'postgres' || r.escaped)),
      "dwsbox's superuser counted the rows of whatever the name pointed at when it counted",
    ).toEqual([]);
    expect(runs.filter((r) => r.escaped)).toEqual([]);
    expect(escapes()).toEqual([]);
    expect(restoreJob.status).toBe('FAIL');
    expect(restoreJob.failed_detail).toMatch(/planted\.guarded is no longer a table/);
    expect(readdirSync(join(t.dataDir, 'tmp'))).toEqual([]);
  });
});

describe('5. a rewritten postmaster.pid', () => {
  const pidFileOf = (ordinal: number): string => join(dataDirOf(B, ordinal), 'postmaster.pid');
  const serviceLog = (): string => readFileSync(t.logFile, 'utf8');

  /** As B's OS user, stop a node's postmaster (it is B's own process) and wait until it is gone. */
  async function tenantStops(ordinal: number): Promise<void> {
    const pid = engine().nodeStatus(B.rec, node(B, ordinal))!.pid;
    expect(asUser(osB, 'kill', ['-INT', String(pid)]).code).toBe(0);
    await waitFor(async () => !alive(pid), { what: `postmaster ${pid} to stop` });
  }

  it('restart: a postmaster.pid naming an unrelated root process is not obeyed; the process survives, the real postmaster is restarted, the mismatch is logged', async () => {
    const sleeper = unrelatedProcess();
    const real = engine().nodeStatus(B.rec, node(B, 3))!.pid;
    rewritePid(B, 3, sleeper);
    const r = await restart(bc, B.id);
    expect(alive(sleeper)).toBe(true);
    expect({ status: r.status, error: r.error_msg }).toEqual({ status: 'SUCCESS', error: null });
    // The node's own postmaster (found by /proc, not by the file) was the one stopped and started.
    expect(alive(real)).toBe(false);
    expect(engine().nodeStatus(B.rec, node(B, 3))!.pid).not.toBe(real);
    expect(postmastersOf(B)).toHaveLength(B.nodes.length);
    expect(serviceLog()).toContain(
      `${pidFileOf(3)} names PID ${sleeper}, which is not this node's postmaster: PID ${sleeper} runs /usr/bin/sleep`,
    );
  });

  it('restart: a postmaster.pid naming the service itself is not obeyed; the service lives on', async () => {
    rewritePid(B, 2, process.pid);
    const r = await restart(bc, B.id);
    expect(alive(process.pid)).toBe(true);
    expect({ status: r.status, error: r.error_msg }).toEqual({ status: 'SUCCESS', error: null });
    expect((await t.client.request('GET', '/v1.0/{project_id}/clusters')).status).toBe(200);
    expect(postmastersOf(B)).toHaveLength(B.nodes.length);
    expect(serviceLog()).toContain(`${pidFileOf(2)} names PID ${process.pid}, which is not this node's postmaster`);
  });

  it('restart of a node B stopped: a postmaster.pid naming an unrelated process stops the start with a message naming the file and the PID; nothing is signalled', async () => {
    const sleeper = unrelatedProcess();
    await tenantStops(3);
    const r0 = asUser(osB, 'sh', ['-c', 'printf "%s\\n%s\\n" "$1" "$2" > "$3"', 'sh', String(sleeper), dataDirOf(B, 3), pidFileOf(3)]);
    expect(r0.code, r0.stderr).toBe(0);
    const r = await restart(bc, B.id);
    expect(alive(sleeper)).toBe(true);
    expect({ status: r.status, step: r.failed_step, code: r.error_code }).toEqual({
      status: 'FAILED',
      step: 'START_NODE_3',
      code: 'DWS.9921',
    });
    expect(r.error_msg).toContain(`${pidFileOf(3)} names PID ${sleeper}, which is not this node's postmaster`);
    // Nodes start in order: the ones before node 3 run, the rest wait for the repair.
    expect(postmastersOf(B)).toHaveLength(2);
    // The tenant removes what it planted; the next restart works.
    expect(asUser(osB, 'rm', ['-f', pidFileOf(3)]).code).toBe(0);
    const again = await restart(bc, B.id);
    expect(again.status, again.error_msg ?? '').toBe('SUCCESS');
  });

  it('restart of a node B stopped: a FIFO at postmaster.pid never hangs the service nor a postmaster; the start is refused (DWS.9928 naming it)', async () => {
    await tenantStops(2);
    plantFifo(osB, pidFileOf(2));
    const r = await restart(bc, B.id);
    expect({ status: r.status, step: r.failed_step, code: r.error_code }).toEqual({
      status: 'FAILED',
      step: 'START_NODE_2',
      code: 'DWS.9928',
    });
    expect(r.error_msg).toContain(pidFileOf(2));
    expect(postmastersOf(B)).toHaveLength(1);
    expect((await t.client.request('GET', '/v1.0/{project_id}/clusters')).status).toBe(200);
    expect(asUser(osB, 'rm', ['-f', pidFileOf(2)]).code).toBe(0);
    const again = await restart(bc, B.id);
    expect(again.status, again.error_msg ?? '').toBe('SUCCESS');
    B = await load(bc, B.id);
  });
});

describe('6. modes and owners', () => {
  it("the store, its WAL and shared memory, and master.key are root's alone (0600); stanza configs are root's, readable by their project's group only; locks are root's", () => {
    for (const f of ['dwsbox.sqlite', 'dwsbox.sqlite-wal', 'dwsbox.sqlite-shm', 'master.key']) {
      expect({ f, ...facts(join(t.dataDir, f)), content: null }).toEqual({ f, kind: 'file', uid: 0, gid: 0, mode: '0600', content: null });
    }
    for (const f of readdirSync(join(t.dataDir, 'repositories'))) {
      expect({ f, ...facts(join(t.dataDir, 'repositories', f)), content: null }).toMatchObject({ f, kind: 'file', uid: 0, mode: '0600' });
    }
    for (const [c, os] of [
      [A, osA],
      [B, osB],
    ] as const) {
      const conf = engine().stanzaConfigFile(c.rec.stanza);
      expect(facts(conf)).toMatchObject({ kind: 'file', uid: 0, gid: os.gid, mode: '0640' });
      const inc = engine().backrest.includeDirOf(conf);
      if (existsSync(inc)) expect(facts(inc)).toMatchObject({ kind: 'dir', uid: 0, gid: os.gid, mode: '0750' });
      expect(facts(engine().lockFile(c.id))).toMatchObject({ kind: 'file', uid: 0, gid: 0 });
      expect(facts(sockDirOf(c, 1))).toMatchObject({ kind: 'dir', uid: os.uid, mode: '0700' });
    }
    expect(facts(join(t.dataDir, 'stanzas'))).toMatchObject({ kind: 'dir', uid: 0, mode: '0711' });
    expect(facts(join(t.dataDir, 'locks'))).toMatchObject({ kind: 'dir', uid: 0, mode: '0700' });
  });
});

describe('7. delete, with links planted in every directory B owns and a rewritten postmaster.pid', () => {
  let sleeper = 0;
  let gone: { status: number };
  const planted: string[] = [];

  beforeAll(async () => {
    sleeper = unrelatedProcess();
    const vd = victims.directory('delete-target');
    const vf = victims.file('delete-target-file');
    const targets: [string, string][] = [
      [join(dataDirOf(B, 1), 'planted-dir'), vd],
      [join(dataDirOf(B, 2), 'base', 'planted-dir'), vd],
      [join(dataDirOf(B, 1), 'planted-file'), vf],
      [join(sockDirOf(B, 1), 'planted-dir'), vd],
      [join(engine().settings.repoPath, B.rec.stanza, 'planted-dir'), vd],
      [join(engine().settings.repoPath, B.rec.stanza, 'backup', 'planted-dir'), vd],
      [join(t.dataDir, 'log', 'pgbackrest', B.rec.stanza, 'planted-file'), vf],
    ];
    for (const [p, target] of targets) {
      plantLink(osB, p, target);
      planted.push(p);
    }
    rewritePid(B, 3, sleeper);
    await bc.call('DELETE', `/v1.0/{project_id}/clusters/${B.id}`, { keep_last_manual_snapshot: 0 });
    gone = await waitFor(
      async () => {
        const r = await bc.request('GET', `/v1.0/{project_id}/clusters/${B.id}`);
        if (r.status === 404) return { status: 404 };
        const d = r.body as { cluster: { status: string; action_progress: Record<string, string> } };
        return Object.keys(d.cluster.action_progress).length === 0 && d.cluster.status !== 'DELETING' ? { status: r.status } : null;
      },
      { what: 'the delete', timeoutMs: 200_000 },
    );
  });

  it('removes the cluster and its files, the links with them, never what they point at', () => {
    expect(gone.status).toBe(404);
    for (const p of planted) expect({ p, kind: facts(p).kind }).toEqual({ p, kind: 'missing' });
    expect(existsSync(engine().clusterDir(B.id))).toBe(false);
    expect(victims.changed()).toEqual([]);
  });

  it('does not obey the rewritten postmaster.pid: the unrelated process survives, and no postmaster of the cluster is left', () => {
    expect(alive(sleeper)).toBe(true);
    expect(postmastersOf(B)).toEqual([]);
  });
});
