/**
 * `dwsbox policies …`, driven as a user drives it (a child process, credentials in the
 * environment) against a running service. The cluster is a store row (no nodes): the
 * schedules are yearly, so nothing fires during the test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ACCESS_KEY, PROJECT_ID, SECRET_KEY, startService, type TestService } from '../helpers/service.js';
import { makeCluster } from '../helpers/records.js';
import { cliEntry } from '../helpers/cli-entry.js';

const run = promisify(execFile);
let t: TestService;
let env: Record<string, string>;
const cluster = makeCluster({ projectId: PROJECT_ID });

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('node', [...cliEntry(), ...args], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: t.dataDir, ...env },
      timeout: 120_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

beforeAll(async () => {
  t = await startService();
  await t.svc.store.insertCluster(cluster);
  env = { DWSBOX_ENDPOINT: t.endpoint, DWSBOX_PROJECT_ID: PROJECT_ID, DWSBOX_ACCESS_KEY: ACCESS_KEY, DWSBOX_SECRET_KEY: SECRET_KEY };
});
afterAll(async () => {
  await t?.stop();
});

describe('dwsbox policies', () => {
  it("adds a strategy, sets keep_day, shows them, refuses a bad schedule with the API's message, deletes", async () => {
    const add = await cli([
      'policies',
      'add',
      cluster.id,
      '--name',
      'yearly-cli',
      '--schedule',
      '0 0 3 1 1 ?',
      '--type',
      'full',
      '--tz-offset',
      '8',
      '--json',
    ]);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const s = JSON.parse(add.stdout) as { policy_id: string; next_fire_time: string; time_zone_offset: number; backup_type: string };
    expect(s).toMatchObject({ time_zone_offset: 8, backup_type: 'full' });
    // 03:00 on 1 January at UTC+8 is 19:00 UTC on 31 December.
    expect(s.next_fire_time).toMatch(/-12-31T19:00:00$/);

    expect((await cli(['policies', 'set', cluster.id, '--keep-day', '5'])).code).toBe(0);
    const show = await cli(['policies', 'show', cluster.id]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/keep_day 5, auto_backup true/);
    expect(show.stdout).toMatch(new RegExp(`${s.policy_id}\\s+yearly-cli\\s+0 0 3 1 1 \\?\\s+\\+8\\s+full\\s+cluster`));

    const bad = await cli(['policies', 'add', cluster.id, '--name', 'bad-one', '--schedule', '0 3 * * *']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/DWS\.0001: .*backup_strategy.*6 fields/);

    const del = await cli(['policies', 'delete', cluster.id, s.policy_id]);
    expect(del.code).toBe(0);
    expect(
      (await t.client.call<{ backup_strategies: unknown[] }>('GET', `/v2/{project_id}/clusters/${cluster.id}/snapshot-policies`))
        .backup_strategies,
    ).toEqual([]);
    expect((await cli(['policies', 'delete', cluster.id, s.policy_id])).stderr).toMatch(/DWS\.9940/);
  });
});
