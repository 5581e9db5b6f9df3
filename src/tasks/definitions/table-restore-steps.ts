/**
 * The steps both ways of a table restore share (D15), whatever the source (the temporary copy
 * or the scratch database): the export (renames in the source, then a dump of the renamed
 * tables), the import into the cluster (refusing a target that exists, creating the schemas it
 * needs, loading the filtered dump in one transaction), the row and index counts, and the
 * undo that drops only what this task imported.
 */
import { derivedName, sameTable, tableName } from '../../domain/table-names.js';
import { AppError } from '../../errors/app-error.js';
import type { ExportSource, ExportedTable, ForeignKeyToAdd } from '../../dataplane/logical-plane.js';
import { exportedOf, runningPrimary, runOptions, workOf, type Ctx } from './table-restore-context.js';

const sourceOf = (ctx: Ctx): ExportSource => (ctx.params.viaScratchDatabase ? 'scratch-database' : 'temporary-copy');

/** progressInfo of the export and import: how far through the tables, and which one. */
function tablesInfo(tables: ExportedTable[], i: number): { tablesDone: number; tablesTotal: number; table: string } {
  const at = tables[Math.min(i, tables.length - 1)];
  return { tablesDone: Math.min(i, tables.length), tablesTotal: tables.length, table: at ? tableName(at.target) : '' };
}

const sourceBytesOf = (tables: ExportedTable[]): number => tables.reduce((a, t) => a + Math.max(t.bytes, 1), 0);

/** Rename inside the source, then dump the renamed tables, progress per table. */
export async function exportTablesStep(ctx: Ctx): Promise<void> {
  const { cluster, primary } = await runningPrimary(ctx);
  const work = workOf(ctx);
  const from = { source: sourceOf(ctx), database: ctx.params.database };
  const exported = await ctx.dataPlane.prepareExport(cluster, primary, work, { ...from, tables: ctx.params.tables });
  await ctx.setState({ exported });
  const tables = exported.tables;
  const { dumpBytes } = await ctx.dataPlane.exportTables(
    cluster,
    primary,
    work,
    { ...from, tables },
    runOptions(ctx, (s) => {
      const i = Number(s.data?.['tableIndex'] ?? 0);
      ctx.progress({
        source: s.source,
        bytesDone: s.bytesDone ?? null,
        bytesTotal: s.bytesTotal ?? null,
        percent: s.percent ?? null,
        data: { rowsDone: s.data?.['rowsDone'], table: s.data?.['table'] },
        info: tablesInfo(tables, i),
      });
    }),
  );
  const total = sourceBytesOf(tables);
  ctx.progress({
    source: 'pg_dump',
    bytesDone: total,
    bytesTotal: total,
    percent: 100,
    data: { dumpBytes },
    info: { ...tablesInfo(tables, tables.length), dumpBytes, rows: tables.reduce((a, t) => a + t.rows, 0) },
  });
}

/**
 * The filtered list, then the import into the cluster's primary in one transaction. A target
 * that exists is refused again here (something may have made it since the request), unless it
 * is this task's own import, committed by an interrupted run of this step.
 */
export async function importTablesStep(ctx: Ctx): Promise<void> {
  if (ctx.state.imported) {
    await addOutsideForeignKeys(ctx);
    return;
  }
  const dp = ctx.dataPlane;
  const exported = exportedOf(ctx);
  const tables = exported.tables;
  const db = ctx.params.database;
  const work = workOf(ctx);
  const { cluster, primary } = await runningPrimary(ctx);
  const targets = tables.map((t) => t.target);
  // The list first (it fails at once when the work's dump is gone): foreign keys only to tables restored along or in the cluster.
  const referenced = (
    await dp.relations(
      cluster,
      primary,
      db,
      exported.fks.map((f) => f.ref),
    )
  )
    .filter((x) => x.kind === 'r' || x.kind === 'p')
    .map((x) => x.ref);
  const plan = await dp.planTableImport(work, exported.fks, [...targets, ...referenced], runOptions(ctx));
  const cp = ctx.checkpoint;
  const clash = await dp.relations(cluster, primary, db, targets);
  // A crash after pg_restore committed but before the step's checkpoint: the targets are this
  // task's own import when all of them came from one transaction that began after the step
  // recorded the transaction counter (pg_restore runs as a single transaction).
  const own =
    clash.length === targets.length &&
    !!cp?.started &&
    !!cp.xidBefore &&
    (await dp.createdInOneTransactionSince(
      cluster,
      primary,
      db,
      clash.map((x) => x.oid),
      cp.xidBefore,
    ));
  if (clash.length && !own) {
    throw new AppError('TARGET_TABLE_EXISTS', {
      args: [
        clash.map((x) => tableName(x.ref)).join(', ') +
          (cp?.started ? ' (an interrupted earlier run of this task may have created it; it is left as it is)' : ''),
      ],
    });
  }
  const schemas = [...new Set(targets.map((t) => t.schema))];
  const have = new Set(await dp.schemasPresent(cluster, primary, db, schemas));
  const created = [...(ctx.state.createdSchemas ?? [])];
  for (const s of schemas.filter((x) => !have.has(x))) {
    await dp.createSchema(cluster, primary, db, s);
    created.push(s);
    await ctx.setState({ createdSchemas: created });
  }
  const owners = [...new Set(tables.map((t) => t.owner))];
  const roles = new Set(await dp.rolesPresent(cluster, primary, owners));
  const missingOwners = owners.filter((o) => !roles.has(o));
  const info = (i: number) => ({
    ...tablesInfo(tables, i),
    droppedForeignKeys: plan.droppedForeignKeys.join('; ') || 'none',
    ...(missingOwners.length ? { ownersMissing: missingOwners.join(', ') } : {}),
  });
  if (own) {
    ctx.log.info('the import of an interrupted run of this step had committed: kept', { tables: targets.map(tableName) });
  } else {
    await ctx.setCheckpoint({ started: true, xidBefore: await dp.transactionCounter(cluster, primary, db) });
    await dp.importTables(
      cluster,
      primary,
      work,
      { database: db, tables },
      runOptions(ctx, (s) => {
        const i = Number(s.data?.['tableIndex'] ?? 0);
        ctx.progress({
          source: s.source,
          bytesDone: s.bytesDone ?? null,
          bytesTotal: s.bytesTotal ?? null,
          percent: s.percent ?? null,
          data: { rowsDone: s.data?.['rowsDone'], copyBytes: s.data?.['copyBytes'], table: s.data?.['table'] },
          info: info(i),
        });
      }),
    );
  }
  const found = await dp.relations(cluster, primary, db, targets);
  const imported = targets.map((t) => {
    const f = found.find((x) => sameTable(x.ref, t));
    if (!f) throw new AppError('VERIFY_FAILED', { args: [`pg_restore finished but table ${tableName(t)} is not in the cluster`] });
    return { target: t, oid: f.oid };
  });
  await ctx.setState({ imported });
  const outside = await addOutsideForeignKeys(ctx);
  const restoredBytes = await dp.relationBytes(
    cluster,
    primary,
    db,
    imported.map((x) => x.oid),
  );
  const total = sourceBytesOf(tables);
  ctx.progress({
    source: 'pg_total_relation_size',
    bytesDone: total,
    bytesTotal: total,
    percent: 100,
    data: { restoredBytes },
    info: {
      ...info(tables.length),
      restoredBytes,
      rows: tables.reduce((a, t) => a + t.rows, 0),
      ...(outside.dropped.length ? { droppedForeignKeys: [...plan.droppedForeignKeys, ...outside.dropped].join('; ') } : {}),
      ...(ctx.params.viaScratchDatabase ? { addedForeignKeys: outside.added.join('; ') || 'none' } : {}),
    },
  });
}

/**
 * A logical snapshot's foreign keys to tables outside its dump were not in the scratch
 * database, so the export could not carry them: each is added to its restored table (its
 * source definition, the referenced table schema-qualified) under a name derived like the
 * table's other objects, when that table exists in the cluster. One that does not hold, or
 * whose table is gone, is reported, not added. Idempotent: a constraint of that name is kept.
 */
async function addOutsideForeignKeys(ctx: Ctx): Promise<{ added: string[]; dropped: string[] }> {
  const none = { added: [], dropped: [] };
  if (!ctx.params.viaScratchDatabase) return none;
  const snap = await ctx.store.getSnapshotById(ctx.params.snapshotId);
  const defs = snap?.fineGrained?.outsideForeignKeyDefs ?? [];
  const imported = ctx.state.imported ?? [];
  const fks: ForeignKeyToAdd[] = ctx.params.tables.flatMap((p) => {
    const mine = imported.find((x) => sameTable(x.target, p.target));
    if (!mine) return [];
    return defs
      .filter((d) => d.schema === p.source.schema && d.table === p.source.name)
      .map((d) => ({ table: p.target, oid: mine.oid, name: derivedName(d.name, p.source.name, p.target.name), definition: d.definition }));
  });
  if (fks.length === 0) return none;
  const { cluster, primary } = await runningPrimary(ctx);
  const out = await ctx.dataPlane.addForeignKeys(cluster, primary, workOf(ctx), ctx.params.database, fks);
  if (out.dropped.length) ctx.log.warn('foreign keys to tables outside the snapshot not restored', { dropped: out.dropped });
  return out;
}

/** Row and index counts in the cluster equal those the export measured in the source. */
export async function verifyRowsStep(ctx: Ctx): Promise<void> {
  const exported = exportedOf(ctx);
  const { cluster, primary } = await runningPrimary(ctx);
  const tables = exported.tables;
  const counts = await ctx.dataPlane.countTables(
    cluster,
    primary,
    workOf(ctx),
    ctx.params.database,
    tables.map((t) => t.target),
    runOptions(ctx, (s) => {
      const t = tables[Number(s.data?.['tableIndex'] ?? 0)];
      ctx.progress({
        source: s.source,
        percent: s.percent ?? null,
        info: { table: t ? tableName(t.target) : '', rows: s.data?.['rows'], expectedRows: t?.rows },
      });
    }),
  );
  const problems: string[] = [];
  for (const [i, c] of counts.entries()) {
    const t = tables[i]!;
    if (c.rows !== t.rows) problems.push(`${tableName(t.target)} has ${c.rows} rows, the snapshot ${t.rows}`);
    if (c.indexes !== t.indexes) problems.push(`${tableName(t.target)} has ${c.indexes} indexes, the snapshot ${t.indexes}`);
  }
  if (problems.length) throw new AppError('VERIFY_FAILED', { args: [problems.join('; ')] });
}

/**
 * Remove the work (temporary copy, files), and drop what this task imported — only tables
 * whose OID is the one this task recorded right after its own import, so a table that existed
 * before (or that someone else created since) is never touched — and the schemas it created,
 * when empty.
 */
export async function discardImported(ctx: Ctx): Promise<void> {
  await ctx.dataPlane.removeTableRestoreWork(workOf(ctx));
  // Tables that passed verification stay: only the temporary copy failed to go.
  const verified = (await ctx.store.getStep(ctx.task.id, 'VERIFY_ROWS'))?.status === 'SUCCESS';
  const imported = verified ? [] : (ctx.state.imported ?? []);
  const schemas = ctx.state.createdSchemas ?? [];
  if (imported.length === 0 && schemas.length === 0) return;
  const { cluster, primary } = await runningPrimary(ctx);
  await ctx.dataPlane.dropImportedTables(cluster, primary, ctx.params.database, imported, schemas);
}
