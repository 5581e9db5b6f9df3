/* Over 400 lines: one table of API commands (each a few lines mapping flags to a request), kept in one place so the help and the commands cannot drift apart. */
/**
 * Resource commands: clients of the REST API, signed with AK/SK like every other client.
 * Endpoint and credentials come from flags, the environment, or a profile file (JSON with
 * endpoint, project_id, access_key, secret_key; --profile FILE or DWSBOX_PROFILE, default
 * ~/.config/dwsbox/profile.json; 0600 when it holds the secret key). Secrets given as
 * arguments (--secret-key, --password) work but draw a warning; --secret-key-stdin and
 * --password-stdin read them from standard input (cli/secrets.ts).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Writable } from 'node:stream';
import { psqlCommand, writeEndpoint } from '../../domain/endpoints.js';
import { ApiError, DwsClient } from '../client.js';
import { newestTask, renderTask, watchTask, type TaskBodyOut } from '../task-view.js';
import { readProfile, readSecretFromStdin, SecretSourceError, warnSecretArgument } from '../secrets.js';
import { int, need, print, table, UsageError, type Ctx } from './common.js';
import { metrics, top } from './monitoring.js';
import { alarms } from './alarms.js';
import { clusterAudit } from './audit.js';
import { disasterRecovery, DR_HELP } from './disaster-recovery.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const CONNECTION: Options = {
  endpoint: { type: 'string' },
  'project-id': { type: 'string' },
  'access-key': { type: 'string' },
  'secret-key': { type: 'string' },
  'secret-key-stdin': { type: 'boolean' },
  profile: { type: 'string' },
  json: { type: 'boolean' },
  lang: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};
const WAIT: Options = { wait: { type: 'boolean' }, interval: { type: 'string' } };

/** Placeholders for the VPC and subnet ids the DWS API requires; they are stored and echoed, nothing more. */
const LOCAL_VPC = '3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98';
const LOCAL_SUBNET = '7d6c5b4a-3f2e-4d1c-8b0a-9e8d7c6b5a43';

export const API_HELP = `Resource commands (clients of the REST API):
  clusters list | show ID | create --name N --password-stdin [--nodes 3] [--node-type T] [--port 8000] [--user dbadmin]
                       (the admin password: --password-stdin, DWSBOX_CLUSTER_PASSWORD, or --password PW with a warning)
  clusters delete ID [--keep N] | restart ID | resize ID --count N | shrink ID --count N
  clusters switchover ID [--to NODE_ID] | sync-mode ID sync|strict|async   (highly available clusters)
  snapshots list [--cluster ID] | show ID | create --cluster ID --name N [--description D] | delete ID
  snapshots restore ID --name N [--port P] [--time T]   (T: a point in time after the snapshot, ISO 8601 or epoch ms)
  clusters restore ID --name N --time T [--port P]   (into a new cluster, as the cluster was at T: its restore_window)
  clusters restore-in-place ID --snapshot SID | --time T | both   (into the cluster itself, replacing its data: from one of its
                       cluster-level snapshots, to T, or the snapshot then T; the stopped cluster's safety snapshot first)
  snapshots restore-in-place ID [--time T]   (into the snapshot's own cluster, replacing its data; T: after the snapshot)
  snapshots restore-tables ID --database DB --table SCHEMA.TABLE[=SCHEMA.TARGET] … [--case-sensitive] [--check]
  policies show CLUSTER | delete CLUSTER POLICY_ID
  policies set CLUSTER [--keep-day N] [--auto-backup true|false]
  policies add CLUSTER --name N --schedule 'S M H DOM MON DOW' [--type full|increment] [--tz-offset H]
                       [--level cluster|schema|table --database DB --schemas A,B | --tables S.T,S.T2]
  db-users list CLUSTER [--type USER|ROLE] | show CLUSTER NAME | delete CLUSTER NAME [--cascade]
  db-users create CLUSTER --name N [--role] [--password-stdin] [--conn-limit N] [--createdb] [--member-of R,R2]
  db-users sync CLUSTER | sync-records CLUSTER [--offset N] [--limit N]   the project's dwsbox users as roles (SyncIamUsers)
                       (a user's password: --password-stdin, DWSBOX_DB_USER_PASSWORD, or --password PW with a warning)
  params list CLUSTER | show CLUSTER NAME | history CLUSTER [--limit N]
  params set CLUSTER NAME=VALUE … [--restart-now] [--wait]   (values in the parameter's unit, as list shows it: a SETTING_CONFIGURATION
                       task; a restart a value needs waits for the maintenance window unless --restart-now)
  node-types
  top CLUSTER [--interval SECONDS] [--once]   each member's CPU, memory, disk, connections, TPS, replication lag and WAL
                       rate, redrawn every interval (default 5 s) on a terminal until Ctrl-C; --once: one table
  metrics indicators | data CLUSTER INDICATOR [--since 1h|6h|1d|7d|DURATION] [--member node1]
                       what the collector measures; an indicator's points per member over the last DURATION
  tasks list CLUSTER | show CLUSTER ACTION|TASK_ID | watch CLUSTER ACTION|TASK_ID
  faults add --action A --step S --mode fail|delay|hang|crash [--point before|during|after] [--cluster ID] [--delay-ms N] [--times N]
  faults list | clear [FAULT_ID]
  events list [--cluster ID] [--limit N] | specs
  events subs list | create --name N --url URL [--severity normal,warning,major] [--category management,monitor]
                       [--cluster ID,…] [--disabled] | enable ID | disable ID | delete ID   (signed POSTs to URL; docs/api.md)
  alarms list [--days N] [--level urgent|important|minor|prompt,…] [--active]   the project's alarms (default: the last 7 days)
  alarms rules | stats   the alarm rules and their thresholds; the alarms raised per day and level over the last 7 days
  alarms subs list | create --name N --url URL [--level important,urgent] [--rules ALARM_ID,…] [--cluster ID,…]
                       | enable ID | disable ID | delete ID   (each alarm raised or cleared, signed POSTs to URL; docs/api.md#alarms)
  clusters audit ID [--limit N]   the cluster's audit trail: each mutating API call that named it (who, what, when, result)
${DR_HELP}

Connection: --endpoint URL --project-id ID --access-key AK [--secret-key-stdin], or DWSBOX_ENDPOINT,
DWSBOX_PROJECT_ID, DWSBOX_ACCESS_KEY, DWSBOX_SECRET_KEY, or a profile file (--profile FILE,
DWSBOX_PROFILE; default ~/.config/dwsbox/profile.json, mode 0600) with endpoint, project_id, access_key,
secret_key. --secret-key SK works too, with a warning: arguments are visible to every user of the host.
Every command takes --json (machine output); mutating ones take --wait (wait for the task, with a live
progress view on a terminal; exits non-zero when the task fails). --lang zh-cn shows step names in Chinese.
ACTION: GROWING, RESIZE_FAILURE, RESTORING, RESTORING_FAILED, SNAPSHOTTING, SNAPSHOTTING_FAILED,
FINE_GRAINED_RESTORING, FINE_GRAINED_RESTORING_FAILED.
`;

/** --time (a restore point, issue 20) in epoch milliseconds: ISO 8601 or epoch ms as given; undefined without --time. */
function restoreTime(ctx: Ctx): number | undefined {
  const t = ctx.values['time'] as string | undefined;
  if (t === undefined) return undefined;
  const ms = /^\d+$/.test(t) ? Number(t) : Date.parse(t);
  if (!Number.isFinite(ms)) throw new UsageError(`--time ${t}: expected an ISO 8601 time (2026-12-06T10:41:00Z) or epoch milliseconds`);
  return ms;
}

/** RestoreCluster's `restore` from --name, --port and --time. */
function restoreBody(ctx: Ctx): Record<string, unknown> {
  const restore: Record<string, unknown> = { name: need(ctx.values['name'], '--name') };
  if (ctx.values['port']) restore['port'] = int(ctx.values['port'], '--port');
  const ms = restoreTime(ctx);
  if (ms !== undefined) restore['restore_point'] = { restore_time: ms };
  return restore;
}

/**
 * The in-place restore (issue 20): the snapshot and/or the time into the cluster itself. The answer names the
 * task and the safety snapshot the task takes of the stopped cluster first (what a failure rolls back to).
 */
async function restoreInPlace(ctx: Ctx, clusterId: string, snapshotId: string | undefined, time: number | undefined): Promise<number> {
  const restore: Record<string, unknown> = {};
  if (snapshotId !== undefined) restore['snapshot_id'] = snapshotId;
  if (time !== undefined) restore['restore_time'] = time;
  const r = await ctx.client.call<{ job_id: string; snapshot_id: string; safety_snapshot_id: string }>(
    'POST',
    `/v1.0/{project_id}/clusters/${encodeURIComponent(clusterId)}/in-place-restore`,
    { restore },
  );
  print(
    ctx,
    r,
    () =>
      `cluster ${clusterId} is being restored in place from snapshot ${r.snapshot_id}${time === undefined ? '' : ` to ${new Date(time).toISOString()}`} ` +
      `(job ${r.job_id}); its data as it was is kept in the safety snapshot ${r.safety_snapshot_id}`,
  );
  return maybeWait(ctx, { clusterId, jobId: r.job_id });
}

/** The detail's restore window as a line. */
function restorable(w: { earliest_time: string | null; latest_time: string | null } | undefined): string {
  if (!w?.earliest_time) return 'restorable to a point in time: not yet (no cluster-level snapshot)';
  return w.latest_time
    ? `restorable to a point in time: from ${w.earliest_time} to now`
    : `restorable to a point in time: from ${w.earliest_time}, once its primary runs again`;
}

async function connection(values: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<DwsClient> {
  const named = (values['profile'] as string | undefined) ?? env['DWSBOX_PROFILE'];
  const profileFile = named ?? join(homedir(), '.config', 'dwsbox', 'profile.json');
  // A profile named on purpose must exist; the default one is read only when it is there.
  const profile: Record<string, string> = named !== undefined || existsSync(profileFile) ? readProfile(profileFile) : {};
  const pick = (flag: string, envName: string, key: string): string | undefined =>
    (values[flag] as string | undefined) ?? env[envName] ?? profile[key];
  const endpoint = pick('endpoint', 'DWSBOX_ENDPOINT', 'endpoint') ?? 'http://127.0.0.1:7480';
  const projectId = pick('project-id', 'DWSBOX_PROJECT_ID', 'project_id');
  const accessKey = pick('access-key', 'DWSBOX_ACCESS_KEY', 'access_key');
  if (values['secret-key'] !== undefined)
    warnSecretArgument('--secret-key', 'DWSBOX_SECRET_KEY, a profile file (0600) or --secret-key-stdin');
  const secretKey = values['secret-key-stdin']
    ? await readSecretFromStdin('--secret-key-stdin')
    : pick('secret-key', 'DWSBOX_SECRET_KEY', 'secret_key');
  if (!projectId || !accessKey || !secretKey) {
    throw new UsageError(
      'no credentials: give --project-id, --access-key and --secret-key (or DWSBOX_PROJECT_ID, DWSBOX_ACCESS_KEY, DWSBOX_SECRET_KEY, or a profile file)',
    );
  }
  const lang = values['lang'] as string | undefined;
  return new DwsClient({ endpoint, projectId, accessKey, secretKey, ...(lang ? { language: lang } : {}) });
}

/** With --json the progress lines go nowhere: stdout carries JSON only. */
function discard(): NodeJS.WriteStream {
  return new Writable({ write: (_c, _e, cb) => cb() }) as unknown as NodeJS.WriteStream;
}

/** After a mutating call: with --wait, follow the task to its end; exit code 1 when it failed. */
async function maybeWait(ctx: Ctx, task: { clusterId?: string; jobId?: string; action?: string }): Promise<number> {
  if (!ctx.values['wait']) return 0;
  const intervalMs = ctx.values['interval'] ? int(ctx.values['interval'], '--interval') : 1000;
  const clusterId = task.clusterId;
  let taskId: string | undefined;
  if (task.jobId) {
    taskId = task.jobId;
  } else if (clusterId) {
    taskId = (await newestTask(ctx.client, clusterId))?.id;
  }
  if (!clusterId || !taskId) throw new UsageError('cannot find the task to wait for');
  const cid = clusterId;
  const tid = taskId;
  let last: TaskBodyOut | null = null;
  const final = await watchTask({
    intervalMs,
    out: ctx.json ? discard() : ctx.out,
    tty: !ctx.json && ctx.out.isTTY === true,
    fetch: async () => {
      try {
        last = await ctx.client.call<TaskBodyOut>('GET', `/dwsbox/v1/{project_id}/clusters/${cid}/tasks/${tid}`);
        return last;
      } catch (e) {
        // A deleted cluster is gone with its task list; its job still answers.
        if (!(e instanceof ApiError && e.status === 404 && last)) throw e;
        const job = await ctx.client.call<{ status: string }>('GET', `/v1.0/{project_id}/job/${tid}`);
        const prev: TaskBodyOut = last;
        return {
          ...prev,
          status: job.status === 'SUCCESS' ? 'SUCCESS' : job.status === 'FAIL' ? 'FAILED' : prev.status,
          items: prev.items.map((i) => ({
            ...i,
            sub_items: i.sub_items.map((x) => (job.status === 'SUCCESS' ? { ...x, status: 'SUCCESS' } : x)),
          })),
        };
      }
    },
  });
  if (ctx.json) ctx.out.write(JSON.stringify(final, null, 2) + '\n');
  return final.status === 'SUCCESS' ? 0 : 1;
}

// ------------------------------------------------------------------ commands
/** The new cluster's admin password: standard input, the environment, or (with a warning) the argument. */
async function clusterPassword(ctx: Ctx): Promise<string | undefined> {
  if (ctx.values['password-stdin']) {
    if (ctx.values['secret-key-stdin']) throw new UsageError('--password-stdin and --secret-key-stdin cannot both read standard input');
    return readSecretFromStdin('--password-stdin');
  }
  if (ctx.values['password'] !== undefined) {
    warnSecretArgument('--password', 'DWSBOX_CLUSTER_PASSWORD or --password-stdin');
    return ctx.values['password'] as string;
  }
  return process.env['DWSBOX_CLUSTER_PASSWORD'];
}

async function clusters(ctx: Ctx): Promise<number> {
  const [sub, id] = ctx.positionals;
  const c = ctx.client;
  switch (sub) {
    case 'list': {
      const r = await c.call<{
        clusters: {
          id: string;
          name: string;
          status: string;
          sub_status: string;
          task_status: string;
          number_of_node: number;
          endpoints: { connect_info: string }[];
        }[];
      }>('GET', '/v1.0/{project_id}/clusters');
      print(ctx, r, () =>
        table([
          ['ID', 'NAME', 'STATUS', 'SUB_STATUS', 'TASK', 'NODES', 'ENDPOINT'],
          ...r.clusters.map((x) => [
            x.id,
            x.name,
            x.status,
            x.sub_status,
            x.task_status || '-',
            String(x.number_of_node),
            x.endpoints[0]?.connect_info ?? '-',
          ]),
        ]),
      );
      return 0;
    }
    case 'show': {
      const r = await c.call<{
        cluster: Record<string, unknown> & {
          nodes: { role: string; connect_info: string; status: string }[];
          endpoints: { connect_info: string }[];
          user_name: string;
        };
      }>('GET', `/v1.0/{project_id}/clusters/${need(id, 'the cluster id')}`);
      print(ctx, r, () => {
        const x = r.cluster;
        const at = writeEndpoint(x);
        return [
          `${String(x['name'])}  ${String(x['status'])}  ${String(x['sub_status'])}  task ${String(x['task_status']) || '-'}  ${JSON.stringify(x['action_progress'])}`,
          `id ${String(x['id'])}  node type ${String(x['node_type'])}  nodes ${String(x['number_of_node'])}  port ${String(x['port'])}  created ${String(x['created'])}`,
          ...x.nodes.map((n) => `  ${n.role.padEnd(8)} ${n.connect_info}  status ${n.status}`),
          restorable(x['restore_window'] as { earliest_time: string | null; latest_time: string | null } | undefined),
          at ? psqlCommand(at, x.user_name) : '',
        ].join('\n');
      });
      return 0;
    }
    case 'restore': {
      const cid = need(id, 'the cluster id');
      const restore = restoreBody(ctx);
      if (!restore['restore_point']) throw new UsageError('give --time T: the point in time to restore the cluster to');
      const r = await c.call<{ cluster: { id: string } }>('POST', `/v1.0/{project_id}/clusters/${cid}/point-in-time-restore`, { restore });
      print(ctx, r, () => `cluster ${cid} is being restored to ${String(ctx.values['time'])} into the new cluster ${r.cluster.id}`);
      return maybeWait(ctx, { clusterId: r.cluster.id });
    }
    case 'restore-in-place': {
      const cid = need(id, 'the cluster id');
      const snapshotId = ctx.values['snapshot'] as string | undefined;
      if (snapshotId === '') throw new UsageError('--snapshot needs a snapshot id');
      const time = restoreTime(ctx);
      if (snapshotId === undefined && time === undefined)
        throw new UsageError('give --snapshot SID, --time T or both: what to restore the cluster to in place');
      return restoreInPlace(ctx, cid, snapshotId, time);
    }
    case 'create': {
      const body = {
        cluster: {
          name: need(ctx.values['name'], '--name'),
          node_type: (ctx.values['node-type'] as string | undefined) ?? 'dwsx.small',
          number_of_node: ctx.values['nodes'] ? int(ctx.values['nodes'], '--nodes') : 3,
          port: ctx.values['port'] ? int(ctx.values['port'], '--port') : 8000,
          user_name: (ctx.values['user'] as string | undefined) ?? 'dbadmin',
          user_pwd: need(await clusterPassword(ctx), '--password-stdin (or DWSBOX_CLUSTER_PASSWORD)'),
          vpc_id: (ctx.values['vpc-id'] as string | undefined) ?? LOCAL_VPC,
          subnet_id: (ctx.values['subnet-id'] as string | undefined) ?? LOCAL_SUBNET,
        },
      };
      const r = await c.call<{ cluster: { id: string } }>('POST', '/v1.0/{project_id}/clusters', body);
      print(ctx, r, () => `cluster ${r.cluster.id} is being created`);
      return maybeWait(ctx, { clusterId: r.cluster.id });
    }
    case 'delete': {
      const cid = need(id, 'the cluster id');
      await c.call('DELETE', `/v1.0/{project_id}/clusters/${cid}`, {
        keep_last_manual_snapshot: ctx.values['keep'] ? int(ctx.values['keep'], '--keep') : 0,
      });
      print(ctx, { cluster_id: cid, accepted: true }, () => `cluster ${cid} is being deleted`);
      return maybeWait(ctx, { clusterId: cid });
    }
    case 'restart': {
      const cid = need(id, 'the cluster id');
      await c.call('POST', `/v1.0/{project_id}/clusters/${cid}/restart`, { restart: {} });
      print(ctx, { cluster_id: cid, accepted: true }, () => `cluster ${cid} is restarting`);
      return maybeWait(ctx, { clusterId: cid });
    }
    case 'resize': {
      const cid = need(id, 'the cluster id');
      await c.call('POST', `/v1.0/{project_id}/clusters/${cid}/resize`, { scale_out: { count: int(ctx.values['count'], '--count') } });
      print(ctx, { cluster_id: cid, accepted: true }, () => `cluster ${cid} is growing`);
      return maybeWait(ctx, { clusterId: cid });
    }
    case 'shrink': {
      const cid = need(id, 'the cluster id');
      const r = await c.call<{ job_id: string }>('POST', `/v1.0/{project_id}/clusters/${cid}/cluster-shrink`, {
        shrink_number: int(ctx.values['count'], '--count'),
      });
      print(ctx, r, () => `cluster ${cid} is shrinking (job ${r.job_id})`);
      return maybeWait(ctx, { clusterId: cid, jobId: r.job_id });
    }
    case 'switchover': {
      // SwitchOverCluster: to the preferred node (node 1) unless --to names another node's id.
      const cid = need(id, 'the cluster id');
      const to = ctx.values['to'] as string | undefined;
      await c.call('POST', `/v1.0/{project_id}/clusters/${cid}/switchover`, to ? { candidate_node_id: to } : {});
      print(ctx, { cluster_id: cid, accepted: true }, () => `cluster ${cid} is switching over${to ? ` to node ${to}` : ''}`);
      return maybeWait(ctx, { clusterId: cid });
    }
    case 'sync-mode': {
      const cid = need(id, 'the cluster id');
      const mode = need(ctx.positionals[2], 'the mode (sync, strict or async)');
      const r = await c.call<{ sync_mode: string }>('PUT', `/dwsbox/v1/{project_id}/clusters/${cid}/sync-mode`, { sync_mode: mode });
      print(ctx, r, () => `cluster ${cid} replicates ${r.sync_mode === 'async' ? 'asynchronously' : `synchronously (${r.sync_mode})`}`);
      return 0;
    }
    case 'audit':
      return clusterAudit(ctx, id);
    default:
      throw new UsageError(
        'clusters: use list, show, create, delete, restart, resize, shrink, switchover, sync-mode, restore, restore-in-place or audit',
      );
  }
}

async function snapshots(ctx: Ctx): Promise<number> {
  const [sub, id] = ctx.positionals;
  const c = ctx.client;
  type Snap = {
    id: string;
    name: string;
    status: string;
    cluster_id: string;
    cluster_name: string;
    size: number;
    backup_key: string | null;
    prior_backup_key: string | null;
    started: string | null;
    finished: string | null;
  };
  switch (sub) {
    case 'list': {
      const cluster = ctx.values['cluster'] as string | undefined;
      const r = await c.call<{ snapshots: Snap[] }>(
        'GET',
        cluster ? `/v1.0/{project_id}/clusters/${cluster}/snapshots` : '/v1.0/{project_id}/snapshots',
      );
      print(ctx, r, () =>
        table([
          ['ID', 'NAME', 'STATUS', 'CLUSTER', 'SIZE_GB', 'KEY', 'PRIOR', 'FINISHED'],
          ...r.snapshots.map((s) => [
            s.id,
            s.name,
            s.status,
            s.cluster_name,
            String(s.size),
            s.backup_key ?? '-',
            s.prior_backup_key ?? '-',
            s.finished ?? '-',
          ]),
        ]),
      );
      return 0;
    }
    case 'show': {
      const r = await c.call<{ snapshot: Snap }>('GET', `/v1.0/{project_id}/snapshots/${need(id, 'the snapshot id')}`);
      print(ctx, r, () =>
        Object.entries(r.snapshot)
          .map(([k, v]) => `${k.padEnd(24)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
          .join('\n'),
      );
      return 0;
    }
    case 'create': {
      const cluster = need(ctx.values['cluster'], '--cluster');
      const r = await c.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
        snapshot: {
          name: need(ctx.values['name'], '--name'),
          cluster_id: cluster,
          description: (ctx.values['description'] as string | undefined) ?? '',
        },
      });
      print(ctx, r, () => `snapshot ${r.snapshot.id} is being taken`);
      return maybeWait(ctx, { clusterId: cluster });
    }
    case 'delete': {
      const sid = need(id, 'the snapshot id');
      await c.call('DELETE', `/v1.0/{project_id}/snapshots/${sid}`);
      print(ctx, { snapshot_id: sid, deleted: true }, () => `snapshot ${sid} deleted`);
      return 0;
    }
    case 'restore': {
      const sid = need(id, 'the snapshot id');
      const restore = restoreBody(ctx);
      const r = await c.call<{ cluster: { id: string } }>('POST', `/v1.0/{project_id}/snapshots/${sid}/actions`, { restore });
      print(ctx, r, () => `snapshot ${sid} is being restored into the new cluster ${r.cluster.id}`);
      return maybeWait(ctx, { clusterId: r.cluster.id });
    }
    case 'restore-in-place': {
      // Into the snapshot's own cluster: the one GET snapshot names.
      const sid = need(id, 'the snapshot id');
      const time = restoreTime(ctx);
      const snap = await c.call<{ snapshot: { cluster_id: string } }>('GET', `/v1.0/{project_id}/snapshots/${encodeURIComponent(sid)}`);
      return restoreInPlace(ctx, snap.snapshot.cluster_id, sid, time);
    }
    case 'restore-tables': {
      const sid = need(id, 'the snapshot id');
      const specs = (ctx.values['table'] as string[] | undefined) ?? [];
      if (specs.length === 0) throw new UsageError('give at least one --table SCHEMA.TABLE[=SCHEMA.TARGET]');
      const parse = (s: string): { schema_name: string; table_name: string } => {
        const m = /^([^.=]+)\.([^.=]+)$/.exec(s);
        if (!m) throw new UsageError(`--table ${s}: expected SCHEMA.TABLE`);
        return { schema_name: m[1]!, table_name: m[2]! };
      };
      const pairs = specs.map((s) => {
        const [src, dst] = s.split('=');
        return { src: parse(src!), dst: parse(dst ?? src!) };
      });
      const body = {
        case_sensitive: ctx.values['case-sensitive'] === true,
        database: need(ctx.values['database'], '--database'),
        restore_table_list: pairs.map((p) => p.src),
        target_table_list: pairs.map((p) => p.dst),
      };
      if (ctx.values['check']) {
        const r = await c.call('POST', `/v1/{project_id}/snapshots/${sid}/table-restore-check`, body);
        print(ctx, r, () => JSON.stringify(r, null, 2));
        return 0;
      }
      const r = await c.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${sid}/table-restore`, body);
      print(ctx, r, () => `tables are being restored (job ${r.job_id})`);
      const snap = await c.call<{ snapshot: { cluster_id: string } }>('GET', `/v1.0/{project_id}/snapshots/${sid}`);
      return maybeWait(ctx, { clusterId: snap.snapshot.cluster_id, jobId: r.job_id });
    }
    default:
      throw new UsageError('snapshots: use list, show, create, delete, restore, restore-in-place or restore-tables');
  }
}

async function tasks(ctx: Ctx): Promise<number> {
  const [sub, cluster, which] = ctx.positionals;
  const cid = need(cluster, 'the cluster id');
  const path = (w: string): string =>
    /^[A-Z_]+$/.test(w) ? `/v1/{project_id}/clusters/${cid}/actions/${w}` : `/dwsbox/v1/{project_id}/clusters/${cid}/tasks/${w}`;
  switch (sub) {
    case 'list': {
      const r = await ctx.client.call<{ tasks: TaskBodyOut[] }>('GET', `/dwsbox/v1/{project_id}/clusters/${cid}/tasks`);
      print(ctx, r, () =>
        table([
          ['ID', 'ACTION', 'STATUS', 'PROGRESS', 'SUBMITTED'],
          ...r.tasks.map((t) => [t.id, t.action_name, t.status, t.progress ?? '', t.submit_time]),
        ]),
      );
      return 0;
    }
    case 'show': {
      const t = await ctx.client.call<TaskBodyOut>('GET', path(need(which, 'the action name or task id')));
      print(ctx, t, () => renderTask(t));
      return 0;
    }
    case 'watch': {
      const w = need(which, 'the action name or task id');
      const intervalMs = ctx.values['interval'] ? int(ctx.values['interval'], '--interval') : 1000;
      // An action name picks the task once; then that task is followed by id to its end.
      const first = await ctx.client.call<TaskBodyOut>('GET', path(w));
      const final = await watchTask({
        intervalMs,
        out: ctx.json ? discard() : ctx.out,
        tty: !ctx.json && ctx.out.isTTY === true,
        fetch: () => ctx.client.call<TaskBodyOut>('GET', `/dwsbox/v1/{project_id}/clusters/${cid}/tasks/${first.id}`),
      });
      if (ctx.json) ctx.out.write(JSON.stringify(final, null, 2) + '\n');
      return final.status === 'SUCCESS' ? 0 : 1;
    }
    default:
      throw new UsageError('tasks: use list, show or watch');
  }
}

async function faults(ctx: Ctx): Promise<number> {
  const [sub, id] = ctx.positionals;
  switch (sub) {
    case 'add': {
      const body: Record<string, unknown> = {
        action_name: need(ctx.values['action'], '--action'),
        step: need(ctx.values['step'], '--step'),
        mode: need(ctx.values['mode'], '--mode'),
      };
      if (ctx.values['point']) body['point'] = ctx.values['point'];
      if (ctx.values['cluster']) body['cluster_id'] = ctx.values['cluster'];
      if (ctx.values['delay-ms']) body['delay_ms'] = int(ctx.values['delay-ms'], '--delay-ms');
      if (ctx.values['times']) body['times'] = int(ctx.values['times'], '--times');
      const r = await ctx.client.call<{ fault: { id: string } }>('POST', '/dwsbox/v1/{project_id}/faults', body);
      print(ctx, r, () => `fault ${r.fault.id} added`);
      return 0;
    }
    case 'list': {
      const r = await ctx.client.call<{
        faults: {
          id: string;
          action_name: string;
          step: string;
          mode: string;
          point: string;
          cluster_id: string | null;
          times: number | null;
        }[];
      }>('GET', '/dwsbox/v1/{project_id}/faults');
      print(ctx, r, () =>
        table([
          ['ID', 'ACTION', 'STEP', 'MODE', 'POINT', 'CLUSTER', 'TIMES'],
          ...r.faults.map((f) => [
            f.id,
            f.action_name,
            f.step,
            f.mode,
            f.point,
            f.cluster_id ?? '*',
            f.times === null ? '∞' : String(f.times),
          ]),
        ]),
      );
      return 0;
    }
    case 'clear': {
      const r = await ctx.client.call<{ deleted: number }>(
        'DELETE',
        id ? `/dwsbox/v1/{project_id}/faults/${id}` : '/dwsbox/v1/{project_id}/faults',
      );
      print(ctx, r, () => `${r.deleted} fault(s) cleared`);
      return 0;
    }
    default:
      throw new UsageError('faults: use add, list or clear');
  }
}

interface PolicyBody {
  keep_day: number;
  auto_backup: boolean;
  device_name: string;
  backup_strategies: {
    policy_id: string;
    policy_name: string;
    backup_strategy: string;
    backup_type: string;
    backup_level: string;
    time_zone_offset: number;
    next_fire_time: string | null;
    backup_database: string | null;
    backup_schema_list: string | null;
    backup_table_list: string | null;
  }[];
}

/** Snapshot policies (docs/snapshot-policies.md): `show`, `set` (keep_day, auto_backup), `add` a strategy, `delete` one. */
async function policies(ctx: Ctx): Promise<number> {
  const [sub, cluster, policyId] = ctx.positionals;
  const path = `/v2/{project_id}/clusters/${need(cluster, 'the cluster id')}/snapshot-policies`;
  switch (sub) {
    case 'show': {
      const r = await ctx.client.call<PolicyBody>('GET', path);
      print(
        ctx,
        r,
        () =>
          `keep_day ${r.keep_day}, auto_backup ${r.auto_backup}, device ${r.device_name}\n` +
          table([
            ['POLICY_ID', 'NAME', 'SCHEDULE', 'TZ', 'TYPE', 'LEVEL', 'OBJECTS', 'NEXT_FIRE (UTC)'],
            ...r.backup_strategies.map((x) => [
              x.policy_id,
              x.policy_name,
              x.backup_strategy,
              `+${x.time_zone_offset}`,
              x.backup_type,
              x.backup_level,
              x.backup_level === 'cluster' ? '-' : `${x.backup_database}: ${x.backup_schema_list ?? x.backup_table_list ?? ''}`,
              x.next_fire_time ?? '-',
            ]),
          ]),
      );
      return 0;
    }
    case 'set': {
      const body: Record<string, unknown> = {};
      if (ctx.values['keep-day'] !== undefined) body['keep_day'] = int(ctx.values['keep-day'], '--keep-day');
      if (ctx.values['auto-backup'] !== undefined) {
        const v = String(ctx.values['auto-backup']);
        if (v !== 'true' && v !== 'false') throw new UsageError('--auto-backup takes true or false');
        body['auto_backup'] = v === 'true';
      }
      if (Object.keys(body).length === 0) throw new UsageError('policies set: give --keep-day and/or --auto-backup');
      const r = await ctx.client.call<Record<string, never>>('PUT', path, body);
      print(ctx, r, () => 'snapshot policy updated');
      return 0;
    }
    case 'add': {
      const strategy: Record<string, unknown> = {
        policy_name: need(ctx.values['name'], '--name'),
        backup_strategy: need(ctx.values['schedule'], '--schedule'),
      };
      if (ctx.values['type'] !== undefined) strategy['backup_type'] = ctx.values['type'];
      if (ctx.values['level'] !== undefined) strategy['backup_level'] = ctx.values['level'];
      if (ctx.values['tz-offset'] !== undefined) strategy['time_zone_offset'] = int(ctx.values['tz-offset'], '--tz-offset');
      if (ctx.values['database'] !== undefined) strategy['backup_database'] = ctx.values['database'];
      if (ctx.values['schemas'] !== undefined) strategy['backup_schema_list'] = ctx.values['schemas'];
      if (ctx.values['tables'] !== undefined) strategy['backup_table_list'] = ctx.values['tables'];
      await ctx.client.call('PUT', path, { backup_strategies: [strategy] });
      const r = await ctx.client.call<PolicyBody>('GET', path);
      const added = r.backup_strategies.find((x) => x.policy_name.toLowerCase() === String(strategy['policy_name']).toLowerCase())!;
      print(ctx, added, () => `strategy ${added.policy_id} added; next fire ${added.next_fire_time ?? 'none'} UTC`);
      return 0;
    }
    case 'delete': {
      const r = await ctx.client.call<Record<string, never>>(
        'DELETE',
        `/v1.0/{project_id}/clusters/${cluster}/snapshot-policies/${need(policyId, 'the policy id')}`,
      );
      print(ctx, r, () => `strategy ${policyId} deleted`);
      return 0;
    }
    default:
      throw new UsageError('policies: use show, set, add or delete');
  }
}

/** Database users (issue 16): real roles of a cluster, never above its administrator (docs/api.md#database-users). */
async function dbUsers(ctx: Ctx): Promise<number> {
  const [sub, cluster, name] = ctx.positionals;
  const c = ctx.client;
  const users = `/v1/{project_id}/clusters/${encodeURIComponent(need(cluster, 'the cluster id'))}/db-manager/users`;
  switch (sub) {
    case 'list': {
      const type = ctx.values['type'] as string | undefined;
      const r = await c.call<{ users: { name: string; login: boolean; user_type: string }[] }>(
        'GET',
        type ? `${users}?type=${encodeURIComponent(type)}` : users,
      );
      print(ctx, r, () => table([['NAME', 'LOGIN'], ...r.users.map((u) => [u.name, u.login ? 'yes' : 'no'])]));
      return 0;
    }
    case 'show': {
      const r = await c.call<Record<string, unknown>>('GET', `${users}/${encodeURIComponent(need(name, 'the user name'))}`);
      print(ctx, r, () =>
        Object.entries(r)
          .map(([k, v]) => `${k.padEnd(16)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
          .join('\n'),
      );
      return 0;
    }
    case 'create': {
      const user = need(ctx.values['name'], '--name');
      const role = !!ctx.values['role'];
      let password: string | undefined;
      if (ctx.values['password-stdin']) {
        if (ctx.values['secret-key-stdin']) throw new UsageError('--password-stdin and --secret-key-stdin cannot both read standard input');
        password = await readSecretFromStdin('--password-stdin');
      } else if (ctx.values['password'] !== undefined) {
        warnSecretArgument('--password', 'DWSBOX_DB_USER_PASSWORD or --password-stdin');
        password = ctx.values['password'] as string;
      } else password = process.env['DWSBOX_DB_USER_PASSWORD'];
      const body: Record<string, unknown> = { name: user, type: role ? 'ROLE' : 'USER' };
      if (password !== undefined) body['password'] = password;
      else if (!role) throw new UsageError('a user needs a password: --password-stdin, DWSBOX_DB_USER_PASSWORD or --password');
      if (ctx.values['conn-limit'] !== undefined) body['conn_limit'] = Number(ctx.values['conn-limit']);
      if (ctx.values['createdb']) body['create_db'] = true;
      if (ctx.values['member-of']) body['grant_members'] = String(ctx.values['member-of']).split(',').filter(Boolean);
      await c.call('POST', users, body);
      print(ctx, { name: user, created: true }, () => `${role ? 'role' : 'user'} ${user} created`);
      return 0;
    }
    case 'delete': {
      const user = need(name, 'the user name');
      await c.call('DELETE', `${users}/${encodeURIComponent(user)}${ctx.values['cascade'] ? '?cascade=true' : ''}`);
      print(ctx, { name: user, deleted: true }, () => `${user} dropped`);
      return 0;
    }
    case 'sync': {
      const r = await c.call<{ sync_user: string[] }>(
        'POST',
        `/v1/{project_id}/clusters/${encodeURIComponent(cluster!)}/db-manager/sync-iam-user`,
        {},
      );
      print(
        ctx,
        r,
        () =>
          (r.sync_user.length ? `synced: ${r.sync_user.join(', ')}` : 'nothing added or updated') +
          ' (db-users sync-records shows the counts)',
      );
      return 0;
    }
    case 'sync-records': {
      const q = new URLSearchParams();
      if (ctx.values['offset'] !== undefined) q.set('offset', String(ctx.values['offset']));
      if (ctx.values['limit'] !== undefined) q.set('limit', String(ctx.values['limit']));
      const r = await c.call<{ count: number; sync_records: SyncRecordBody[] }>(
        'GET',
        `/v1/{project_id}/clusters/${encodeURIComponent(cluster!)}/db-manager/sync-records${q.size ? `?${q}` : ''}`,
      );
      const at = (ms: number | undefined): string => (ms === undefined ? '-' : new Date(ms).toISOString());
      print(ctx, r, () =>
        [
          table([
            ['ID', 'STATUS', 'START', 'END', 'ADDED', 'UPDATED', 'DELETED', 'FAILED'],
            ...r.sync_records.map((x) => [
              x.id,
              x.status,
              at(x.start_time),
              at(x.end_time),
              String(x.add_count),
              String(x.update_count),
              String(x.delete_count),
              String(x.failed_count),
            ]),
          ]),
          ...r.sync_records.filter((x) => x.fail_reason).map((x) => `${x.id}: ${x.fail_reason}`),
          `${r.count} sync(s) in all`,
        ].join('\n'),
      );
      return 0;
    }
    default:
      throw new UsageError('db-users: use list, show, create, delete, sync or sync-records');
  }
}

/** ListSyncRecords' IdentitySourceSyncRecordVo. */
interface SyncRecordBody {
  id: string;
  status: string;
  start_time: number;
  end_time?: number;
  add_count: number;
  update_count: number;
  delete_count: number;
  failed_count: number;
  fail_reason?: string;
}

interface ParameterBody {
  name: string;
  values: { type: string; value: string; default_value: string }[];
  unit: string;
  type: string;
  readonly: boolean;
  value_range: string;
  restart_required: boolean;
  pending_restart?: boolean;
  description: string;
}

interface AuditRecordBody {
  id: string;
  start_time: string;
  end_time?: string;
  status: string;
  failed_reason?: string;
  parameters: { name: string; old_value: string; new_value: string; restart_required: boolean }[];
}

/** The cluster detail's wait for the maintenance window (dwsbox field), as `params` reads it. */
interface RestartWait {
  maintain_window: { day: string; start_time: string; end_time: string };
  pending_restart?: { parameters: { name: string; value: string }[]; status: string; start_time?: string; since: string };
}

/** One line on a restart that waits for the window (or runs), or '' when none does. */
function restartWaitLine(d: RestartWait): string {
  const p = d.pending_restart;
  if (!p) return '';
  const what = p.parameters.map((x) => `${x.name}=${x.value}`).join(', ');
  const w = d.maintain_window;
  return p.status === 'RUNNING'
    ? `restart running for ${what}`
    : `restart waiting for the maintenance window (${w.day} ${w.start_time}-${w.end_time} UTC): at ${p.start_time ?? '?'} for ${what}`;
}

/** `name=value` arguments of `params set`: each name once, nothing empty on the left. */
export function parameterAssignments(args: readonly string[]): { name: string; value: string }[] {
  if (!args.length) throw new UsageError('params set: give at least one NAME=VALUE');
  const seen = new Set<string>();
  return args.map((a) => {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`params set: ${JSON.stringify(a)} is not NAME=VALUE`);
    const name = a.slice(0, eq).trim();
    if (seen.has(name)) throw new UsageError(`params set: ${name} is named twice`);
    seen.add(name);
    return { name, value: a.slice(eq + 1) };
  });
}

/**
 * Parameters (issue 16, docs/api.md#parameters): the cluster's one configuration, its parameters
 * as the primary's pg_settings says, `set` as a SETTING_CONFIGURATION task, and the audit records.
 */
async function params(ctx: Ctx): Promise<number> {
  const [sub, cluster, ...rest] = ctx.positionals;
  const c = ctx.client;
  const id = need(cluster, 'the cluster id');
  const cid = encodeURIComponent(id);
  const configurations = `/v1.0/{project_id}/clusters/${cid}/configurations`;
  const audit = `/v1/{project_id}/clusters/${cid}/configurations/audit-records`;
  const parameters = async (): Promise<ParameterBody[]> =>
    (await c.call<{ configurations: ParameterBody[] }>('GET', `${configurations}/${cid}`)).configurations;
  const detail = async (): Promise<RestartWait> =>
    (await c.call<{ cluster: RestartWait }>('GET', `/v1.0/{project_id}/clusters/${cid}`)).cluster;
  switch (sub) {
    case 'list': {
      const [conf] = (
        await c.call<{ configurations: { id: string; name: string; status: string; fail_reason?: string }[] }>('GET', configurations)
      ).configurations;
      const list = await parameters();
      const d = await detail();
      const wait = d.pending_restart ? { pending_restart: d.pending_restart, maintain_window: d.maintain_window } : {};
      print(ctx, { configuration: conf, ...wait, parameters: list }, () => {
        const pending = list.filter((p) => p.pending_restart).length;
        return [
          `${conf?.name ?? ''}  ${conf?.status ?? ''}${conf?.fail_reason ? `: ${conf.fail_reason}` : ''}${pending ? `  ${pending} pending restart` : ''}`,
          ...(d.pending_restart ? [restartWaitLine(d)] : []),
          table([
            ['NAME', 'VALUE', 'DEFAULT', 'UNIT', 'RANGE', 'RESTART', 'PENDING'],
            ...list.map((p) => [
              p.name,
              p.values[0]?.value ?? '',
              p.values[0]?.default_value ?? '',
              p.unit || '-',
              p.readonly ? '(node type; read-only)' : p.value_range || '-',
              p.restart_required ? 'yes' : 'no',
              p.pending_restart ? 'yes' : 'no',
            ]),
          ]),
        ].join('\n');
      });
      return 0;
    }
    case 'show': {
      const name = need(rest[0], 'the parameter name');
      const p = (await parameters()).find((x) => x.name === name);
      if (!p) throw new Error(`${name} is not one of the cluster's parameters (dwsbox params list ${id} shows them)`);
      print(ctx, p, () =>
        [
          ['name', p.name],
          ['value', `${p.values[0]?.value ?? ''}${p.unit ? ` (${p.unit})` : ''}`],
          ['default', p.values[0]?.default_value ?? ''],
          ['type', p.type],
          ['range', p.readonly ? "read-only: the node type's" : p.value_range],
          ['restart', p.restart_required ? 'a change restarts every member' : 'a reload applies a change'],
          ['pending restart', p.pending_restart ? 'yes' : 'no'],
          ['description', p.description],
        ]
          .map(([k, v]) => `${k!.padEnd(16)} ${v!}`)
          .join('\n'),
      );
      return 0;
    }
    case 'set': {
      const values = parameterAssignments(rest);
      // UpdateConfiguration answers {} (the SDK has no job id): the task is the newest audit record, if a new one.
      const newest = async (): Promise<AuditRecordBody | undefined> =>
        (await c.call<{ records: AuditRecordBody[] }>('GET', `${audit}?limit=1`)).records[0];
      const before = (await newest())?.id;
      await c.call('PUT', `/v2/{project_id}/clusters/${cid}/configurations/${cid}`, {
        configurations: values.map((v) => ({ type: 'dn', ...v })),
        ...(ctx.values['restart-now'] ? { restart_now: true } : {}),
      });
      const after = await newest();
      if (!after || after.id === before) {
        print(ctx, { changed: false }, () => 'nothing to change: every value is already set');
        return 0;
      }
      // A restart the change needs waits for the maintenance window unless --restart-now (the task records the wait).
      const w = !ctx.values['restart-now'] && after.parameters.some((p) => p.restart_required) ? (await detail()).maintain_window : null;
      print(
        ctx,
        { changed: true, job_id: after.id, parameters: after.parameters, ...(w ? { restart_waits_for: w } : {}) },
        () =>
          `parameters are being set (task ${after.id}): ` +
          after.parameters.map((p) => `${p.name} ${p.old_value} → ${p.new_value}${p.restart_required ? ' (restart)' : ''}`).join(', ') +
          (w
            ? `\nthe restart waits for the maintenance window (${w.day} ${w.start_time}-${w.end_time} UTC); --restart-now restarts the members at once`
            : ''),
      );
      return maybeWait(ctx, { clusterId: id, jobId: after.id });
    }
    case 'history': {
      const limit = ctx.values['limit'] !== undefined ? int(ctx.values['limit'], '--limit') : undefined;
      const r = await c.call<{ records: AuditRecordBody[]; count: number }>('GET', limit ? `${audit}?limit=${limit}` : audit);
      print(ctx, r, () =>
        table([
          ['TASK', 'STATUS', 'START', 'END', 'CHANGES'],
          ...r.records.map((x) => [
            x.id,
            x.status,
            x.start_time,
            x.end_time ?? '-',
            x.parameters.map((p) => `${p.name} ${p.old_value}→${p.new_value}${p.restart_required ? ' (restart)' : ''}`).join(', ') +
              (x.failed_reason ? `  failed: ${x.failed_reason}` : ''),
          ]),
        ]),
      );
      return 0;
    }
    default:
      throw new UsageError('params: use list, show, set or history');
  }
}

async function nodeTypes(ctx: Ctx): Promise<number> {
  const r = await ctx.client.call<{
    node_types: { spec_name: string; vcpus: number; ram: number; detail: { type: string; value: string }[] }[];
  }>('GET', '/v2/{project_id}/node-types');
  print(ctx, r, () =>
    table([
      ['NAME', 'VCPUS', 'RAM_GB', 'POSTGRESQL'],
      ...r.node_types.map((t) => [t.spec_name, String(t.vcpus), String(t.ram), t.detail.find((d) => d.type === 'postgresql')?.value ?? '']),
    ]),
  );
  return 0;
}

interface EventBody {
  event_id: string;
  name: string;
  severity: string;
  source_id: string;
  source_name: string;
  occur_time: number;
  description: string;
}
interface EventSubBody {
  id: string;
  name: string;
  enable: number;
  severity: string;
  category: string;
  source_id: string;
  notification_target: string;
  secret?: string;
  delivery: { pending: number; failed_attempts: number; last_error: string | null; next_attempt_at: number | null };
}

async function events(ctx: Ctx): Promise<number> {
  const [sub, verb, id] = ctx.positionals;
  const q = (o: Record<string, unknown>): string => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(o)) if (v !== undefined) p.set(k, String(v));
    return p.size ? `?${p.toString()}` : '';
  };
  if (sub === 'list') {
    const r = await ctx.client.call<{ events: EventBody[]; count: number }>(
      'GET',
      `/v2/{project_id}/events${q({ source_id: ctx.values['cluster'], limit: ctx.values['limit'] })}`,
    );
    print(ctx, r, () =>
      table([
        ['TIME', 'SEVERITY', 'NAME', 'CLUSTER', 'DESCRIPTION'],
        ...r.events.map((e) => [new Date(e.occur_time).toISOString(), e.severity, e.name, e.source_name || e.source_id, e.description]),
      ]),
    );
    return 0;
  }
  if (sub === 'specs') {
    const r = await ctx.client.call<{ event_specs: { name: string; category: string; severity: string; description: string }[] }>(
      'GET',
      '/v2/{project_id}/event-specs',
    );
    print(ctx, r, () =>
      table([
        ['NAME', 'CATEGORY', 'SEVERITY', 'DESCRIPTION'],
        ...r.event_specs.map((e) => [e.name, e.category, e.severity, e.description]),
      ]),
    );
    return 0;
  }
  if (sub !== 'subs') throw new UsageError('events list | specs | subs …');
  switch (verb) {
    case 'list': {
      const r = await ctx.client.call<{ event_subscriptions: EventSubBody[] }>('GET', '/v2/{project_id}/event-subs');
      print(ctx, r, () =>
        table([
          ['ID', 'NAME', 'ENABLED', 'ENDPOINT', 'PENDING', 'FAILED', 'LAST_ERROR'],
          ...r.event_subscriptions.map((x) => [
            x.id,
            x.name,
            x.enable ? 'yes' : 'no',
            x.notification_target,
            String(x.delivery.pending),
            String(x.delivery.failed_attempts),
            x.delivery.last_error ?? '',
          ]),
        ]),
      );
      return 0;
    }
    case 'create': {
      const url = need(ctx.values['url'], '--url');
      const body: Record<string, unknown> = {
        name: need(ctx.values['name'], '--name'),
        notification_target: url,
        notification_target_name: ctx.values['name'],
        notification_target_type: url.toLowerCase().startsWith('https:') ? 'HTTPS' : 'HTTP',
      };
      if (ctx.values['severity']) body['severity'] = ctx.values['severity'];
      if (ctx.values['category']) body['category'] = ctx.values['category'];
      if (ctx.values['cluster']) body['source_id'] = ctx.values['cluster'];
      if (ctx.values['disabled']) body['enable'] = 0;
      const r = await ctx.client.call<EventSubBody>('POST', '/v2/{project_id}/event-subs', body);
      print(ctx, r, () => `subscription ${r.id} created\nsigning secret (shown once): ${r.secret ?? ''}`);
      return 0;
    }
    case 'enable':
    case 'disable': {
      const r = await ctx.client.call<EventSubBody>('PUT', `/v2/{project_id}/event-subs/${encodeURIComponent(need(id, 'ID'))}`, {
        enable: verb === 'enable' ? 1 : 0,
      });
      print(ctx, r, () => `subscription ${r.id} ${verb}d`);
      return 0;
    }
    case 'delete': {
      const r = await ctx.client.call<EventSubBody>('DELETE', `/v2/{project_id}/event-subs/${encodeURIComponent(need(id, 'ID'))}`);
      print(ctx, r, () => `subscription ${r.id} deleted`);
      return 0;
    }
    default:
      throw new UsageError(
        'events subs list | create --name N --url URL [--severity S] [--category C] [--cluster ID,…] [--disabled] | enable ID | disable ID | delete ID',
      );
  }
}

const COMMANDS: Record<string, { options: Options; run: (ctx: Ctx) => Promise<number> }> = {
  clusters: {
    options: {
      ...WAIT,
      name: { type: 'string' },
      nodes: { type: 'string' },
      'node-type': { type: 'string' },
      port: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      'vpc-id': { type: 'string' },
      'subnet-id': { type: 'string' },
      keep: { type: 'string' },
      count: { type: 'string' },
      to: { type: 'string' },
      time: { type: 'string' },
      snapshot: { type: 'string' },
      limit: { type: 'string' },
    },
    run: clusters,
  },
  snapshots: {
    options: {
      ...WAIT,
      cluster: { type: 'string' },
      name: { type: 'string' },
      description: { type: 'string' },
      port: { type: 'string' },
      database: { type: 'string' },
      table: { type: 'string', multiple: true },
      'case-sensitive': { type: 'boolean' },
      check: { type: 'boolean' },
      time: { type: 'string' },
    },
    run: snapshots,
  },
  tasks: { options: { interval: { type: 'string' } }, run: tasks },
  faults: {
    options: {
      action: { type: 'string' },
      step: { type: 'string' },
      mode: { type: 'string' },
      point: { type: 'string' },
      cluster: { type: 'string' },
      'delay-ms': { type: 'string' },
      times: { type: 'string' },
    },
    run: faults,
  },
  policies: {
    options: {
      'keep-day': { type: 'string' },
      'auto-backup': { type: 'string' },
      name: { type: 'string' },
      schedule: { type: 'string' },
      type: { type: 'string' },
      level: { type: 'string' },
      'tz-offset': { type: 'string' },
      database: { type: 'string' },
      schemas: { type: 'string' },
      tables: { type: 'string' },
    },
    run: policies,
  },
  'db-users': {
    options: {
      type: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'boolean' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      'conn-limit': { type: 'string' },
      createdb: { type: 'boolean' },
      'member-of': { type: 'string' },
      cascade: { type: 'boolean' },
      offset: { type: 'string' },
      limit: { type: 'string' },
    },
    run: dbUsers,
  },
  params: { options: { ...WAIT, limit: { type: 'string' }, 'restart-now': { type: 'boolean' } }, run: params },
  'node-types': { options: {}, run: nodeTypes },
  top: { options: { interval: { type: 'string' }, once: { type: 'boolean' } }, run: top },
  metrics: { options: { since: { type: 'string' }, member: { type: 'string' } }, run: metrics },
  events: {
    options: {
      cluster: { type: 'string' },
      limit: { type: 'string' },
      name: { type: 'string' },
      url: { type: 'string' },
      severity: { type: 'string' },
      category: { type: 'string' },
      disabled: { type: 'boolean' },
    },
    run: events,
  },
  dr: {
    options: {
      ...WAIT,
      name: { type: 'string' },
      production: { type: 'string' },
      standby: { type: 'string' },
      'sync-period': { type: 'string' },
      'discard-standby-data': { type: 'boolean' },
    },
    run: disasterRecovery,
  },
  alarms: {
    options: {
      days: { type: 'string' },
      level: { type: 'string' },
      active: { type: 'boolean' },
      name: { type: 'string' },
      url: { type: 'string' },
      rules: { type: 'string' },
      cluster: { type: 'string' },
    },
    run: alarms,
  },
};

export async function runApiCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  out: NodeJS.WriteStream = process.stdout,
): Promise<number> {
  const [cmd, ...rest] = argv;
  const spec = cmd ? COMMANDS[cmd] : undefined;
  if (!spec) {
    process.stderr.write(`dwsbox: unknown command ${argv.join(' ')}\n\n${API_HELP}`);
    return 2;
  }
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...CONNECTION, ...spec.options },
      allowPositionals: true,
      strict: true,
    });
    if (values['help']) {
      out.write(API_HELP);
      return 0;
    }
    const client = await connection(values as Record<string, unknown>, env);
    return await spec.run({ client, json: values['json'] === true, values: values as Record<string, unknown>, positionals, out });
  } catch (e) {
    if (e instanceof ApiError) {
      process.stderr.write(`dwsbox: ${e.errorCode}: ${e.message}${e.requestId ? ` (request ${e.requestId})` : ''}\n`);
      return 1;
    }
    if (e instanceof UsageError || e instanceof SecretSourceError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`dwsbox: ${(e as Error).message}\n`);
      return 2;
    }
    process.stderr.write(`dwsbox: ${(e as Error).message}\n`);
    return 1;
  }
}
