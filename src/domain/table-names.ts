/**
 * Names in table restores and logical snapshots (D15): tables as `schema.table`, the names of
 * a restored table's dependents (indexes, constraints, owned sequences) renamed after it, and
 * the names of what a table restore makes for itself on the cluster (its scratch database and
 * its login role, both named after its task, so a run interrupted before it dropped them finds
 * them again). Pure: no catalog, no engine.
 */
import type { FineGrainedDetail } from './records.js';

/** A table by schema and name, as the catalog spells them (already case-folded when asked). */
export interface TableRef {
  schema: string;
  name: string;
}

export const tableName = (t: TableRef): string => `${t.schema}.${t.name}`;
export const sameTable = (a: TableRef, b: TableRef): boolean => a.schema === b.schema && a.name === b.name;

/** PostgreSQL's identifier limit, in bytes. */
const NAME_MAX = 63;

/** Cut an identifier to PostgreSQL's 63 bytes without splitting a character. */
function fitName(s: string, room = NAME_MAX): string {
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > room) break;
    out += ch;
  }
  return out;
}

/** Name of a dependent object after its table is renamed `from` → `to` (e.g. orders_pkey → orders_old_pkey). */
export function derivedName(old: string, from: string, to: string): string {
  if (from === to) return old;
  if (old === from || old.startsWith(`${from}_`)) return fitName(to + old.slice(from.length));
  return fitName(`${to}_${old}`);
}

/** A name not in `taken` (adds `_1`, `_2`, … when needed); the result is added to `taken`. */
export function uniqueName(want: string, taken: Set<string>): string {
  let name = fitName(want);
  for (let i = 1; taken.has(name); i++) name = fitName(want, NAME_MAX - String(i).length - 1) + `_${i}`;
  taken.add(name);
  return name;
}

/** The hex digits of a task id, the part its own objects are named from. */
const taskTag = (taskId: string): string =>
  taskId
    .replace(/[^0-9a-f]/gi, '')
    .slice(0, 20)
    .toLowerCase();

/** The scratch database of a task (a logical snapshot's restore): named after the task, so it is always ours. */
export const scratchDatabaseName = (taskId: string): string => `dwsbox_scratch_${taskTag(taskId)}`;

/** The task's login role (D32): named after the task, so a run interrupted before it dropped it finds it again. */
export const loginRoleName = (taskId: string): string => `dwsbox_load_${taskTag(taskId)}`;

/**
 * Parse one `schema.table` name: each part either plain (no dot, no double quote; taken as
 * written, never case-folded) or double-quoted with `""` for a quote (so it may hold dots).
 * Returns null when the text is not exactly two parts.
 */
export function parseQualifiedName(text: string): TableRef | null {
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
export function formatQualifiedName(t: TableRef): string {
  const part = (s: string): string => (/[."]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return `${part(t.schema)}.${part(t.name)}`;
}

/** The (schema, table) pairs of a table-level snapshot (its names are in `formatQualifiedName` form). */
export function tableRefsOf(d: Pick<FineGrainedDetail, 'tables'>): TableRef[] {
  return d.tables.map((t) => {
    const q = parseQualifiedName(t);
    if (!q) throw new Error(`not a schema.table name: ${t}`);
    return q;
  });
}
