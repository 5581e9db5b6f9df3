/**
 * End to end (issue 16, D28, D32): parameter configurations as the cluster's real PostgreSQL
 * settings on one real cluster — listed as the primary's pg_settings says; forbidden parameters
 * and bad values refused with nothing changed and no task; a reload-only change on every member
 * with no restart; a restart change on every member, each restarted; the audit records of both;
 * a restart change that waits for the maintenance window (no member restarted, the cluster free,
 * the restart pending in the detail and the parameters) and fires as its own task once the
 * window is under way.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { adminQuery } from '../helpers/crash.js';
import { runApiCommand } from '../../src/cli/commands/api.js';
import {
  ACCESS_KEY,
  PROJECT_ID,
  SECRET_KEY,
  clusterTasks,
  createAvailableCluster,
  getCluster,
  startService,
  subItems,
  waitTaskDone,
  type TestService,
} from '../helpers/service.js';

let t: TestService;
let id: string;
beforeAll(async () => {
  t = await startService();
  id = (await createAvailableCluster(t.client, { nodes: 3 })).id;
});
afterAll(async () => {
  await t?.stop();
});

const CONFIGS = (): string => `/v1.0/{project_id}/clusters/${id}/configurations`;
const PUT = (cfg = id): string => `/v2/{project_id}/clusters/${id}/configurations/${cfg}`;

interface Param {
  name: string;
  values: { type: string; value: string; default_value: string }[];
  unit: string;
  type: string;
  readonly: boolean;
  value_range: string;
  restart_required: boolean;
}

/** Each member's connect address, primary first. */
async function members(): Promise<{ role: string; at: string }[]> {
  const nodes = (await getCluster(t.client, id)).nodes;
  return [...nodes]
    .sort((a, b) => (a.role === 'primary' ? -1 : b.role === 'primary' ? 1 : 0))
    .map((n) => ({ role: n.role, at: n.connect_info }));
}

/** pg_settings of these names on a member, with its postmaster's start time. */
async function settingsAt(
  at: string,
  names: string[],
): Promise<{ start: string; s: Record<string, { setting: string; pending: boolean }> }> {
  const list = names.map((n) => `'${n}'`).join(',');
  const rows = await adminQuery<{ name: string; setting: string; pending_restart: boolean; start: string }>(
    at,
    `select name, setting, pending_restart, pg_postmaster_start_time()::text as start from pg_settings where name in (${list})`,
  );
  return { start: rows[0]!.start, s: Object.fromEntries(rows.map((r) => [r.name, { setting: r.setting, pending: r.pending_restart }])) };
}

const configureTasks = async (): Promise<{ id: string }[]> =>
  (await clusterTasks(t.client, id)).filter((x) => x.kind === 'cluster.configure');

async function update(values: { name: string; value: string }[], restartNow = false): Promise<{ status: number; body: unknown }> {
  return t.client.request('PUT', PUT(), {
    configurations: values.map((v) => ({ type: 'dn', ...v })),
    ...(restartNow ? { restart_now: true } : {}),
  });
}

/** The newest configure task, once it has ended. */
async function lastTaskDone(): Promise<Awaited<ReturnType<typeof waitTaskDone>>> {
  const [task] = await configureTasks();
  return waitTaskDone(t.client, id, task!.id);
}

/** The CLI's API commands in process (as db-users.test.ts runs them): exit code, standard output and error. */
async function cli(...a: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const lines: string[] = [];
  const out = { write: (s: string) => lines.push(s) > 0 } as unknown as NodeJS.WriteStream;
  const env = { DWSBOX_ENDPOINT: t.endpoint, DWSBOX_PROJECT_ID: PROJECT_ID, DWSBOX_ACCESS_KEY: ACCESS_KEY, DWSBOX_SECRET_KEY: SECRET_KEY };
  const err: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => err.push(String(s)) > 0);
  try {
    return { code: await runApiCommand(a, env, out), stdout: lines.join(''), stderr: err.join('') };
  } finally {
    spy.mockRestore();
  }
}

describe('parameter configurations (real PostgreSQL settings)', () => {
  it("lists the cluster's one configuration and its parameters as the primary's pg_settings says", async () => {
    const l = await t.client.call<{ configurations: { id: string; status: string; type: string }[] }>('GET', CONFIGS());
    expect(l.configurations).toEqual([expect.objectContaining({ id, status: 'In-Sync' })]);

    const p = await t.client.call<{ configurations: Param[] }>('GET', `${CONFIGS()}/${id}`);
    const byName = Object.fromEntries(p.configurations.map((x) => [x.name, x]));
    expect(byName['statement_timeout']).toMatchObject({
      unit: 'ms',
      type: 'integer',
      readonly: false,
      restart_required: false,
      pending_restart: false,
    });
    expect(byName['max_locks_per_transaction']).toMatchObject({ restart_required: true, value_range: '10-1024' });
    expect(byName['shared_buffers']).toMatchObject({ readonly: true });
    for (const forbidden of ['archive_command', 'shared_preload_libraries', 'restore_command', 'dynamic_library_path', 'wal_level'])
      expect(byName[forbidden]).toBeUndefined();
    const [primary] = await members();
    const onPrimary = await settingsAt(primary!.at, Object.keys(byName));
    for (const x of p.configurations) expect(x.values[0]!.value, x.name).toBe(onPrimary.s[x.name]!.setting);
    // `show` gives the same value in its own unit
    const [show] = await adminQuery<{ v: string }>(primary!.at, "select current_setting('default_statistics_target') as v");
    expect(byName['default_statistics_target']!.values[0]!.value).toBe(show!.v);

    const wrong = await t.client.request('GET', `${CONFIGS()}/not-this-cluster`);
    expect(wrong.status).toBe(404);
    expect((wrong.body as { error_code: string }).error_code).toBe('DWS.9980');
  });

  it('refuses forbidden parameters and bad values with 400, changing nothing and making no task', async () => {
    const all = await members();
    const before = await Promise.all(
      all.map((m) => settingsAt(m.at, ['statement_timeout', 'archive_command', 'max_locks_per_transaction'])),
    );
    const bad: [string, string, RegExp][] = [
      ['archive_command', '/bin/true', /run code|OS user/],
      ['shared_preload_libraries', 'auto_explain', /run code|OS user/],
      ['max_connections', '500', /node type/],
      ['statement_timeout', '-5', /out of range/],
      ['statement_timeout', '5s', /not an integer/],
      ['max_locks_per_transaction', '100000', /out of range/],
      ['log_statement', 'everything', /not one of/],
      ['no_such_parameter', '1', /not among/],
    ];
    for (const [name, value, why] of bad) {
      const r = await update([
        { name: 'lock_timeout', value: '1000' },
        { name, value },
      ]);
      expect(r.status, `${name}=${value}`).toBe(400);
      expect((r.body as { error_code: string }).error_code).toBe('DWS.0001');
      expect((r.body as { error_msg: string }).error_msg).toMatch(why);
    }
    expect((await update([])).status).toBe(400);
    const other = await t.client.request('PUT', PUT('not-this-cluster'), { configurations: [{ name: 'lock_timeout', value: '1000' }] });
    expect(other.status).toBe(404);
    expect(await configureTasks()).toEqual([]);
    const after = await Promise.all(
      all.map((m) => settingsAt(m.at, ['statement_timeout', 'archive_command', 'max_locks_per_transaction'])),
    );
    expect(after).toEqual(before);
  });

  it('applies reload-only parameters on every member at once, restarting none', async () => {
    const all = await members();
    const before = await Promise.all(all.map((m) => settingsAt(m.at, ['statement_timeout'])));
    const r = await update([
      { name: 'statement_timeout', value: '12345' },
      { name: 'log_min_duration_statement', value: '2500' },
    ]);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const task = await lastTaskDone();
    expect(task.status, JSON.stringify(task)).toBe('SUCCESS');
    expect(subItems(task).map((s) => s.step)).toEqual(['APPLY_SETTINGS', 'VERIFY_SETTINGS']);
    for (const [i, m] of all.entries()) {
      const now = await settingsAt(m.at, ['statement_timeout', 'log_min_duration_statement']);
      expect(now.s['statement_timeout']).toEqual({ setting: '12345', pending: false });
      expect(now.s['log_min_duration_statement']).toEqual({ setting: '2500', pending: false });
      expect(now.start, `${m.role} was not restarted`).toBe(before[i]!.start);
      const [show] = await adminQuery<{ statement_timeout: string }>(m.at, 'show statement_timeout');
      expect(show!.statement_timeout).toBe('12345ms');
    }
    const c = await getCluster(t.client, id);
    expect(c.status).toBe('AVAILABLE');
  });

  it('restarts every member, standbys first, for a parameter that takes a restart (restart_now)', async () => {
    const all = await members();
    const before = await Promise.all(all.map((m) => settingsAt(m.at, ['max_locks_per_transaction'])));
    const old = before[0]!.s['max_locks_per_transaction']!.setting;
    const next = String(Number(old) * 2);
    expect((await update([{ name: 'max_locks_per_transaction', value: next }], true)).status).toBe(200);
    const task = await lastTaskDone();
    expect(task.status, JSON.stringify(task)).toBe('SUCCESS');
    const steps = subItems(task).map((s) => s.step);
    expect(steps[0]).toBe('APPLY_SETTINGS');
    expect(steps.at(-1)).toBe('VERIFY_SETTINGS');
    expect(steps.filter((s) => s.startsWith('RESTART_NODE_'))).toHaveLength(all.length);
    for (const [i, m] of all.entries()) {
      const now = await settingsAt(m.at, ['max_locks_per_transaction', 'statement_timeout']);
      expect(now.s['max_locks_per_transaction']).toEqual({ setting: next, pending: false });
      expect(now.s['statement_timeout']!.setting).toBe('12345');
      expect(now.start, `${m.role} restarted`).not.toBe(before[i]!.start);
    }
  });

  it('lists both updates as audit records, newest first, with what they changed', async () => {
    const a = await t.client.call<{
      count: number;
      records: {
        id: string;
        status: string;
        start_time: string;
        end_time?: string;
        parameters: { name: string; old_value: string; new_value: string }[];
      }[];
    }>('GET', `/v1/{project_id}/clusters/${id}/configurations/audit-records`);
    expect(a.count).toBe(2);
    expect(a.records.map((r) => r.status)).toEqual(['SUCCESS', 'SUCCESS']);
    expect(a.records[0]!.parameters.map((p) => p.name)).toEqual(['max_locks_per_transaction']);
    expect(a.records[1]!.parameters).toEqual([
      expect.objectContaining({ name: 'statement_timeout', old_value: '0', new_value: '12345' }),
      expect.objectContaining({ name: 'log_min_duration_statement', new_value: '2500' }),
    ]);
    expect(a.records[0]!.end_time).toBeTruthy();
    const l = await t.client.call<{ configurations: { status: string }[] }>('GET', CONFIGS());
    expect(l.configurations[0]!.status).toBe('In-Sync');
  });

  it("sets the cluster's time zone on every member with no restart (ModifyClusterTimezone); the detail shows it", async () => {
    const TZ = `/v2/{project_id}/clusters/${id}/timezone`;
    expect((await getCluster(t.client, id)) as unknown).toMatchObject({ cluster_timezone: 'UTC' });
    const bad = await t.client.request<{ error_code: string }>('POST', TZ, { cluster_timezone: "UTC'; drop table x; --" });
    expect([bad.status, bad.body.error_code]).toEqual([400, 'DWS.0001']);
    expect(await configureTasks()).toHaveLength(2);
    const all = await members();
    // The postmaster's start as an epoch (its text follows the session's zone, which changes here).
    const started = async (at: string): Promise<string> =>
      (await adminQuery<{ s: string }>(at, 'select extract(epoch from pg_postmaster_start_time())::text as s'))[0]!.s;
    const before = await Promise.all(all.map((m) => started(m.at)));
    const r = await t.client.call<{ job_id: string }>('POST', TZ, { cluster_timezone: 'Asia/Shanghai' });
    const job = await waitTaskDone(t.client, id, r.job_id);
    expect(job.status, JSON.stringify(job)).toBe('SUCCESS');
    for (const [i, m] of all.entries()) {
      const [row] = await adminQuery<{ tz: string; now_h: number }>(
        m.at,
        "select current_setting('TimeZone') as tz, extract(timezone_hour from now())::int as now_h",
      );
      expect(row).toEqual({ tz: 'Asia/Shanghai', now_h: 8 });
      expect(await started(m.at), `${m.role} was not restarted`).toBe(before[i]);
    }
    expect((await getCluster(t.client, id)) as unknown).toMatchObject({ cluster_timezone: 'Asia/Shanghai' });
    // The same zone again: nothing to do, no task.
    expect(await t.client.call('POST', TZ, { cluster_timezone: 'Asia/Shanghai' })).toEqual({});
    expect(await configureTasks()).toHaveLength(3);
  });

  it('the CLI: params list, show, set (the task followed with --wait; bad input refused) and history', async () => {
    const list = await cli('params', 'list', id);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/-parameters {2}In-Sync/);
    expect(list.stdout).toMatch(/^statement_timeout +12345 +0 +ms +0-2147483647 +no +no$/m);
    expect(list.stdout).toMatch(/^shared_buffers .*\(node type; read-only\)/m);
    const shown = JSON.parse((await cli('params', 'show', id, 'max_locks_per_transaction', '--json')).stdout) as Param;
    expect(shown).toMatchObject({ name: 'max_locks_per_transaction', restart_required: true, pending_restart: false });

    // bad input: usage errors (2) before any call, the API's refusal (1) with its code; no task
    for (const bad of [[], ['lock_timeout'], ['=5'], ['lock_timeout=1', 'lock_timeout=2']]) {
      const r = await cli('params', 'set', id, ...bad);
      expect([r.code, r.stderr], bad.join(' ')).toEqual([2, expect.stringMatching(/^dwsbox: params set: /)]);
    }
    const refused = await cli('params', 'set', id, 'archive_command=/bin/true');
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringMatching(/^dwsbox: DWS\.0001: .*archive_command/)]);
    expect((await cli('params', 'show', id, 'no_such_thing')).code).toBe(1);
    expect(await configureTasks()).toHaveLength(3);

    const set = await cli('params', 'set', id, 'lock_timeout=2000', 'statement_timeout=12345', '--wait', '--json');
    expect(set.code, set.stderr).toBe(0);
    const [started, final] = set.stdout.split(/\n(?=\{)/).map((d) => JSON.parse(d) as Record<string, unknown>);
    expect(started).toMatchObject({ changed: true, parameters: [{ name: 'lock_timeout', old_value: '0', new_value: '2000' }] });
    expect(final).toMatchObject({ id: started!['job_id'], status: 'SUCCESS' });
    const [primary] = await members();
    expect((await settingsAt(primary!.at, ['lock_timeout'])).s['lock_timeout']).toEqual({ setting: '2000', pending: false });
    expect((await cli('params', 'set', id, 'lock_timeout=2000')).stdout).toMatch(/nothing to change/);

    const history = await cli('params', 'history', id, '--limit', '2');
    expect(history.stdout).toMatch(new RegExp(`^${String(started!['job_id'])} +SUCCESS .* lock_timeout 0→2000$`, 'm'));
    expect(history.stdout.trim().split('\n')).toHaveLength(3);
  });

  it('a restart change waits for the maintenance window: no member restarts, the cluster stays free, the restart shows pending, then fires as its own task in the window', async () => {
    const all = await members();
    const before = await Promise.all(all.map((m) => settingsAt(m.at, ['max_locks_per_transaction'])));
    const old = before[0]!.s['max_locks_per_transaction']!.setting;
    const next = String(Number(old) * 2);
    // The window starts a day ahead (Thu 22:00 UTC by default may be under way while this runs).
    const at = new Date(Date.now() + 86_400_000);
    const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][at.getUTCDay()]!;
    const hour = (h: number): string => `${String(h % 24).padStart(2, '0')}:00`;
    const WINDOW = `/v1.0/{project_id}/clusters/${id}/maintenance-window`;
    await t.client.call('PUT', WINDOW, { day, start_time: hour(at.getUTCHours()), end_time: hour(at.getUTCHours() + 4) });
    // through the CLI: it says the restart waits for the window
    const set = await cli('params', 'set', id, `max_locks_per_transaction=${next}`);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(new RegExp(`restart waits for the maintenance window \\(${day} ${hour(at.getUTCHours())}-`));
    const deferred = await lastTaskDone();
    expect(deferred.status, JSON.stringify(deferred)).toBe('SUCCESS');
    expect(subItems(deferred).map((s) => s.step)).toEqual(['APPLY_SETTINGS', 'VERIFY_SETTINGS']);
    for (const [i, m] of all.entries()) {
      const now = await settingsAt(m.at, ['max_locks_per_transaction']);
      expect(now.start, `${m.role} was not restarted`).toBe(before[i]!.start);
      expect(now.s['max_locks_per_transaction']!.setting).toBe(old);
    }
    const detail = (await getCluster(t.client, id)) as unknown as { status: string; pending_restart?: Record<string, unknown> };
    expect(detail.status).toBe('AVAILABLE');
    expect(detail.pending_restart).toMatchObject({ parameters: [{ name: 'max_locks_per_transaction', value: next }], status: 'SCHEDULED' });
    const params = await t.client.call<{ configurations: { name: string; pending_restart: boolean }[] }>('GET', `${CONFIGS()}/${id}`);
    expect(params.configurations.find((p) => p.name === 'max_locks_per_transaction')?.pending_restart).toBe(true);
    const list = (await cli('params', 'list', id)).stdout;
    expect(list).toMatch(new RegExp(`^restart waiting for the maintenance window .*: at .* for max_locks_per_transaction=${next}$`, 'm'));
    expect(list).toMatch(/^max_locks_per_transaction .* yes +yes$/m);
    // The cluster is free meanwhile: another change runs at once.
    expect((await update([{ name: 'lock_timeout', value: '3000' }])).status).toBe(200);
    expect((await lastTaskDone()).status).toBe('SUCCESS');

    // A window under way now: the scheduler fires the restart at its next pass.
    const h = new Date().getUTCHours();
    const today = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][new Date().getUTCDay()]!;
    await t.client.call('PUT', WINDOW, { day: today, start_time: hour(h), end_time: hour(h + 4) });
    const known = new Set((await configureTasks()).map((x) => x.id));
    let fired: { id: string } | undefined;
    for (let i = 0; i < 300 && !fired; i++) {
      fired = (await configureTasks()).find((x) => !known.has(x.id));
      if (!fired) await new Promise((r) => setTimeout(r, 200));
    }
    expect(fired, 'the scheduler fired the restart').toBeDefined();
    const task = await waitTaskDone(t.client, id, fired!.id);
    expect(task.status, JSON.stringify(task)).toBe('SUCCESS');
    expect(subItems(task).map((s) => s.step)).toEqual([
      'CHECK_PENDING',
      'RESTART_NODE_2',
      'RESTART_NODE_3',
      'RESTART_NODE_1',
      'VERIFY_SETTINGS',
    ]);
    for (const [i, m] of all.entries()) {
      const now = await settingsAt(m.at, ['max_locks_per_transaction', 'lock_timeout']);
      expect(now.s['max_locks_per_transaction']).toEqual({ setting: next, pending: false });
      expect(now.s['lock_timeout']!.setting).toBe('3000');
      expect(now.start, `${m.role} restarted`).not.toBe(before[i]!.start);
    }
    expect(((await getCluster(t.client, id)) as unknown as { pending_restart?: unknown }).pending_restart).toBeUndefined();
  });

  it("changes the node type (ExecuteFlavorChange): the new type's settings on every member, each restarted, the detail and ShowClusterFlavor say so", async () => {
    const shown = await t.client.call<{ flavor: { spec_name: string; id: string; current_node: number } }>(
      'GET',
      `/v2/{project_id}/clusters/${id}/flavor`,
    );
    expect(shown.flavor).toMatchObject({ spec_name: 'dwsx.small', current_node: 3 });
    const targets = await t.client.call<{ flavors: { name: string; id: string; is_current_flavor: boolean }[] }>(
      'GET',
      `/v1/{project_id}/flavors/${shown.flavor.id}/target-flavors?cluster_id=${id}`,
    );
    expect(targets.flavors.find((f) => f.is_current_flavor)?.name).toBe('dwsx.small');
    const to = targets.flavors.find((f) => f.name === 'dws.m3.xlarge')!;
    // bad input first: an unknown flavor, the same one; nothing is made
    const tasksBefore = (await configureTasks()).length;
    const unknown = await t.client.request<{ error_code: string }>('POST', `/v1/{project_id}/clusters/${id}/flavor`, {
      target_flavor_id: 'nope',
    });
    const same = await t.client.request<{ error_code: string }>('POST', `/v1/{project_id}/clusters/${id}/flavor`, {
      target_flavor_id: shown.flavor.id,
    });
    expect([unknown.status, unknown.body.error_code, same.status, same.body.error_code]).toEqual([400, 'DWS.0001', 400, 'DWS.0001']);
    expect(await configureTasks()).toHaveLength(tasksBefore);

    const all = await members();
    const before = await Promise.all(all.map((m) => settingsAt(m.at, ['shared_buffers'])));
    const r = await t.client.request<{ job_id: string }>('POST', `/v1/{project_id}/clusters/${id}/flavor`, {
      target_flavor_id: to.id,
      force_backup: false,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const task = await waitTaskDone(t.client, id, r.body.job_id);
    expect(task.status, JSON.stringify(task)).toBe('SUCCESS');
    for (const [i, m] of all.entries()) {
      const now = await settingsAt(m.at, ['shared_buffers', 'max_connections', 'maintenance_work_mem']);
      // 128MB in 8 kB pages, 64MB in kB
      expect(now.s['shared_buffers']).toEqual({ setting: '16384', pending: false });
      expect(now.s['max_connections']!.setting).toBe('100');
      expect(now.s['maintenance_work_mem']!.setting).toBe('65536');
      expect(now.start, `${m.role} restarted`).not.toBe(before[i]!.start);
    }
    const detail = await getCluster(t.client, id);
    expect((detail as unknown as { node_type: string }).node_type).toBe('dws.m3.xlarge');
    expect(detail.status).toBe('AVAILABLE');
    const after = await t.client.call<{ flavor: { spec_name: string } }>('GET', `/v2/{project_id}/clusters/${id}/flavor`);
    expect(after.flavor.spec_name).toBe('dws.m3.xlarge');

    // and back down: max_connections 100 → 40, the primary first, each standby once it has replayed the primary's new value
    const down = await t.client.request<{ job_id: string }>('POST', `/v1/{project_id}/clusters/${id}/flavor`, {
      target_flavor_id: shown.flavor.id,
    });
    expect(down.status, JSON.stringify(down.body)).toBe(200);
    const back = await waitTaskDone(t.client, id, down.body.job_id);
    expect(back.status, JSON.stringify(back)).toBe('SUCCESS');
    const restarts = subItems(back)
      .map((x) => x.step)
      .filter((x) => x.startsWith('RESTART_NODE_'));
    const primaryNode = (await getCluster(t.client, id)).nodes.find((n) => n.role === 'primary')!;
    expect(restarts[0]).toBe(`RESTART_NODE_${(primaryNode as unknown as { name: string }).name.replace('node', '')}`);
    for (const m of await members()) {
      const now = await settingsAt(m.at, ['shared_buffers', 'max_connections']);
      expect(now.s['max_connections']).toEqual({ setting: '40', pending: false });
      expect(now.s['shared_buffers']!.setting).toBe('4096');
    }
    expect((await getCluster(t.client, id)).status).toBe('AVAILABLE');
  });
});
