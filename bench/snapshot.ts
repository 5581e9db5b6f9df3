/**
 * Benchmark: a snapshot through the API against a plain `pgbackrest backup` that replays the
 * exact command and flags the engine logged, on the same cluster, for a full and for a
 * differential; and dwsbox's chosen pgBackRest settings against pgBackRest's defaults (D30).
 *
 *   npx tsx bench/snapshot.ts [--mb 200] [--runs 3] [--timeline]
 *
 * Loads about --mb MB of random text (it does not compress away, postgres-ops §3) into a
 * 3-node cluster, with a real fsync (D20). Each run takes, on the same data:
 * - a full: through the API (POST /v1.0/{project_id}/snapshots until the snapshot is
 *   AVAILABLE, polled every 50 ms as a client sees it: the check, verify and record steps
 *   included), then the logged `pgbackrest backup` command line replayed as the stanza's OS
 *   user with a fresh annotation ("raw"), and the same line with pgBackRest's defaults for the
 *   settings dwsbox chooses (`--compress-type=gz --compress-level=6 --process-max=1` on the
 *   command line, which overrides the stanza's config: "defaults"); the two raw runs swap
 *   order from one run to the next;
 * - a differential after a small change, the same three ways (each after a change of its own),
 *   the API's first in odd runs and last in even ones.
 * Every timed backup starts after a `sync` and a 1 s pause, so none pays for the writeback of
 * the one before it. The chain setting snapshotFullEvery=4 makes the API take a full first in
 * every run (three diffs since the last full) and a diff after it.
 * Prints each run, the medians, the ratio API/raw, dwsbox's settings against the defaults
 * (time, and the bytes each set added to the repository), and where the API's time went: POST
 * answered, task created → first step, each step, the gaps between steps, last step → task
 * finished, task finished → the client's poll seeing AVAILABLE, and every tool the engine ran
 * meanwhile (from its log); --timeline prints each API snapshot's steps and tools in ms from
 * its POST. Removes everything it made.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { isRoot, type OsUser } from '../src/dataplane/os-user.js';
import { ADMIN_PASSWORD, createAvailableCluster, PROJECT_ID, startService, type TestService } from '../test/helpers/service.js';
import { stopTestAgent } from '../test/helpers/engine.js';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '200' },
    runs: { type: 'string', default: '3' },
    timeline: { type: 'boolean', default: false },
  },
});
const MB = Math.max(10, Number(values.mb));
const RUNS = Math.max(1, Number(values.runs));
const POLL_MS = 50;
/** pgBackRest 2.45's own values of the settings dwsbox chooses (`pgbackrest help backup compress-type|compress-level|process-max`). */
const PGBACKREST_DEFAULTS = ['--compress-type=gz', '--compress-level=6', '--process-max=1'];
const STEPS = ['CHECK_CLUSTER', 'BACKUP', 'VERIFY_BACKUP', 'RECORD_SNAPSHOT'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number): string => (ms / 1000).toFixed(2);
const size = (bytes: number): string => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

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

/** Where one API snapshot's time went (ms). */
interface ApiRun {
  total: number;
  post: number;
  toFirstStep: number;
  steps: Map<string, number>;
  gaps: number;
  lastStepToFinished: number;
  finishedToSeen: number;
  tools: Map<string, { n: number; ms: number }>;
  type: string;
  repoBytes: number;
}

interface RawRun {
  ms: number;
  repoBytes: number;
}

/** The tools the engine ran (exited) between two instants: label → count and summed run time. */
function toolsBetween(logFile: string, from: number, to: number): Map<string, { n: number; ms: number }> {
  const out = new Map<string, { n: number; ms: number }>();
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('"tool exited"')) continue;
    const r = JSON.parse(line) as { time: string; tool: string; durationMs: number };
    const at = Date.parse(r.time);
    if (at < from || at > to) continue;
    const e = out.get(r.tool) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += r.durationMs;
    out.set(r.tool, e);
  }
  return out;
}

/** --timeline: the engine's log between two instants (steps, tools), in ms from `from`. */
function timeline(logFile: string, from: number, to: number): string {
  const out: string[] = [];
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!/"(step started|step succeeded|tool started|tool exited)"/.test(line)) continue;
    const r = JSON.parse(line) as { time: string; msg: string; step?: string; tool?: string; durationMs?: number };
    const at = Date.parse(r.time);
    if (at < from || at > to) continue;
    const what = r.tool ?? r.step ?? '';
    out.push(`  +${String(at - from).padStart(5)} ms  ${r.msg} ${what}${r.durationMs !== undefined ? ` (${r.durationMs} ms)` : ''}`);
  }
  return out.join('\n');
}

async function apiSnapshot(t: TestService, stanza: string, clusterId: string, name: string): Promise<ApiRun> {
  const started = Date.now();
  const id = (
    await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', { snapshot: { name, cluster_id: clusterId } })
  ).snapshot.id;
  const post = Date.now() - started;
  for (;;) {
    const s = (await t.client.call<{ snapshot: { status: string } }>('GET', `/v1.0/{project_id}/snapshots/${id}`)).snapshot;
    if (s.status === 'AVAILABLE') break;
    if (s.status !== 'CREATING') throw new Error(`snapshot ended ${s.status}`);
    await sleep(POLL_MS);
  }
  const seen = Date.now();
  const snap = (await t.svc.store.getSnapshotById(id))!;
  const task = (await t.svc.store.getTask(snap.taskId!))!;
  const steps = (await t.svc.store.listSteps(task.id)).filter((s) => s.phase === 'run').sort((a, b) => a.beginAt! - b.beginAt!);
  let gaps = 0;
  for (let i = 1; i < steps.length; i++) gaps += steps[i]!.beginAt! - steps[i - 1]!.endAt!;
  const set = (await t.svc.dataPlane.backupSets(stanza)).find((s) => s.label === snap.backupLabel)!;
  if (values.timeline) process.stdout.write(`${name}: from the POST\n${timeline(t.logFile, started, task.finishedAt!)}\n`);
  return {
    total: seen - started,
    post,
    toFirstStep: steps[0]!.beginAt! - task.createdAt,
    steps: new Map(steps.map((s) => [s.stepId, s.endAt! - s.beginAt!])),
    gaps,
    lastStepToFinished: task.finishedAt! - steps.at(-1)!.endAt!,
    finishedToSeen: seen - task.finishedAt!,
    tools: toolsBetween(t.logFile, task.createdAt, task.finishedAt!),
    type: set.type,
    repoBytes: set.repoOwnBytes,
  };
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

/**
 * Replay a backup command line as the stanza's own OS user (its project's, D32), as the engine
 * ran it, with a fresh annotation and `options` (before the command word, so they override the
 * config file). Returns its time and the bytes the set added to the repository.
 */
async function replay(t: TestService, stanza: string, args: string[], annotation: string, options: string[]): Promise<RawRun> {
  const os: OsUser = t.svc.dataPlane.projectUser(PROJECT_ID);
  const argv = args.map((a) => (a.startsWith('--annotation=snapshot_id=') ? `--annotation=snapshot_id=${annotation}` : a));
  argv.splice(argv.length - 1, 0, ...options);
  const pre = isRoot() ? ['setpriv', `--reuid=${os.uid}`, `--regid=${os.gid}`, '--clear-groups', '--'] : [];
  const started = Date.now();
  const r = spawnSync(pre[0] ?? 'pgbackrest', [...pre.slice(1), ...(pre.length ? ['pgbackrest'] : []), ...argv], {
    env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent', TZ: 'UTC', LANG: 'C.UTF-8' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const ms = Date.now() - started;
  if (r.status !== 0) throw new Error(`replayed backup failed: ${r.stderr.toString().slice(-500)}`);
  const set = (await t.svc.dataPlane.backupSets(stanza)).find((s) => s.annotation['snapshot_id'] === annotation);
  if (!set) throw new Error(`replayed backup ${annotation} is not in the repository`);
  return { ms, repoBytes: set.repoOwnBytes };
}

const t = await startService({ flags: { unsafeNoFsync: false, logLevel: 'debug', snapshotFullEvery: 4 } });
try {
  const c = await createAvailableCluster(t.client);
  const stanza = (await t.svc.store.getCluster(PROJECT_ID, c.id))!.stanza;
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
  let change = 0;
  const smallChange = async (): Promise<void> => {
    await sql(ep, `update small_cfg set v = v || '${change++ % 10}' where k < 10`);
    await sql(ep, 'checkpoint');
  };

  const kinds = ['full', 'diff'] as const;
  const api = { full: [] as ApiRun[], diff: [] as ApiRun[] };
  const raw = { full: [] as RawRun[], diff: [] as RawRun[] };
  const defaults = { full: [] as RawRun[], diff: [] as RawRun[] };
  const args = { full: [] as string[], diff: [] as string[] };
  // Before every timed backup: the page cache written back (`sync`) and a pause, so no run pays
  // for the writeback of the one before it (a full writes ~80 MB into the repository).
  const settle = async (): Promise<void> => {
    spawnSync('sync');
    await sleep(1000);
  };
  for (let run = 1; run <= RUNS; run++) {
    for (const kind of kinds) {
      // A full through the API comes first (a raw full first would make the chain take a diff);
      // a diff through the API goes first in odd runs and last in even ones.
      const apiFirst = kind === 'full' || run % 2 === 1;
      // The two raw runs swap order from one run to the next (drift hits both alike).
      const raws = run % 2 ? (['raw', 'defaults'] as const) : (['defaults', 'raw'] as const);
      let a: ApiRun | undefined;
      for (const which of apiFirst ? (['api', ...raws] as const) : ([...raws, 'api'] as const)) {
        if (kind === 'diff') await smallChange();
        await settle();
        if (which === 'api') {
          a = await apiSnapshot(t, stanza, c.id, `bench-${kind}-${run}`);
          if (a.type !== kind) throw new Error(`the API took a ${a.type} where the bench expected a ${kind}`);
          api[kind].push(a);
          // The command line the engine ran; a raw diff before the API's in an even run replays
          // the previous run's diff line (the same but for the annotation).
          args[kind] = loggedBackupArgs(t.logFile);
          continue;
        }
        const r = await replay(t, stanza, args[kind], `bench-${which}-${kind}-${run}`, which === 'raw' ? [] : PGBACKREST_DEFAULTS);
        (which === 'raw' ? raw : defaults)[kind].push(r);
      }
      process.stdout.write(
        `run ${run} ${kind.padEnd(4)}  API ${secs(a!.total)} s (backup step ${secs(a!.steps.get('BACKUP') ?? 0)} s)` +
          `   raw ${secs(raw[kind].at(-1)!.ms)} s   defaults ${secs(defaults[kind].at(-1)!.ms)} s\n`,
      );
    }
  }

  process.stdout.write(`\nsnapshot of ~${MB} MB, 3-node cluster, same machine, ${RUNS} run(s), medians\n`);
  for (const kind of kinds) {
    const A = api[kind];
    const apiMs = median(A.map((r) => r.total));
    const backupMs = median(A.map((r) => r.steps.get('BACKUP') ?? 0));
    const rawMs = median(raw[kind].map((r) => r.ms));
    const defMs = median(defaults[kind].map((r) => r.ms));
    const rawBytes = median(raw[kind].map((r) => r.repoBytes));
    const defBytes = median(defaults[kind].map((r) => r.repoBytes));
    process.stdout.write(
      `\n${kind}: API ${secs(apiMs)} s [${A.map((r) => secs(r.total)).join(', ')}]   raw ${secs(rawMs)} s [${raw[kind].map((r) => secs(r.ms)).join(', ')}]` +
        `   ratio API/raw ${(apiMs / rawMs).toFixed(2)} (backup step/raw ${(backupMs / rawMs).toFixed(2)})\n`,
    );
    process.stdout.write(
      `  settings (D30): dwsbox's (zst 3, process-max 2) ${secs(rawMs)} s, ${size(rawBytes)} in the repository;` +
        ` pgBackRest's defaults (gz 6, process-max 1) ${secs(defMs)} s [${defaults[kind].map((r) => secs(r.ms)).join(', ')}], ${size(defBytes)};` +
        ` ratio dwsbox/defaults time ${(rawMs / defMs).toFixed(2)}, size ${(rawBytes / defBytes).toFixed(2)}\n`,
    );
    const part = (name: string, f: (r: ApiRun) => number): string => `${name} ${secs(median(A.map(f)))}`;
    process.stdout.write(
      `  API time: ${[
        part('POST answered', (r) => r.post),
        part('created→first step', (r) => r.toFirstStep),
        ...STEPS.map((s) => part(s, (r) => r.steps.get(s) ?? 0)),
        part('gaps between steps', (r) => r.gaps),
        part('last step→finished', (r) => r.lastStepToFinished),
        part('finished→client saw it', (r) => r.finishedToSeen),
      ].join(', ')} s\n`,
    );
    const labels = [...new Set(A.flatMap((r) => [...r.tools.keys()]))];
    process.stdout.write(
      `  tools the engine ran: ${labels
        .map((l) => `${l} ×${median(A.map((r) => r.tools.get(l)?.n ?? 0))} ${secs(median(A.map((r) => r.tools.get(l)?.ms ?? 0)))} s`)
        .join(', ')}\n`,
    );
  }
  process.stdout.write(`\nreplayed: pgbackrest ${args.diff.join(' ')}\n`);
} finally {
  await t.stop();
  // On the Patroni engine: the run's host agent, with its etcd.
  await stopTestAgent();
}
