/**
 * Pure helpers of the console (no DOM, no imports): reading a sub-item's progressInfo,
 * formatting bytes and durations, and placing an API error message beside the form field it
 * names. Unit-tested by test/console/model.test.ts.
 */

/** The inner progressInfo object of a sub-item's `detail` (design D14), as far as the console reads it. */
export interface ProgressInfo {
  progress: string;
  percent: number;
  backupSize: number;
  totalSize: number;
  producerRate: string;
  consumerRate: string;
  compressRate: string;
  currentStep: string;
  failedStep: string;
  errorCode: string;
  errorMsg: string;
  actionType: string;
  updateTime: string;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const num = (v: unknown): number => {
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
};

/** "NN.NN%" → NN.NN, clamped to 0–100; anything else → 0. */
export function parsePercent(p: unknown): number {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*%?\s*$/.exec(str(p));
  if (!m) return 0;
  return Math.max(0, Math.min(100, Number(m[1])));
}

/**
 * `detail` is a JSON string `{"progressInfo": "<JSON string>"}` (the reference's shape). Both
 * levels are parsed; an object instead of a string at the inner level is accepted too.
 */
export function parseProgressInfo(detail: string | null | undefined): ProgressInfo | null {
  if (!detail) return null;
  let inner: unknown;
  try {
    const outer = JSON.parse(detail) as { progressInfo?: unknown };
    inner = typeof outer.progressInfo === 'string' ? JSON.parse(outer.progressInfo) : outer.progressInfo;
  } catch {
    return null;
  }
  if (!inner || typeof inner !== 'object') return null;
  const o = inner as Record<string, unknown>;
  const rate = (o['backupRate'] && typeof o['backupRate'] === 'object' ? o['backupRate'] : {}) as Record<string, unknown>;
  return {
    progress: str(o['progress']),
    percent: parsePercent(o['progress']),
    backupSize: num(o['backupSize']),
    totalSize: num(o['totalSize']),
    producerRate: str(rate['producerRate']),
    consumerRate: str(rate['consumerRate']),
    compressRate: str(rate['compressRate']),
    currentStep: str(o['currentStep']),
    failedStep: str(o['failedStep']),
    errorCode: str(o['errorCode']),
    errorMsg: str(o['errorMsg']),
    actionType: str(o['actionType']),
    updateTime: str(o['updateTime']),
  };
}

/** Bytes in decimal units, as the API's rates are ("MB" is 10^6 bytes, D14). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return '0 B';
  if (n < 1e3) return `${Math.round(n)} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/** `estimated_time` seconds → "1h 02m", "3m 05s", "12s"; -1 (no rate known yet) → null. */
export function formatSeconds(s: number | null | undefined): string | null {
  if (s === null || s === undefined || !Number.isFinite(s) || s < 0) return null;
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m ${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h ${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}

/** True when a rate string carries a non-zero figure ("0.0MB/s" and "" are not worth showing). */
export function hasRate(r: string): boolean {
  const m = /(\d+(?:\.\d+)?)/.exec(r);
  return m !== null && Number(m[1]) > 0;
}

export const ACTIVE_STATUSES = ['WAITING', 'RUNNING', 'ROLLBACK_RUNNING'];
export const FAILURE_STATUSES = ['FAILED', 'ROLLBACK_SUCCESS', 'ROLLBACK_FAIL'];
export const isActive = (status: string): boolean => ACTIVE_STATUSES.includes(status);
export const isFailure = (status: string): boolean => FAILURE_STATUSES.includes(status);

/** What a form field answers to in the API's error messages. */
export interface FieldMatch {
  /** the form's field name */
  name: string;
  /** request paths as the API names them, e.g. `body.cluster.name` */
  paths: string[];
  /** words that name the field in a message, e.g. `cluster name`, `number_of_node` */
  words?: string[];
  /** DWS codes that are always about this field, e.g. DWS.5144 for a password */
  codes?: string[];
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Which field an API error is about: first a request path the message names
 * (`body.cluster.name is required`), then a DWS code that only one field has, then a word
 * that names the field (the longest that occurs, so `user name` beats `name`). null: show
 * the message at the top of the form.
 */
export function fieldOfError(message: string, code: string, fields: FieldMatch[]): string | null {
  const msg = message.toLowerCase();
  for (const f of fields) {
    for (const p of f.paths) {
      if (new RegExp(`(^|[^\\w.])${escapeRe(p.toLowerCase())}(?![\\w])`).test(msg)) return f.name;
    }
  }
  if (code) {
    for (const f of fields) if (f.codes?.includes(code)) return f.name;
  }
  let best: { name: string; len: number; at: number } | null = null;
  for (const f of fields) {
    for (const w of f.words ?? []) {
      const m = new RegExp(`(^|[^\\w])${escapeRe(w.toLowerCase())}(?![\\w])`).exec(msg);
      if (!m) continue;
      const at = m.index + m[1]!.length;
      if (!best || w.length > best.len || (w.length === best.len && at < best.at)) best = { name: f.name, len: w.length, at };
    }
  }
  return best?.name ?? null;
}

// Where a client writes and the psql command for it: one rule for the console and the CLI.
export { psqlCommand, writeEndpoint } from '../../src/domain/endpoints.js';

/** A client route of the console: path segments after /console/. */
export function splitRoute(pathname: string, base = '/console/'): string[] {
  const p = pathname.startsWith(base)
    ? pathname.slice(base.length)
    : pathname === base.replace(/\/$/, '')
      ? ''
      : pathname.replace(/^\//, '');
  return p
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
}

/** An event's time (epoch ms) as the console shows times: UTC, to the second. */
export function formatEventTime(ms: number): string {
  if (!Number.isFinite(ms)) return '';
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '');
}

/** The badge class of an event's severity: normal is fine, warning is a warning, major is bad. */
export function severityClass(severity: string): 'ok' | 'warn' | 'bad' | 'plain' {
  return severity === 'normal' ? 'ok' : severity === 'warning' ? 'warn' : severity === 'major' ? 'bad' : 'plain';
}

/** The path of a cluster's latest events (ListEvents with dwsbox's source_id filter), newest first. */
export function clusterEventsPath(clusterId: string, limit: number): string {
  return `/v2/{project_id}/events?source_id=${encodeURIComponent(clusterId)}&limit=${limit}`;
}

/** A parameter as the console edits it (the wire Parameter's fields it reads). */
export interface EditableParameter {
  name: string;
  values: { value: string }[];
  readonly: boolean;
  restart_required: boolean;
}

/**
 * The values an edit changes: each draft that differs from the parameter's value (spaces at
 * either end dropped), in the list's order; read-only parameters and unknown names are left
 * out. The API judges the values themselves.
 */
export function parameterChanges(
  params: readonly EditableParameter[],
  drafts: Readonly<Record<string, string>>,
): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (const p of params) {
    const d = drafts[p.name];
    if (p.readonly || d === undefined) continue;
    const v = d.trim();
    if (v !== (p.values[0]?.value ?? '')) out.push({ name: p.name, value: v });
  }
  return out;
}

/** The changed parameters whose change restarts every member. */
export function restartingChanges(params: readonly EditableParameter[], changes: readonly { name: string }[]): string[] {
  const restart = new Set(params.filter((p) => p.restart_required).map((p) => p.name));
  return changes.filter((c) => restart.has(c.name)).map((c) => c.name);
}

/** Each parameter is a field of the edit form: the API's message names the parameter. */
export function parameterFields(params: readonly { name: string }[]): FieldMatch[] {
  return params.map((p) => ({ name: p.name, paths: [], words: [p.name] }));
}

/** The task an update started: the newest audit record, when it is not the one seen before the update. */
export function startedRecord<R extends { id: string }>(before: string | undefined, records: readonly R[]): R | null {
  const first = records[0];
  return first && first.id !== before ? first : null;
}
