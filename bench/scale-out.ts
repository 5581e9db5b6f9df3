/**
 * Benchmark: adding standby nodes to a cluster through the API (scale-out, GROWING), against
 * the raw tool sequence for the same data on the same machine.
 *
 *   npx tsx bench/scale-out.ts [--runs N] [--nodes K] [--mb M] [--poll-ms P]    (default 3 runs, 2 nodes, 150 MB, 50 ms)
 *
 * Set-up: a 3-node dwsx.small cluster through the API, loaded with about M MB of table data,
 * with a real fsync (D20: unsafeNoFsync is false here, as in every benchmark).
 * API: POST …/resize {"scale_out": {"count": K}}, then GET the cluster every P ms until
 * task_status is empty and number_of_node grew by K (wall clock, as a client sees it); then a
 * scale-in puts the cluster back (not timed).
 * Raw: for each of K nodes, from the same primary: pg_basebackup -X stream -c fast -R -C -S
 * <slot>, give the copy its own address, start it, wait until the primary sees it streaming;
 * then stop them, drop their slots and remove them (not timed).
 * Runs alternate (API, raw, API, raw, …) so drift on the machine hits both alike, each after a
 * `sync` and a 2 s pause (so neither pays for the other's clean-up writeback). Prints each
 * run, the medians, the ratio API/raw, the API's time outside its steps, and the median
 * duration of each API step. Every process goes through src/engine (pg-exec); no shell.
 * Removes everything it made.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Secrets } from '../src/auth/secrets.js';
import { createLogger } from '../src/log/logger.js';
import { REPLICATION_ROLE } from '../src/dataplane/local-engine.js';
import { baseEnv, runTool } from '../src/dataplane/pg-exec.js';
import { mkdirOwned, PgInstance } from '../src/dataplane/pg-instance.js';
import type { ClusterRecord, NodeRecord } from '../src/domain/records.js';
import { ADMIN_PASSWORD, createAvailableCluster, startService, type TestService } from '../test/helpers/service.js';
import { freePort, killPostmastersUnder, processesUnder } from '../test/helpers/env.js';
import { stopTestAgent, testEngine } from '../test/helpers/engine.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    nodes: { type: 'string', default: '2' },
    mb: { type: 'string', default: '150' },
    'poll-ms': { type: 'string', default: '50' },
  },
});
const RUNS = Math.max(1, Number(values.runs));
const NODES = Math.max(1, Number(values.nodes));
const MB = Math.max(10, Number(values.mb));
const POLL_MS = Math.max(10, Number(values['poll-ms']));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const secs = (ms: number): string => (ms / 1000).toFixed(2);
const log = createLogger({ level: 'warn' });

interface Detail {
  status: string;
  task_status: string;
  number_of_node: number;
  endpoints: { connect_info: string }[];
}

async function detail(t: TestService, id: string): Promise<Detail> {
  return (await t.client.call<{ cluster: Detail }>('GET', `/v1.0/{project_id}/clusters/${id}`)).cluster;
}

async function adminSql(connectInfo: string, text: string): Promise<Record<string, unknown>[]> {
  const [host, port] = connectInfo.split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD, database: 'postgres' });
  await c.connect();
  try {
    return (await c.query(text)).rows as Record<string, unknown>[];
  } finally {
    await c.end();
  }
}

// ------------------------------------------------------------------ API

async function apiRun(t: TestService, id: string): Promise<{ ms: number; steps: Map<string, number> }> {
  const before = (await detail(t, id)).number_of_node;
  const started = Date.now();
  await t.client.call('POST', `/v1.0/{project_id}/clusters/${id}/resize`, { scale_out: { count: NODES } });
  for (;;) {
    const d = await detail(t, id);
    if (d.task_status === '' && d.number_of_node === before + NODES && d.status === 'AVAILABLE') break;
    if (d.task_status !== 'GROWING') throw new Error(`scale-out ended with task_status ${d.task_status}`);
    await sleep(POLL_MS);
  }
  const ms = Date.now() - started;
  const task = (await t.svc.store.listTasks(id, { kinds: ['cluster.scale_out'], limit: 1 }))[0]!;
  const steps = new Map<string, number>();
  for (const s of (await t.svc.store.listSteps(task.id)).filter((x) => x.phase === 'run')) {
    const base = s.stepId.replace(/_\d+$/, '');
    steps.set(base, (steps.get(base) ?? 0) + ((s.endAt ?? 0) - (s.beginAt ?? 0)));
  }
  // Back to the original size (not timed).
  const r = await t.client.call<{ job_id: string }>('POST', `/v1.0/{project_id}/clusters/${id}/cluster-shrink`, { shrink_number: NODES });
  for (;;) {
    const j = await t.client.call<{ status: string; failed_detail: string }>('GET', `/v1.0/{project_id}/job/${r.job_id}`);
    if (j.status === 'SUCCESS') break;
    if (j.status === 'FAIL') throw new Error(`scale-in failed: ${j.failed_detail}`);
    await sleep(100);
  }
  return { ms, steps };
}

// ------------------------------------------------------------------ raw tools

interface Login {
  username: string;
  password: string;
}

async function rawRun(t: TestService, cluster: ClusterRecord, primary: NodeRecord, repl: Login, root: string): Promise<number> {
  const dir = mkdtempSync(join(root, 'raw-'));
  chmodSync(dir, 0o711);
  const primaryInst = t.svc.dataPlane.instance(cluster, primary);
  const made: { inst: PgInstance; slot: string }[] = [];
  const started = Date.now();
  try {
    for (let k = 1; k <= NODES; k++) {
      const nd = join(dir, `n${k}`);
      mkdirOwned(nd, primaryInst.spec.os, 0o750);
      const inst = new PgInstance(
        {
          os: primaryInst.spec.os,
          dataDir: join(nd, 'data'),
          sockDir: join(nd, 's'),
          host: '127.0.0.1',
          port: await freePort(),
          logFile: join(nd, 'postgres.log'),
        },
        t.svc.dataPlane.bins,
        log,
      );
      const slot = `bench_raw${k}`;
      made.push({ inst, slot });
      await runTool({
        cmd: join(t.svc.dataPlane.bins.binDir, 'pg_basebackup'),
        args: [
          '-d',
          `host=${primary.host} port=${primary.port} user=${repl.username} application_name=raw${k}`,
          '-D',
          inst.dataDir,
          '-X',
          'stream',
          '-c',
          'fast',
          '-R',
          '-C',
          '-S',
          slot,
          '--no-password',
        ],
        env: baseEnv({ PGPASSWORD: repl.password }),
        runAs: primaryInst.spec.os,
        logger: log,
        label: 'pg_basebackup',
        timeoutMs: 30 * 60_000,
      });
      // The copy carries the primary's address; this node gets its own before it starts. A
      // Patroni member's postgresql.conf (Patroni's own) does not include dwsbox's files: the
      // include is added, with the copy's own access files.
      if (testEngine() === 'patroni')
        inst.writeConfig({ hba_file: join(inst.dataDir, 'pg_hba.conf'), ident_file: join(inst.dataDir, 'pg_ident.conf') });
      inst.writeNodeConfig();
      await inst.start({ timeoutMs: 120_000 });
      for (;;) {
        const r = await primaryInst.query<{ state: string }>('select state from pg_stat_replication where application_name = $1', [
          `raw${k}`,
        ]);
        if (r[0]?.state === 'streaming') break;
        await sleep(20);
      }
    }
    return Date.now() - started;
  } finally {
    for (const m of made.reverse()) {
      await m.inst.stop({ mode: 'immediate' });
      await t.svc.dataPlane.dropSlotIfInactive(cluster, primary, m.slot);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Before each timed run: flush the page cache's dirty data (`sync`, through pg-exec) and let
 * the disk settle, so one arm does not pay for the writeback of the other's clean-up.
 */
async function settle(): Promise<void> {
  await runTool({ cmd: 'sync', args: [], env: baseEnv(), logger: log, label: 'sync', timeoutMs: 120_000 });
  await sleep(2000);
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const root = mkdtempSync('/tmp/dwsbox-bench-');
  chmodSync(root, 0o711);
  let t: TestService | null = null;
  try {
    t = await startService({ dataDir: join(root, 'svc'), flags: { unsafeNoFsync: false, logLevel: 'info' } });
    const c = await createAvailableCluster(t.client, { nodes: 3 });
    const primaryAddr = c.detail.endpoints[0]!.connect_info;
    // ~230 bytes a row.
    const rows = Math.round((MB * 1e6) / 230);
    await adminSql(
      primaryAddr,
      `create table big as select g as id, repeat(md5(g::text), 6) as v from generate_series(1, ${rows}) g; checkpoint`,
    );
    const size = Number((await adminSql(primaryAddr, 'select sum(pg_database_size(datname))::bigint as n from pg_database'))[0]!['n']);
    const cluster = (await t.svc.store.getClusterById(c.id))!;
    const primary = (await t.svc.store.listNodes(c.id)).find((n) => n.role === 'primary')!;
    // The replication login the engine's standbys use: Patroni's own (in the cluster's ha.json), or the local engine's role.
    const repl =
      testEngine() === 'patroni'
        ? (JSON.parse(readFileSync(join(t.dataDir, 'clusters', c.id, 'ha.json'), 'utf8')) as { secrets: { replication: Login } }).secrets
            .replication
        : {
            username: REPLICATION_ROLE,
            password: Secrets.load(t.config.masterKey, join(t.dataDir, 'master.key')).decrypt(cluster.replPasswordEnc),
          };
    process.stdout.write(
      `dwsbox bench: add ${NODES} standby node(s) to a 3-node cluster holding ${(size / 1e6).toFixed(0)} MB (databases), ${RUNS} run(s) each; postgres ${t.svc.dataPlane.bins.pgVersion}; fsync on\n`,
    );
    const rawRoot = mkdtempSync(join(root, 'rawruns-'));
    chmodSync(rawRoot, 0o711);
    // A warm-up of each, not counted (page cache, first-run compile).
    await apiRun(t, c.id);
    await rawRun(t, cluster, primary, repl, rawRoot);
    const api: { ms: number; steps: Map<string, number> }[] = [];
    const raw: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await settle();
      api.push(await apiRun(t, c.id));
      await settle();
      raw.push(await rawRun(t, cluster, primary, repl, rawRoot));
      process.stdout.write(`  run ${i + 1}: API ${secs(api[i]!.ms)} s, raw ${secs(raw[i]!)} s\n`);
    }
    const a = median(api.map((r) => r.ms));
    const b = median(raw);
    process.stdout.write(
      `API (POST resize → number_of_node grown, task_status empty; polled every ${POLL_MS} ms): median ${secs(a)} s  [${api.map((r) => secs(r.ms)).join(', ')}]\n`,
    );
    process.stdout.write(
      `raw (pg_basebackup -X stream -c fast -R -C -S, start, wait streaming; per node): median ${secs(b)} s  [${raw.map(secs).join(', ')}]\n`,
    );
    process.stdout.write(`ratio API/raw: ${(a / b).toFixed(2)}\n`);
    // What the API spends outside its steps (accepting, claiming, bookkeeping between steps,
    // the client's polling granularity): the least noisy measure of its own overhead.
    const outside = api.map((r) => r.ms - [...r.steps.values()].reduce((x, y) => x + y, 0));
    process.stdout.write(`API time outside its steps: median ${secs(median(outside))} s  [${outside.map(secs).join(', ')}]\n`);
    const bases = [...api[0]!.steps.keys()];
    process.stdout.write(
      `API steps (median s, summed over nodes): ${bases.map((k) => `${k} ${secs(median(api.map((r) => r.steps.get(k) ?? 0)))}`).join(', ')}\n`,
    );
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
