/**
 * The CLI, driven as a user drives it: a child process with credentials in the environment
 * or a profile file (0600); `tasks watch` under a pseudo-terminal (Python's pty module).
 * Secrets (issue 12): passwords and secret keys on standard input, a warning when one is an
 * argument, a readable profile refused, and the local admin commands with --project-id alone.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  ACCESS_KEY,
  ADMIN_PASSWORD,
  createAvailableCluster,
  getCluster,
  PROJECT_ID,
  SECRET_KEY,
  startService,
  waitIdle,
  type TestService,
} from '../helpers/service.js';
import { agentPaths } from '../../src/dataplane/agent/agent.js';
import { clusterUnits, testEngine } from '../helpers/engine.js';
import { freePort, processesUnder } from '../helpers/env.js';
import { cliEntry } from '../helpers/cli-entry.js';
import { runApiCommand } from '../../src/cli/commands/api.js';

const run = promisify(execFile);
let t: TestService;
let env: Record<string, string>;

async function cli(
  args: string[],
  o: { env?: Record<string, string>; pty?: boolean; stdin?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const node = ['node', ...cliEntry(), ...args];
  const [cmd, argv] = o.pty
    ? (['python3', ['-c', 'import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))', ...node]] as const)
    : ([node[0]!, node.slice(1)] as const);
  try {
    const p = run(cmd, [...argv], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: t.dataDir, TERM: 'xterm', COLUMNS: '160', ...(o.env ?? env) },
      timeout: 300_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (!o.pty) p.child.stdin?.end(o.stdin ?? '');
    const r = await p;
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
    expect(r.stdout).toMatch(/clusters restore-in-place ID --snapshot SID \| --time T \| both/);
    expect(r.stdout).toMatch(/snapshots restore-in-place ID \[--time T\]/);
  });

  it('restore-in-place: arguments are checked before any request (in process: no cluster, no child)', async () => {
    /** The API commands in this process: exit code, standard output and error. */
    const inProcess = async (...a: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
      const lines: string[] = [];
      const out = { write: (x: string) => lines.push(x) > 0 } as unknown as NodeJS.WriteStream;
      const err: string[] = [];
      const spy = vi.spyOn(process.stderr, 'write').mockImplementation((x) => err.push(String(x)) > 0);
      try {
        return { code: await runApiCommand(a, env, out), stdout: lines.join(''), stderr: err.join('') };
      } finally {
        spy.mockRestore();
      }
    };
    const nobody = '11111111-2222-4333-8444-555555555555';
    const usage: [string[], RegExp][] = [
      [['clusters', 'restore-in-place', nobody], /give --snapshot SID, --time T or both/],
      [['clusters', 'restore-in-place', nobody, '--snapshot', ''], /--snapshot needs a snapshot id/],
      [['clusters', 'restore-in-place', '--time', '2026-12-06T10:41:00Z'], /the cluster id is required/],
      [
        ['clusters', 'restore-in-place', nobody, '--time', 'yesterday'],
        /--time yesterday: expected an ISO 8601 time .* or epoch milliseconds/,
      ],
      [['snapshots', 'restore-in-place'], /the snapshot id is required/],
      [['snapshots', 'restore-in-place', nobody, '--time', 'soon'], /--time soon: expected an ISO 8601 time/],
      [['snapshots', 'restore-in-place', nobody, '--snapshot', nobody], /Unknown option '--snapshot'/],
    ];
    for (const [args, msg] of usage) {
      const r = await inProcess(...args);
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(r.stderr).toMatch(msg);
    }
    // well-formed: the API answers (no such cluster), in the DWS format
    const r = await inProcess('clusters', 'restore-in-place', nobody, '--time', String(Date.parse('2026-12-06T10:41:00Z')));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/dwsbox: DWS\.0047: /);
  });

  it('creates a cluster with --wait --json and lists it', async () => {
    const port = await freePort();
    const r = await cli(['clusters', 'create', '--name', 'cli-cluster', '--password-stdin', '--port', String(port), '--wait', '--json'], {
      stdin: `${ADMIN_PASSWORD}\n`,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const docs = r.stdout
      .trim()
      .split(/\n(?=\{)/)
      .map((x) => JSON.parse(x) as Record<string, unknown>);
    clusterId = (docs[0] as { cluster: { id: string } }).cluster.id;
    expect((docs.at(-1) as { status: string; action_name: string }).status).toBe('SUCCESS');
    const l = await cli(['clusters', 'list', '--json']);
    expect((JSON.parse(l.stdout) as { clusters: { id: string; status: string }[] }).clusters.find((c) => c.id === clusterId)?.status).toBe(
      'AVAILABLE',
    );
    const show = await cli(['clusters', 'show', clusterId]);
    // The read-write endpoint behind Patroni's router (it follows a failover), the primary's own address on the local engine.
    const host = testEngine() === 'patroni' ? '127\\.1' : '127\\.0';
    expect(show.stdout).toMatch(new RegExp(`psql "host=${host}\\.\\d+\\.1 port=\\d+ user=dbadmin dbname=postgres"`));
  });

  it('takes a snapshot with --wait (quiet without a terminal), and reads credentials from a profile file', async () => {
    const profile = join(t.dataDir, 'profile.json');
    writeFileSync(
      profile,
      JSON.stringify({ endpoint: t.endpoint, project_id: PROJECT_ID, access_key: ACCESS_KEY, secret_key: SECRET_KEY }),
      { mode: 0o600 },
    );
    chmodSync(profile, 0o600);
    const r = await cli(['snapshots', 'create', '--cluster', clusterId, '--name', 'cli-snap', '--wait', '--profile', profile], { env: {} });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS\s+Perform a backup/);
    expect(r.stdout).not.toMatch(/\x1b\[/);
    const l = await cli(['snapshots', 'list', '--cluster', clusterId]);
    expect(l.stdout).toMatch(/cli-snap\s+AVAILABLE/);
  });

  it('watches a task under a terminal with a live progress view, in Chinese', async () => {
    const snap = await t.client.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
      snapshot: { name: 'watched-snap', cluster_id: clusterId },
    });
    expect(snap.snapshot.id).toBeTruthy();
    const r = await cli(['tasks', 'watch', clusterId, 'SNAPSHOTTING', '--interval', '300', '--lang', 'zh-cn'], { pty: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\x1b\[/);
    expect(r.stdout).toContain('█');
    expect(r.stdout).toContain('执行备份');
    expect(r.stdout).toMatch(/100\.00%\s+SUCCESS/);
  });

  it('exits non-zero when the watched task fails, naming the failed step', async () => {
    const f = await cli([
      'faults',
      'add',
      '--action',
      'SNAPSHOTTING',
      '--step',
      'VERIFY_BACKUP',
      '--mode',
      'fail',
      '--cluster',
      clusterId,
      '--times',
      '1',
    ]);
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

  it('secrets: a profile others can read is refused; a secret key on standard input works; one as an argument works with a warning', async () => {
    const loose = join(t.dataDir, 'loose-profile.json');
    writeFileSync(loose, JSON.stringify({ endpoint: t.endpoint, project_id: PROJECT_ID, access_key: ACCESS_KEY, secret_key: SECRET_KEY }));
    chmodSync(loose, 0o644);
    const refused = await cli(['clusters', 'list', '--profile', loose], { env: {} });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`holds a secret key and others can read it (mode 0644); run: chmod 600 ${loose}`);
    const conn = ['--endpoint', t.endpoint, '--project-id', PROJECT_ID, '--access-key', ACCESS_KEY];
    const stdin = await cli(['clusters', 'list', '--json', ...conn, '--secret-key-stdin'], { env: {}, stdin: `${SECRET_KEY}\n` });
    expect(stdin.stderr).toBe('');
    expect(stdin.code).toBe(0);
    expect(JSON.parse(stdin.stdout)).toHaveProperty('clusters');
    const arg = await cli(['clusters', 'list', '--json', ...conn, '--secret-key', SECRET_KEY], { env: {} });
    expect(arg.code).toBe(0);
    expect(arg.stderr).toMatch(/warning: --secret-key on the command line can be read by other users of this host \(ps, \/proc\)/);
  });

  it('local admin commands work with --project-id alone (no bootstrap keys set), take the password on standard input, and warn for one given as an argument', async () => {
    const local = ['--data-dir', t.dataDir];
    // only DWSBOX_PROJECT_ID set (as after exporting one of the three lines): it used to fail
    const only = { DWSBOX_PROJECT_ID: PROJECT_ID };
    const cred = await cli(['credentials', 'create', '--project-id', PROJECT_ID, '--role', 'operator', ...local], { env: only });
    expect(cred.stderr).toBe('');
    expect(cred.code).toBe(0);
    const op = JSON.parse(cred.stdout) as { accessKey: string; secretKey: string; role: string };
    expect(op.role).toBe('operator');
    const user = await cli(['users', 'create', '--project-id', PROJECT_ID, '--name', 'cli-stdin-user', '--password-stdin', ...local], {
      env: {},
      stdin: 'Cli-Stdin-Pass-1\n',
    });
    expect(user.stderr).toBe('');
    expect(user.code).toBe(0);
    const warned = await cli(
      ['users', 'create', '--project-id', PROJECT_ID, '--name', 'cli-arg-user', '--password', 'Cli-Arg-Pass-12', ...local],
      { env: {} },
    );
    expect(warned.code).toBe(0);
    expect(warned.stderr).toMatch(/warning: --password on the command line .* use DWSBOX_USER_PASSWORD or --password-stdin instead/);
    // the running service accepts them: the user signs in, the operator scrapes every series with Basic AK:SK
    const signIn = await fetch(`${t.endpoint}/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: { identity: { methods: ['password'], password: { user: { name: 'cli-stdin-user', password: 'Cli-Stdin-Pass-1' } } } },
      }),
    });
    expect(signIn.status).toBe(201);
    const m = await fetch(`${t.endpoint}/metrics`, {
      headers: { authorization: `Basic ${Buffer.from(`${op.accessKey}:${op.secretKey}`).toString('base64')}` },
    });
    expect(m.status).toBe(200);
    expect(await m.text()).toMatch(/process_resident_memory_bytes \d/);
    const empty = await cli(['users', 'create', '--project-id', PROJECT_ID, '--name', 'cli-empty', '--password-stdin', ...local], {
      env: {},
      stdin: '',
    });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/--password-stdin: standard input was empty/);
  });

  it('switches a highly available cluster over and back, and changes its replication (refused on the local engine)', async () => {
    const node2 = (await getCluster(t.client, clusterId)).nodes.find((n) => n.connect_info.split(':')[0]!.endsWith('.2'))!;
    const away = await cli(['clusters', 'switchover', clusterId, '--to', node2.id, '--wait']);
    if (testEngine() === 'local') {
      expect(away.code).toBe(1);
      expect(away.stderr).toMatch(/switchover/i);
      return;
    }
    expect(away.stderr).toBe('');
    expect(away.code).toBe(0);
    let d = await waitIdle(t.client, clusterId);
    expect(d.nodes.find((n) => n.id === node2.id)!.role).toBe('primary');
    expect(d.sub_status).toBe('UNBALANCED');
    const back = await cli(['clusters', 'switchover', clusterId, '--wait']);
    expect(back.code).toBe(0);
    d = await waitIdle(t.client, clusterId);
    expect(d.sub_status).toBe('NORMAL');
    const sync = await cli(['clusters', 'sync-mode', clusterId, 'async']);
    expect(sync.code).toBe(0);
    expect(sync.stdout).toMatch(/replicates asynchronously/);
    expect((await getCluster(t.client, clusterId)).sync_mode).toBe('async');
    expect((await cli(['clusters', 'sync-mode', clusterId, 'sync'])).code).toBe(0);
    const bad = await cli(['clusters', 'sync-mode', clusterId, 'sometimes']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/sync_mode/);
  });

  it('deletes the cluster with --wait', async () => {
    const r = await cli(['clusters', 'delete', clusterId, '--wait']);
    expect(r.code).toBe(0);
    expect((await t.client.request('GET', `/v1.0/{project_id}/clusters/${clusterId}`)).status).toBe(404);
  });

  it("clusters stop-all, the service stopped: every member of the data directory's engine stops, nothing of them runs", async () => {
    const c = await createAvailableCluster(t.client, { nodes: 3 });
    await t.svc.stop();
    const r = await cli(['clusters', 'stop-all', '--data-dir', t.dataDir, '--agent-dir', t.config.agentDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.slice(r.stdout.search(/^\{$/m)))).toEqual({ stopped: 3 });
    // On Patroni through the host agent: the members' units gone (none is started again), and the agent
    // gone with its etcd when nothing else ran on it (other files' clusters may); on the local engine its postmasters.
    if (t.config.engine === 'patroni') expect(existsSync(agentPaths(t.config.agentDir).socket) ? await clusterUnits(c.id) : []).toEqual([]);
    expect(processesUnder(join(t.dataDir, 'clusters', c.id))).toEqual([]);
  });
});
