/**
 * Benchmark (issue 19, D31): what disaster recovery between two clusters costs a client, through
 * the API and the clusters' read-write endpoints; not against raw tools.
 *
 *   npx tsx bench/dr.ts [--runs 3] [--seconds 10] [--sample-ms 200] [--pause-ms 10]
 *
 * Set-up, once for all runs: one service in this process (`startService`, the Patroni engine on
 * a host agent of its own, fsync on, info logs) on a temporary directory under /tmp; two 3-node
 * `dwsx.small` clusters A and B created through the API side by side; the pairing
 * (`POST /v2/{project_id}/disaster-recoveries`, A production, B standby) started
 * (`…/disaster-recovery/{id}/start`) and let reach `running`. Two `Writer`s
 * (test/helpers/ha-writer.ts), each committing numbered rows into a table of its own
 * (`--pause-ms` between two commits): one through A's read-write endpoint, one through B's. Only
 * the side that leads takes writes; the other writer fails (and reconnects) until its side is
 * promoted. They run the whole time.
 *
 * Each run, A leading at its start:
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
 *   switchback  the same the other way (B → A), so every run starts alike.
 * Before each run and each switch: the pairing `running` with the standby streaming, then 2 s.
 *
 * After the runs the writers stop and every acknowledged row is looked up through A's read-write
 * endpoint; then the pairing is deleted through the API (its length printed, not a figure of the
 * bench). Prints the runs, their medians and one JSON line. Removes everything it made, also on
 * failure or SIGINT: the service (its clusters' units, postmasters, project users), its host
 * agent with etcd, and the directory; a failure or a missing row keeps the service's log as
 * `<directory>-service.log` first. Run it under the shared locks:
 * `flock /tmp/dwsbox-test.lock flock -o /tmp/dwsbox-bench.lock npx tsx bench/dr.ts`.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gitInfo } from './git-info.js';
import { stopTestAgent } from '../test/helpers/engine.js';
import { killPostmastersUnder, processesUnder } from '../test/helpers/env.js';
import { query, Writer, type Ack, type Endpoint } from '../test/helpers/ha-writer.js';
import { ADMIN_PASSWORD, createAvailableCluster, startService, type TestService } from '../test/helpers/service.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    'sample-ms': { type: 'string', default: '200' },
    'pause-ms': { type: 'string', default: '10' },
  },
});
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
interface Run {
  rpo: RpoCase;
  switchover: SwitchCase;
  switchback: SwitchCase;
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
      `dwsbox bench: disaster recovery between two 3-node clusters on the Patroni engine; postgres ${svc.svc.dataPlane.bins.pgVersion}; fsync on; ${RUNS} run(s); load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
    );
    const t0 = Date.now();
    const [a, b] = await Promise.all([createAvailableCluster(svc.client, { nodes: 3 }), createAvailableCluster(svc.client, { nodes: 3 })]);
    out(`two clusters AVAILABLE after ${secs(Date.now() - t0)} s`);
    const side = (name: 'A' | 'B', id: string, connectInfo: string): Side => {
      const rw = endpointOf(connectInfo);
      const table = `acked_${name.toLowerCase()}`;
      return { name, id, rw, table, writer: new Writer(rw, { pauseMs: PAUSE_MS, table }) };
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
          const ackedBefore = s.writer.acked.slice();
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

    for (let run = 1; run <= RUNS; run++) {
      await steady();
      const r1 = await rpo();
      out(
        `run ${run}: rpo: ${r1.samples} samples (every ${r1.everyMs} ms, ${r1.nulls} null), ${r1.acked} writes; lag_bytes median ${r1.lagBytes.median} p95 ${r1.lagBytes.p95} max ${r1.lagBytes.max}; ` +
          `lag_seconds median ${r1.lagSeconds.median} p95 ${r1.lagSeconds.p95} max ${r1.lagSeconds.max}`,
      );
      const s1 = await switchOver(sideA, sideB);
      out(`run ${run}: switchover ${describe(s1)}`);
      const s2 = await switchOver(sideB, sideA);
      out(`run ${run}: switchback ${describe(s2)}`);
      runs.push({ rpo: r1, switchover: s1, switchback: s2 });
    }
    await Promise.all(writers.map((w) => w.stop()));
    // Every acknowledged row of the whole bench, through A's read-write endpoint (A leads again).
    let finalMissing = 0;
    for (const s of [sideA, sideB])
      finalMissing += s.writer.missing(new Set((await query<{ n: number }>(sideA.rw, `select n from ${s.table}`)).map((r) => r.n))).length;
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
    out(`RPO under a write load (${SECONDS} s a run, every ${SAMPLE_MS} ms, writer pause ${PAUSE_MS} ms), medians of the runs' figures:`);
    out(
      `  lag_bytes   median ${med(runs.map((r) => r.rpo.lagBytes.median))}, p95 ${med(runs.map((r) => r.rpo.lagBytes.p95))}, max (all runs) ${max(runs.map((r) => r.rpo.lagBytes.max ?? NaN))}`,
    );
    out(
      `  lag_seconds median ${med(runs.map((r) => r.rpo.lagSeconds.median))}, p95 ${med(runs.map((r) => r.rpo.lagSeconds.p95))}, max (all runs) ${max(runs.map((r) => r.rpo.lagSeconds.max ?? NaN))}`,
    );
    for (const k of ['switchover', 'switchback'] as const) {
      const cs = runs.map((r) => r[k]);
      out(
        `${k} (${cs[0]!.from} → ${cs[0]!.to}): longest write gap median ${med(cs.map((c) => c.longestGapMs / 1000))} s, worst ${secs(max(cs.map((c) => c.longestGapMs)))} s; ` +
          `task (recovery_time_object) median ${med(cs.map((c) => c.recoveryTimeObjectS))} s; running seen median ${med(cs.map((c) => c.runningSeenMs / 1000))} s; ` +
          `missing ${cs.reduce((x, c) => x + c.missing, 0)} (5 s later ${cs.reduce((x, c) => x + c.missingAfter5s, 0)}); old-side writes after the new side's first ${cs.reduce((x, c) => x + c.oldAfterNew, 0)}`,
      );
      const names = Object.keys(cs[0]!.steps);
      out(`  steps (median s): ${names.map((n) => `${n} ${med(cs.map((c) => (c.steps[n] ?? NaN) / 1000))}`).join(', ')}`);
    }
    const missing = runs.reduce((x, r) => x + r.switchover.missing + r.switchback.missing, 0);
    out(
      `acknowledged writes: ${writers.reduce((x, w) => x + w.acked.length, 0)} (A ${sideA.writer.acked.length}, B ${sideB.writer.acked.length}); missing after a switch: ${missing}; missing at the end (on A): ${finalMissing}`,
    );
    out(
      JSON.stringify({
        bench: 'dr',
        at: new Date(started).toISOString(),
        git: gitInfo(['src', 'test/helpers', 'bench/dr.ts']),
        options: { runs: RUNS, seconds: SECONDS, sampleMs: SAMPLE_MS, pauseMs: PAUSE_MS },
        runs,
        acked: { A: sideA.writer.acked.length, B: sideB.writer.acked.length },
        writerErrors: { A: sideA.writer.errors, B: sideB.writer.errors },
        deleteS,
        missing,
        finalMissing,
      }),
    );
    if (missing || finalMissing || runs.some((r) => r.switchover.oldAfterNew || r.switchback.oldAfterNew)) process.exitCode = 1;
  } catch (e) {
    // After a signal, what fails is the service being stopped under the bench: not worth a stack.
    if (!cleaning) out(`FAILED: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

await main();
