/**
 * Benchmark: creating a 3-node cluster through the API, against the same work done by hand
 * with the binaries on the same machine.
 *
 *   npx tsx bench/cluster-create.ts [--runs N]     (default 3 runs of each)
 *
 * API: POST /v1.0/{project_id}/clusters, then GET every 50 ms until the cluster is AVAILABLE
 * (wall clock, as a client sees it), with a real fsync (D20: fsync=off never in benchmarks).
 * Two services: one with the initdb pool (its default size), whose pool is let fill before
 * every timed run of any kind (so its background initdb never overlaps a timed run; the wait
 * is printed), and one with `initdbPool: 0`, where the create runs initdb itself (an empty
 * pool: the create's worst case).
 * Raw: initdb, write the same settings, start the primary, pgBackRest stanza-create and
 * check (archiving on, as the API does, D3), then for each of two standbys
 * pg_basebackup -X stream -c fast -R -C -S <slot>, start it and wait until it streams.
 * Runs alternate (API, API with an empty pool, raw, …) so drift on the machine hits all alike.
 * With DWSBOX_TEST_ENGINE=patroni the service creates Patroni clusters (issue 15): Patroni runs
 * initdb itself and has no pool, so there is one service, not let wait for any pool.
 * Prints each run, the medians, the ratio API/raw (of the medians, and of the best runs, which
 * a busy machine disturbs least), and the median duration of each step.
 * Removes everything it made, also when it fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { findBinaries } from '../src/dataplane/binaries.js';
import { osIdentity } from '../src/dataplane/os-user.js';
import { findNodeType } from '../src/domain/node-types.js';
import { ADMIN_PASSWORD, SUBNET, VPC, startService, type TestService } from '../test/helpers/service.js';
import { freePort, killPostmastersUnder, processesUnder } from '../test/helpers/env.js';
import { stopTestAgent, testEngine } from '../test/helpers/engine.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const RUNS = Math.max(1, Number(values.runs));
const NODE_TYPE = 'dwsx.small';

const bins = findBinaries(null);
const id = osIdentity();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const secs = (ms: number): string => (ms / 1000).toFixed(2);

// ------------------------------------------------------------------ API

interface StepTiming {
  step: string;
  ms: number;
}

/** Wait until the pooled service's initdb pool is full; returns the seconds waited. */
async function poolFull(t: TestService): Promise<number> {
  const started = Date.now();
  const size = t.svc.config.initdbPool;
  while (t.svc.dataPlane.pool.ready(NODE_TYPE).length < size) {
    if (Date.now() - started > 300_000) throw new Error('the initdb pool did not fill in 300 s');
    await sleep(100);
  }
  return (Date.now() - started) / 1000;
}

async function apiRun(t: TestService): Promise<{ ms: number; steps: StepTiming[] }> {
  const port = await freePort();
  const started = Date.now();
  const r = await t.client.call<{ cluster: { id: string } }>('POST', '/v1.0/{project_id}/clusters', {
    cluster: {
      name: `bench-${Math.random().toString(36).slice(2, 8)}`,
      node_type: NODE_TYPE,
      number_of_node: 3,
      subnet_id: SUBNET,
      vpc_id: VPC,
      user_name: 'dbadmin',
      user_pwd: ADMIN_PASSWORD,
      port,
    },
  });
  const cid = r.cluster.id;
  for (;;) {
    const c = (await t.client.call<{ cluster: { status: string; failed_reasons: unknown } }>('GET', `/v1.0/{project_id}/clusters/${cid}`))
      .cluster;
    if (c.status === 'AVAILABLE') break;
    if (c.status !== 'CREATING') throw new Error(`create ended ${c.status}: ${JSON.stringify(c.failed_reasons)}`);
    await sleep(50);
  }
  const ms = Date.now() - started;
  const task = (await t.svc.store.listTasks(cid, { limit: 5 })).find((x) => x.kind === 'cluster.create')!;
  const steps = (await t.svc.store.listSteps(task.id))
    .filter((s) => s.phase === 'run')
    .map((s) => ({ step: s.stepId, ms: (s.endAt ?? 0) - (s.beginAt ?? 0) }));
  await t.client.call('DELETE', `/v1.0/{project_id}/clusters/${cid}`, { keep_last_manual_snapshot: 0 });
  while ((await t.client.request('GET', `/v1.0/{project_id}/clusters/${cid}`)).status !== 404) await sleep(100);
  return { ms, steps };
}

// ------------------------------------------------------------------ raw binaries

/** Run a tool as the postgres OS user (setpriv as root: initdb refuses root), no shell. */
function asPg(cmd: string, args: string[], env: Record<string, string> = {}): { cmd: string; args: string[]; env: Record<string, string> } {
  const e = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: id.postgres.home,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TZ: 'UTC',
    ...env,
  };
  if (!id.runAsPostgres) return { cmd, args, env: e };
  return {
    cmd: 'setpriv',
    args: [`--reuid=${id.postgres.uid}`, `--regid=${id.postgres.gid}`, '--init-groups', '--', cmd, ...args],
    env: e,
  };
}

function run(cmd: string, args: string[], env?: Record<string, string>): void {
  const w = asPg(cmd, args, env);
  const r = spawnSync(w.cmd, w.args, { env: w.env, encoding: 'utf8', cwd: '/' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
}

function mkdirPg(p: string, mode = 0o700): void {
  mkdirSync(p, { recursive: true, mode });
  chmodSync(p, mode);
  if (id.runAsPostgres) chownSync(p, id.postgres.uid, id.postgres.gid);
}

function writePg(p: string, text: string): void {
  writeFileSync(p, text, { mode: 0o600 });
  if (id.runAsPostgres) chownSync(p, id.postgres.uid, id.postgres.gid);
}

interface RawNode {
  dir: string;
  data: string;
  sock: string;
  port: number;
  log: string;
  pid?: number;
}

function startPostmaster(n: RawNode): void {
  const w = asPg(join(bins.binDir, 'postgres'), ['-D', n.data]);
  const fd = openSync(n.log, 'a');
  try {
    const c = spawn(w.cmd, w.args, { env: w.env, detached: true, stdio: ['ignore', fd, fd], cwd: '/' });
    c.on('error', () => {});
    c.unref();
    n.pid = c.pid!;
  } finally {
    closeSync(fd);
  }
}

async function query<R>(n: RawNode, sql: string): Promise<R[]> {
  const c = new pg.Client({ host: n.sock, port: n.port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2000 });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query(sql)).rows as R[];
  } finally {
    await c.end().catch(() => {});
  }
}

async function waitReady(n: RawNode): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await query(n, 'select 1');
      return;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`node on port ${n.port} not ready: ${(e as Error).message}`, { cause: e });
      await sleep(20);
    }
  }
}

async function stopPostmaster(n: RawNode): Promise<void> {
  if (!n.pid) return;
  try {
    process.kill(n.pid, 'SIGINT');
  } catch {
    return;
  }
  for (let i = 0; i < 500; i++) {
    try {
      process.kill(n.pid, 0);
    } catch {
      return;
    }
    await sleep(20);
  }
}

function nodeConf(n: RawNode): string {
  return `listen_addresses = '127.0.0.1'\nport = ${n.port}\nunix_socket_directories = '${n.sock}'\n`;
}

async function rawRun(root: string): Promise<{ ms: number; steps: StepTiming[] }> {
  const dir = mkdtempSync(join(root, 'raw-'));
  chmodSync(dir, 0o711);
  const repo = join(dir, 'repo');
  for (const d of [repo, join(dir, 'pgbr-log'), join(dir, 'pgbr-lock'), join(dir, 'pgbr-spool')]) mkdirPg(d, 0o750);
  const nodes: RawNode[] = [];
  for (let i = 1; i <= 3; i++) {
    const nd = join(dir, `node${i}`);
    mkdirPg(nd, 0o750);
    const n: RawNode = { dir: nd, data: join(nd, 'data'), sock: join(nd, 'sock'), port: await freePort(), log: join(nd, 'postgres.log') };
    mkdirPg(n.sock);
    writePg(n.log, '');
    nodes.push(n);
  }
  const [p, ...standbys] = nodes as [RawNode, RawNode, RawNode];
  const conf = join(dir, 'pgbackrest.conf');
  const stanza = 'raw';
  const steps: StepTiming[] = [];
  let t = Date.now();
  const lap = (step: string): void => {
    const now = Date.now();
    steps.push({ step, ms: now - t });
    t = now;
  };
  const started = Date.now();
  try {
    mkdirPg(p.data);
    run(join(bins.binDir, 'initdb'), [
      '-D',
      p.data,
      '-U',
      'postgres',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '--no-instructions',
    ]);
    writePg(
      conf,
      [
        '[global]',
        `repo1-path=${repo}`,
        'repo1-retention-full=9999999',
        'expire-auto=n',
        `log-path=${join(dir, 'pgbr-log')}`,
        `lock-path=${join(dir, 'pgbr-lock')}`,
        `spool-path=${join(dir, 'pgbr-spool')}`,
        'start-fast=y',
        'compress-type=zst',
        'compress-level=3',
        'process-max=2',
        'log-level-file=off',
        'log-level-console=warn',
        'archive-timeout=60',
        '',
        `[${stanza}]`,
        `pg1-path=${p.data}`,
        `pg1-port=${p.port}`,
        `pg1-socket-path=${p.sock}`,
        'pg1-user=postgres',
        '',
      ].join('\n'),
    );
    const settings: Record<string, string | number> = {
      ...findNodeType(NODE_TYPE)!.settings,
      wal_level: 'replica',
      max_wal_senders: 40,
      max_replication_slots: 40,
      hot_standby: 'on',
      wal_log_hints: 'on',
      hot_standby_feedback: 'on',
      archive_mode: 'on',
      archive_command: `${bins.pgbackrest} --config=${conf} --stanza=${stanza} archive-push %p`,
    };
    appendFileSync(
      join(p.data, 'postgresql.conf'),
      Object.entries(settings)
        .map(([k, v]) => `${k} = ${typeof v === 'number' ? v : `'${v}'`}`)
        .join('\n') +
        '\n' +
        nodeConf(p),
    );
    lap('initdb');
    startPostmaster(p);
    await waitReady(p);
    lap('start primary');
    run(bins.pgbackrest, [`--config=${conf}`, `--stanza=${stanza}`, 'stanza-create']);
    run(bins.pgbackrest, [`--config=${conf}`, `--stanza=${stanza}`, 'check']);
    lap('stanza-create + check');
    for (const [i, s] of standbys.entries()) {
      const ord = i + 2;
      run(join(bins.binDir, 'pg_basebackup'), [
        '-h',
        p.sock,
        '-p',
        String(p.port),
        '-U',
        'postgres',
        '-D',
        s.data,
        '-X',
        'stream',
        '-c',
        'fast',
        '-R',
        '-C',
        '-S',
        `raw_node${ord}`,
        `-d`,
        `application_name=node${ord}`,
      ]);
      // The copy carries the primary's address; this node gets its own before it starts.
      appendFileSync(join(s.data, 'postgresql.conf'), nodeConf(s));
      lap(`pg_basebackup node${ord}`);
      startPostmaster(s);
      await waitReady(s);
      for (;;) {
        const rows = await query<{ state: string }>(p, `select state from pg_stat_replication where application_name = 'node${ord}'`);
        if (rows[0]?.state === 'streaming') break;
        await sleep(20);
      }
      lap(`start node${ord} until streaming`);
    }
    return { ms: Date.now() - started, steps };
  } finally {
    for (const n of [...standbys].reverse()) await stopPostmaster(n);
    await stopPostmaster(p);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const root = mkdtempSync('/tmp/dwsbox-bench-');
  chmodSync(root, 0o711);
  let t: TestService | null = null;
  let empty: TestService | null = null;
  try {
    // The Patroni engine has no initdb pool (Patroni runs initdb): one service, nothing to wait for.
    const pooling = testEngine() === 'local';
    t = await startService({ dataDir: join(root, 'svc'), flags: { unsafeNoFsync: false, logLevel: 'info' } });
    if (pooling)
      empty = await startService({ dataDir: join(root, 'svc-empty'), flags: { unsafeNoFsync: false, logLevel: 'info', initdbPool: 0 } });
    mkdirSync(join(root, 'raw'), { mode: 0o711 });
    chmodSync(join(root, 'raw'), 0o711);
    process.stdout.write(
      `dwsbox bench: create a 3-node ${NODE_TYPE} cluster, ${RUNS} run(s) each; ${testEngine()} engine; postgres ${bins.pgVersion}, pgbackrest ${bins.pgbackrestVersion}; fsync on; ${pooling ? `initdb pool of ${t.svc.config.initdbPool} per node type, let fill before every timed run` : 'no initdb pool (Patroni runs initdb)'}\n`,
    );
    const pooled = t;
    const waits: number[] = [];
    const quiet = async (): Promise<void> => {
      if (pooling) waits.push(await poolFull(pooled));
    };
    // A warm-up of each, not counted (first-run page cache, tsx compile).
    await quiet();
    await apiRun(pooled);
    if (empty) {
      await quiet();
      await apiRun(empty);
    }
    await quiet();
    await rawRun(join(root, 'raw'));
    waits.length = 0;
    const api: { ms: number; steps: StepTiming[] }[] = [];
    const apiEmpty: { ms: number; steps: StepTiming[] }[] = [];
    const raw: { ms: number; steps: StepTiming[] }[] = [];
    for (let i = 0; i < RUNS; i++) {
      await quiet();
      api.push(await apiRun(pooled));
      if (empty) {
        await quiet();
        apiEmpty.push(await apiRun(empty));
      }
      await quiet();
      raw.push(await rawRun(join(root, 'raw')));
      const e = empty ? `, API with an empty pool ${secs(apiEmpty[i]!.ms)} s` : '';
      process.stdout.write(`  run ${i + 1}: API ${secs(api[i]!.ms)} s${e}, raw ${secs(raw[i]!.ms)} s\n`);
    }
    if (pooling)
      process.stdout.write(
        `waited for the pool to fill before each timed run: median ${median(waits).toFixed(1)} s, at most ${Math.max(...waits).toFixed(1)} s\n`,
      );
    const a = median(api.map((r) => r.ms));
    const b = median(raw.map((r) => r.ms));
    const best = (rs: { ms: number }[]): number => Math.min(...rs.map((r) => r.ms));
    const stepMedians = (rs: { steps: StepTiming[] }[]): string =>
      rs[0]!.steps.map((s) => `${s.step} ${secs(median(rs.map((r) => r.steps.find((x) => x.step === s.step)?.ms ?? 0)))}`).join(', ');
    process.stdout.write(`API (POST → AVAILABLE, polled every 50 ms): median ${secs(a)} s  [${api.map((r) => secs(r.ms)).join(', ')}]\n`);
    if (empty) {
      const e = median(apiEmpty.map((r) => r.ms));
      process.stdout.write(
        `API with an empty pool (initdb in the create): median ${secs(e)} s  [${apiEmpty.map((r) => secs(r.ms)).join(', ')}]\n`,
      );
      process.stdout.write(
        `ratio API with an empty pool/raw: ${(e / b).toFixed(2)} (of the medians); best runs ${secs(best(apiEmpty))} s / ${secs(best(raw))} s = ${(best(apiEmpty) / best(raw)).toFixed(2)}\n`,
      );
    }
    process.stdout.write(`raw binaries:                               median ${secs(b)} s  [${raw.map((r) => secs(r.ms)).join(', ')}]\n`);
    process.stdout.write(
      `ratio API/raw: ${(a / b).toFixed(2)} (of the medians); best runs ${secs(best(api))} s / ${secs(best(raw))} s = ${(best(api) / best(raw)).toFixed(2)}\n`,
    );
    process.stdout.write(`API steps (median s): ${stepMedians(api)}\n`);
    if (empty) process.stdout.write(`API steps, empty pool (median s): ${stepMedians(apiEmpty)}\n`);
    process.stdout.write(`raw steps (median s): ${stepMedians(raw)}\n`);
  } finally {
    await t?.stop().catch((e: unknown) => process.stderr.write(`stopping the service: ${(e as Error).message}\n`));
    await empty?.stop().catch((e: unknown) => process.stderr.write(`stopping the service: ${(e as Error).message}\n`));
    await stopTestAgent();
    await killPostmastersUnder(root);
    const left = processesUnder(root);
    rmSync(root, { recursive: true, force: true });
    if (left.length) process.stderr.write(`left behind: ${JSON.stringify(left)}\n`);
  }
}

await main();
