/**
 * `dwsbox dr …`: disaster-recovery pairings (issue 19, D31) through the API's own operations
 * (CreateDisasterRecovery, StartDisasterRecovery, …). A pairing's operations run as tasks on
 * its following side and report through the pairing's status, so `--wait` follows that status
 * until the operation has ended (and a deletion until the pairing is gone).
 */
import type { DrDetailView, DrReplicationView } from '../../domain/disaster-recovery.js';
import { ApiError } from '../client.js';
import { int, need, print, table, UsageError, type Ctx } from './common.js';

export const DR_HELP = `  dr list | show ID | progress ID
  dr create --name N --production CLUSTER --standby CLUSTER [--sync-period 30M|1H|2D] [--discard-standby-data]
                       pair two clusters of the same shape (nothing runs until start; --discard-standby-data agrees
                       that the standby's own tables are replaced by production's)
  dr start|pause|switchover|failover|recover|delete ID [--wait]   the pairing's operations (docs/api.md#disaster-recovery)
  dr set ID --sync-period P   the lag past which the pairing's event is raised`;

/** Statuses of a pairing while an operation runs (domain/disaster-recovery.ts DR_BUSY). */
const BUSY = new Set(['starting', 'stopping', 'switchovering', 'failovering', 'recovering', 'deleting']);

interface ListItem {
  id: string;
  name: string;
  status: string;
  primary_cluster_name: string | null;
  standby_cluster_name: string | null;
  primary_cluster_role: string;
}

const lag = (r: DrReplicationView | null): string =>
  r ? `${r.state}, ${r.lag_bytes ?? '?'} bytes / ${r.lag_seconds ?? '?'} s behind` : 'not following';

const detail = async (ctx: Ctx, id: string): Promise<DrDetailView> =>
  (await ctx.client.call<{ disaster_recovery: DrDetailView }>('GET', `/v2/{project_id}/disaster-recovery/${encodeURIComponent(id)}`))
    .disaster_recovery;

/** Follow the pairing until `verb` has ended: exit 0 when it reached what the operation leads to, 1 otherwise. */
async function waitPairing(ctx: Ctx, id: string, verb: string): Promise<number> {
  if (!ctx.values['wait']) return 0;
  const intervalMs = ctx.values['interval'] ? int(ctx.values['interval'], '--interval') : 1000;
  let last = '';
  for (;;) {
    let d: DrDetailView;
    try {
      d = await detail(ctx, id);
    } catch (e) {
      if (verb === 'delete' && e instanceof ApiError && e.status === 404) {
        print(ctx, { id, status: 'deleted' }, () => `pairing ${id} deleted`);
        return 0;
      }
      throw e;
    }
    const line = `${d.status}${d.standby_cluster.progress ? ` ${d.standby_cluster.progress}` : ''}`;
    if (!ctx.json && line !== last) ctx.out.write(`  ${line}\n`);
    last = line;
    if (!BUSY.has(d.status) && !(verb === 'delete' && d.status === 'deleting')) {
      // A failover leaves the pairing abnormal on purpose, saying so (RestoreDisaster or delete comes next).
      const ok =
        verb === 'failover' ? d.status === 'abnormal' && (d.error ?? '').startsWith('failed over:') : !/failed|abnormal/.test(d.status);
      if (ctx.json) ctx.out.write(JSON.stringify(d, null, 2) + '\n');
      else if (d.error) ctx.out.write(`  ${d.error}\n`);
      return ok && verb !== 'delete' ? 0 : 1;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const VERBS: Record<string, { method: 'POST' | 'DELETE'; path: string; says: string }> = {
  start: { method: 'POST', path: 'start', says: 'is starting' },
  pause: { method: 'POST', path: 'pause', says: 'is pausing' },
  switchover: { method: 'POST', path: 'switchover', says: 'is switching over' },
  failover: { method: 'POST', path: 'failover', says: 'is failing over to its standby' },
  recover: { method: 'POST', path: 'recovery', says: 'is rebuilding its following side' },
  delete: { method: 'DELETE', path: '', says: 'is being deleted' },
};

export async function disasterRecovery(ctx: Ctx): Promise<number> {
  const [sub, id] = ctx.positionals;
  const c = ctx.client;
  switch (sub) {
    case 'list': {
      const r = await c.call<{ disaster_recovery: ListItem[] }>('GET', '/v2/{project_id}/disaster-recoveries');
      print(ctx, r, () =>
        table([
          ['ID', 'NAME', 'STATUS', 'PRODUCTION', 'STANDBY'],
          ...r.disaster_recovery.map((d) => {
            // After a switch the roles are swapped: the side created as standby leads.
            const [lead, follow] =
              d.primary_cluster_role === 'primary'
                ? [d.primary_cluster_name, d.standby_cluster_name]
                : [d.standby_cluster_name, d.primary_cluster_name];
            return [d.id, d.name, d.status, lead ?? '-', follow ?? '-'];
          }),
        ]),
      );
      return 0;
    }
    case 'show': {
      const d = await detail(ctx, need(id, 'the pairing id'));
      print(ctx, { disaster_recovery: d }, () =>
        [
          `${d.name}  ${d.status}  sync period ${d.dr_sync_period}  started ${d.start_time ?? '-'}`,
          ...[d.primary_cluster, d.standby_cluster].map(
            (s) => `  ${s.role.padEnd(8)} ${s.name ?? s.id}  ${s.status ?? '-'}${s.progress ? `  ${s.progress}` : ''}`,
          ),
          `  replication: ${lag(d.replication)}${d.replication?.last_replayed_commit ? `, last replayed commit ${d.replication.last_replayed_commit}` : ''}`,
          ...(d.error ? [`  ${d.error}`] : []),
        ].join('\n'),
      );
      return 0;
    }
    case 'progress': {
      const r = await c.call<{ disaster_recovery_progress: Record<string, unknown> }>(
        'GET',
        `/v1/{project_id}/disaster-recovery/${encodeURIComponent(need(id, 'the pairing id'))}/show-progress`,
      );
      const p = r.disaster_recovery_progress;
      print(ctx, r, () =>
        [
          `recovery point (lag now): ${String(p['recovery_point_object'] ?? '-')} s`,
          `last switch took: ${String(p['last_recovery_spend'] ?? '-')} s`,
          `last replayed commit: ${String(p['latest_barrier_time'] ?? '-')}`,
        ].join('\n'),
      );
      return 0;
    }
    case 'create': {
      const body: Record<string, unknown> = {
        name: need(ctx.values['name'], '--name'),
        dr_type: 'az',
        primary_cluster_id: need(ctx.values['production'], '--production'),
        standby_cluster_id: need(ctx.values['standby'], '--standby'),
        dr_sync_period: (ctx.values['sync-period'] as string | undefined) ?? '30M',
      };
      if (ctx.values['discard-standby-data']) body['discard_standby_data'] = true;
      const r = await c.call<{ disaster_recovery: { id: string } }>('POST', '/v2/{project_id}/disaster-recoveries', {
        disaster_recovery: body,
      });
      print(ctx, r, () => `pairing ${r.disaster_recovery.id} created (unstart): dwsbox dr start ${r.disaster_recovery.id}`);
      return 0;
    }
    case 'set': {
      const drId = need(id, 'the pairing id');
      const r = await c.call('PUT', `/v2/{project_id}/disaster-recovery/${encodeURIComponent(drId)}`, {
        disaster_recovery: { dr_sync_period: need(ctx.values['sync-period'], '--sync-period') },
      });
      print(ctx, r, () => `pairing ${drId} updated`);
      return 0;
    }
    default: {
      const verb = sub && VERBS[sub];
      if (!verb)
        throw new UsageError(`dr ${sub ?? ''}: expected one of list, show, progress, create, set, ${Object.keys(VERBS).join(', ')}`);
      const drId = need(id, 'the pairing id');
      const at = `/v2/{project_id}/disaster-recovery/${encodeURIComponent(drId)}${verb.path ? `/${verb.path}` : ''}`;
      await c.call(verb.method, at);
      print(ctx, { id: drId, accepted: true }, () => `pairing ${drId} ${verb.says}`);
      return waitPairing(ctx, drId, sub);
    }
  }
}
