/**
 * Schema- and table-level (logical) snapshots on this host (D15): a `pg_dump -Fd -j` of
 * exactly the schemas or tables asked for, from the cluster's primary, into
 * `<dataDir>/logical/<stanza>/<snapshot id>` (logical-dump.ts), as the project's OS user.
 * Progress (D14): source bytes of the tables dumped (finished tables whole, running ones by
 * their COPY's rows), and the bytes pg_dump has written.
 *
 * MUST NOT: leave a partial dump behind. pg_dump writes into `<dir>.part`, renamed only once it
 * exits 0 with a table of contents; a failed run removes it at once.
 */
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import type { FineGrainedDetail, NodeRecord } from '../../domain/records.js';
import { tableRefsOf } from '../../domain/table-names.js';
import { AppError, isAppError } from '../../errors/app-error.js';
import type { ClusterRef, RunOptions } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import { isCompleteDump, logicalDumpDir, partialDumpDir, prepareStanzaDumpDir } from '../logical-dump.js';
import { parallelProgress } from '../logical-progress.js';
import type { DumpedTable, LogicalDumpRef, LogicalDumpState } from '../logical-plane.js';
import { baseEnv, runTool, startTool, whilePolling } from '../pg-exec.js';
import { dirSize, ident, SUPERUSER_SESSION_OPTIONS } from '../pg-instance.js';
import { dumpTocProblems } from '../pg-toc.js';
import { removeTree } from '../safe-fs.js';
import { conninfoValue } from './restore-login.js';
import { toolRun } from './tool-run.js';

/** pg_dump jobs: the host has few cores, and each job is a backend on the primary. */
const DUMP_JOBS = 2;
/** The COPYs of a tool, found by its application name. */
const COPY_ROWS = `select p.relid::int8::text as relid, p.tuples_processed::text as done from pg_stat_progress_copy p join pg_stat_activity a on a.pid = p.pid where a.application_name = $1`;

export async function logicalDump(e: LocalEngine, ref: LogicalDumpRef): Promise<LogicalDumpState> {
  const dir = logicalDumpDir(e.settings.dataDir, ref.stanza, ref.snapshotId);
  const complete = isCompleteDump(dir);
  return { complete, bytes: complete ? dirSize(dir) : 0, location: dir };
}

export async function logicalDumpReadable(e: LocalEngine, location: string): Promise<boolean> {
  return location !== '' && isCompleteDump(location);
}

/** `pg_dump -Fd -j` of exactly the schemas (`-n`) or tables (`-t`) asked for, `--strict-names`; a complete dump is kept. */
export async function dumpObjects(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  ref: LogicalDumpRef,
  what: { detail: FineGrainedDetail; tables: DumpedTable[] },
  o: RunOptions = {},
): Promise<LogicalDumpState> {
  const dataDir = e.settings.dataDir;
  const dir = logicalDumpDir(dataDir, ref.stanza, ref.snapshotId);
  if (isCompleteDump(dir)) return logicalDump(e, ref);
  const part = partialDumpDir(dataDir, ref.stanza, ref.snapshotId);
  // pg_dump cannot continue a dump: a partial one starts over.
  await removeTree(part);
  const os = e.projectUser(ref.projectId);
  prepareStanzaDumpDir(dataDir, ref.stanza, os);
  const { detail, tables } = what;
  const inst = e.instance(cluster, primary);
  const app = `dwsbox-${ref.snapshotId.slice(0, 8)}-snapshot`;
  const v = conninfoValue;
  const conninfo = `host=${v(inst.spec.sockDir)} port=${v(inst.spec.port)} user=postgres dbname=${v(detail.database)} application_name=${v(app)}`;
  const objects =
    detail.level === 'schema'
      ? detail.schemas.flatMap((s) => ['-n', ident(s)])
      : tableRefsOf(detail).flatMap((t) => ['-t', `${ident(t.schema)}.${ident(t.name)}`]);
  const finished = new Set<number>();
  const running = new Map<number, number>();
  const emit = (source: string): void => {
    const f = parallelProgress(tables, finished, running);
    o.onProgress?.({
      source,
      bytesDone: f.done,
      bytesTotal: f.total,
      percent: Math.min(99.99, (100 * f.done) / f.total),
      data: { tablesDone: finished.size, dumpBytes: dirSize(part), compressedBytes: parallelProgress(tables, finished, new Map()).done },
    });
  };
  const idle = o.idleTimeoutMs;
  const tool = startTool({
    cmd: join(e.bins.binDir, 'pg_dump'),
    args: [
      '-d',
      conninfo,
      '-Fd',
      '-j',
      String(Math.max(1, Math.min(DUMP_JOBS, tables.length))),
      '-Z',
      '1',
      '--strict-names',
      '--verbose',
      // Never wait for ever behind someone's exclusive lock: fail, and say so.
      ...(idle ? [`--lock-wait-timeout=${Math.max(1000, Math.floor(idle / 2))}`] : []),
      '-f',
      part,
      ...objects,
    ],
    env: baseEnv({ PGOPTIONS: SUPERUSER_SESSION_OPTIONS }),
    runAs: os,
    ...toolRun(o, e.lockFile(cluster.id)),
    logger: e.log,
    label: 'pg_dump',
    timeoutMs: 24 * 3600_000,
    waitingFor: 'pg_dump to dump the next rows',
    onLine: (line) => {
      // -j: `pg_dump: finished item 3350 TABLE DATA orders` (the tag has no schema); one job: `dumping contents of table "s.t"`.
      const fin = /finished item \d+ TABLE DATA (.*)$/.exec(line);
      const start = /dumping contents of table "(.*)"$/.exec(line);
      if (fin) {
        const t = tables.find((x) => x.name === fin[1] && !finished.has(x.oid));
        if (t) finished.add(t.oid);
        if (t) running.delete(t.oid);
        emit('pg_dump --verbose');
      } else if (start) {
        const t = tables.find((x) => `${x.schema}.${x.name}` === start[1]);
        if (t && !running.has(t.oid)) running.set(t.oid, 0);
        emit('pg_dump --verbose');
      }
    },
  });
  emit('pg_dump');
  try {
    await whilePolling(tool.done, 300, async (live) => {
      const rows = await inst.query<{ relid: string; done: string }>(COPY_ROWS, [app], 'postgres', 2000);
      // A poll answered after pg_dump ended must not follow the step's final (100 %) sample.
      if (!live()) return;
      if (rows.length) tool.touch();
      for (const r of rows) if (!finished.has(Number(r.relid))) running.set(Number(r.relid), Number(r.done));
      emit('pg_stat_progress_copy');
    });
  } catch (err) {
    await removeTree(part);
    throw toolError(err);
  }
  if (!isCompleteDump(part)) {
    await removeTree(part);
    throw new AppError('VERIFY_FAILED', { args: [`pg_dump exited 0 but wrote no table of contents into ${part}`] });
  }
  renameSync(part, dir);
  return logicalDump(e, ref);
}

/** `pg_restore -l`: the dump holds exactly the tables (and, at schema level, the schemas) asked for. */
export async function verifyLogicalDump(
  e: LocalEngine,
  ref: LogicalDumpRef,
  expected: { level: FineGrainedDetail['level']; tables: DumpedTable[] },
  o: RunOptions = {},
): Promise<{ tocEntries: number }> {
  const dir = logicalDumpDir(e.settings.dataDir, ref.stanza, ref.snapshotId);
  const toc = await runTool({
    cmd: join(e.bins.binDir, 'pg_restore'),
    args: ['-l', dir],
    env: baseEnv(),
    runAs: e.projectUser(ref.projectId),
    ...toolRun(o),
    logger: e.log,
    label: 'pg_restore -l',
    timeoutMs: 10 * 60_000,
  });
  const r = dumpTocProblems(toc.stdout, expected.level, expected.tables);
  if (r.problems.length) throw new AppError('VERIFY_FAILED', { args: [r.problems.join('; ')] });
  return { tocEntries: r.entries };
}

/** pg_dump's own words: its `error:` lines (with --verbose, the last lines are mostly progress). */
function toolError(err: unknown): unknown {
  if (!isAppError(err) || err.code !== 'ENGINE_COMMAND_FAILED') return err;
  const stderr = String((err.details as { stderr?: unknown } | undefined)?.stderr ?? '');
  const said = stderr
    .split('\n')
    .filter((l) => /error:|detail:|FATAL|ERROR/.test(l))
    .slice(-6)
    .join('\n');
  return said
    ? new AppError('ENGINE_COMMAND_FAILED', { args: ['pg_dump', said], ...(err.details ? { details: err.details } : {}), cause: err })
    : err;
}
