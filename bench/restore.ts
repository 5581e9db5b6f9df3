/**
 * Benchmark: both restore paths through the API against the raw tool sequence on the same
 * machine, from the same snapshot.
 *
 *   npx tsx bench/restore.ts [--mb 200] [--runs 3] [--only cluster|table|pitr] [--wal-mb 1024]
 *
 * Loads about --mb MB of random text (it does not compress away, postgres-ops §3) into a
 * database `bench` of a 3-node cluster, with a real fsync (D20), and takes a snapshot. Then,
 * alternating so drift on the machine hits both alike:
 * - restore into a new cluster: API = POST …/snapshots/{id}/actions until the new 3-node
 *   cluster is AVAILABLE (restore, recovery, its own stanza, two standbys, checks), polled
 *   every 50 ms as a client does; raw = the same work by hand, one tool after another:
 *   `pgbackrest restore --set … --type=immediate --target-action=promote --archive-mode=off`
 *   into an empty directory, start it and wait until it is promoted (the "primary only"
 *   figure, the raw side before issue 14), then for each of the two standbys `pg_basebackup
 *   -X stream -c fast -R -C -S <slot>` from it (the copy the API makes), its recovery
 *   settings of the restore removed, start it and wait until it streams and has replayed
 *   the primary's LSN read after its start (D5). The API's own restore + recover steps are
 *   shown beside raw too.
 * - table restore of the large table: API = POST …/table-restore until the job is SUCCESS;
 *   raw = `pgbackrest restore --db-include=bench` into a temporary directory, start it on a
 *   unix socket, rename the table (and its primary key) there, `pg_dump -Fc -Z 1 -t | pg_restore`
 *   into the cluster's primary, stop and remove the temporary instance.
 * - point-in-time restore (issue 20; only with `--only pitr`, so the default run is the one
 *   above): after the snapshot a write load (INSERT batches into a table `ledger`, UPDATE
 *   batches of `events`, a DELETE of old ledger rows now and then, each statement its own
 *   transaction) until `pg_current_wal_lsn()` moved --wal-mb MB, the WAL volume standing in for
 *   "an hour of WAL" after a backup (waiting an hour is not a benchmark); a restore time T read
 *   just after its last commit. API = POST …/snapshots/{id}/actions with `restore_point:
 *   {restore_time: T}` until the new 3-node cluster is AVAILABLE; raw = the source's WAL
 *   archived by hand (a commit, a restore point, a WAL switch, the segment awaited in
 *   pg_stat_archiver: the API's ARCHIVE_SOURCE_WAL), then the cluster restore's raw sequence
 *   above with `--type=time --target=<T>` instead of `--type=immediate`. Both report the WAL
 *   replayed past the backup's end (its stop LSN to the new timeline's fork, read from the
 *   history file) and its rate; every restored primary is checked to hold the load's last row.
 * After one warm-up run of each (not counted), prints each run, the medians, the ratios API/raw and the API's step medians. Removes
 * everything it made, also when it fails.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { findBinaries } from '../src/dataplane/binaries.js';
import { osIdentity, type OsUser } from '../src/dataplane/os-user.js';
import { lsnBytes } from '../src/domain/lsn.js';
import { ADMIN_PASSWORD, createAvailableCluster, startService, type TestService } from '../test/helpers/service.js';
import { killPostmastersUnder, processesUnder } from '../test/helpers/env.js';
import { stopTestAgent } from '../test/helpers/engine.js';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '200' },
    runs: { type: 'string', default: '3' },
    only: { type: 'string' },
    'wal-mb': { type: 'string', default: '1024' },
  },
});
const MB = Math.max(10, Number(values.mb));
const RUNS = Math.max(1, Number(values.runs));
if (values.only !== undefined && !['cluster', 'table', 'pitr'].includes(values.only))
  throw new Error('--only takes cluster, table or pitr');
// The point-in-time restore runs only when asked for: the default run stays the two restores of the snapshot.
const PITR = values.only === 'pitr';
const CLUSTER = values.only === undefined || values.only === 'cluster';
const TABLE = values.only === undefined || values.only === 'table';
const WAL_MB = Math.max(16, Number(values['wal-mb']));
const DB = 'bench';

const bins = findBinaries(null);
const id = osIdentity();
/**
 * The OS user the raw tools run as: the source cluster's project user (D32: its stanza's
 * config and repository are that user's), set once the cluster exists; as root, `postgres` before.
 */
let pgUser: OsUser = id.postgres;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number): string => (ms / 1000).toFixed(2);
const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);
/** A rate in MB/s, or n/a. */
const rate = (bytes: number | null, ms: number | null): string =>
  bytes === null || !ms ? 'n/a' : `${((bytes * 1000) / ms / 1e6).toFixed(1)} MB/s`;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ------------------------------------------------------------------ helpers

async function adminSql<R = unknown>(endpoint: string, text: string, database = DB): Promise<R[]> {
  const [host, port] = endpoint.split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database });
  await c.connect();
  try {
    return (await c.query(text)).rows as R[];
  } finally {
    await c.end();
  }
}

async function socketQuery<R>(sock: string, port: number, database: string, text: string): Promise<R[]> {
  const c = new pg.Client({ host: sock, port, user: 'postgres', database, connectionTimeoutMillis: 2000 });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query(text)).rows as R[];
  } finally {
    await c.end().catch(() => {});
  }
}

/** argv for a tool run as the postgres OS user (setpriv as root), never through a shell. */
function asPg(cmd: string, args: string[]): { cmd: string; args: string[]; env: Record<string, string> } {
  const env = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: pgUser.home,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TZ: 'UTC',
  };
  if (!id.runAsPostgres) return { cmd, args, env };
  return { cmd: 'setpriv', args: [`--reuid=${pgUser.uid}`, `--regid=${pgUser.gid}`, '--clear-groups', '--', cmd, ...args], env };
}

/** Run a tool as the postgres OS user; its standard output. */
function run(cmd: string, args: string[]): string {
  const w = asPg(cmd, args);
  const r = spawnSync(w.cmd, w.args, { env: w.env, encoding: 'utf8', cwd: '/', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

function mkdirPg(p: string, mode = 0o700): void {
  mkdirSync(p, { recursive: true, mode });
  chmodSync(p, mode);
  if (id.runAsPostgres) chownSync(p, pgUser.uid, pgUser.gid);
}

function exited(c: ChildProcess, what: string): Promise<void> {
  let err = '';
  c.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-2000);
  });
  return new Promise((resolve, reject) =>
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${what} exited ${code}: ${err}`)))),
  );
}

/** A restored copy started on a unix socket only, archiving off (what a temporary instance is). */
interface RawInstance {
  dir: string;
  data: string;
  sock: string;
  port: number;
  pid?: number;
}

/**
 * Start a raw copy and wait until it is promoted (or, a standby, until it accepts connections).
 * Returns when it was first seen accepting connections in recovery (a restored copy does once it
 * is consistent, at the backup's end: from then on it replays the WAL after the backup), null if never.
 */
async function startInstance(n: RawInstance, standby = false): Promise<{ inRecoveryAt: number | null }> {
  const w = asPg(join(bins.binDir, 'postgres'), [
    '-D',
    n.data,
    '-c',
    'listen_addresses=',
    '-c',
    `port=${n.port}`,
    '-c',
    `unix_socket_directories=${n.sock}`,
    '-c',
    'archive_mode=off',
    // A Patroni member's postgresql.conf names the cluster's synchronous standby (a commit in the
    // copy would wait for it forever) and its own access files by absolute path; the copy uses its own.
    '-c',
    'synchronous_standby_names=',
    '-c',
    `hba_file=${join(n.data, 'pg_hba.conf')}`,
    '-c',
    `ident_file=${join(n.data, 'pg_ident.conf')}`,
  ]);
  const log = join(n.dir, 'postgres.log');
  writeFileSync(log, '');
  if (id.runAsPostgres) chownSync(log, pgUser.uid, pgUser.gid);
  const fd = openSync(log, 'a');
  try {
    const c = spawn(w.cmd, w.args, { env: w.env, detached: true, stdio: ['ignore', fd, fd], cwd: '/' });
    c.on('error', () => {});
    c.unref();
    n.pid = c.pid!;
  } finally {
    closeSync(fd);
  }
  const deadline = Date.now() + 600_000;
  let inRecoveryAt: number | null = null;
  for (;;) {
    try {
      const r = await socketQuery<{ rec: boolean }>(n.sock, n.port, 'postgres', 'select pg_is_in_recovery() as rec');
      if (r[0]!.rec) inRecoveryAt ??= Date.now();
      if (standby || !r[0]!.rec) return { inRecoveryAt };
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`instance ${n.data} not ready: ${(e as Error).message}`, { cause: e });
    }
    await sleep(20);
  }
}

async function stopInstance(n: RawInstance): Promise<void> {
  if (!n.pid) return;
  try {
    process.kill(n.pid, 'SIGINT');
  } catch {
    return;
  }
  for (let i = 0; i < 1500; i++) {
    try {
      process.kill(n.pid, 0);
    } catch {
      return;
    }
    await sleep(20);
  }
}

interface Source {
  stanza: string;
  conf: string;
  label: string;
  primarySock: string;
  primaryPort: number;
}

/**
 * pgbackrest restore with the engine's flags (D4), into a new directory; to a point in time
 * (epoch ms) `--type=time --target=<ISO 8601 with +00:00>` (as src/dataplane/pg-restore.ts writes it).
 */
function pgbackrestRestore(src: Source, data: string, o: { dbInclude?: string; targetTime?: number } = {}): void {
  const { dbInclude, targetTime } = o;
  run(bins.pgbackrest, [
    `--config=${src.conf}`,
    `--stanza=${src.stanza}`,
    `--set=${src.label}`,
    ...(targetTime === undefined
      ? ['--type=immediate']
      : ['--type=time', `--target=${new Date(targetTime).toISOString().replace('Z', '+00:00')}`]),
    '--target-action=promote',
    '--archive-mode=off',
    `--pg1-path=${data}`,
    ...(dbInclude ? [`--db-include=${dbInclude}`] : []),
    'restore',
  ]);
}

// ------------------------------------------------------------------ the four measurements

interface Timed {
  ms: number;
  steps: Record<string, number>;
}

/** A point-in-time restore's target: the time, the backup's stop LSN, and the load's last row (what the restored copy must hold). */
interface PitrTarget {
  time: number;
  stopLsn: string;
  lastId: string;
}

/** The replay of a point-in-time restore. */
interface Replay {
  /** the new timeline's fork (the end of the WAL replayed, from its history file) */
  fork: string | null;
  /** the WAL replayed past the backup's end: from its stop LSN to the fork */
  bytes: number | null;
  /** the whole recovery: the API's RECOVER_PRIMARY step; raw, the start until promoted */
  recoverMs: number;
  /** from the copy first seen in recovery (consistent, at the backup's end) to promoted (the API: to its last sample in recovery) */
  replayMs: number | null;
  /** the API step's own progressInfo figures */
  reported?: { replayedBytes: number | null; bytesPerSecond: number | null; replayTime: string | null };
  /** the restored primary holds the load's last row and nothing after it (a message when not) */
  check: string;
}

/**
 * The fork of a promoted copy's newest timeline, from its history file in pg_wal (the last line:
 * parent timeline, switch point, reason): where its replay of the old timeline ended.
 */
function forkPoint(dataDir: string): string | null {
  const wal = join(dataDir, 'pg_wal');
  if (!existsSync(wal)) return null;
  const h = readdirSync(wal)
    .filter((f) => /^[0-9A-F]{8}\.history$/.test(f))
    .sort()
    .at(-1);
  if (!h) return null;
  const last = readFileSync(join(wal, h), 'utf8')
    .split('\n')
    .filter((l) => /^\d+\t/.test(l))
    .at(-1);
  return last?.split('\t')[1] ?? null;
}

const walBetween = (from: string, to: string | null): number | null => (to === null ? null : Number(lsnBytes(to) - lsnBytes(from)));

/** What the restored copy's `ledger` holds against the load's last row: 'ok' when it ends exactly there. */
function checkLastRow(got: { m: string | null } | undefined, lastId: string): string {
  return got?.m === lastId ? 'ok' : `ledger ends at ${got?.m ?? 'nothing'}, the load's last row is ${lastId}`;
}

async function apiClusterRestore(t: TestService, snapId: string, i: number, pitr?: PitrTarget): Promise<Timed & { replay?: Replay }> {
  const started = Date.now();
  const cid = (
    await t.client.call<{ cluster: { id: string } }>('POST', `/v1.0/{project_id}/snapshots/${snapId}/actions`, {
      restore: pitr ? { name: `bench-pitr-${i}`, restore_point: { restore_time: pitr.time } } : { name: `bench-restore-${i}` },
    })
  ).cluster.id;
  let endpoint = '';
  for (;;) {
    const c = (
      await t.client.call<{ cluster: { status: string; failed_reasons: unknown; endpoints?: { connect_info: string }[] } }>(
        'GET',
        `/v1.0/{project_id}/clusters/${cid}`,
      )
    ).cluster;
    if (c.status === 'AVAILABLE') {
      endpoint = c.endpoints?.[0]?.connect_info ?? '';
      break;
    }
    if (c.status !== 'CREATING') throw new Error(`restore ended ${c.status}: ${JSON.stringify(c.failed_reasons)}`);
    await sleep(50);
  }
  const ms = Date.now() - started;
  const task = (await t.svc.store.listTasks(cid, { kinds: ['cluster.restore'], limit: 1 }))[0]!;
  const runSteps = (await t.svc.store.listSteps(task.id)).filter((s) => s.phase === 'run');
  const steps = Object.fromEntries(runSteps.map((s) => [s.stepId, (s.endAt ?? 0) - (s.beginAt ?? 0)]));
  // Where the recovery step's time goes: when each of its phases first showed in its samples, from the step's start.
  const recover = runSteps.find((s) => s.stepId === 'RECOVER_PRIMARY');
  for (const x of await t.svc.store.listSamples(task.id, 'RECOVER_PRIMARY')) {
    const phase = typeof x.data['phase'] === 'string' ? x.data['phase'] : x.data['inRecovery'] === true ? 'replay' : null;
    const key = `RECOVER_PRIMARY: ${phase} seen`;
    if (phase && recover?.beginAt && steps[key] === undefined) steps[key] = x.at - recover.beginAt;
  }
  // And the standbys' (when each standby's phase first showed), for a task that builds them in one step.
  const build = runSteps.find((s) => s.stepId === 'BUILD_STANDBYS');
  for (const x of build ? await t.svc.store.listSamples(task.id, 'BUILD_STANDBYS') : []) {
    const key = `BUILD_STANDBYS: node ${String(x.data['node'])} ${String(x.data['phase'])} seen`;
    if (x.data['phase'] && build?.beginAt && steps[key] === undefined) steps[key] = x.at - build.beginAt;
  }
  let replay: Replay | undefined;
  if (pitr) {
    // The replay: the step's own figures (its progressInfo), the fork from the primary's history
    // file, and the replay's time from the samples: the first and the last in recovery (a sample
    // comes only when the replayed position moved, about every 100 ms: none shows the promotion
    // itself, since pg_last_wal_replay_lsn() keeps its last value after it).
    const action = await t.client.call<{ items: { sub_items: { step: string; detail: string }[] }[] }>(
      'GET',
      `/v1/{project_id}/clusters/${cid}/actions/RESTORING`,
    );
    const sub = action.items.flatMap((x) => x.sub_items).find((x) => x.step === 'RECOVER_PRIMARY');
    const info = sub ? (JSON.parse((JSON.parse(sub.detail) as { progressInfo: string }).progressInfo) as Record<string, unknown>) : {};
    const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
    const samples = await t.svc.store.listSamples(task.id, 'RECOVER_PRIMARY');
    const inRec = samples.find((x) => x.data['inRecovery'] === true)?.at;
    const promoted = samples.findLast((x) => x.data['inRecovery'] === true)?.at;
    const node = (await t.svc.store.listNodes(cid)).find((x) => x.role === 'primary')!;
    const fork = forkPoint(node.dataDir);
    let check: string;
    try {
      check = checkLastRow((await adminSql<{ m: string | null }>(endpoint, 'select max(id)::text as m from ledger'))[0], pitr.lastId);
    } catch (e) {
      check = `not checked: ${(e as Error).message}`;
    }
    replay = {
      fork,
      bytes: walBetween(pitr.stopLsn, fork),
      recoverMs: steps['RECOVER_PRIMARY'] ?? 0,
      replayMs: inRec !== undefined && promoted !== undefined ? promoted - inRec : null,
      reported: {
        replayedBytes: num(info['replayedBytes']),
        bytesPerSecond: num(info['bytesPerSecond']),
        replayTime: typeof info['replayTime'] === 'string' ? info['replayTime'] : null,
      },
      check,
    };
  }
  await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${cid}`, { keep_last_manual_snapshot: 0 });
  while ((await t.client.request('GET', `/v1.0/{project_id}/clusters/${cid}`)).status !== 404) await sleep(100);
  return { ms, steps, ...(replay ? { replay } : {}) };
}

/** A raw instance's directories, made for the postgres OS user. */
function rawInstance(root: string, prefix: string, port: number): RawInstance {
  const dir = mkdtempSync(join(root, prefix));
  chmodSync(dir, 0o711);
  const n: RawInstance = { dir, data: join(dir, 'data'), sock: join(dir, 's'), port };
  mkdirPg(n.sock);
  mkdirPg(n.data);
  return n;
}

/** Rewrite a file of a raw copy (as root, then given back to the postgres user). */
function rewritePg(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  if (id.runAsPostgres) chownSync(file, pgUser.uid, pgUser.gid);
}

/**
 * A standby by hand: `pg_basebackup` from the raw primary over its socket with the flags the
 * API uses (D5), the restore's recovery settings that the copy brought along removed (a
 * standby with recovery_target=immediate would promote itself), started, and waited for until
 * the primary sees it streaming and replayed up to the primary's LSN read after its start.
 */
async function rawStandby(root: string, primary: RawInstance, ordinal: number, steps: Record<string, number>): Promise<RawInstance> {
  const n = rawInstance(root, `standby${ordinal}-`, primary.port + ordinal);
  let lap = Date.now();
  run(join(bins.binDir, 'pg_basebackup'), [
    '-d',
    `host=${primary.sock} port=${primary.port} user=postgres application_name=node${ordinal}`,
    '-D',
    n.data,
    '-X',
    'stream',
    '-c',
    'fast',
    '-R',
    '-C',
    '-S',
    `raw_node${ordinal}`,
  ]);
  const auto = join(n.data, 'postgresql.auto.conf');
  rewritePg(
    auto,
    readFileSync(auto, 'utf8')
      .split('\n')
      .filter((l) => !/^\s*(restore_command|archive_mode|recovery_target\w*)\s*=/.test(l))
      .join('\n'),
  );
  steps[`standby ${ordinal} pg_basebackup`] = Date.now() - lap;
  lap = Date.now();
  await startInstance(n, true);
  const [row] = await socketQuery<{ lsn: string }>(primary.sock, primary.port, 'postgres', 'select pg_current_wal_lsn()::text as lsn');
  const deadline = Date.now() + 600_000;
  for (;;) {
    const r = await socketQuery<{ ok: boolean }>(
      primary.sock,
      primary.port,
      'postgres',
      `select state = 'streaming' and replay_lsn >= '${row!.lsn}'::pg_lsn as ok from pg_stat_replication where application_name = 'node${ordinal}'`,
    );
    if (r[0]?.ok) break;
    if (Date.now() > deadline) throw new Error(`raw standby ${ordinal} does not stream`);
    await sleep(20);
  }
  steps[`standby ${ordinal} start until streaming`] = Date.now() - lap;
  return n;
}

/**
 * The source's WAL archived up to now by hand, as the API's ARCHIVE_SOURCE_WAL does it on the
 * source's primary: a commit (txid_current), a restore point and a WAL switch, then a wait until
 * pg_stat_archiver shows the switched segment (or a later one) archived. Returns the segment.
 */
async function archiveSourceWal(src: Source): Promise<string> {
  const q = <R>(text: string): Promise<R[]> => socketQuery<R>(src.primarySock, src.primaryPort, 'postgres', text);
  await q('select txid_current()');
  const [row] = await q<{ seg: string }>(
    "select pg_create_restore_point('bench archive') is not null as p, pg_walfile_name(pg_switch_wal()) as seg",
  );
  const deadline = Date.now() + 600_000;
  for (;;) {
    const [a] = await q<{ archived: string | null }>('select last_archived_wal as archived from pg_stat_archiver');
    if (a?.archived && a.archived.length === 24 && a.archived >= row!.seg) return row!.seg;
    if (Date.now() > deadline) throw new Error(`the source's segment ${row!.seg} not archived (last archived ${a?.archived ?? 'none'})`);
    await sleep(20);
  }
}

/**
 * The same work as the API's restore by hand, one tool after another: the primary restored,
 * started and promoted (`primary only`, the raw figure before issue 14), then each standby
 * copied with pg_basebackup, started and streaming. To a point in time (`pitr`): the source's
 * WAL archived first (archiveSourceWal), the restore `--type=time`, and the replay's figures.
 */
async function rawClusterRestore(root: string, src: Source, pitr?: PitrTarget): Promise<Timed & { primaryMs: number; replay?: Replay }> {
  const n = rawInstance(root, 'cluster-', 31000);
  const standbys: RawInstance[] = [];
  try {
    const started = Date.now();
    const steps: Record<string, number> = {};
    if (pitr) {
      await archiveSourceWal(src);
      steps['archive source WAL'] = Date.now() - started;
    }
    const restoring = Date.now();
    pgbackrestRestore(src, n.data, pitr ? { targetTime: pitr.time } : {});
    const restored = Date.now();
    // By hand, the primary needs one rule more for the standbys' copies over its socket.
    const hba = join(n.data, 'pg_hba.conf');
    rewritePg(hba, `local replication postgres peer map=dwsbox\n${readFileSync(hba, 'utf8')}`);
    const { inRecoveryAt } = await startInstance(n);
    const promotedAt = Date.now();
    const primaryMs = promotedAt - started;
    steps[pitr ? 'pgbackrest restore --type=time' : 'pgbackrest restore'] = restored - restoring;
    steps['start until promoted'] = promotedAt - restored;
    for (const ordinal of [2, 3]) standbys.push(await rawStandby(root, n, ordinal, steps));
    const ms = Date.now() - started;
    if (!pitr) return { ms, primaryMs, steps };
    const fork = forkPoint(n.data);
    const got = await socketQuery<{ m: string | null }>(n.sock, n.port, DB, 'select max(id)::text as m from ledger');
    const replay: Replay = {
      fork,
      bytes: walBetween(pitr.stopLsn, fork),
      recoverMs: promotedAt - restored,
      replayMs: inRecoveryAt === null ? null : promotedAt - inRecoveryAt,
      check: checkLastRow(got[0], pitr.lastId),
    };
    return { ms, primaryMs, steps, replay };
  } finally {
    for (const s of standbys.reverse()) await stopInstance(s);
    await stopInstance(n);
    for (const s of [...standbys, n]) rmSync(s.dir, { recursive: true, force: true });
  }
}

async function apiTableRestore(t: TestService, ep: string, snapId: string, i: number): Promise<Timed> {
  const target = `events_api_${i}`;
  const started = Date.now();
  const job = (
    await t.client.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${snapId}/table-restore`, {
      case_sensitive: true,
      database: DB,
      restore_table_list: [{ schema_name: 'public', table_name: 'events' }],
      target_table_list: [{ schema_name: 'public', table_name: target }],
    })
  ).job_id;
  for (;;) {
    const j = await t.client.call<{ status: string; failed_detail: string }>('GET', `/v1.0/{project_id}/job/${job}`);
    if (j.status === 'SUCCESS') break;
    if (j.status === 'FAIL') throw new Error(`table restore failed: ${j.failed_detail}`);
    await sleep(50);
  }
  const ms = Date.now() - started;
  const steps = Object.fromEntries(
    (await t.svc.store.listSteps(job)).filter((s) => s.phase === 'run').map((s) => [s.stepId, (s.endAt ?? 0) - (s.beginAt ?? 0)]),
  );
  await adminSql(ep, `drop table ${target}`);
  return { ms, steps };
}

async function rawTableRestore(root: string, src: Source, ep: string, i: number): Promise<Timed> {
  const target = `events_raw_${i}`;
  const dir = mkdtempSync(join(root, 'table-'));
  chmodSync(dir, 0o711);
  const n: RawInstance = { dir, data: join(dir, 'data'), sock: join(dir, 's'), port: 31001 };
  mkdirPg(n.sock);
  mkdirPg(n.data);
  const steps: Record<string, number> = {};
  let lap = Date.now();
  const mark = (s: string): void => {
    const now = Date.now();
    steps[s] = now - lap;
    lap = now;
  };
  const started = Date.now();
  try {
    pgbackrestRestore(src, n.data, { dbInclude: DB });
    mark('pgbackrest restore --db-include');
    await startInstance(n);
    mark('start until promoted');
    await socketQuery(n.sock, n.port, DB, `alter table events rename to ${target}; alter index events_pkey rename to ${target}_pkey`);
    const dump = asPg(join(bins.binDir, 'pg_dump'), [
      '-h',
      n.sock,
      '-p',
      String(n.port),
      '-U',
      'postgres',
      '-d',
      DB,
      '-Fc',
      '-Z',
      '1',
      '-t',
      `public.${target}`,
    ]);
    const load = asPg(join(bins.binDir, 'pg_restore'), ['-h', src.primarySock, '-p', String(src.primaryPort), '-U', 'postgres', '-d', DB]);
    const d = spawn(dump.cmd, dump.args, { env: dump.env, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    const r = spawn(load.cmd, load.args, { env: load.env, stdio: ['pipe', 'ignore', 'pipe'], cwd: '/' });
    d.stdout!.pipe(r.stdin!);
    await Promise.all([exited(d, 'pg_dump'), exited(r, 'pg_restore')]);
    mark('rename + pg_dump | pg_restore');
    await stopInstance(n);
    rmSync(dir, { recursive: true, force: true });
    mark('stop + remove');
    return { ms: Date.now() - started, steps };
  } finally {
    await stopInstance(n);
    rmSync(dir, { recursive: true, force: true });
    await adminSql(ep, `drop table if exists ${target}`);
  }
}

/**
 * A write load on the source after the snapshot until its WAL moved `targetBytes`: in turn an
 * INSERT of 2000 rows into `ledger` (primary key and an index on account), an UPDATE of 1000
 * rows of `events` (a moving window of keys), and every 25 rounds a DELETE of the ledger rows
 * more than 100,000 behind; each statement its own transaction, through the cluster's endpoint
 * as its administrator. `pg_current_wal_lsn()` is read after every round. Returns the WAL
 * written, the time, the transactions, the last ledger row, and T: the clock read just after
 * the last commit returned (the restore time: every commit of the load is at or before it).
 */
async function walLoad(
  endpoint: string,
  eventsRows: number,
  targetBytes: number,
): Promise<{ bytes: number; ms: number; txns: number; lastId: string; time: number }> {
  const [host, port] = endpoint.split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: DB });
  await c.connect();
  try {
    await c.query(
      'create table ledger (id bigserial primary key, account int not null, amount numeric(12,2) not null, note text not null, at timestamptz not null default now())',
    );
    await c.query('create index ledger_account on ledger (account)');
    const lsn = async (): Promise<bigint> => lsnBytes((await c.query<{ l: string }>('select pg_current_wal_lsn()::text as l')).rows[0]!.l);
    const from = await lsn();
    const started = Date.now();
    let txns = 0;
    let bytes = 0;
    let told = 0;
    for (let round = 0; bytes < targetBytes; round++) {
      await c.query(
        `insert into ledger (account, amount, note) select (random() * 10000)::int, round((random() * 1000)::numeric, 2), md5(random()::text) || md5(random()::text) from generate_series(1, 2000)`,
      );
      const k = ((round * 1000) % Math.max(1, eventsRows - 1000)) + 1;
      await c.query(
        `update events set payload = md5(random()::text) || md5(random()::text), ts = now() where id between ${k} and ${k + 999}`,
      );
      txns += 2;
      if (round % 25 === 24) {
        await c.query('delete from ledger where id < (select max(id) from ledger) - 100000');
        txns++;
      }
      bytes = Number((await lsn()) - from);
      if (bytes >= told + targetBytes / 4) {
        told = bytes;
        process.stdout.write(`  … ${mb(bytes)} MB of WAL in ${secs(Date.now() - started)} s\n`);
      }
    }
    const time = Date.now();
    const ms = time - started;
    const lastId = (await c.query<{ m: string }>('select max(id)::text as m from ledger')).rows[0]!.m;
    return { bytes, ms, txns, lastId, time };
  } finally {
    await c.end().catch(() => {});
  }
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const root = mkdtempSync('/tmp/dwsbox-bench-');
  chmodSync(root, 0o711);
  let t: TestService | null = null;
  try {
    t = await startService({ dataDir: join(root, 'svc'), flags: { unsafeNoFsync: false, logLevel: 'info' } });
    mkdirSync(join(root, 'raw'), { mode: 0o711 });
    chmodSync(join(root, 'raw'), 0o711);
    const c = await createAvailableCluster(t.client);
    if (id.runAsPostgres) pgUser = t.svc.dataPlane.projectUser((await t.svc.store.getClusterById(c.id))!.projectId);
    const ep = c.detail.endpoints[0]!.connect_info;
    const eventsRows = Math.round((MB * 0.8 * 1e6) / 140);
    const otherRows = Math.round((MB * 0.2 * 1e6) / 110);
    process.stdout.write(
      `dwsbox bench: restores; postgres ${bins.pgVersion}, pgbackrest ${bins.pgbackrestVersion}; fsync on; ${RUNS} run(s) each\n`,
    );
    process.stdout.write(
      `loading about ${MB} MB of random text into database ${DB} (events: ${eventsRows} rows, orders: ${otherRows} rows)…\n`,
    );
    await adminSql(ep, `create database ${DB}`, 'postgres');
    await adminSql(
      ep,
      `create table events as select g as id, now() - (g || ' s')::interval as ts, md5(random()::text) || md5(random()::text) as payload from generate_series(1, ${eventsRows}) g`,
    );
    await adminSql(ep, 'alter table events add primary key (id)');
    await adminSql(
      ep,
      `create table orders as select g as id, (random() * 1000)::int as customer, md5(random()::text) || md5(random()::text) as note from generate_series(1, ${otherRows}) g`,
    );
    await adminSql(ep, 'alter table orders add primary key (id)');
    await adminSql(ep, 'vacuum analyze');
    await adminSql(ep, 'checkpoint');
    const snapId = (
      await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
        snapshot: { name: 'bench-snap', cluster_id: c.id },
      })
    ).snapshot.id;
    for (;;) {
      const s = (await t.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${snapId}`)).snapshot;
      if (s.status === 'AVAILABLE') break;
      if (s.status !== 'CREATING') throw new Error(`snapshot ended ${s.status}`);
      await sleep(200);
    }
    const snap = (await t.svc.store.getSnapshotById(snapId))!;
    const primary = (await t.svc.store.listNodes(c.id)).find((x) => x.role === 'primary')!;
    const src: Source = {
      stanza: snap.stanza,
      conf: t.svc.dataPlane.stanzaConfigFile(snap.stanza),
      label: snap.backupLabel!,
      primarySock: t.svc.dataPlane.nodePaths(c.id, 1).sockDir,
      primaryPort: primary.port,
    };
    const events = snap.schemaInfo!.databases.find((d) => d.name === DB)!.tables.find((x) => x.name === 'events')!;
    process.stdout.write(
      `snapshot: databases ${(snap.sourceBytes! / 1e6).toFixed(1)} MB, repository ${(snap.sizeBytes! / 1e6).toFixed(1)} MB; table events ${(events.bytes / 1e6).toFixed(1)} MB, ${events.rows} rows\n`,
    );

    // The point-in-time restore's target: WAL written after the snapshot, T just after its last commit.
    let pitr: PitrTarget | null = null;
    if (PITR) {
      const info = JSON.parse(run(bins.pgbackrest, [`--config=${src.conf}`, `--stanza=${src.stanza}`, '--output=json', 'info'])) as {
        name: string;
        backup?: { label: string; lsn: { start: string; stop: string } }[];
      }[];
      const set = info.find((x) => x.name === src.stanza)?.backup?.find((b) => b.label === src.label);
      if (!set) throw new Error(`pgbackrest info does not show the snapshot's set ${src.label}`);
      process.stdout.write(
        `point-in-time restore: the snapshot's set ${src.label} (LSN ${set.lsn.start} to ${set.lsn.stop}); writing about ${WAL_MB} MB of WAL on the source (INSERT/UPDATE/DELETE batches, one transaction each)…\n`,
      );
      const load = await walLoad(ep, eventsRows, WAL_MB * 1e6);
      pitr = { time: load.time, stopLsn: set.lsn.stop, lastId: load.lastId };
      process.stdout.write(
        `load: ${mb(load.bytes)} MB of WAL in ${secs(load.ms)} s (${rate(load.bytes, load.ms)}), ${load.txns} transactions; restore time T = ${new Date(load.time).toISOString()}, just after its last commit (ledger row ${load.lastId})\n` +
          `  the volume stands in for "an hour of WAL" after a backup: ${mb(load.bytes)} MB an hour is a write rate of ${(load.bytes / 3600 / 1e3).toFixed(0)} kB/s sustained\n`,
      );
      // The source's archiver catches up with the load before the first run, so no run waits for it (reported, not counted).
      const lag = Date.now();
      const seg = await archiveSourceWal(src);
      process.stdout.write(
        `the source's WAL archived through ${seg} ${secs(Date.now() - load.time)} s after the last commit (the wait ${secs(Date.now() - lag)} s)\n`,
      );
    }

    // A warm-up of each, not counted: the first restores after the load run beside its
    // checkpoints and autovacuum, and read a cold page cache.
    process.stdout.write('warm-up run (not counted)…\n');
    if (CLUSTER) {
      await apiClusterRestore(t, snapId, 99);
      await rawClusterRestore(join(root, 'raw'), src);
    }
    if (TABLE) {
      await apiTableRestore(t, ep, snapId, 99);
      await rawTableRestore(join(root, 'raw'), src, ep, 99);
    }
    if (pitr) {
      await apiClusterRestore(t, snapId, 99, pitr);
      await rawClusterRestore(join(root, 'raw'), src, pitr);
    }
    const apiP: (Timed & { replay?: Replay })[] = [];
    const rawP: (Timed & { primaryMs: number; replay?: Replay })[] = [];
    const api: Timed[] = [];
    const raw: (Timed & { primaryMs: number })[] = [];
    const apiT: Timed[] = [];
    const rawT: Timed[] = [];
    for (let i = 0; i < RUNS; i++) {
      const said: string[] = [];
      if (CLUSTER) {
        api.push(await apiClusterRestore(t, snapId, i));
        raw.push(await rawClusterRestore(join(root, 'raw'), src));
        said.push(
          `cluster restore API ${secs(api[i]!.ms)} s, raw sequence ${secs(raw[i]!.ms)} s (primary only ${secs(raw[i]!.primaryMs)} s)`,
        );
      }
      if (TABLE) {
        apiT.push(await apiTableRestore(t, ep, snapId, i));
        rawT.push(await rawTableRestore(join(root, 'raw'), src, ep, i));
        said.push(`table restore API ${secs(apiT[i]!.ms)} s, raw ${secs(rawT[i]!.ms)} s`);
      }
      if (pitr) {
        const a = await apiClusterRestore(t, snapId, i, pitr);
        const r = await rawClusterRestore(join(root, 'raw'), src, pitr);
        apiP.push(a);
        rawP.push(r);
        said.push(
          `point-in-time restore API ${secs(a.ms)} s (RECOVER_PRIMARY ${secs(a.replay!.recoverMs)} s, ${mb(a.replay!.bytes ?? 0)} MB replayed to ${a.replay!.fork ?? '?'}, last row ${a.replay!.check}), ` +
            `raw sequence ${secs(r.ms)} s (primary only ${secs(r.primaryMs)} s, ${mb(r.replay!.bytes ?? 0)} MB replayed to ${r.replay!.fork ?? '?'}, last row ${r.replay!.check})`,
        );
      }
      process.stdout.write(`  run ${i + 1}: ${said.join('; ')}\n`);
    }
    const line = (what: string, ms: number[]): number => {
      const m = median(ms);
      process.stdout.write(`${what.padEnd(64)} median ${secs(m).padStart(7)} s  [${ms.map((x) => secs(x)).join(', ')}]\n`);
      return m;
    };
    const steps = (xs: Timed[]): string =>
      Object.keys(xs[0]!.steps)
        .map((k) => `${k} ${secs(median(xs.map((r) => r.steps[k] ?? 0)))}`)
        .join(', ');
    if (CLUSTER) {
      process.stdout.write('\nrestore into a new cluster\n');
      const a = line(
        'API: POST …/actions → 3-node cluster AVAILABLE',
        api.map((r) => r.ms),
      );
      const b = line(
        'raw sequence: primary restore + start, 2 × (pg_basebackup + start)',
        raw.map((r) => r.ms),
      );
      const p = line(
        'raw primary only: pgbackrest restore + start until promoted',
        raw.map((r) => r.primaryMs),
      );
      const core = median(api.map((r) => (r.steps['RESTORE_PRIMARY'] ?? 0) + (r.steps['RECOVER_PRIMARY'] ?? 0)));
      process.stdout.write(`${'API: its RESTORE_PRIMARY + RECOVER_PRIMARY steps'.padEnd(64)} median ${secs(core).padStart(7)} s\n`);
      process.stdout.write(
        `ratio API/raw sequence: ${(a / b).toFixed(2)}; API/raw primary only: ${(a / p).toFixed(2)}; restore+recover steps/raw primary only: ${(core / p).toFixed(2)}\n`,
      );
      process.stdout.write(`API steps (median s): ${steps(api)}\nraw steps (median s): ${steps(raw)}\n`);
    }
    if (TABLE) {
      process.stdout.write('\ntable restore of events\n');
      const at = line(
        'API: POST …/table-restore → job SUCCESS',
        apiT.map((r) => r.ms),
      );
      const bt = line(
        'raw: restore to temp + start + pg_dump | pg_restore + rm',
        rawT.map((r) => r.ms),
      );
      process.stdout.write(`ratio API/raw: ${(at / bt).toFixed(2)}\n`);
      process.stdout.write(`API steps (median s): ${steps(apiT)}\nraw steps (median s): ${steps(rawT)}\n`);
    }
    if (pitr) {
      const ra = apiP.map((r) => r.replay!);
      const rr = rawP.map((r) => r.replay!);
      const medianOf = (xs: (number | null | undefined)[]): number | null => {
        const v = xs.filter((x): x is number => typeof x === 'number');
        return v.length ? median(v) : null;
      };
      process.stdout.write(`\npoint-in-time restore to T, the set's end (${pitr.stopLsn}) + ${WAL_MB} MB of WAL written after it\n`);
      const a = line(
        'API: POST …/actions {restore_point} → 3-node cluster AVAILABLE',
        apiP.map((r) => r.ms),
      );
      const b = line(
        'raw sequence: archive, restore --type=time, start, 2 × standby',
        rawP.map((r) => r.ms),
      );
      const p = line(
        'raw primary only: archive, restore --type=time, start → promoted',
        rawP.map((r) => r.primaryMs),
      );
      line(
        'API: its RECOVER_PRIMARY step',
        ra.map((r) => r.recoverMs),
      );
      line(
        'raw: start until promoted',
        rr.map((r) => r.recoverMs),
      );
      const optional = (what: string, xs: (number | null)[]): void => {
        if (xs.every((x) => x !== null)) line(what, xs as number[]);
        else process.stdout.write(`${what.padEnd(64)} n/a [${xs.map((x) => (x === null ? 'n/a' : secs(x))).join(', ')}]\n`);
      };
      optional(
        'API: replay, first → last sample in recovery',
        ra.map((r) => r.replayMs),
      );
      optional(
        'raw: replay, first seen in recovery → promoted',
        rr.map((r) => r.replayMs),
      );
      const bytesA = medianOf(ra.map((r) => r.bytes));
      const bytesR = medianOf(rr.map((r) => r.bytes));
      process.stdout.write(
        `WAL replayed past the set's end (stop LSN → fork): API ${ra.map((r) => `${mb(r.bytes ?? 0)} MB to ${r.fork ?? '?'}`).join(', ')}; raw ${rr.map((r) => `${mb(r.bytes ?? 0)} MB to ${r.fork ?? '?'}`).join(', ')}\n`,
      );
      process.stdout.write(
        `API's own figures (RECOVER_PRIMARY progressInfo): replayedBytes ${ra.map((r) => (r.reported?.replayedBytes == null ? 'n/a' : `${mb(r.reported.replayedBytes)} MB`)).join(', ')}; ` +
          `bytesPerSecond ${ra.map((r) => (r.reported?.bytesPerSecond == null ? 'n/a' : `${mb(r.reported.bytesPerSecond)} MB/s`)).join(', ')}; replayTime ${ra.map((r) => r.reported?.replayTime ?? 'n/a').join(', ')}\n`,
      );
      process.stdout.write(
        `replay rate (median bytes / median time): API over RECOVER_PRIMARY ${rate(bytesA, median(ra.map((r) => r.recoverMs)))}, over its replay ${rate(bytesA, medianOf(ra.map((r) => r.replayMs)))}; ` +
          `raw over start until promoted ${rate(bytesR, median(rr.map((r) => r.recoverMs)))}, over its replay ${rate(bytesR, medianOf(rr.map((r) => r.replayMs)))}\n`,
      );
      process.stdout.write(`ratio API/raw sequence: ${(a / b).toFixed(2)}; API/raw primary only: ${(a / p).toFixed(2)}\n`);
      process.stdout.write(`API steps (median s): ${steps(apiP)}\nraw steps (median s): ${steps(rawP)}\n`);
      const bad = [...ra, ...rr].filter((r) => r.check !== 'ok');
      if (bad.length) process.stdout.write(`RESTORED CONTENT NOT AS EXPECTED: ${bad.map((r) => r.check).join('; ')}\n`);
    }
  } finally {
    await t?.stop().catch((e: unknown) => process.stderr.write(`stopping the service: ${(e as Error).message}\n`));
    // On the Patroni engine: the run's host agent, with its etcd.
    await stopTestAgent();
    await killPostmastersUnder(root);
    const left = processesUnder(root);
    rmSync(root, { recursive: true, force: true });
    if (left.length) process.stderr.write(`left behind: ${JSON.stringify(left)}\n`);
  }
}

await main();
