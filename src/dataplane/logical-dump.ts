/**
 * Where schema- and table-level (logical) snapshots live, and the small facts about a
 * `pg_dump -Fd` directory the tasks and services need. A logical snapshot is a local
 * directory per stanza, `<dataDir>/logical/<stanza>/<snapshot id>`, whatever repository the
 * stanza's pgBackRest sets use: it is not part of the pgBackRest chain (D2).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FineGrainedDetail } from '../domain/records.js';
import { mkdirOwned } from './pg-instance.js';
import type { OsUser } from './os-user.js';
import { mkdirSafe, removeTree, serviceOwner } from './safe-fs.js';

/** The root of every stanza's logical dumps. */
export const logicalRoot = (dataDir: string): string => join(dataDir, 'logical');

/** The finished dump directory of a snapshot. */
export const logicalDumpDir = (dataDir: string, stanza: string, snapshotId: string): string => join(logicalRoot(dataDir), stanza, snapshotId);

/** Where pg_dump writes until the dump is complete (then renamed to `logicalDumpDir`). */
export const partialDumpDir = (dataDir: string, stanza: string, snapshotId: string): string => `${logicalDumpDir(dataDir, stanza, snapshotId)}.part`;

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

/**
 * Parse one `schema.table` name: each part either plain (no dot, no double quote; taken as
 * written, never case-folded) or double-quoted with `""` for a quote (so it may hold dots).
 * Returns null when the text is not exactly two parts.
 */
export function parseQualifiedName(text: string): { schema: string; name: string } | null {
  const parts: string[] = [];
  let i = 0;
  while (i <= text.length) {
    let part = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) return null;
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += text[i++];
      }
    } else {
      while (i < text.length && text[i] !== '.') {
        if (text[i] === '"') return null;
        part += text[i++];
      }
    }
    if (part === '') return null;
    parts.push(part);
    if (i === text.length) break;
    if (text[i] !== '.') return null;
    i++;
    if (i === text.length) return null;
  }
  return parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : null;
}

/** The inverse of `parseQualifiedName`: a part is double-quoted only when it holds a dot or a quote. */
export function formatQualifiedName(t: { schema: string; name: string }): string {
  const part = (s: string): string => (/[."]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return `${part(t.schema)}.${part(t.name)}`;
}

/** The (schema, table) pairs of a table-level snapshot (its names are in `formatQualifiedName` form). */
export function tableRefsOf(d: Pick<FineGrainedDetail, 'tables'>): { schema: string; name: string }[] {
  return d.tables.map((t) => {
    const q = parseQualifiedName(t);
    if (!q) throw new Error(`not a schema.table name: ${t}`);
    return q;
  });
}
