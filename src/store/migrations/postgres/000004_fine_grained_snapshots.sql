-- dwsbox store, version 4: schema- and table-level (logical, pg_dump -Fd) snapshots.
-- backup_level: cluster (a pgBackRest set, the default for every existing row), schema or table.
-- fine_grained_detail: JSON {level, database, schemas, tables, dumpDir, ...} of a logical snapshot.
ALTER TABLE snapshots ADD COLUMN backup_level TEXT NOT NULL DEFAULT 'cluster';
ALTER TABLE snapshots ADD COLUMN fine_grained_detail TEXT;
