/**
 * The logical part of the data plane (D15, D22): dumps and loads of chosen objects — schema-
 * and table-level snapshots (a dump of exactly those objects), table restores through a
 * temporary copy of a backup set or through a scratch database on the cluster, with the
 * renames and TOC filtering of D15 — and the catalog reads they and their requests need.
 * Implemented by the engines with the rest of `DataPlane`.
 *
 * Like the rest of the data plane, each intention is idempotent (run again after a crash or a
 * retry, it finds its finished work or starts it over) and reports progress through
 * `onProgress`, with figures measured from the running tools (D14); no sample follows the
 * intention's return. It speaks of clusters, members, snapshots, databases and tables; a
 * table restore's own work on the host (its temporary copy, its files, its scratch database,
 * its login role) is named by its task (`TableRestoreWork`), never by a path.
 *
 * Tenant data is only ever loaded and read with the cluster administrator's rights, through
 * a login role the intention makes for the work and drops after it (D32): a superuser's
 * session under `SET ROLE` would not do, since code the tenant planted can `RESET ROLE`.
 */
import type { ClusterRecord, FineGrainedDetail, NodeRecord, OutsideForeignKey } from '../domain/records.js';
import type { TableRef } from '../domain/table-names.js';
import type { BackupSetRef, ClusterRef, RunOptions } from './data-plane.js';

/** A cluster as the logical intentions need it: its administrator owns and reads tenant data (D32). */
export type TenantCluster = Pick<ClusterRecord, 'id' | 'projectId' | 'userName'>;

/**
 * A table restore's own work on the host, named by its task (on the cluster it restores
 * into): its temporary copy of the snapshot, its dump and lists, its scratch database and its
 * login role. Removed by `removeTableRestoreWork` (and `dropScratchDatabase`); nothing of it
 * outlives the task. Its tools hold the cluster's lock unless told another.
 */
export interface TableRestoreWork {
  taskId: string;
  projectId: string;
  clusterId: string;
}

/** Where a table restore renames and exports the tables: its temporary copy, or its scratch database on the cluster's primary. */
export type ExportSource = 'temporary-copy' | 'scratch-database';

/** A source table and the name it comes back under (names already folded). */
export interface TablePair {
  source: TableRef;
  target: TableRef;
}

/** A database of a cluster, as its catalog shows it. */
export interface DatabaseInfo {
  name: string;
  allowConnections: boolean;
  isTemplate: boolean;
}

/** A relation under a name, with its catalog kind (`r` table, `p` partitioned table, `v` view, …). */
export interface RelationInfo {
  ref: TableRef;
  oid: number;
  kind: string;
}

/** A relation with the figures a dump is sized by: estimated rows and `pg_table_size`. */
export interface RelationFacts extends RelationInfo {
  rows: number;
  bytes: number;
}

/** A table a logical dump holds, as the primary's catalog showed it right before the dump. */
export interface DumpedTable {
  schema: string;
  name: string;
  oid: number;
  rows: number;
  bytes: number;
  /** a partitioned table (schema level): a definition in the dump, its rows are in its partitions */
  partitioned?: boolean;
}

/** A schema- or table-level snapshot's dump: its project (whose OS user owns it, D32), stanza and snapshot. */
export interface LogicalDumpRef {
  projectId: string;
  stanza: string;
  snapshotId: string;
}

/** A dump as it is now: complete or not, its bytes, and where the engine keeps it (opaque; the snapshot records it). */
export interface LogicalDumpState {
  complete: boolean;
  bytes: number;
  location: string;
}

/** A renamed table in the restore's source, measured (exact rows) before the export. */
export interface ExportedTable extends TablePair {
  oid: number;
  rows: number;
  bytes: number;
  indexes: number;
  owner: string;
}
/** A foreign key of an exported table (`table` as the source's catalog shows it). */
export interface ExportedFk {
  oid: number;
  table: string;
  name: string;
  ref: TableRef;
}
export interface Exported {
  tables: ExportedTable[];
  fks: ExportedFk[];
}
/** A table the import created, by the OID it got (the undo drops only a table that still has it). */
export interface Imported {
  target: TableRef;
  oid: number;
}

/** A foreign key to add to a restored table: its name there, and its source definition (FOREIGN KEY … REFERENCES …). */
export interface ForeignKeyToAdd {
  table: TableRef;
  oid: number;
  name: string;
  definition: string;
}

/** A restored table counted in the cluster. */
export interface TableCount {
  target: TableRef;
  rows: number;
  indexes: number;
}

export interface LogicalDataPlane {
  // ------------------------------------------------------------------ catalog reads (on a running primary)
  /** The database, or null when the cluster has none of that name. */
  databaseInfo(cluster: ClusterRef, primary: NodeRecord, database: string): Promise<DatabaseInfo | null>;
  /** Which of these schemas exist in the database. */
  schemasPresent(cluster: ClusterRef, primary: NodeRecord, database: string, schemas: string[]): Promise<string[]>;
  /**
   * Relations with their sizes: every table (ordinary or partitioned) of these schemas, by
   * schema and name; or the relations (of any kind) under these table names.
   */
  relationFacts(
    cluster: ClusterRef,
    primary: NodeRecord,
    database: string,
    objects: { schemas: string[] } | { tables: TableRef[] },
  ): Promise<RelationFacts[]>;
  /** Relations (of any kind) that exist under these names. */
  relations(cluster: ClusterRef, primary: NodeRecord, database: string, refs: TableRef[]): Promise<RelationInfo[]>;
  /** Foreign keys of these tables whose referenced table is not among them, defined with every name schema-qualified. */
  outsideForeignKeys(cluster: ClusterRef, primary: NodeRecord, database: string, tableOids: number[]): Promise<OutsideForeignKey[]>;
  /** Which of these roles exist. */
  rolesPresent(cluster: ClusterRef, primary: NodeRecord, roles: string[]): Promise<string[]>;
  /** Bytes of these relations with their indexes and TOAST (`pg_total_relation_size`). */
  relationBytes(cluster: ClusterRef, primary: NodeRecord, database: string, oids: number[]): Promise<number>;
  /** The database's transaction counter now (`txid_current()`), to recognise later what a transaction begun after it created. */
  transactionCounter(cluster: ClusterRef, primary: NodeRecord, database: string): Promise<string>;
  /** Whether these relations were all created by one transaction that began after `counter`. */
  createdInOneTransactionSince(
    cluster: ClusterRef,
    primary: NodeRecord,
    database: string,
    oids: number[],
    counter: string,
  ): Promise<boolean>;
  /** Create a schema owned by the administrator (one that exists is left alone). */
  createSchema(cluster: TenantCluster, primary: NodeRecord, database: string, schema: string): Promise<void>;

  // ------------------------------------------------------------------ logical snapshots (pg_dump -Fd)
  /** The snapshot's dump as it is now. */
  logicalDump(ref: LogicalDumpRef): Promise<LogicalDumpState>;
  /** Is a dump the snapshot recorded (its `location`) there and complete? */
  logicalDumpReadable(location: string): Promise<boolean>;
  /**
   * Dump exactly the schemas or tables of `detail` from the primary (`--strict-names`: a
   * missing one fails the dump), reporting source bytes done (finished tables whole, running
   * ones by their rows copied; `data.dumpBytes` written so far, `data.compressedBytes`,
   * `data.tablesDone`). A complete dump is kept; a partial one never survives a failure.
   */
  dumpObjects(
    cluster: ClusterRef,
    primary: NodeRecord,
    ref: LogicalDumpRef,
    what: { detail: FineGrainedDetail; tables: DumpedTable[] },
    o?: RunOptions,
  ): Promise<LogicalDumpState>;
  /** The dump holds exactly these tables (with their rows) and, at table level, no schema; VERIFY_FAILED naming what is wrong. */
  verifyLogicalDump(
    ref: LogicalDumpRef,
    expected: { level: FineGrainedDetail['level']; tables: DumpedTable[] },
    o?: RunOptions,
  ): Promise<{ tocEntries: number }>;

  // ------------------------------------------------------------------ table restores (D15): the two ways to a source
  /**
   * Restore the backup set's `database` (pgBackRest, only that database) into the work's
   * temporary copy: a unix socket only, no archiving (D4). A copy that runs already is kept.
   */
  restoreTemporaryCopy(work: TableRestoreWork, set: BackupSetRef, database: string, o?: RunOptions): Promise<void>;
  /** Start the temporary copy and wait until it is promoted (`data.phase: 'start'`, then replay samples with `data.inRecovery`, `data.replayLsn`). */
  startTemporaryCopy(work: TableRestoreWork, o?: RunOptions): Promise<void>;
  /**
   * A new, empty scratch database on the primary for the work (a leftover of an earlier run
   * is dropped first), with the encoding and locale of `like`, owned by the administrator and
   * not open to PUBLIC (D32). DATABASE_NOT_FOUND when `like` does not exist. Returns its name.
   */
  createScratchDatabase(cluster: TenantCluster, primary: NodeRecord, work: TableRestoreWork, like: string): Promise<string>;
  /**
   * Load a logical snapshot's dump (its recorded `location`) into the work's scratch database,
   * as the administrator: everything but grants, the schemas the database has already, and
   * foreign keys to tables outside the dump. Reports the scratch database's growth against
   * `sourceBytes` (`data.loadedBytes`, `data.tocEntries`). Returns the bytes loaded.
   */
  loadScratchDatabase(
    cluster: TenantCluster,
    primary: NodeRecord,
    work: TableRestoreWork,
    dump: { location: string; outsideForeignKeys: number[]; sourceBytes: number | null },
    o?: RunOptions,
  ): Promise<{ loadedBytes: number; tocEntries: number }>;
  /** Drop the work's scratch database, ending its sessions (idempotent). */
  dropScratchDatabase(cluster: ClusterRef, primary: NodeRecord, work: TableRestoreWork): Promise<void>;

  // ------------------------------------------------------------------ table restores: export, import, verify, undo
  /**
   * In the source, in one transaction: each table moves to its target schema and name, with
   * its indexes, constraints and owned sequences renamed after it, clear of every relation
   * name the cluster's target schemas use (idempotent). Then each table is measured under a
   * lock, counted only while its name still means that table (D32). TABLE_NOT_FOUND for a
   * source that is no table; NOT_SUPPORTED for a partitioned one.
   */
  prepareExport(
    cluster: ClusterRef,
    primary: NodeRecord,
    work: TableRestoreWork,
    from: { source: ExportSource; database: string; tables: TablePair[] },
  ): Promise<Exported>;
  /**
   * Dump the renamed tables from the source into the work's files, reporting per table
   * (`data.tableIndex`, `data.rowsDone`). A finished dump is kept. Returns its bytes.
   */
  exportTables(
    cluster: ClusterRef,
    primary: NodeRecord,
    work: TableRestoreWork,
    from: { source: ExportSource; database: string; tables: ExportedTable[] },
    o?: RunOptions,
  ): Promise<{ dumpBytes: number }>;
  /**
   * Read the exported dump's table of contents and keep (D15) the tables' definitions, data,
   * sequences, defaults, constraints and indexes, and their foreign keys only to tables in
   * `keepForeignKeysTo`. Returns the foreign keys left out. ENGINE_COMMAND_FAILED when the
   * work has no dump.
   */
  planTableImport(
    work: TableRestoreWork,
    fks: ExportedFk[],
    keepForeignKeysTo: TableRef[],
    o?: RunOptions,
  ): Promise<{ droppedForeignKeys: string[] }>;
  /**
   * Load the planned import into the cluster's `database` in one transaction, as the
   * administrator (who owns the tables), reporting per table (`data.tableIndex`,
   * `data.rowsDone`, `data.copyBytes`).
   */
  importTables(
    cluster: TenantCluster,
    primary: NodeRecord,
    work: TableRestoreWork,
    into: { database: string; tables: ExportedTable[] },
    o?: RunOptions,
  ): Promise<void>;
  /**
   * Add each foreign key, as the administrator, unless the table has a constraint of that
   * name already; one that does not hold (rows with no match, the referenced table gone) is
   * left out and reported.
   */
  addForeignKeys(
    cluster: TenantCluster,
    primary: NodeRecord,
    work: TableRestoreWork,
    database: string,
    fks: ForeignKeyToAdd[],
  ): Promise<{ added: string[]; dropped: string[] }>;
  /** Count the tables' rows and indexes as the administrator (D32), reporting each table counted (`data.tableIndex`). */
  countTables(
    cluster: TenantCluster,
    primary: NodeRecord,
    work: TableRestoreWork,
    database: string,
    tables: TableRef[],
    o?: RunOptions,
  ): Promise<TableCount[]>;
  /**
   * Drop the tables the import created — each only while it still has the OID it got, so a
   * table that existed before or that someone made since is never touched — and these
   * schemas when they are empty.
   */
  dropImportedTables(cluster: ClusterRef, primary: NodeRecord, database: string, imported: Imported[], schemas: string[]): Promise<void>;
  /** Remove the work's temporary copy and files (idempotent). */
  removeTableRestoreWork(work: TableRestoreWork): Promise<void>;
}
