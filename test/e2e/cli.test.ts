/**
 * The CLI, driven as a user drives it: a child process with credentials in the environment
 * or a profile file; `tasks watch` under a pseudo-terminal (Python's pty module).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ACCESS_KEY, ADMIN_PASSWORD, PROJECT_ID, SECRET_KEY, startService, type TestService } from '../helpers/service.js';
import { freePort } from '../helpers/env.js';

const run = promisify(execFile);
let t: TestService;
let env: Record<string, string>;

async function cli(args: string[], o: { env?: Record<string, string>; pty?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const node = ['node', '--import', 'tsx', 'src/cli/run.ts', ...args];
  const [cmd, argv] = o.pty
    ? ['python3', ['-c', 'import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))', ...node]] as const
    : [node[0]!, node.slice(1)] as const;
  try {
    const r = await run(cmd, [...argv], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: t.dataDir, TERM: 'xterm', COLUMNS: '160', ...(o.env ?? env) }, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

beforeAll(async () => {
  t = await startService();
  env = { DWSBOX_ENDPOINT: t.endpoint, DWSBOX_PROJECT_ID: PROJECT_ID, DWSBOX_ACCESS_KEY: ACCESS_KEY, DWSBOX_SECRET_KEY: SECRET_KEY };
});
afterAll(async () => {
  await t?.stop();
});

describe('dwsbox CLI', () => {
  let clusterId: string;

  it('prints helpful --help', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/tasks list CLUSTER \| show CLUSTER ACTION\|TASK_ID \| watch/);
    expect(r.stdout).toMatch(/serve \[--port P\]/);
  });

  it('creates a cluster with --wait --json and lists it', async () => {
    const port = await freePort();
    const r = await cli(['clusters', 'create', '--name', 'cli-cluster', '--password', ADMIN_PASSWORD, '--port', String(port), '--wait', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const docs = r.stdout.trim().split(/\n(?=\{)/).map((x) => JSON.parse(x) as Record<string, unknown>);
    clusterId = (docs[0] as { cluster: { id: string } }).cluster.id;
    expect((docs.at(-1) as { status: string; action_name: string }).status).toBe('SUCCESS');
    const l = await cli(['clusters', 'list', '--json']);
    expect((JSON.parse(l.stdout) as { clusters: { id: string; status: string }[] }).clusters.find((c) => c.id === clusterId)?.status).toBe('AVAILABLE');
    const show = await cli(['clusters', 'show', clusterId]);
    expect(show.stdout).toMatch(/psql "host=127\.0\.\d+\.1 port=\d+ user=dbadmin dbname=postgres"/);
  });

  it('takes a snapshot with --wait (quiet without a terminal), and reads credentials from a profile file', async () => {
    const profile = join(t.dataDir, 'profile.json');
    writeFileSync(profile, JSON.stringify({ endpoint: t.endpoint, project_id: PROJECT_ID, access_key: ACCESS_KEY, secret_key: SECRET_KEY }));
    const r = await cli(['snapshots', 'create', '--cluster', clusterId, '--name', 'cli-snap', '--wait', '--profile', profile], { env: {} });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS\s+Perform a backup/);
    expect(r.stdout).not.toMatch(/\x1b\[/);
    const l = await cli(['snapshots', 'list', '--cluster', clusterId]);
    expect(l.stdout).toMatch(/cli-snap\s+AVAILABLE/);
  });

  it('watches a task under a terminal with a live progress view, in Chinese', async () => {
    const snap = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', { snapshot: { name: 'watched-snap', cluster_id: clusterId } });
    expect(snap.snapshot.id).toBeTruthy();
    const r = await cli(['tasks', 'watch', clusterId, 'SNAPSHOTTING', '--interval', '300', '--lang', 'zh-cn'], { pty: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\x1b\[/);
    expect(r.stdout).toContain('█');
    expect(r.stdout).toContain('执行备份');
    expect(r.stdout).toMatch(/100\.00%\s+SUCCESS/);
  });

  it('exits non-zero when the watched task fails, naming the failed step', async () => {
    const f = await cli(['faults', 'add', '--action', 'SNAPSHOTTING', '--step', 'VERIFY_BACKUP', '--mode', 'fail', '--cluster', clusterId, '--times', '1']);
    expect(f.code).toBe(0);
    const r = await cli(['snapshots', 'create', '--cluster', clusterId, '--name', 'doomed-snap', '--wait']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/failed step VERIFY_BACKUP: DWS\.9922 Injected fault/);
    const show = await cli(['tasks', 'show', clusterId, 'SNAPSHOTTING_FAILED']);
    expect(show.stdout).toMatch(/SNAPSHOTTING_FAILED\s+FAILED/);
    expect((await cli(['faults', 'list', '--json'])).stdout).toMatch(/"faults": \[\]/);
  });

  it('prints the DWS code and message of an error, and a usage error without credentials', async () => {
    const r = await cli(['clusters', 'show', '11111111-2222-4333-8444-555555555555']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/dwsbox: DWS\.0047: The cluster .* does not exist/);
    const u = await cli(['clusters', 'list'], { env: {} });
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/no credentials/);
  });

  it('deletes the cluster with --wait', async () => {
    const r = await cli(['clusters', 'delete', clusterId, '--wait']);
    expect(r.code).toBe(0);
    expect((await t.client.request('GET', `/v1.0/{project_id}/clusters/${clusterId}`)).status).toBe(404);
  });
});
