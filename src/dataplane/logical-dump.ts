/**
 * Where schema- and table-level (logical) snapshots live on this host, and the small facts
 * about a `pg_dump -Fd` directory the local engine needs (local/logical-dumps.ts). A logical
 * snapshot is a local directory per stanza, `<dataDir>/logical/<stanza>/<snapshot id>`,
 * whatever repository the stanza's pgBackRest sets use: it is not part of the pgBackRest
 * chain (D2). Names of the objects in it: domain/table-names.ts.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { mkdirOwned } from './pg-instance.js';
import type { OsUser } from './os-user.js';
import { mkdirSafe, removeTree, serviceOwner } from './safe-fs.js';

/** The root of every stanza's logical dumps. */
export const logicalRoot = (dataDir: string): string => join(dataDir, 'logical');

/** The finished dump directory of a snapshot. */
export const logicalDumpDir = (dataDir: string, stanza: string, snapshotId: string): string =>
  join(logicalRoot(dataDir), stanza, snapshotId);

/** Where pg_dump writes until the dump is complete (then renamed to `logicalDumpDir`). */
export const partialDumpDir = (dataDir: string, stanza: string, snapshotId: string): string =>
  `${logicalDumpDir(dataDir, stanza, snapshotId)}.part`;

/** A directory pg_dump finished: its table of contents is written last. */
export const isCompleteDump = (dir: string): boolean => existsSync(join(dir, 'toc.dat'));

/** The stanza's directory, owned by the PostgreSQL OS user so pg_dump (run as postgres) can create the dump in it. */
export function prepareStanzaDumpDir(dataDir: string, stanza: string, os: OsUser): void {
  mkdirSafe(logicalRoot(dataDir), serviceOwner(), 0o711);
  mkdirOwned(join(logicalRoot(dataDir), stanza), os, 0o750);
}

/** Remove a snapshot's dump, complete or partial. Idempotent. */
export async function removeDump(dataDir: string, stanza: string, snapshotId: string): Promise<void> {
  await removeTree(partialDumpDir(dataDir, stanza, snapshotId));
  await removeTree(logicalDumpDir(dataDir, stanza, snapshotId));
}
