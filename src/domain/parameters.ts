/**
 * Parameter configurations (issue 16, D28, D32): the PostgreSQL settings a warehouse user may
 * tune through ListClusterConfigurationsParameter and UpdateConfiguration, each under its
 * PostgreSQL name. Values, defaults, ranges, units and whether a change needs a restart come
 * from `pg_settings` of the running cluster; this file only says which names are offered, any
 * tighter bound dwsbox keeps (a member's memory and files are shared with the host, D18), and
 * checks a requested value against a `pg_settings` row. docs/api.md#parameters lists them and
 * says why the others are not offered.
 */
import { AppError } from '../errors/app-error.js';

/** What dwsbox needs of a `pg_settings` row. */
export interface PgSettingRow {
  name: string;
  setting: string;
  unit: string | null;
  vartype: 'bool' | 'integer' | 'real' | 'string' | 'enum';
  /** `postmaster`: a restart applies it; every other context a reload does */
  context: string;
  minVal: string | null;
  maxVal: string | null;
  enumvals: string[] | null;
  bootVal: string | null;
  shortDesc: string;
  pendingRestart: boolean;
}

interface Offered {
  /** a tighter upper bound than PostgreSQL's (shared memory, processes, files: the host's, D18) */
  max?: number;
  /** the least value but 0 (off): a timeout short enough to cancel dwsbox's own reads of the settings is refused */
  minUnlessOff?: number;
  /** choices of an enum that are refused, and why */
  refusedChoices?: Readonly<Record<string, string>>;
}

/**
 * The offered parameters. None runs code or moves files as the cluster's OS user (D32: never
 * archive_command, restore_command, *_preload_libraries, dynamic_library_path, ssl files,
 * log or data directories); none is one dwsbox sets itself (the node type's memory and
 * connections, replication, archiving, WAL, logging destination, time zone, fsync, sockets).
 */
export const OFFERED_PARAMETERS: Readonly<Record<string, Offered>> = {
  // sessions and statements (reload)
  // A timeout set here reaches every session without its own, dwsbox's and its tools' too: at
  // least 1 s (or off). idle_session_timeout is not offered: it ends pgBackRest's control
  // session while a backup copies files (every snapshot would fail).
  statement_timeout: { minUnlessOff: 1000 },
  lock_timeout: { minUnlessOff: 1000 },
  idle_in_transaction_session_timeout: { minUnlessOff: 1000 },
  deadlock_timeout: {},
  default_transaction_isolation: {
    refusedChoices: {
      serializable:
        'a hot standby refuses every query in serializable mode, so the standbys (and dwsbox and Patroni on them) could read nothing; set it per session or transaction',
    },
  },
  temp_file_limit: {},
  // planner (reload)
  default_statistics_target: {},
  random_page_cost: {},
  seq_page_cost: {},
  cpu_tuple_cost: {},
  cpu_index_tuple_cost: {},
  cpu_operator_cost: {},
  effective_io_concurrency: {},
  jit: {},
  enable_seqscan: {},
  enable_nestloop: {},
  enable_hashjoin: {},
  enable_mergejoin: {},
  enable_partitionwise_join: {},
  enable_partitionwise_aggregate: {},
  max_parallel_workers_per_gather: {},
  max_parallel_workers: {},
  max_parallel_maintenance_workers: {},
  // logging of statements (reload; where the log goes stays dwsbox's)
  log_min_duration_statement: {},
  log_statement: {},
  log_lock_waits: {},
  log_temp_files: {},
  log_connections: {},
  log_disconnections: {},
  log_checkpoints: {},
  log_autovacuum_min_duration: {},
  track_io_timing: {},
  // autovacuum (reload)
  autovacuum: {},
  autovacuum_naptime: {},
  autovacuum_vacuum_scale_factor: {},
  autovacuum_analyze_scale_factor: {},
  autovacuum_vacuum_cost_limit: {},
  autovacuum_vacuum_cost_delay: {},
  // checkpoints (reload)
  checkpoint_timeout: {},
  checkpoint_completion_target: {},
  // restart
  max_locks_per_transaction: { max: 1024 },
  max_prepared_transactions: { max: 200 },
  max_worker_processes: { max: 64 },
  autovacuum_max_workers: { max: 16 },
  track_activity_query_size: { max: 65536 },
};

/** PostgreSQL 15's parameters a standby must hold at least at the primary's value (hot standby). */
const STANDBY_AT_LEAST_PRIMARY = new Set([
  'max_connections',
  'max_prepared_transactions',
  'max_locks_per_transaction',
  'max_wal_senders',
  'max_worker_processes',
]);

/** Not offered, and why (docs/api.md#parameters; the 400 names the reason). */
const REFUSED: readonly [RegExp, string][] = [
  [/^idle_session_timeout$/, "it would end pgBackRest's control session while a snapshot copies files, and every snapshot would fail"],
  [
    /^(archive_command|archive_library|restore_command|archive_cleanup_command|recovery_end_command|.*_preload_libraries|dynamic_library_path|ssl_.*|data_directory|hba_file|ident_file|config_file|external_pid_file|log_directory|unix_socket_.*|krb_server_keyfile)$/,
    "it would run code or read or write files as the cluster's OS user (D32)",
  ],
  [
    /^(shared_buffers|max_connections|work_mem|maintenance_work_mem|effective_cache_size)$/,
    "it comes from the cluster's node type (change the node type instead)",
  ],
  [
    /^(wal_level|archive_mode|archive_timeout|max_wal_senders|max_replication_slots|max_slot_wal_keep_size|wal_keep_size|wal_log_hints|hot_standby.*|primary_.*|synchronous_.*|wal_sender_timeout|wal_receiver_.*|wal_retrieve_retry_interval|full_page_writes|fsync|recovery_.*)$/,
    'replication, archiving and snapshots depend on it; dwsbox sets it',
  ],
  [
    /^(listen_addresses|port|password_encryption|log_destination|logging_collector|log_line_prefix|log_timezone|timezone|tcp_keepalives_.*|extwlist\..*)$/,
    'dwsbox sets it (addresses, authentication, its log and time)',
  ],
];

/** Why a name is not offered (null: it is). */
export function refusalOf(name: string): string | null {
  if (Object.prototype.hasOwnProperty.call(OFFERED_PARAMETERS, name)) return null;
  for (const [re, why] of REFUSED) if (re.test(name)) return why;
  return 'it is not among the parameters dwsbox offers (docs/api.md#parameters)';
}

export const isOffered = (name: string): boolean => refusalOf(name) === null;

/** Whether a change of this row's parameter takes a restart (pg_settings' context). */
export const needsRestart = (row: Pick<PgSettingRow, 'context'>): boolean => row.context === 'postmaster';

/** The upper bound of a numeric row, dwsbox's own where tighter. */
export function upperBound(row: PgSettingRow): number | null {
  const pg = row.maxVal === null ? null : Number(row.maxVal);
  const own = OFFERED_PARAMETERS[row.name]?.max;
  if (own === undefined) return pg;
  return pg === null ? own : Math.min(pg, own);
}

/** `value_range` as shown: `min-max` for numbers, the choices joined by `,` for enums and booleans. */
export function valueRange(row: PgSettingRow): string {
  if (row.vartype === 'bool') return 'on,off';
  if (row.vartype === 'enum') return (row.enumvals ?? []).join(',');
  if (row.vartype === 'integer' || row.vartype === 'real') return `${row.minVal ?? ''}-${upperBound(row) ?? ''}`;
  return '';
}

const BOOL_ON = new Set(['on', 'true', 'yes', '1']);
const BOOL_OFF = new Set(['off', 'false', 'no', '0']);

/**
 * A requested value checked against its `pg_settings` row and written as `pg_settings.setting`
 * shows it: integers and reals in the row's unit (no unit suffix), booleans `on`/`off`, enums as
 * PostgreSQL lists them. Throws VALIDATION (400) naming the parameter and the accepted values.
 */
export function normalizeValue(row: PgSettingRow, raw: string): string {
  const v = raw.trim();
  const bad = (why: string): AppError => new AppError('VALIDATION', { args: [`parameter ${row.name}: ${JSON.stringify(raw)} ${why}`] });
  switch (row.vartype) {
    case 'bool': {
      const l = v.toLowerCase();
      if (BOOL_ON.has(l)) return 'on';
      if (BOOL_OFF.has(l)) return 'off';
      throw bad('is not a boolean (on or off)');
    }
    case 'enum': {
      const refused = OFFERED_PARAMETERS[row.name]?.refusedChoices ?? {};
      const choices = (row.enumvals ?? []).filter((e) => !(e in refused));
      const found = choices.find((e) => e.toLowerCase() === v.toLowerCase());
      const why = Object.entries(refused).find(([e]) => e.toLowerCase() === v.toLowerCase())?.[1];
      if (why) throw bad(`cannot be set: ${why}`);
      if (found === undefined) throw bad(`is not one of ${choices.join(', ')}`);
      return found;
    }
    case 'integer':
    case 'real': {
      const re = row.vartype === 'integer' ? /^-?\d{1,15}$/ : /^-?(\d{1,15}(\.\d{0,15})?|\.\d{1,15})(e[-+]?\d{1,3})?$/i;
      const unit = row.unit ? ` ${row.unit}` : '';
      if (!re.test(v))
        throw bad(`is not ${row.vartype === 'integer' ? 'an integer' : 'a number'}${unit ? ` (in${unit}, no unit suffix)` : ''}`);
      const n = Number(v);
      const min = row.minVal === null ? null : Number(row.minVal);
      const max = upperBound(row);
      if ((min !== null && n < min) || (max !== null && n > max)) throw bad(`is out of range: ${min ?? ''} to ${max ?? ''}${unit}`);
      const floor = OFFERED_PARAMETERS[row.name]?.minUnlessOff;
      if (floor !== undefined && n !== 0 && n < floor) throw bad(`is too short: 0 (off) or at least ${floor}${unit}`);
      return String(n);
    }
    default:
      throw bad('cannot be set: text parameters are not offered');
  }
}

export interface ParameterChange {
  name: string;
  /** the value before, as pg_settings showed it on the primary */
  oldValue: string;
  newValue: string;
  /** a restart applies it */
  restart: boolean;
}

/**
 * The order members restart in: standbys first, the primary last (D23); when a hot-standby
 * parameter goes down, the primary first, since a standby may not hold less than its primary.
 */
export function primaryFirst(changes: readonly ParameterChange[]): boolean {
  return changes.some((c) => c.restart && STANDBY_AT_LEAST_PRIMARY.has(c.name) && Number(c.newValue) < Number(c.oldValue));
}

/** Shown read-only beside the offered ones: they come from the node type (its memory and connections), so a user sees them. */
export const SHOWN_READONLY: readonly string[] = [
  'shared_buffers',
  'max_connections',
  'work_mem',
  'maintenance_work_mem',
  'effective_cache_size',
];

/** At most this many parameters in one UpdateConfiguration. */
export const MAX_CHANGES = 50;

/**
 * Whether a member's `pg_settings.setting` shows the value asked for: the same text, or, for
 * numbers, the same value as PostgreSQL prints it (reals with 6 significant digits: 1.1234567
 * shows as 1.12346, 0.0000001 as 1e-07).
 */
export function sameSetting(shown: string, wanted: string): boolean {
  if (shown === wanted) return true;
  const a = Number(shown);
  const b = Number(wanted);
  if (shown.trim() === '' || wanted.trim() === '' || !Number.isFinite(a) || !Number.isFinite(b)) return false;
  // An integer setting shows exactly; a real as C's %g does, 6 significant digits.
  if (Number.isInteger(a) && Number.isInteger(b) && !/[.e]/i.test(wanted)) return a === b;
  return Number(a.toPrecision(6)) === Number(b.toPrecision(6));
}
