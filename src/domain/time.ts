/**
 * Every time format the API emits (design D11), all UTC, from epoch milliseconds.
 */
const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

function parts(ms: number) {
  const d = new Date(ms);
  return {
    date: `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
    time: `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`,
    tenths: Math.floor(d.getUTCMilliseconds() / 100),
  };
}

/** Cluster `created`/`updated`: `YYYY-MM-DDTHH:MM:SSZ` */
export function clusterTime(ms: number): string {
  const p = parts(ms);
  return `${p.date}T${p.time}Z`;
}
/** Snapshot `started`/`finished`: `YYYY-MM-DDTHH:MM:SS` (what real clients parse) */
export function snapshotTime(ms: number): string {
  const p = parts(ms);
  return `${p.date}T${p.time}`;
}
/** Actions `submit_time`/`begin_time`/`end_time`: `YYYY-MM-DD HH:MM:SS.d` */
export function actionTime(ms: number): string {
  const p = parts(ms);
  return `${p.date} ${p.time}.${p.tenths}`;
}
/** progressInfo times: `YYYY-MM-DD HH:MM:SS` */
export function progressTime(ms: number): string {
  const p = parts(ms);
  return `${p.date} ${p.time}`;
}
/** Job and resize_info times: `YYYY-MM-DDTHH:MM:SS` */
export function jobTime(ms: number): string {
  return snapshotTime(ms);
}
/** pgBackRest label / DWS backup_key: `yyyyMMdd_HHmmss` */
export function backupKeyTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}_${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
}
