/**
 * A dump of the whole metadata store (every table of src/store/schema.ts, every row, in a
 * stable order), to prove that a refused request changed nothing.
 */
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from '../../src/store/schema.js';
import type { Store } from '../../src/store/store.js';

/**
 * Every table of the schema; a new table must be added here (the type check says so). `false`:
 * written without any request (the metrics collector, its lease and the alarms it raises), so not compared.
 */
const TABLES = {
  projects: true,
  credentials: true,
  users: true,
  tokens: true,
  clusters: true,
  nodes: true,
  snapshots: true,
  tasks: true,
  task_steps: true,
  progress_samples: true,
  faults: true,
  dwsbox_migrations: true,
  snapshot_policy_settings: true,
  snapshot_policies: true,
  policy_fires: true,
  project_os_users: true,
  events: true,
  event_sequence: true,
  event_subscriptions: true,
  db_user_syncs: true,
  db_synced_roles: true,
  metric_samples: false,
  service_leases: false,
  alarms: false,
  // the audit trail records refused calls too: a refusal changes nothing else
  audit_records: false,
  hosts: true,
  disaster_recoveries: true,
} as const satisfies Record<keyof Database, boolean>;
const COMPARED = (Object.keys(TABLES) as (keyof Database)[]).filter((t) => TABLES[t]);

/** Columns that change without any request (the snapshot scheduler's cursor). */
const VOLATILE: Partial<Record<keyof Database, string[]>> = { snapshot_policies: ['next_fire_at'] };

const rowText = (table: keyof Database, r: Record<string, unknown>): string => {
  const skip = VOLATILE[table] ?? [];
  return JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k]) => !skip.includes(k))));
};

export async function dumpStore(store: Store): Promise<string> {
  const out: Record<string, string[]> = {};
  for (const table of COMPARED) {
    const rows = (await store.adapter.db.selectFrom(table).selectAll().execute()) as Record<string, unknown>[];
    out[table] = rows.map((r) => rowText(table, r)).sort();
  }
  return JSON.stringify(out);
}

/**
 * The same dump of a SQLite store, read through a second, read-only connection (WAL: it sees
 * every committed write at once), synchronously: a fraction of a millisecond, for a check
 * after every one of thousands of fuzz cases.
 */
export function sqliteDumper(file: string): { dump(): string; close(): void } {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  const stmts = COMPARED.map((t) => [t, db.prepare(`select * from "${t}"`)] as const);
  return {
    dump: () =>
      JSON.stringify(
        Object.fromEntries(stmts.map(([t, st]) => [t, (st.all() as Record<string, unknown>[]).map((r) => rowText(t, r)).sort()])),
      ),
    close: () => db.close(),
  };
}

/** What differs between two dumps, table by table (for a failure message). */
export function dumpDiff(before: string, after: string): string {
  const a = JSON.parse(before) as Record<string, string[]>;
  const b = JSON.parse(after) as Record<string, string[]>;
  const lines: string[] = [];
  for (const t of Object.keys({ ...a, ...b })) {
    const x = new Set(a[t] ?? []);
    const y = new Set(b[t] ?? []);
    for (const r of x) if (!y.has(r)) lines.push(`${t} -${r.slice(0, 300)}`);
    for (const r of y) if (!x.has(r)) lines.push(`${t} +${r.slice(0, 300)}`);
  }
  return lines.join('\n');
}
