/**
 * Metrics history (D29): one wide row per member per collection, 5-minute averages made from
 * them, both pruned by age in small chunks; and the named leases of jobs one process of the
 * store does at a time (the collector).
 */
import { sql, type Kysely } from 'kysely';
import { METRIC_FIELDS, ROLLUP_SECONDS, type MetricField, type MetricSample } from '../../domain/metrics.js';
import type { Database, MetricSamplesTable } from '../schema.js';

type FigureColumn = Exclude<
  keyof MetricSamplesTable,
  'cluster_id' | 'ordinal' | 'resolution' | 'bucket' | 'project_id' | 'samples' | 'is_primary'
>;

const COLUMN: Record<MetricField, FigureColumn> = {
  cpuPercent: 'cpu_percent',
  cpuUserPercent: 'cpu_user_percent',
  cpuSysPercent: 'cpu_sys_percent',
  memBytes: 'mem_bytes',
  dataBytes: 'data_bytes',
  fsAvailBytes: 'fs_avail_bytes',
  diskReadRate: 'disk_read_rate',
  diskWriteRate: 'disk_write_rate',
  connections: 'connections',
  maxConnections: 'max_connections',
  tps: 'tps',
  rollbackRate: 'rollback_rate',
  tuplesReadRate: 'tuples_read_rate',
  tuplesWrittenRate: 'tuples_written_rate',
  lagBytes: 'lag_bytes',
  lagSeconds: 'lag_seconds',
  walRate: 'wal_rate',
  archiveRate: 'archive_rate',
  archiveFailRate: 'archive_fail_rate',
  checkpointRate: 'checkpoint_rate',
  longestQuerySeconds: 'longest_query_seconds',
};
const COLUMNS = METRIC_FIELDS.map((f) => COLUMN[f]);

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toRow(s: MetricSample, resolution: number): MetricSamplesTable {
  const row = {
    cluster_id: s.clusterId,
    ordinal: s.ordinal,
    resolution,
    bucket: s.at,
    project_id: s.projectId,
    samples: s.samples,
    is_primary: s.primary ? 1 : 0,
  } as MetricSamplesTable;
  for (const f of METRIC_FIELDS) row[COLUMN[f]] = s[f];
  return row;
}

function fromRow(r: MetricSamplesTable): MetricSample {
  const s = {
    clusterId: r.cluster_id,
    projectId: r.project_id,
    ordinal: Number(r.ordinal),
    at: Number(r.bucket),
    samples: Number(r.samples),
    primary: Number(r.is_primary) === 1,
  } as MetricSample;
  for (const f of METRIC_FIELDS) s[f] = num(r[COLUMN[f]]);
  return s;
}

/** One collection's samples, in one statement (a sample already kept for its member and second is left as it is). */
export async function insertSamples(db: Kysely<Database>, samples: readonly MetricSample[]): Promise<void> {
  if (!samples.length) return;
  await db
    .insertInto('metric_samples')
    .values(samples.map((s) => toRow(s, 0)))
    .onConflict((oc) => oc.columns(['cluster_id', 'resolution', 'ordinal', 'bucket']).doNothing())
    .execute();
}

/** A cluster's samples of one resolution in [fromS, toS), oldest first, of one member or all. */
export async function listSamples(
  db: Kysely<Database>,
  o: { clusterId: string; resolution: number; fromS: number; toS: number; ordinal?: number | undefined },
): Promise<MetricSample[]> {
  let q = db
    .selectFrom('metric_samples')
    .selectAll()
    .where('cluster_id', '=', o.clusterId)
    .where('resolution', '=', o.resolution)
    .where('bucket', '>=', o.fromS)
    .where('bucket', '<', o.toS);
  if (o.ordinal !== undefined) q = q.where('ordinal', '=', o.ordinal);
  const rows = await q.orderBy('ordinal').orderBy('bucket').execute();
  return rows.map(fromRow);
}

/** The newest raw sample of each member of a cluster (within the last `sinceS` seconds). */
export async function latestSamples(db: Kysely<Database>, clusterId: string, sinceS: number): Promise<MetricSample[]> {
  const rows = await db
    .selectFrom('metric_samples as m')
    .selectAll('m')
    .where('m.cluster_id', '=', clusterId)
    .where('m.resolution', '=', 0)
    .where('m.bucket', '>=', sinceS)
    .where((eb) =>
      eb(
        'm.bucket',
        '=',
        eb
          .selectFrom('metric_samples as n')
          .select((e) => e.fn.max('n.bucket').as('b'))
          .whereRef('n.cluster_id', '=', 'm.cluster_id')
          .where('n.resolution', '=', 0)
          .whereRef('n.ordinal', '=', 'm.ordinal'),
      ),
    )
    .orderBy('m.ordinal')
    .execute();
  return rows.map(fromRow);
}

/**
 * Average the raw samples of the next 5-minute window that has any, after the newest average
 * already made and ending before `beforeS`, into one row per member; at most `windows` windows
 * a call. Returns how many windows it averaged (0: nothing left to do).
 */
export async function rollUp(db: Kysely<Database>, beforeS: number, windows: number): Promise<number> {
  let done = 0;
  for (; done < windows; done++) {
    const last = await db
      .selectFrom('metric_samples')
      .select((e) => e.fn.max('bucket').as('b'))
      .where('resolution', '=', ROLLUP_SECONDS)
      .executeTakeFirst();
    const after = last?.b === null || last?.b === undefined ? null : Number(last.b) + ROLLUP_SECONDS;
    let next = db
      .selectFrom('metric_samples')
      .select((e) => e.fn.min('bucket').as('b'))
      .where('resolution', '=', 0);
    if (after !== null) next = next.where('bucket', '>=', after);
    const first = await next.executeTakeFirst();
    if (first?.b === null || first?.b === undefined) break;
    const start = Math.floor(Number(first.b) / ROLLUP_SECONDS) * ROLLUP_SECONDS;
    if (start + ROLLUP_SECONDS > beforeS) break;
    const avg = COLUMNS.map((c) => sql`avg(${sql.ref(c)})`);
    await sql`
      insert into metric_samples (cluster_id, ordinal, resolution, bucket, project_id, samples, is_primary, ${sql.join(COLUMNS.map((c) => sql.ref(c)))})
      select cluster_id, ordinal, ${ROLLUP_SECONDS}, ${start}, max(project_id), count(*), max(is_primary), ${sql.join(avg)}
        from metric_samples
       where resolution = 0 and bucket >= ${start} and bucket < ${start + ROLLUP_SECONDS}
       group by cluster_id, ordinal
      on conflict (cluster_id, resolution, ordinal, bucket) do nothing`.execute(db);
  }
  return done;
}

/** Remove rows of a resolution older than `beforeS`, at most `chunkS` seconds of them a call (the oldest first); how many. */
export async function pruneSamples(db: Kysely<Database>, resolution: number, beforeS: number, chunkS: number): Promise<number> {
  const oldest = await db
    .selectFrom('metric_samples')
    .select((e) => e.fn.min('bucket').as('b'))
    .where('resolution', '=', resolution)
    .executeTakeFirst();
  if (oldest?.b === null || oldest?.b === undefined || Number(oldest.b) >= beforeS) return 0;
  const r = await db
    .deleteFrom('metric_samples')
    .where('resolution', '=', resolution)
    .where('bucket', '<', Math.min(beforeS, Number(oldest.b) + chunkS))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Take or renew lease `name` for `owner` until `expiresAt`; true when `owner` holds it now. */
export async function takeLease(db: Kysely<Database>, name: string, owner: string, now: number, expiresAt: number): Promise<boolean> {
  const r = await db
    .insertInto('service_leases')
    .values({ name, owner, expires_at: expiresAt })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet({ owner, expires_at: expiresAt })
        .where((eb) => eb.or([eb('service_leases.owner', '=', owner), eb('service_leases.expires_at', '<', now)])),
    )
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Give lease `name` up if `owner` holds it (a stopping process, so another takes over at once). */
export async function releaseLease(db: Kysely<Database>, name: string, owner: string): Promise<void> {
  await db.deleteFrom('service_leases').where('name', '=', name).where('owner', '=', owner).execute();
}
