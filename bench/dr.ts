/**
 * Benchmark (issue 19, D31): what disaster recovery between two clusters costs a client, through
 * the API and the clusters' read-write endpoints; not against raw tools.
 *
 *   npx tsx bench/dr.ts [--runs 3] [--seconds 10] [--sample-ms 200] [--pause-ms 10]
 *                       [--phases rpo,switchover,switchback,failover]
 *
 * Set-up, once for all runs: one service in this process (`startService`, the Patroni engine on
 * a host agent of its own, fsync on, info logs) on a temporary directory under /tmp; two 3-node
 * `dwsx.small` clusters A and B created through the API side by side; the pairing
 * (`POST /v2/{project_id}/disaster-recoveries`, A production, B standby) started
 * (`…/disaster-recovery/{id}/start`) and let reach `running`. Two `Writer`s
 * (test/helpers/ha-writer.ts), each committing numbered rows into a table of its own
 * (`--pause-ms` between two commits) and reading `pg_current_wal_insert_lsn()` on its session
 * after each commit returned (the writer's `lsn` option: a position at or after the commit, one
 * more round trip a row): one through A's read-write endpoint, one through B's. Only the side
 * that leads takes writes; the other writer fails (and reconnects) until its side is promoted.
 * They run the whole time.
 *
 * Each run, A leading at its start, the phases of `--phases` (all by default) in this order
 * (switchover and switchback go together, so that A leads again):
 *   rpo         `GET /v2/{project_id}/disaster-recovery/{id}` every `--sample-ms` for `--seconds`
 *               under the write load: `replication.lag_bytes` (production's current LSN less the
 *               standby leader's replayed LSN, read one after the other) and
 *               `replication.lag_seconds` (0 when nothing is left to replay, else the time since
 *               the last commit the standby replayed); median, p95, max.
 *   switchover  `POST …/switchover`, then the detail every 200 ms until `running` and a write of
 *               the new primary's writer is acknowledged: the longest gap between acknowledged
 *               writes of both writers together from the POST on (the outage of a client that
 *               moves endpoints), the gap from the last write acknowledged on production to the
 *               first on the new primary, the task's length as the service recorded it
 *               (`recovery_time_object` of `…/show-progress`), its steps, when the POST returned
 *               and when `running` was seen, writes acknowledged by the old side after the new
 *               one's first (must be 0), and every acknowledged row of both writers looked up
 *               through the new primary's read-write endpoint: missing ones (must be 0; only rows
 *               acknowledged before the query was sent count, a later one may be after its
 *               snapshot; a missing row is looked up again 5 s later).
 *   switchback  the same the other way (B → A).
 *   failover    production (A) lost under the write load, B promoted (SwitchFailoverDisaster),
 *               A rebuilt as B's standby (RestoreDisaster), then switched back:
 *               - `GET /v1/{project_id}/disaster-recovery/{id}/show-progress` every `--sample-ms`
 *                 for `--seconds`; the last answer before the loss gives L, its
 *                 `replication.replayed_lsn`, and the lag it reported (`lag_bytes`, `lag_seconds`).
 *               - The loss, right after that answer: every member of A stopped at once
 *                 (`dataPlane.stopMember(…, 'immediate')` on each, together: Patroni and
 *                 PostgreSQL killed), while A's writer goes on committing.
 *               - `POST …/failover`; the detail every 200 ms until `abnormal` (the failover's
 *                 outcome: B leads, A follows nothing). RTO: the loss's start, and the POST, to
 *                 B's writer's first acknowledged write; the task's length
 *                 (`recovery_time_object` of show-progress) and steps.
 *               - Every row of both writers acknowledged until the loss ended, looked up through
 *                 B's read-write endpoint. A row whose after-commit LSN is at or before L was
 *                 replayed by B's standby leader before the loss: it must be there (a missing one
 *                 fails the bench; looked up again 5 s later). Reported: rows acknowledged,
 *                 guaranteed (LSN ≤ L), lost (acknowledged, absent), those with no LSN (its read
 *                 failed after the commit), and beside them the last reported lag and the WAL
 *                 between L and the last acknowledged row's LSN: a sampled lag in bytes is not a
 *                 row count, neither is made to equal the other. Rows B acknowledges after its
 *                 promotion must be there too. Lost rows are left out of every later check.
 *               - `POST /v1/{project_id}/clusters/{A}/start` until A's task ends (A comes back a
 *                 primary of its own: A's writer's first acknowledgement there is timed; what it
 *                 writes then is discarded by the rebuild, as the API says, and left out of every
 *                 later check); `POST …/recovery` until `running`: its task's length and steps.
 *               - `back`: a switchover B → A measured as above, so that A leads at the next run's
 *                 start (every run starts alike; the failover always loses A).
 * Before each run and each switch: the pairing `running` with the standby streaming, then 2 s.
 *
 * After the runs the writers stop and every acknowledged row (but those a failover lost or the
 * rebuild discarded) is looked up through A's read-write endpoint; then the pairing is deleted
 * through the API (its length printed, not a figure of the bench). Prints the runs, their
 * medians and one JSON line. Removes everything it made, also on failure or SIGINT: the service
 * (its clusters' units, postmasters, project users), its host agent with etcd, and the
 * directory; a failure or a missing row keeps the service's log as `<directory>-service.log`
 * first. Run it under the shared locks:
 * `flock /tmp/dwsbox-test.lock flock -o /tmp/dwsbox-bench.lock npx tsx bench/dr.ts`.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gitInfo } from './git-info.js';
import { stopTestAgent } from '../test/helpers/engine.js';
import { killPostmastersUnder, processesUnder } from '../test/helpers/env.js';
import { query, Writer, type Ack, type Endpoint } from '../test/helpers/ha-writer.js';
import { ADMIN_PASSWORD, createAvailableCluster, startService, waitIdle, type TestService } from '../test/helpers/service.js';
import { lsnBytes } from '../src/domain/lsn.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    'sample-ms': { type: 'string', default: '200' },
    'pause-ms': { type: 'string', default: '10' },
    phases: { type: 'string', default: 'rpo,switchover,switchback,failover' },
  },
});
const PHASE_NAMES = ['rpo', 'switchover', 'switchback', 'failover'] as const;
type Phase = (typeof PHASE_NAMES)[number];
const PHASES = new Set(values.phases.split(',').map((x) => x.trim()));
for (const p of PHASES)
  if (!(PHASE_NAMES as readonly string[]).includes(p)) throw new Error(`--phases: ${p} is not one of ${PHASE_NAMES.join(', ')}`);
if (PHASES.has('switchover') !== PHASES.has('switchback'))
  throw new Error('--phases: switchover and switchback go together (each run starts with A leading)');
const phase = (p: Phase): boolean => PHASES.has(p);
const RUNS = Number(values.runs);
const SECONDS = Number(values.seconds);
const SAMPLE_MS = Number(values['sample-ms']);
const PAUSE_MS = Number(values['pause-ms']);
for (const [k, v] of Object.entries({ runs: RUNS, seconds: SECONDS, 'sample-ms': SAMPLE_MS }))
  if (!(v > 0)) throw new Error(`--${k} must be a positive number`);
if (!(PAUSE_MS >= 0)) throw new Error('--pause-ms must be 0 or more');

const out = (s = ''): void => void process.stdout.write(`${s}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number): string => (ms / 1000).toFixed(2);

interface Replication {
  state: string;
  paused: boolean;
  replayed_lsn: string | null;
  lag_bytes: number | null;
  lag_seconds: number | null;
}
interface Detail {
  status: string;
  error: string | null;
  primary_cluster: { id: string; role: string };
  standby_cluster: { id: string; role: string };
  replication: Replication | null;
}

interface Stats {
  median: number | null;
  p95: number | null;
  max: number | null;
}
interface RpoCase {
  samples: number;
  /** samples whose figure was null (no member answered) */
  nulls: number;
  /** mean time between two samples (a GET takes time of its own) */
  everyMs: number;
  lagBytes: Stats;
  lagSeconds: Stats;
  /** writes acknowledged during the sampling */
  acked: number;
}
interface SwitchCase {
  from: string;
  to: string;
  /** longest gap between acknowledged writes of both writers together, from the POST until the new side's first write */
  longestGapMs: number;
  /** the last write acknowledged on the old side → the first acknowledged on the new one */
  lastOldToFirstNewMs: number;
  /** the POST's answer, `running` seen and the new side's first acknowledged write, ms after the POST was sent */
  postMs: number;
  runningSeenMs: number;
  firstNewMs: number;
  /** the last write acknowledged on the old side, ms after the POST was sent (negative: before it) */
  lastOldMs: number;
  /** `recovery_time_object` of ShowDisasterProgress after the switch (s) */
  recoveryTimeObjectS: number | null;
  /** the task's steps (ms each) */
  steps: Record<string, number>;
  /** writes the old side acknowledged after the new side's first (a second writable primary) */
  oldAfterNew: number;
  /** acknowledged rows of both writers so far, and those missing on the new primary (looked up again 5 s later when any) */
  ackedSoFar: number;
  missing: number;
  missingRows: MissingRow[];
  missingAfter5s: number;
}
/** An acknowledged row the new primary lacked: its writer, number, the member that acknowledged it, ms after the POST, and the member read */
interface MissingRow {
  writer: string;
  n: number;
  server: string;
  sentMs: number;
  atMs: number;
  via: string | null;
}
/** An acknowledged row that the promoted side lacked, with its after-commit LSN (null when unknown) */
interface LostRow {
  writer: string;
  n: number;
  lsn: string | null;
  /** ms after the loss's start */
  atMs: number;
}
interface FailoverCase {
  /** the side lost and the side promoted */
  from: string;
  to: string;
  /** show-progress samples before the loss, and the mean time between two */
  samples: number;
  everyMs: number;
  /** L: `replication.replayed_lsn` of the last sample before the loss, and the lag that sample reported */
  replayedLsn: string;
  lagBytes: number | null;
  lagSeconds: number | null;
  /** the last sample's answer → the loss's start (ms) */
  sampleToLossMs: number;
  /** every member stopped: ms from the first stop sent to the last done */
  lossMs: number;
  /** the POST sent, ms after the loss's start; its answer, ms after it was sent */
  postAfterLossMs: number;
  postMs: number;
  /** `abnormal` (failed over) seen, ms after the POST */
  abnormalSeenMs: number;
  /** the promoted side's first acknowledged write, ms after the loss's start and after the POST */
  firstNewAfterLossMs: number;
  firstNewAfterPostMs: number;
  /** the last write the lost side acknowledged, ms after the loss's start (negative: before it) */
  lastOldMs: number;
  /** `recovery_time_object` of show-progress after the failover (s), and the task's steps (ms) */
  recoveryTimeObjectS: number | null;
  steps: Record<string, number>;
  /** production's writer: rows acknowledged from the sampling's start to the loss's end, and those during the loss */
  ackedInPhase: number;
  ackedDuringLoss: number;
  /** rows of both writers acknowledged until the loss ended (those of earlier failovers' losses left out), looked up on the promoted side */
  acked: number;
  /** of those: after-commit LSN ≤ L, LSN unknown, and absent on the promoted side */
  guaranteed: number;
  noLsn: number;
  lost: number;
  lostRows: LostRow[];
  /** guaranteed rows absent (must be 0), and still absent 5 s later */
  guaranteedMissing: number;
  guaranteedMissingAfter5s: number;
  /** the highest after-commit LSN the lost side's writer read, and the WAL from L to it (bytes) */
  lastAckLsn: string | null;
  unreplicatedBytes: number | null;
  /** rows the promoted side acknowledged before the lookup, and those missing (must be 0) */
  ackedAfter: number;
  missingAfter: number;
}
interface RecoveryCase {
  /** `POST …/clusters/{id}/start` answered, its task ended, the old production's writer's first acknowledgement there (null: none), s after the POST */
  startPostS: number;
  startIdleS: number;
  startWritableS: number | null;
  /** `POST …/recovery` answered (ms), `running` seen (s after the POST), the task's length (s) and steps (ms) */
  postMs: number;
  runningSeenS: number;
  taskS: number | null;
  steps: Record<string, number>;
  /** rows the old production acknowledged on its own after its start, discarded by the rebuild */
  discarded: number;
}
interface Run {
  rpo?: RpoCase;
  switchover?: SwitchCase;
  switchback?: SwitchCase;
  failover?: FailoverCase;
  recovery?: RecoveryCase;
  /** the switchover B → A after the recovery */
  back?: SwitchCase;
}

function quantile(xs: number[], q: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}
const stats = (xs: number[]): Stats => ({ median: quantile(xs, 0.5), p95: quantile(xs, 0.95), max: xs.length ? Math.max(...xs) : null });

/** The longest stretch without an acknowledgement of any writer between `from` and `to` (ms). */
function longestGap(writers: Writer[], from: number, to: number): number {
  const times = [
    from,
    ...writers
      .flatMap((w) => w.acked.map((a) => a.at))
      .filter((t) => t > from && t < to)
      .sort((a, b) => a - b),
    to,
  ];
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
  return gap;
}

const endpointOf = (connectInfo: string): Endpoint => {
  const [host, port] = connectInfo.split(':');
  return { host: host!, port: Number(port), user: 'dbadmin', password: ADMIN_PASSWORD };
};

interface Side {
  name: 'A' | 'B';
  id: string;
  rw: Endpoint;
  table: string;
  writer: Writer;
  /** acknowledged rows a failover lost or a rebuild discarded (as the API says): left out of the later checks */
  gone: Set<number>;
}

async function main(): Promise<void> {
  const started = Date.now();
  const root = mkdtempSync('/tmp/dwsbox-bench-dr-');
  chmodSync(root, 0o711);
  const agentDir = join(root, 'agent');
  mkdirSync(agentDir, { mode: 0o700 });
  let t: TestService | undefined;
  const writers: Writer[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      await Promise.all(writers.map((w) => w.stop().catch(() => {})));
      // A failure or a missing row: the service's log kept beside the directory, for a look afterwards.
      if (process.exitCode && t) {
        try {
          copyFileSync(t.logFile, `${root}-service.log`);
          out(`service log kept: ${root}-service.log`);
        } catch (e) {
          out(`keeping the service log: ${(e as Error).message}`);
        }
      }
      await t?.stop().catch((e: unknown) => {
        out(`stopping the service: ${(e as Error).message}`);
        process.exitCode = 1;
      });
      await stopTestAgent(agentDir);
      await killPostmastersUnder(root);
      const left = processesUnder(root);
      rmSync(root, { recursive: true, force: true });
      if (left.length) {
        out(`left behind: ${JSON.stringify(left)}`);
        process.exitCode = 1;
      }
    })());
  const onSignal = (sig: NodeJS.Signals): void => {
    out(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const runs: Run[] = [];
  let deleteS: number | null = null;
  try {
    t = await startService({
      dataDir: join(root, 'svc'),
      flags: { engine: 'patroni', agentDir, initdbPoolDir: join(root, 'pool'), unsafeNoFsync: false, logLevel: 'info' },
    });
    const svc = t;
    out(
      `dwsbox bench: disaster recovery between two 3-node clusters on the Patroni engine; postgres ${svc.svc.dataPlane.bins.pgVersion}; fsync on; ${RUNS} run(s) of ${[...PHASES].join(', ')}; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
    );
    const t0 = Date.now();
    const [a, b] = await Promise.all([createAvailableCluster(svc.client, { nodes: 3 }), createAvailableCluster(svc.client, { nodes: 3 })]);
    out(`two clusters AVAILABLE after ${secs(Date.now() - t0)} s`);
    const side = (name: 'A' | 'B', id: string, connectInfo: string): Side => {
      const rw = endpointOf(connectInfo);
      const table = `acked_${name.toLowerCase()}`;
      return { name, id, rw, table, writer: new Writer(rw, { pauseMs: PAUSE_MS, table, lsn: true }), gone: new Set() };
    };
    const sideA = side('A', a.id, a.detail.endpoints[0]!.connect_info);
    const sideB = side('B', b.id, b.detail.endpoints[0]!.connect_info);
    // Both writers' tables on production: the start copies them to the standby.
    for (const s of [sideA, sideB]) await Writer.createTable(sideA.rw, s.table);
    const drId = (
      await svc.client.call<{ disaster_recovery: { id: string } }>('POST', '/v2/{project_id}/disaster-recoveries', {
        disaster_recovery: { name: 'dr-bench', dr_type: 'az', primary_cluster_id: a.id, standby_cluster_id: b.id, dr_sync_period: '1H' },
      })
    ).disaster_recovery.id;
    const detail = async (): Promise<Detail> =>
      (await svc.client.call<{ disaster_recovery: Detail }>('GET', `/v2/{project_id}/disaster-recovery/${drId}`)).disaster_recovery;
    const waitFor = async <T>(f: () => Promise<T | null>, what: string, timeoutMs: number, everyMs = 200): Promise<T> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const v = await f();
        if (v !== null) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(everyMs);
      }
    };
    const waitRunning = (): Promise<Detail> =>
      waitFor(
        async () => {
          const d = await detail();
          if (/failed|abnormal/.test(d.status)) throw new Error(`pairing ${d.status}: ${d.error}`);
          return d.status === 'running' ? d : null;
        },
        'the pairing running',
        300_000,
      );
    const t1 = Date.now();
    await svc.client.call('POST', `/v2/{project_id}/disaster-recovery/${drId}/start`);
    await waitRunning();
    out(`pairing ${drId} running after ${secs(Date.now() - t1)} s (start: B's data replaced by a copy of A's, then streamed)`);

    for (const s of [sideA, sideB]) {
      writers.push(s.writer);
      s.writer.start();
    }
    await waitFor(async () => (sideA.writer.acked.length >= 20 ? true : null), 'writes on production', 60_000, 50);

    /** Until the pairing runs with the standby streaming, then 2 s more. */
    const steady = async (): Promise<void> => {
      await waitFor(
        async () => {
          const d = await detail();
          return d.status === 'running' && d.replication?.state === 'streaming' ? d : null;
        },
        'the standby streaming',
        120_000,
      );
      await sleep(2000);
    };

    const rpo = async (): Promise<RpoCase> => {
      const bytes: number[] = [];
      const seconds: number[] = [];
      let nulls = 0;
      let n = 0;
      const from = Date.now();
      const ackedBefore = sideA.writer.acked.length;
      for (let next = from; Date.now() < from + SECONDS * 1000;) {
        const r = (await detail()).replication;
        n++;
        if (r?.lag_bytes == null || r.lag_seconds == null) nulls++;
        if (r?.lag_bytes != null) bytes.push(r.lag_bytes);
        if (r?.lag_seconds != null) seconds.push(r.lag_seconds);
        next += SAMPLE_MS;
        await sleep(Math.max(0, next - Date.now()));
      }
      return {
        samples: n,
        nulls,
        everyMs: Math.round((Date.now() - from) / n),
        lagBytes: stats(bytes),
        lagSeconds: stats(seconds),
        acked: sideA.writer.acked.length - ackedBefore,
      };
    };

    const switchOver = async (from: Side, to: Side): Promise<SwitchCase> => {
      await steady();
      const before = await detail();
      const leadingId = before.primary_cluster.role === 'primary' ? before.primary_cluster.id : before.standby_cluster.id;
      if (leadingId !== from.id) throw new Error(`expected ${from.name} to lead before the switch`);
      const sent = Date.now();
      await svc.client.call('POST', `/v2/{project_id}/disaster-recovery/${drId}/switchover`);
      const postMs = Date.now() - sent;
      await waitRunning();
      const runningSeenMs = Date.now() - sent;
      const firstNew = await waitFor(async () => to.writer.acked.find((x) => x.sent > sent) ?? null, `a write on ${to.name}`, 60_000, 20);
      // A little after, so an old-side write acknowledged late would show.
      await sleep(1000);
      const oldAcks = from.writer.acked.filter((x) => x.at <= firstNew.at);
      const lastOld: Ack | undefined = oldAcks[oldAcks.length - 1];
      const oldAfterNew = from.writer.acked.filter((x) => x.at > firstNew.at).length;
      const p = await svc.client.call<{ disaster_recovery_progress: { recovery_time_object: number | null } }>(
        'GET',
        `/v1/{project_id}/disaster-recovery/${drId}/show-progress`,
      );
      const task = (await svc.svc.store.listTasks(to.id, { kinds: ['dr.switchover'], limit: 1 }))[0]!;
      const steps: Record<string, number> = {};
      for (const s of (await svc.svc.store.listSteps(task.id)).filter((x) => x.phase === 'run'))
        steps[s.stepId] = (s.endAt ?? 0) - (s.beginAt ?? 0);
      // Every acknowledged row of both writers, through the new primary's read-write endpoint.
      const lookUp = async (): Promise<{ acked: number; missing: MissingRow[] }> => {
        let acked = 0;
        const missing: MissingRow[] = [];
        for (const s of [sideA, sideB]) {
          // The acknowledgements before the query is sent (a row acknowledged while it runs may be after its snapshot).
          const ackedBefore = s.writer.acked.filter((x) => !s.gone.has(x.n));
          const rows = await query<{ n: number; via: string }>(to.rw, `select n, host(inet_server_addr()) as via from ${s.table}`);
          const present = new Set(rows.map((r) => r.n));
          acked += ackedBefore.length;
          for (const x of ackedBefore.filter((y) => !present.has(y.n)))
            missing.push({ writer: s.name, n: x.n, server: x.server, sentMs: x.sent - sent, atMs: x.at - sent, via: rows[0]?.via ?? null });
        }
        return { acked, missing };
      };
      const found = await lookUp();
      // A row missing now: looked up again 5 s later (still missing, or only late).
      const later = found.missing.length ? (await sleep(5000), (await lookUp()).missing) : [];
      return {
        from: from.name,
        to: to.name,
        longestGapMs: longestGap([sideA.writer, sideB.writer], sent, firstNew.at + 1),
        lastOldToFirstNewMs: lastOld ? firstNew.at - lastOld.at : NaN,
        postMs,
        runningSeenMs,
        firstNewMs: firstNew.at - sent,
        lastOldMs: lastOld ? lastOld.at - sent : NaN,
        recoveryTimeObjectS: p.disaster_recovery_progress.recovery_time_object,
        steps,
        oldAfterNew,
        ackedSoFar: found.acked,
        missing: found.missing.length,
        missingRows: found.missing,
        missingAfter5s: later.length,
      };
    };
    const describe = (c: SwitchCase): string =>
      `${c.from} → ${c.to}: longest write gap ${secs(c.longestGapMs)} s (last on ${c.from} ${secs(c.lastOldMs)} s, first on ${c.to} ${secs(c.firstNewMs)} s after the POST: ${secs(c.lastOldToFirstNewMs)} s); ` +
      `task ${c.recoveryTimeObjectS ?? '—'} s [${Object.entries(c.steps)
        .map(([k, v]) => `${k} ${secs(v)}`)
        .join(', ')}]; POST answered ${secs(c.postMs)} s, running seen ${secs(c.runningSeenMs)} s; ` +
      `missing ${c.missing} of ${c.ackedSoFar}${c.missing ? ` (${JSON.stringify(c.missingRows)}; ${c.missingAfter5s} still missing 5 s later)` : ''}${c.oldAfterNew ? `; ${c.oldAfterNew} WRITES ON ${c.from} AFTER ${c.to}'S FIRST` : ''}`;

    /** Until the pairing's status leaves `from`: it must then be `want`, else the operation failed. */
    const waitOutcome = (from: string, want: string, error: RegExp): Promise<Detail> =>
      waitFor(
        async () => {
          const d = await detail();
          if (d.status === from) return null;
          if (d.status !== want || !error.test(d.error ?? '')) throw new Error(`pairing ${d.status} after ${from}: ${d.error}`);
          return d;
        },
        `the pairing ${want}`,
        300_000,
      );
    const stepsOf = async (
      clusterId: string,
      kind: 'dr.failover' | 'dr.recover',
    ): Promise<{ taskS: number | null; steps: Record<string, number> }> => {
      const task = (await svc.svc.store.listTasks(clusterId, { kinds: [kind], limit: 1 }))[0]!;
      const steps: Record<string, number> = {};
      for (const s of (await svc.svc.store.listSteps(task.id)).filter((x) => x.phase === 'run'))
        steps[s.stepId] = (s.endAt ?? 0) - (s.beginAt ?? 0);
      return { taskS: task.startedAt && task.finishedAt ? (task.finishedAt - task.startedAt) / 1000 : null, steps };
    };
    const bytesOf = (lsn: string): bigint => lsnBytes(lsn);

    /**
     * Production (`lost`) lost under the write load and the standby promoted; the rows it had
     * acknowledged looked up on the promoted side against L, the replayed LSN the progress
     * reported last before the loss. Then the lost side started again and rebuilt (RestoreDisaster).
     */
    const failOver = async (lost: Side, promoted: Side): Promise<{ failover: FailoverCase; recovery: RecoveryCase }> => {
      await steady();
      const before = await detail();
      const leadingId = before.primary_cluster.role === 'primary' ? before.primary_cluster.id : before.standby_cluster.id;
      if (leadingId !== lost.id) throw new Error(`expected ${lost.name} to lead before the failover`);
      const lostCluster = (await svc.svc.store.getClusterById(lost.id))!;
      const lostNodes = await svc.svc.store.listNodes(lost.id);

      // The progress every --sample-ms until the loss, which follows the last answer at once.
      let last: { lsn: string; lagBytes: number | null; lagSeconds: number | null; at: number } | null = null;
      let n = 0;
      const from = Date.now();
      const ackedFrom = lost.writer.acked.length;
      for (let next = from; ;) {
        const r = (
          await svc.client.call<{ disaster_recovery_progress: { replication: Replication | null } }>(
            'GET',
            `/v1/{project_id}/disaster-recovery/${drId}/show-progress`,
          )
        ).disaster_recovery_progress.replication;
        n++;
        if (r?.replayed_lsn) last = { lsn: r.replayed_lsn, lagBytes: r.lag_bytes, lagSeconds: r.lag_seconds, at: Date.now() };
        next += SAMPLE_MS;
        if (next >= from + SECONDS * 1000) break;
        await sleep(Math.max(0, next - Date.now()));
      }
      if (!last) throw new Error('no progress sample reported a replayed LSN before the loss');
      const everyMs = Math.round((Date.now() - from) / n);

      // The loss: every member's Patroni and PostgreSQL stopped at once, the writer still committing.
      const lossStart = Date.now();
      await Promise.all(lostNodes.map((node) => svc.svc.dataPlane.stopMember(lostCluster, node, 'immediate')));
      const lossEnd = Date.now();

      const sent = Date.now();
      await svc.client.call('POST', `/v2/{project_id}/disaster-recovery/${drId}/failover`);
      const postMs = Date.now() - sent;
      const failed = await waitOutcome('failovering', 'abnormal', /failed over/);
      const abnormalSeenMs = Date.now() - sent;
      const leadsNow = failed.primary_cluster.role === 'primary' ? failed.primary_cluster.id : failed.standby_cluster.id;
      if (leadsNow !== promoted.id) throw new Error(`expected ${promoted.name} to lead after the failover`);
      const firstNew = await waitFor(
        async () => promoted.writer.acked.find((x) => x.sent > lossStart) ?? null,
        `a write on ${promoted.name}`,
        60_000,
        20,
      );
      const oldAcks = lost.writer.acked.filter((x) => x.at <= lossEnd);
      const lastOld: Ack | undefined = oldAcks[oldAcks.length - 1];
      const p = await svc.client.call<{ disaster_recovery_progress: { recovery_time_object: number | null } }>(
        'GET',
        `/v1/{project_id}/disaster-recovery/${drId}/show-progress`,
      );
      const { steps } = await stepsOf(promoted.id, 'dr.failover');

      // Every acknowledged row, through the promoted side's read-write endpoint.
      const L = bytesOf(last.lsn);
      const lookUp = async (): Promise<{
        acked: number;
        guaranteed: number;
        noLsn: number;
        lost: LostRow[];
        guaranteedMissing: LostRow[];
        ackedAfter: number;
        missingAfter: MissingRow[];
      }> => {
        const o = {
          acked: 0,
          guaranteed: 0,
          noLsn: 0,
          lost: [] as LostRow[],
          guaranteedMissing: [] as LostRow[],
          ackedAfter: 0,
          missingAfter: [] as MissingRow[],
        };
        for (const s of [sideA, sideB]) {
          const ackedBefore = s.writer.acked.filter((x) => !s.gone.has(x.n));
          const rows = await query<{ n: number; via: string }>(promoted.rw, `select n, host(inet_server_addr()) as via from ${s.table}`);
          const present = new Set(rows.map((r) => r.n));
          for (const x of ackedBefore) {
            if (x.at > lossEnd) {
              // Acknowledged by the promoted side after its promotion.
              o.ackedAfter++;
              if (!present.has(x.n))
                o.missingAfter.push({
                  writer: s.name,
                  n: x.n,
                  server: x.server,
                  sentMs: x.sent - sent,
                  atMs: x.at - sent,
                  via: rows[0]?.via ?? null,
                });
              continue;
            }
            o.acked++;
            const row: LostRow = { writer: s.name, n: x.n, lsn: x.lsn ?? null, atMs: x.at - lossStart };
            const guaranteed = x.lsn !== undefined && bytesOf(x.lsn) <= L;
            if (x.lsn === undefined) o.noLsn++;
            if (guaranteed) o.guaranteed++;
            if (present.has(x.n)) continue;
            o.lost.push(row);
            if (guaranteed) o.guaranteedMissing.push(row);
          }
        }
        return o;
      };
      const found = await lookUp();
      const later =
        found.guaranteedMissing.length || found.missingAfter.length
          ? (await sleep(5000), await lookUp())
          : { guaranteedMissing: [], missingAfter: [] };
      // Lost rows are gone for good (the lost side is rebuilt from the promoted one): no later check counts them.
      for (const r of found.lost) (r.writer === 'A' ? sideA : sideB).gone.add(r.n);
      const lsns = oldAcks.flatMap((x) => (x.lsn === undefined ? [] : [bytesOf(x.lsn)]));
      const top = lsns.reduce<bigint | null>((m, x) => (m === null || x > m ? x : m), null);
      const lastAck = [...oldAcks].reverse().find((x) => x.lsn !== undefined && bytesOf(x.lsn) === top);
      const failover: FailoverCase = {
        from: lost.name,
        to: promoted.name,
        samples: n,
        everyMs,
        replayedLsn: last.lsn,
        lagBytes: last.lagBytes,
        lagSeconds: last.lagSeconds,
        sampleToLossMs: lossStart - last.at,
        lossMs: lossEnd - lossStart,
        postAfterLossMs: sent - lossStart,
        postMs,
        abnormalSeenMs,
        firstNewAfterLossMs: firstNew.at - lossStart,
        firstNewAfterPostMs: firstNew.at - sent,
        lastOldMs: lastOld ? lastOld.at - lossStart : NaN,
        recoveryTimeObjectS: p.disaster_recovery_progress.recovery_time_object,
        steps,
        ackedInPhase: oldAcks.length - ackedFrom,
        ackedDuringLoss: oldAcks.filter((x) => x.at >= lossStart).length,
        acked: found.acked,
        guaranteed: found.guaranteed,
        noLsn: found.noLsn,
        lost: found.lost.length,
        lostRows: found.lost,
        guaranteedMissing: found.guaranteedMissing.length,
        guaranteedMissingAfter5s: later.guaranteedMissing.length,
        lastAckLsn: lastAck?.lsn ?? null,
        unreplicatedBytes: top === null ? null : Math.max(0, Number(top - L)),
        ackedAfter: found.ackedAfter,
        missingAfter: found.missingAfter.length,
      };

      // The lost side started again: it comes back a primary of its own, which its writer shows.
      const r0 = Date.now();
      await svc.client.call('POST', `/v1/{project_id}/clusters/${lost.id}/start`);
      const startPostS = (Date.now() - r0) / 1000;
      await waitIdle(svc.client, lost.id, 300_000);
      const startIdleS = (Date.now() - r0) / 1000;
      const own = await waitFor(
        async () => lost.writer.acked.find((x) => x.sent > r0) ?? null,
        `a write on ${lost.name} on its own`,
        60_000,
        50,
      ).catch(() => null);
      // RestoreDisaster: the lost side rebuilt as the standby of the promoted one.
      const r1 = Date.now();
      await svc.client.call('POST', `/v2/{project_id}/disaster-recovery/${drId}/recovery`);
      const recPostMs = Date.now() - r1;
      await waitOutcome('recovering', 'running', /^$/);
      const runningSeenS = (Date.now() - r1) / 1000;
      // What the lost side acknowledged on its own since the loss: discarded by the rebuild, as the API says.
      const discarded = lost.writer.acked.filter((x) => x.at > lossEnd);
      for (const x of discarded) lost.gone.add(x.n);
      const rec = await stepsOf(lost.id, 'dr.recover');
      return {
        failover,
        recovery: {
          startPostS,
          startIdleS,
          startWritableS: own ? (own.at - r0) / 1000 : null,
          postMs: recPostMs,
          runningSeenS,
          taskS: rec.taskS,
          steps: rec.steps,
          discarded: discarded.length,
        },
      };
    };
    const stepsText = (steps: Record<string, number>): string =>
      Object.entries(steps)
        .map(([k, v]) => `${k} ${secs(v)}`)
        .join(', ');
    const describeFailover = (f: FailoverCase): string =>
      `${f.from} lost → ${f.to}: L ${f.replayedLsn} (last of ${f.samples} samples every ${f.everyMs} ms, ${f.sampleToLossMs} ms before the loss; lag_bytes ${f.lagBytes}, lag_seconds ${f.lagSeconds}); ` +
      `loss ${f.lossMs} ms, ${f.ackedDuringLoss} acknowledged meanwhile; last write on ${f.from} ${secs(f.lastOldMs)} s, POST ${secs(f.postAfterLossMs)} s after the loss (answered ${f.postMs} ms), ` +
      `first write on ${f.to} ${secs(f.firstNewAfterLossMs)} s after the loss (${secs(f.firstNewAfterPostMs)} s after the POST), abnormal seen ${secs(f.abnormalSeenMs)} s after the POST; ` +
      `task ${f.recoveryTimeObjectS ?? '—'} s [${stepsText(f.steps)}]; rows: ${f.acked} acknowledged (${f.ackedInPhase} in the phase), ${f.guaranteed} guaranteed (LSN ≤ L), ${f.noLsn} without LSN, ` +
      `lost ${f.lost}${f.lost ? ` (${f.lostRows.map((r) => `${r.writer}${r.n}@${r.lsn ?? '?'}`).join(' ')})` : ''}; WAL from L to the last acknowledged row ${f.unreplicatedBytes ?? '—'} bytes (${f.lastAckLsn ?? '—'})` +
      `${f.guaranteedMissing ? `; ${f.guaranteedMissing} GUARANTEED ROWS MISSING (${f.guaranteedMissingAfter5s} 5 s later)` : ''}${f.missingAfter ? `; ${f.missingAfter} OF ${f.ackedAfter} ROWS OF ${f.to} MISSING` : ''}`;
    const describeRecovery = (r: RecoveryCase): string =>
      `start of the lost side answered ${secs(r.startPostS * 1000)} s, its task ended ${secs(r.startIdleS * 1000)} s, ${r.startWritableS === null ? 'no write on it' : `a write of its own ${secs(r.startWritableS * 1000)} s`} after the POST; ` +
      `recovery task ${r.taskS ?? '—'} s [${stepsText(r.steps)}], running seen ${secs(r.runningSeenS * 1000)} s (POST answered ${r.postMs} ms); ${r.discarded} rows written on its own discarded`;

    for (let run = 1; run <= RUNS; run++) {
      // Pushed first: a run that fails midway still shows its finished phases in the failure's JSON line.
      const r: Run = {};
      runs.push(r);
      if (phase('rpo')) {
        await steady();
        const r1 = (r.rpo = await rpo());
        out(
          `run ${run}: rpo: ${r1.samples} samples (every ${r1.everyMs} ms, ${r1.nulls} null), ${r1.acked} writes; lag_bytes median ${r1.lagBytes.median} p95 ${r1.lagBytes.p95} max ${r1.lagBytes.max}; ` +
            `lag_seconds median ${r1.lagSeconds.median} p95 ${r1.lagSeconds.p95} max ${r1.lagSeconds.max}`,
        );
      }
      if (phase('switchover')) {
        r.switchover = await switchOver(sideA, sideB);
        out(`run ${run}: switchover ${describe(r.switchover)}`);
        r.switchback = await switchOver(sideB, sideA);
        out(`run ${run}: switchback ${describe(r.switchback)}`);
      }
      if (phase('failover')) {
        const f = await failOver(sideA, sideB);
        r.failover = f.failover;
        out(`run ${run}: failover ${describeFailover(f.failover)}`);
        r.recovery = f.recovery;
        out(`run ${run}: recovery ${describeRecovery(f.recovery)}`);
        r.back = await switchOver(sideB, sideA);
        out(`run ${run}: back ${describe(r.back)}`);
      }
    }
    await Promise.all(writers.map((w) => w.stop()));
    // Every acknowledged row of the whole bench (but those lost or discarded), through A's read-write endpoint (A leads again).
    let finalMissing = 0;
    for (const s of [sideA, sideB]) {
      const present = new Set((await query<{ n: number }>(sideA.rw, `select n from ${s.table}`)).map((x) => x.n));
      finalMissing += s.writer.missing(present).filter((x) => !s.gone.has(x)).length;
    }
    const t2 = Date.now();
    await svc.client.call('DELETE', `/v2/{project_id}/disaster-recovery/${drId}`);
    await waitFor(
      async () => ((await svc.client.request('GET', `/v2/{project_id}/disaster-recovery/${drId}`)).status === 404 ? true : null),
      'the pairing deleted',
      180_000,
    );
    deleteS = (Date.now() - t2) / 1000;
    out(`pairing deleted after ${deleteS.toFixed(1)} s`);

    // Summary.
    const med = (xs: (number | null)[]): string => {
      const v = quantile(
        xs.filter((x): x is number => x !== null && !Number.isNaN(x)),
        0.5,
      );
      return v === null ? '—' : String(Math.round(v * 1000) / 1000);
    };
    const max = (xs: number[]): number => Math.max(...xs.filter((x) => !Number.isNaN(x)));
    out();
    const rpos = runs.flatMap((r) => (r.rpo ? [r.rpo] : []));
    if (rpos.length) {
      out(`RPO under a write load (${SECONDS} s a run, every ${SAMPLE_MS} ms, writer pause ${PAUSE_MS} ms), medians of the runs' figures:`);
      out(
        `  lag_bytes   median ${med(rpos.map((r) => r.lagBytes.median))}, p95 ${med(rpos.map((r) => r.lagBytes.p95))}, max (all runs) ${max(rpos.map((r) => r.lagBytes.max ?? NaN))}`,
      );
      out(
        `  lag_seconds median ${med(rpos.map((r) => r.lagSeconds.median))}, p95 ${med(rpos.map((r) => r.lagSeconds.p95))}, max (all runs) ${max(rpos.map((r) => r.lagSeconds.max ?? NaN))}`,
      );
    }
    const switches = runs.flatMap((r) => [r.switchover, r.switchback, r.back].filter((c): c is SwitchCase => c !== undefined));
    for (const k of ['switchover', 'switchback', 'back'] as const) {
      const cs = runs.flatMap((r) => (r[k] ? [r[k]] : []));
      if (!cs.length) continue;
      out(
        `${k} (${cs[0]!.from} → ${cs[0]!.to}): longest write gap median ${med(cs.map((c) => c.longestGapMs / 1000))} s, worst ${secs(max(cs.map((c) => c.longestGapMs)))} s; ` +
          `task (recovery_time_object) median ${med(cs.map((c) => c.recoveryTimeObjectS))} s; running seen median ${med(cs.map((c) => c.runningSeenMs / 1000))} s; ` +
          `missing ${cs.reduce((x, c) => x + c.missing, 0)} (5 s later ${cs.reduce((x, c) => x + c.missingAfter5s, 0)}); old-side writes after the new side's first ${cs.reduce((x, c) => x + c.oldAfterNew, 0)}`,
      );
      const names = Object.keys(cs[0]!.steps);
      out(`  steps (median s): ${names.map((n) => `${n} ${med(cs.map((c) => (c.steps[n] ?? NaN) / 1000))}`).join(', ')}`);
    }
    const fos = runs.flatMap((r) => (r.failover ? [r.failover] : []));
    const recs = runs.flatMap((r) => (r.recovery ? [r.recovery] : []));
    if (fos.length) {
      const sum = (f: (c: FailoverCase) => number): number => fos.reduce((x, c) => x + f(c), 0);
      out(
        `failover (${fos[0]!.from} lost → ${fos[0]!.to}): first write on ${fos[0]!.to} median ${med(fos.map((c) => c.firstNewAfterLossMs / 1000))} s after the loss, ` +
          `${med(fos.map((c) => c.firstNewAfterPostMs / 1000))} s after the POST (worst ${secs(max(fos.map((c) => c.firstNewAfterLossMs)))} s after the loss); ` +
          `task (recovery_time_object) median ${med(fos.map((c) => c.recoveryTimeObjectS))} s; abnormal seen median ${med(fos.map((c) => c.abnormalSeenMs / 1000))} s after the POST; loss ${med(fos.map((c) => c.lossMs / 1000))} s`,
      );
      out(
        `  steps (median s): ${Object.keys(fos[0]!.steps)
          .map((n) => `${n} ${med(fos.map((c) => (c.steps[n] ?? NaN) / 1000))}`)
          .join(', ')}`,
      );
      out(
        `  rows, all runs: ${sum((c) => c.acked)} acknowledged before the losses were checked, ${sum((c) => c.guaranteed)} guaranteed (LSN ≤ L), ${sum((c) => c.noLsn)} without LSN, ` +
          `lost ${sum((c) => c.lost)} (per run ${fos.map((c) => c.lost).join(', ')}), guaranteed ones missing ${sum((c) => c.guaranteedMissing)}; rows of the promoted side missing ${sum((c) => c.missingAfter)}`,
      );
      out(
        `  beside the rows lost, per run: last reported lag_bytes ${fos.map((c) => c.lagBytes).join(', ')}, lag_seconds ${fos.map((c) => c.lagSeconds).join(', ')}; ` +
          `WAL from L to the last acknowledged row ${fos.map((c) => c.unreplicatedBytes).join(', ')} bytes; rows acknowledged during the loss ${fos.map((c) => c.ackedDuringLoss).join(', ')}`,
      );
    }
    if (recs.length)
      out(
        `recovery: the lost side's start task ended median ${med(recs.map((c) => c.startIdleS))} s after its POST; RestoreDisaster task median ${med(recs.map((c) => c.taskS))} s, ` +
          `running seen median ${med(recs.map((c) => c.runningSeenS))} s; steps (median s): ${Object.keys(recs[0]!.steps)
            .map((n) => `${n} ${med(recs.map((c) => (c.steps[n] ?? NaN) / 1000))}`)
            .join(', ')}; rows written on its own and discarded ${recs.reduce((x, c) => x + c.discarded, 0)}`,
      );
    const missing = switches.reduce((x, c) => x + c.missing, 0);
    const guaranteedMissing = fos.reduce((x, c) => x + c.guaranteedMissing + c.missingAfter, 0);
    out(
      `acknowledged writes: ${writers.reduce((x, w) => x + w.acked.length, 0)} (A ${sideA.writer.acked.length}, B ${sideB.writer.acked.length}); ` +
        `lost or discarded (left out): ${sideA.gone.size + sideB.gone.size}; missing after a switch: ${missing}; guaranteed missing after a failover: ${guaranteedMissing}; missing at the end (on A): ${finalMissing}`,
    );
    out(
      JSON.stringify({
        bench: 'dr',
        at: new Date(started).toISOString(),
        git: gitInfo(['src', 'test/helpers', 'bench/dr.ts']),
        options: { runs: RUNS, seconds: SECONDS, sampleMs: SAMPLE_MS, pauseMs: PAUSE_MS, phases: [...PHASES] },
        runs,
        acked: { A: sideA.writer.acked.length, B: sideB.writer.acked.length },
        writerErrors: { A: sideA.writer.errors, B: sideB.writer.errors },
        deleteS,
        missing,
        guaranteedMissing,
        finalMissing,
      }),
    );
    if (missing || guaranteedMissing || finalMissing || switches.some((c) => c.oldAfterNew)) process.exitCode = 1;
  } catch (e) {
    // After a signal, what fails is the service being stopped under the bench: not worth a stack.
    if (!cleaning) {
      out(`FAILED: ${(e as Error).stack ?? String(e)}`);
      out(
        JSON.stringify({
          bench: 'dr',
          failed: (e as Error).message,
          at: new Date(started).toISOString(),
          options: { runs: RUNS, seconds: SECONDS, sampleMs: SAMPLE_MS, pauseMs: PAUSE_MS, phases: [...PHASES] },
          runs,
        }),
      );
    }
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

await main();
