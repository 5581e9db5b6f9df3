/**
 * Benchmark: a snapshot through the API against a plain `pgbackrest backup` that replays the
 * exact command and flags the engine logged, on the same cluster, for a full and for a
 * differential.
 *
 *   npx tsx bench/snapshot.ts [--mb 200]
 *
 * Loads about --mb MB of random text (it does not compress away, postgres-ops §3) into a
 * 3-node cluster, with a real fsync (D20). API time: POST /v1.0/{project_id}/snapshots until
 * the snapshot is AVAILABLE, as a client sees it (so it includes the check, verify and record
 * steps), and the BACKUP step alone. Raw time: the logged pgbackrest command line, replayed
 * as postgres with a fresh annotation. Prints both and the ratios. Removes everything.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { isRoot, type OsUser } from '../src/dataplane/os-user.js';
import { ADMIN_PASSWORD, createAvailableCluster, PROJECT_ID, startService, type TestService } from '../test/helpers/service.js';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '200' } } });
const MB = Math.max(10, Number(values.mb));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number): string => (ms / 1000).toFixed(2);

async function sql(endpoint: string, text: string): Promise<void> {
  const [host, port] = endpoint.split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: 'postgres' });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

async function apiSnapshot(t: TestService, clusterId: string, name: string): Promise<{ total: number; backup: number; taskId: string }> {
  const started = Date.now();
  const id = (
    await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', { snapshot: { name, cluster_id: clusterId } })
  ).snapshot.id;
  for (;;) {
    const s = (await t.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${id}`)).snapshot;
    if (s.status === 'AVAILABLE') break;
    if (s.status !== 'CREATING') throw new Error(`snapshot ended ${s.status}`);
    await sleep(50);
  }
  const total = Date.now() - started;
  const snap = (await t.svc.store.getSnapshotById(id))!;
  const step = (await t.svc.store.getStep(snap.taskId!, 'BACKUP'))!;
  return { total, backup: step.endAt! - step.beginAt!, taskId: snap.taskId! };
}

/** The last `pgbackrest … backup` command line the engine logged (tool started, args). */
function loggedBackupArgs(logFile: string): string[] {
  const lines = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"tool started"') && l.includes('"pgbackrest backup"'));
  const last = lines.at(-1);
  if (!last) throw new Error('no pgbackrest backup command in the service log');
  return (JSON.parse(last) as { args: string[] }).args;
}

/** Replay a backup command line as the stanza's own OS user (its project's, D32), as the engine ran it. */
function replay(args: string[], annotation: string, os: OsUser): number {
  const argv = args.map((a) => (a.startsWith('--annotation=snapshot_id=') ? `--annotation=snapshot_id=${annotation}` : a));
  const pre = isRoot() ? ['setpriv', `--reuid=${os.uid}`, `--regid=${os.gid}`, '--clear-groups', '--'] : [];
  const started = Date.now();
  const r = spawnSync(pre[0] ?? 'pgbackrest', [...pre.slice(1), ...(pre.length ? ['pgbackrest'] : []), ...argv], {
    env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent', TZ: 'UTC', LANG: 'C.UTF-8' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  if (r.status !== 0) throw new Error(`replayed backup failed: ${r.stderr.toString().slice(-500)}`);
  return Date.now() - started;
}

const t = await startService({ flags: { unsafeNoFsync: false, logLevel: 'debug' } });
try {
  const c = await createAvailableCluster(t.client);
  const ep = c.detail.endpoints[0]!.connect_info;
  const rows = Math.round((MB * 1e6) / 140);
  process.stdout.write(`loading about ${MB} MB (${rows} rows of random text)…\n`);
  await sql(
    ep,
    `create table events as select g as id, now() - (g || ' s')::interval as ts, md5(random()::text) || md5(random()::text) as payload from generate_series(1, ${rows}) g`,
  );
  await sql(ep, 'alter table events add primary key (id)');
  await sql(ep, `create table small_cfg as select g as k, 'v' || g as v from generate_series(1, 100) g`);
  await sql(ep, 'vacuum (freeze, analyze)');
  await sql(ep, 'checkpoint');

  const fullApi = await apiSnapshot(t, c.id, 'bench-full');
  const fullArgs = loggedBackupArgs(t.logFile);
  const fullRaw = replay(fullArgs, 'bench-raw-full', t.svc.dataPlane.projectUser(PROJECT_ID));

  await sql(ep, `update small_cfg set v = v || 'x' where k < 10`);
  await sql(ep, 'checkpoint');
  const diffApi = await apiSnapshot(t, c.id, 'bench-diff');
  const diffArgs = loggedBackupArgs(t.logFile);
  await sql(ep, `update small_cfg set v = v || 'y' where k < 10`);
  await sql(ep, 'checkpoint');
  const diffRaw = replay(diffArgs, 'bench-raw-diff', t.svc.dataPlane.projectUser(PROJECT_ID));

  const row = (name: string, api: { total: number; backup: number }, raw: number): string =>
    `${name.padEnd(14)} API ${secs(api.total).padStart(7)} s (backup step ${secs(api.backup)} s)   raw pgbackrest ${secs(raw).padStart(7)} s   ratio API/raw ${(api.total / raw).toFixed(2)} (backup step/raw ${(api.backup / raw).toFixed(2)})`;
  process.stdout.write(`\nsnapshot of ~${MB} MB, 3-node cluster, same machine\n`);
  process.stdout.write(`${row('full', fullApi, fullRaw)}\n${row('differential', diffApi, diffRaw)}\n`);
  process.stdout.write(`replayed: pgbackrest ${fullArgs.join(' ')}\n`);
} finally {
  await t.stop();
}
