/**
 * A table restore through a scratch database (D15): a logical snapshot's dump is loaded into a
 * new database on the cluster's own primary, named after the task, owned by the administrator
 * and not open to PUBLIC (D32); the tables are then renamed and exported there
 * (table-export.ts), and the database is dropped.
 */
import type { NodeRecord } from '../../domain/records.js';
import { scratchDatabaseName } from '../../domain/table-names.js';
import { AppError } from '../../errors/app-error.js';
import type { ClusterRef, RunOptions } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import type { TableRestoreWork, TenantCluster } from '../logical-plane.js';
import { baseEnv, runTool, startTool, whilePolling } from '../pg-exec.js';
import { ident, literal, writeOwned } from '../pg-instance.js';
import { scratchLoadList } from '../pg-toc.js';
import { LOGIN_SESSION_OPTIONS, loginConninfo, withAdminLogin } from './restore-login.js';
import { prepareWorkDir, scratchListFile, toolAppName } from './restore-work.js';
import { toolRun } from './tool-run.js';
import { join } from 'node:path';

/** Drop the work's scratch database (its sessions are ended first). Idempotent. */
export async function dropScratchDatabase(e: LocalEngine, cluster: ClusterRef, primary: NodeRecord, work: TableRestoreWork): Promise<void> {
  await e
    .instance(cluster, primary)
    .query(`drop database if exists ${ident(scratchDatabaseName(work.taskId))} with (force)`, [], 'postgres', 10 * 60_000);
}

/**
 * A new, empty scratch database (a leftover is dropped first) with the encoding and locale of
 * `like`, so the rows and their sort order come through the scratch copy as they will be in the
 * target; and the work directory.
 */
export async function createScratchDatabase(
  e: LocalEngine,
  cluster: TenantCluster,
  primary: NodeRecord,
  work: TableRestoreWork,
  like: string,
): Promise<string> {
  await dropScratchDatabase(e, cluster, primary, work);
  const live = e.instance(cluster, primary);
  const db = (
    await live.query<{ enc: string; collate: string; ctype: string }>(
      'select pg_encoding_to_char(encoding) as enc, datcollate as collate, datctype as ctype from pg_database where datname = $1',
      [like],
    )
  )[0];
  if (!db)
    throw new AppError('DATABASE_NOT_FOUND', {
      message: `Database ${like} does not exist in the cluster: create it first, then restore the tables.`,
    });
  const scratch = scratchDatabaseName(work.taskId);
  await live.query(
    `create database ${ident(scratch)} owner ${ident(cluster.userName)} template template0 encoding ${literal(db.enc)} lc_collate ${literal(db.collate)} lc_ctype ${literal(db.ctype)}`,
    [],
    'postgres',
    10 * 60_000,
  );
  // D32: not open to PUBLIC (only its owner, the administrator, and dwsbox connect).
  await live.query(`revoke all on database ${ident(scratch)} from public`);
  prepareWorkDir(e, work);
  return scratch;
}

/**
 * `pg_restore -j --exit-on-error -L <list>` of the dump into the scratch database, by the
 * work's login as the administrator (`--role`), owning what it loads: nothing in the dump
 * runs as superuser (D32). The list leaves out grants, the schemas the new database already
 * has, and foreign keys to tables outside the dump (their tables are not there). Progress:
 * the scratch database's growth against the source bytes the snapshot recorded, polled one
 * query at a time; an answer that comes after pg_restore ended is dropped.
 */
export async function loadScratchDatabase(
  e: LocalEngine,
  cluster: TenantCluster,
  primary: NodeRecord,
  work: TableRestoreWork,
  dump: { location: string; outsideForeignKeys: number[]; sourceBytes: number | null },
  o: RunOptions = {},
): Promise<{ loadedBytes: number; tocEntries: number }> {
  const live = e.instance(cluster, primary);
  const os = e.projectUser(work.projectId);
  const scratch = scratchDatabaseName(work.taskId);
  const lockFile = e.lockFile(work.clusterId);
  const bin = (n: string): string => join(e.bins.binDir, n);
  const toc = await runTool({
    cmd: bin('pg_restore'),
    args: ['-l', dump.location],
    env: baseEnv(),
    runAs: os,
    ...toolRun(o, lockFile),
    logger: e.log,
    label: 'pg_restore -l',
    timeoutMs: 10 * 60_000,
  });
  const haveSchemas = new Set((await live.query<{ n: string }>('select nspname as n from pg_namespace', [], scratch)).map((r) => r.n));
  const kept = scratchLoadList(toc.stdout, haveSchemas, new Set(dump.outsideForeignKeys));
  const listFile = scratchListFile(e, work);
  writeOwned(listFile, kept.join('\n') + '\n', os, 0o600);
  const sizeOf = async (timeoutMs?: number): Promise<number> =>
    Number((await live.query<{ n: string }>('select pg_database_size($1)::text as n', [scratch], 'postgres', timeoutMs))[0]?.n ?? 0);
  const total = Math.max(dump.sourceBytes ?? 0, 1);
  const base = await sizeOf();
  let loaded = 0;
  const emit = (source: string): void => {
    o.onProgress?.({
      source,
      bytesDone: Math.min(loaded, total),
      bytesTotal: total,
      percent: Math.min(99.99, (100 * loaded) / total),
      data: { loadedBytes: loaded, tocEntries: kept.length },
    });
  };
  await withAdminLogin(e, cluster, primary, work, scratch, async (login) => {
    const tool = startTool({
      cmd: bin('pg_restore'),
      args: [
        '-j',
        '2',
        '--exit-on-error',
        '--no-privileges',
        '--no-owner',
        `--role=${login.admin}`,
        '-L',
        listFile,
        '-d',
        loginConninfo(e, work, login, scratch, toolAppName(work, 'restore')),
        dump.location,
      ],
      env: baseEnv({ PGOPTIONS: LOGIN_SESSION_OPTIONS }),
      runAs: os,
      ...toolRun(o, lockFile),
      logger: e.log,
      label: 'pg_restore',
      timeoutMs: 24 * 3600_000,
      waitingFor: 'pg_restore to load the scratch database',
    });
    emit('pg_restore -l');
    await whilePolling(tool.done, 300, async (running) => {
      const n = (await sizeOf(2000)) - base;
      if (!running()) return;
      if (n > loaded) tool.touch();
      loaded = Math.max(loaded, n);
      emit('pg_database_size');
    });
  });
  return { loadedBytes: Math.max(0, (await sizeOf()) - base), tocEntries: kept.length };
}
