/**
 * The import of a table restore (D15) into the cluster's primary, shared by both ways to a
 * source: the export's dump filtered (`pg_restore -l`, the D15 list), loaded in one
 * transaction by the work's login as the administrator (D32), foreign keys added where the
 * export could not carry them, the rows counted, and — the undo — what the import created
 * dropped again.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeRecord } from '../../domain/records.js';
import { sameTable, tableName, type TableRef } from '../../domain/table-names.js';
import { AppError } from '../../errors/app-error.js';
import type { ClusterRef, RunOptions } from '../data-plane.js';
import type { LocalEngine } from '../local-engine.js';
import { tableProgress } from '../logical-progress.js';
import type {
  ExportedFk,
  ExportedTable,
  ForeignKeyToAdd,
  Imported,
  TableCount,
  TableRestoreWork,
  TenantCluster,
} from '../logical-plane.js';
import { baseEnv, runTool, startTool, whilePolling } from '../pg-exec.js';
import { ident, writeOwned } from '../pg-instance.js';
import { checkedForeignKey, filterToc } from '../pg-toc.js';
import { relationsIn } from './logical-catalog.js';
import { LOGIN_SESSION_OPTIONS, loginConninfo, withAdminLogin, withAdminSession } from './restore-login.js';
import { dumpFile, importListFile, toolAppName } from './restore-work.js';
import { withSession } from './sessions.js';
import { toolRun } from './tool-run.js';
import { COPY_PROGRESS } from './table-export.js';

const qualified = (t: TableRef): string => `${ident(t.schema)}.${ident(t.name)}`;

/** The work's dump, which the import needs; ENGINE_COMMAND_FAILED when it is gone. */
function exportedDump(e: LocalEngine, work: TableRestoreWork): string {
  const dump = dumpFile(e, work);
  if (!existsSync(dump))
    throw new AppError('ENGINE_COMMAND_FAILED', { args: ['table restore', `the dump ${dump} is missing; run the restore again`] });
  return dump;
}

/** `pg_restore -l` of the work's dump, filtered (pg-toc.ts) into the import's list. */
export async function planTableImport(
  e: LocalEngine,
  work: TableRestoreWork,
  fks: ExportedFk[],
  keepForeignKeysTo: TableRef[],
  o: RunOptions = {},
): Promise<{ droppedForeignKeys: string[] }> {
  const dump = exportedDump(e, work);
  const os = e.projectUser(work.projectId);
  const toc = await runTool({
    cmd: join(e.bins.binDir, 'pg_restore'),
    args: ['-l', dump],
    env: baseEnv(),
    runAs: os,
    ...toolRun(o, e.lockFile(work.clusterId)),
    logger: e.log,
    label: 'pg_restore -l',
    timeoutMs: 10 * 60_000,
  });
  const filtered = filterToc(toc.stdout, fks, (r) => keepForeignKeysTo.some((k) => sameTable(k, r)));
  writeOwned(importListFile(e, work), filtered.list, os, 0o600);
  return { droppedForeignKeys: filtered.droppedFks };
}

/**
 * `pg_restore --single-transaction -L <list>` into the cluster's database, by the work's
 * non-superuser login as the administrator (`--role`), who owns the restored tables (D32).
 * Progress per table: pg_restore's own lines, and the running COPY's rows (polled one query
 * at a time; an answer that comes after pg_restore ended is dropped). The first sample comes
 * once pg_restore runs (a `during` fault then finds it mid-flight, D13).
 */
export async function importTables(
  e: LocalEngine,
  cluster: TenantCluster,
  primary: NodeRecord,
  work: TableRestoreWork,
  into: { database: string; tables: ExportedTable[] },
  o: RunOptions = {},
): Promise<void> {
  const dump = exportedDump(e, work);
  const live = e.instance(cluster, primary);
  const tables = into.tables;
  const app = toolAppName(work, 'restore');
  let current = 0;
  let rowsDone = 0;
  let copyBytes = 0;
  const emit = (source: string): void => {
    o.onProgress?.({
      source,
      ...tableProgress(tables, current, rowsDone),
      data: { rowsDone, copyBytes, table: tables[current] ? tableName(tables[current]!.target) : null, tableIndex: current },
    });
  };
  await withAdminLogin(e, cluster, primary, work, into.database, async (login) => {
    const tool = startTool({
      cmd: join(e.bins.binDir, 'pg_restore'),
      args: [
        '--single-transaction',
        '--verbose',
        '-L',
        importListFile(e, work),
        '--no-owner',
        `--role=${login.admin}`,
        '-d',
        loginConninfo(e, work, login, into.database, app),
        dump,
      ],
      env: baseEnv({ PGOPTIONS: LOGIN_SESSION_OPTIONS }),
      runAs: e.projectUser(work.projectId),
      ...toolRun(o, e.lockFile(work.clusterId)),
      logger: e.log,
      label: 'pg_restore',
      timeoutMs: 24 * 3600_000,
      waitingFor: 'pg_restore to load the next rows',
      onLine: (line) => {
        // `pg_restore: processing data for table "s.t"`
        const m = /processing data for table "(.*)"$/.exec(line);
        if (!m) return;
        const i = tables.findIndex((t) => tableName(t.target) === m[1]);
        if (i >= 0) {
          current = i;
          rowsDone = 0;
          emit('pg_restore --verbose');
        }
      },
    });
    emit('pg_restore -l');
    await whilePolling(tool.done, 300, async (running) => {
      const r = (await live.query<{ done: string; bytes: string }>(COPY_PROGRESS, [app], 'postgres', 2000))[0];
      if (!running() || !r) return;
      tool.touch();
      rowsDone = Number(r.done);
      copyBytes = Number(r.bytes);
      emit('pg_stat_progress_copy');
    });
  });
}

/**
 * Add each foreign key (its source definition, the referenced table schema-qualified) as the
 * administrator, under its name, unless the table has a constraint of that name already. One
 * that does not hold (rows with no match) or whose table is gone is reported, not added.
 */
export async function addForeignKeys(
  e: LocalEngine,
  cluster: TenantCluster,
  primary: NodeRecord,
  work: TableRestoreWork,
  database: string,
  fks: ForeignKeyToAdd[],
): Promise<{ added: string[]; dropped: string[] }> {
  const out = { added: [] as string[], dropped: [] as string[] };
  if (fks.length === 0) return out;
  await withAdminSession(e, cluster, primary, work, database, async (c) => {
    for (const fk of fks) {
      const taken = await c.query('select 1 from pg_constraint where conrelid = $1 and conname = $2', [fk.oid, fk.name]);
      if (taken.rowCount) continue;
      try {
        const fkDef = checkedForeignKey(fk.definition);
        await c.query('begin');
        await c.query(`alter table ${qualified(fk.table)} add constraint ${ident(fk.name)} ${fkDef}`);
        await c.query('commit');
        out.added.push(`${tableName(fk.table)}.${fk.name}`);
      } catch (err) {
        await c.query('rollback').catch(() => {});
        out.dropped.push(`${tableName(fk.table)}.${fk.name} (${fk.definition}): ${(err as Error).message}`);
      }
    }
  });
  return out;
}

/** Rows and indexes of each table, counted by the work's login as the administrator (D32). */
export async function countTables(
  e: LocalEngine,
  cluster: TenantCluster,
  primary: NodeRecord,
  work: TableRestoreWork,
  database: string,
  tables: TableRef[],
  o: RunOptions = {},
): Promise<TableCount[]> {
  const out: TableCount[] = [];
  await withAdminSession(e, cluster, primary, work, database, async (c) => {
    for (const [i, t] of tables.entries()) {
      const rows = Number((await c.query<{ n: string }>(`select count(*)::text as n from ${qualified(t)}`)).rows[0]?.n ?? -1);
      const indexes =
        (await c.query<{ n: number }>(`select count(*)::int as n from pg_index where indrelid = $1::regclass`, [qualified(t)])).rows[0]
          ?.n ?? -1;
      out.push({ target: t, rows, indexes });
      o.onProgress?.({ source: 'count(*)', percent: (100 * (i + 1)) / tables.length, data: { tableIndex: i, rows, indexes } });
    }
  });
  return out;
}

/**
 * Drop the tables the import created — only those whose OID is still the one it recorded, so
 * a table that existed before (or that someone else created since) is never touched — and the
 * schemas it created, when empty (RESTRICT: a schema that holds anything now is kept).
 */
export async function dropImportedTables(
  e: LocalEngine,
  cluster: ClusterRef,
  primary: NodeRecord,
  database: string,
  imported: Imported[],
  schemas: string[],
): Promise<void> {
  await withSession(e.instance(cluster, primary), database, async (c) => {
    for (const x of imported) {
      const now = (await relationsIn(c, [x.target]))[0];
      if (now && now.oid === x.oid) await c.query(`drop table ${qualified(x.target)}`);
    }
    for (const s of schemas) await c.query(`drop schema if exists ${ident(s)}`).catch(() => {});
  });
}
