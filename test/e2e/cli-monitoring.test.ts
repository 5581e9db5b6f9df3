/**
 * The monitoring commands (issue 17, D29), driven as a user drives them: `top --once`,
 * `metrics indicators` and `metrics data … --json` as child processes against a service that
 * samples every second, their figures checked against the API's answers (the sample a row
 * shows, read by a poller running alongside); `top` on a terminal (Python's pty module),
 * redrawn in place and left with Ctrl-C (exit code 0); and bad input refused with a clear
 * message and a non-zero exit code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ACCESS_KEY, createAvailableCluster, PROJECT_ID, SECRET_KEY, startService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/env.js';
import { cliEntry } from '../helpers/cli-entry.js';
import { adminSql } from '../helpers/restore-data.js';
import { bytes, renderTop, type HostOverviewItem, type IndicatorBody, type IndicatorDataBody } from '../../src/cli/commands/monitoring.js';

const run = promisify(execFile);
let t: TestService;
let env: Record<string, string>;
let clusterId: string;
let members: number;

/** Under a terminal: the CLI until its output shows `frames` redraws, then Ctrl-C; its exit code and output. */
const PTY_CTRL_C = `
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
frames, buf, deadline = int(sys.argv[1]), b'', time.time() + 120
while buf.count(b'dwsbox top') < frames and time.time() < deadline:
    if select.select([fd], [], [], 1)[0]:
        try:
            buf += os.read(fd, 65536)
        except OSError:
            break
os.write(fd, b'\\x03')
while True:
    try:
        d = os.read(fd, 65536)
    except OSError:
        break
    if not d:
        break
    buf += d
status = os.waitpid(pid, 0)[1]
sys.stdout.buffer.write(buf)
sys.exit(os.waitstatus_to_exitcode(status))
`;

async function cli(args: string[], o: { ctrlCAfterFrames?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const node = ['node', ...cliEntry(), ...args];
  const [cmd, argv] = o.ctrlCAfterFrames
    ? (['python3', ['-c', PTY_CTRL_C, String(o.ctrlCAfterFrames), ...node]] as const)
    : ([node[0]!, node.slice(1)] as const);
  try {
    const p = run(cmd, [...argv], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: t.dataDir, TERM: 'xterm', COLUMNS: '200', ...env },
      timeout: 300_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    p.child.stdin?.end('');
    const r = await p;
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

const overview = (): Promise<HostOverviewItem[]> =>
  t.client.call<HostOverviewItem[]>('GET', `/v1.0/{project_id}/dms/host-overview?cluster_id=${clusterId}`);

/** The API's answers while `during` runs, every 100 ms: each member's samples by `<instance>@<sampled_at>`. */
async function samplesDuring<T>(during: () => Promise<T>): Promise<{ result: T; samples: HostOverviewItem[] }> {
  const seen = new Map<string, HostOverviewItem>();
  let polling = true;
  const poll = async (): Promise<void> => {
    for (const m of await overview()) seen.set(`${m.instance_name}@${m.sampled_at ?? ''}`, m);
  };
  await poll();
  const poller = (async () => {
    while (polling) {
      await poll();
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    const result = await during();
    await poll();
    return { result, samples: [...seen.values()] };
  } finally {
    polling = false;
    await poller;
  }
}

/** The row `top` should print for a sample (the age left out of SAMPLED): each figure as the API gave it, `-` when absent. */
function expectedRow(m: HostOverviewItem): string[] {
  const f = (v: number | undefined, digits: number, suffix = ''): string | null =>
    v === undefined ? null : `${v.toFixed(digits)}${suffix}`;
  const pair = (a: string | null, b: string | null, sep = ' / '): string =>
    a === null && b === null ? '-' : `${a ?? '-'}${sep}${b ?? '-'}`;
  return [
    m.instance_name,
    `${m.role ?? '-'}${m.host_stat === 'stopped' ? ' (stopped)' : ''}`,
    f(m.cpu_usage, 1) ?? '-',
    m.mem_used === undefined ? '-' : bytes(m.mem_used),
    pair(f(m.disk_used, 2, ' GB'), f(m.disk_usage_avg, 1, '%')),
    pair(
      m.connections === undefined ? null : String(m.connections),
      m.max_connections === undefined ? null : String(m.max_connections),
      '/',
    ),
    f(m.tps, 1) ?? '-',
    pair(m.replication_lag_bytes === undefined ? null : bytes(m.replication_lag_bytes), f(m.replication_lag_seconds, 1, 's')),
    m.wal_rate === undefined ? '-' : `${bytes(m.wal_rate)}/s`,
    m.sampled_at === undefined ? '-' : new Date(m.sampled_at).toISOString().slice(11, 19),
  ];
}

/** The fields `top` shows (an absent one's reason is listed under the table). */
const SHOWN = [
  'role',
  'cpu_usage',
  'mem_used',
  'disk_used',
  'disk_usage_avg',
  'connections',
  'max_connections',
  'tps',
  'replication_lag_bytes',
  'replication_lag_seconds',
  'wal_rate',
  'sampled_at',
];

beforeAll(async () => {
  t = await startService({ flags: { metricsCollectIntervalMs: 1000 } });
  env = { DWSBOX_ENDPOINT: t.endpoint, DWSBOX_PROJECT_ID: PROJECT_ID, DWSBOX_ACCESS_KEY: ACCESS_KEY, DWSBOX_SECRET_KEY: SECRET_KEY };
  const c = await createAvailableCluster(t.client, { nodes: 3 });
  clusterId = c.id;
  members = c.detail.number_of_node;
  // a little load: a table, rows, a few transactions
  const ep = c.detail.endpoints[0]!.connect_info;
  await adminSql(ep, 'create table load (id serial primary key, payload text)');
  for (let i = 0; i < 20; i++) await adminSql(ep, `insert into load (payload) select md5(g::text) from generate_series(1, 2000) g`);
  await waitFor(
    async () => {
      const items = await overview();
      return items.length === members && items.every((m) => m.sampled_at !== undefined);
    },
    { what: 'host-overview to have every member', timeoutMs: 60_000, intervalMs: 250 },
  );
});
afterAll(async () => {
  await t?.stop();
});

describe('dwsbox top and metrics', () => {
  it('top --once: one row per member with the figures of the sample it shows; absent figures `-`, their reasons listed once', async () => {
    const { result: r, samples } = await samplesDuring(() => cli(['top', clusterId, '--once']));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/\x1b\[/);
    const lines = r.stdout.split('\n');
    const head = lines.findIndex((l) => l.startsWith('NAME'));
    expect(lines[head]!.split(/\s{2,}/)).toEqual(['NAME', 'ROLE', 'CPU%', 'MEM', 'DISK', 'CONN', 'TPS', 'LAG', 'WAL/s', 'SAMPLED (UTC)']);
    const rows = lines.slice(head + 1, head + 1 + members).map((l) => l.split(/\s{2,}/));
    expect(rows.map((x) => x[0])).toEqual(Array.from({ length: members }, (_, i) => `node${i + 1}`));
    for (const row of rows) {
      const cells = [...row.slice(0, -1), row.at(-1)!.replace(/ \(\d+[smh] ago\)$/, '')];
      const candidates = samples.filter((m) => m.instance_name === row[0] && expectedRow(m).at(-1) === cells.at(-1));
      expect(candidates.length, `a sample of ${row[0]} at ${cells.at(-1)}`).toBeGreaterThan(0);
      expect(candidates.map(expectedRow)).toContainEqual(cells);
    }
    // one primary, standbys; a standby's lag and every member's connections measured
    expect(rows.filter((x) => x[1] === 'primary')).toHaveLength(1);
    expect(rows.filter((x) => x[1] === 'standby')).toHaveLength(members - 1);
    for (const row of rows) expect(row[5]).toMatch(/^\d+\/\d+$/);
    // each absent shown figure's reason, once
    const reasons = lines.slice(lines.indexOf('not measured (-):') + 1).filter((l) => l.startsWith('  - '));
    expect(new Set(reasons).size).toBe(reasons.length);
    // (of the samples shown: a figure of an older or newer one may have been absent)
    const shownSamples = samples.filter((m) => rows.some((x) => x[0] === m.instance_name && x[9]!.startsWith(expectedRow(m)[9]!)));
    const shownAbsent = shownSamples.flatMap((m) =>
      Object.entries(m.absent ?? {})
        .filter(([k]) => SHOWN.includes(k) || k === 'figures')
        .map(([k, why]) => [m.instance_name, k, why] as const),
    );
    for (const [member, field, reason] of shownAbsent) {
      const line = new RegExp(`^  - (.*, )?${field}(, .*)? \\((.*, )?${member}(, .*)?\\): `);
      expect(
        reasons.some((l) => line.test(l) && l.endsWith(`: ${reason}`)),
        `${member} ${field}: ${reason}`,
      ).toBe(true);
    }
    // the host's figures the table does not show (network, page cache, swap) are not explained under it
    expect(r.stdout).not.toMatch(/net_io|mem_cached|swap_total/);
  });

  it('top --once --json: the API answer', async () => {
    const { result: r, samples } = await samplesDuring(() => cli(['top', clusterId, '--once', '--json']));
    expect(r.code).toBe(0);
    const items = JSON.parse(r.stdout) as HostOverviewItem[];
    expect(items).toHaveLength(members);
    for (const m of items) expect(samples).toContainEqual(m);
  });

  it('top on a terminal: redrawn in place every interval, Ctrl-C leaves with exit code 0', async () => {
    const r = await cli(['top', clusterId, '--interval', '0.5'], { ctrlCAfterFrames: 3 });
    expect(r.code).toBe(0);
    expect(r.stdout.match(/dwsbox top {2}cluster/g)?.length).toBeGreaterThanOrEqual(3);
    expect(r.stdout).toContain('\x1b[H\x1b[2J');
    expect(r.stdout).toMatch(/\x1b\[H(?!\x1b\[2J)/);
    expect(r.stdout).toMatch(/node1 +primary/);
    expect(r.stdout).toContain('\x1b[?25h');
  });

  it('metrics indicators: a table of the API answer (and it with --json)', async () => {
    const api = await t.client.call<IndicatorBody[]>('GET', '/v1.0/{project_id}/dms/metric-data/indicators');
    expect(api.length).toBeGreaterThan(0);
    const j = await cli(['metrics', 'indicators', '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual(api);
    const r = await cli(['metrics', 'indicators']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]!.split(/\s{2,}/)).toEqual(['INDICATOR', 'PLUGIN', 'RATE', 'UNIT', 'VERSIONS', 'DESCRIPTION']);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/).slice(0, 4))).toEqual(
      api.map((i) => [i.indicator_name, i.plugin_name, String(i.default_collect_rate), i.unit || '-']),
    );
  });

  it("metrics data --json: each member's points as the API has them; --member one member; the text lists the points", async () => {
    const indicators = await t.client.call<IndicatorBody[]>('GET', '/v1.0/{project_id}/dms/metric-data/indicators');
    const read = (name: string, member?: string): Promise<IndicatorDataBody[]> =>
      t.client.call<IndicatorDataBody[]>(
        'GET',
        `/v1.0/{project_id}/dms/metric-data?indicator_name=${name}&dim0=${clusterId}${member ? `&dim1=${member}` : ''}&from=${Date.now() - 3_600_000}&to=${Date.now()}`,
      );
    // an indicator every member has points of
    const name = await waitFor(
      async () => {
        for (const i of indicators) {
          const d = await read(i.indicator_name);
          if (d.length === members && d.every((x) => x.data_points.length >= 2)) return i.indicator_name;
        }
        return null;
      },
      { what: 'an indicator with points for every member', timeoutMs: 30_000, intervalMs: 1000 },
    );
    const r = await cli(['metrics', 'data', clusterId, name, '--since', '1h', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.stdout) as IndicatorDataBody[];
    const after = await read(name);
    expect(shown.map((d) => d.sub_object_id).sort()).toEqual(after.map((d) => d.sub_object_id).sort());
    for (const d of shown) {
      expect(d.indicator_name).toBe(name);
      expect(d.object_id).toBe(clusterId);
      const a = after.find((x) => x.sub_object_id === d.sub_object_id)!;
      expect(d.unit).toBe(a.unit);
      expect(d.data_points.length).toBeGreaterThan(0);
      // the same points where the two reads overlap (the later read may have newer ones)
      const first = d.data_points[0]!.timestamp;
      const last = d.data_points.at(-1)!.timestamp;
      expect(d.data_points).toEqual(a.data_points.filter((p) => p.timestamp >= first && p.timestamp <= last));
      for (const p of d.data_points) expect(Number.isFinite(Number(p.result))).toBe(true);
    }
    const one = await cli(['metrics', 'data', clusterId, name, '--member', 'node1', '--since', '6h', '--json']);
    expect(one.code).toBe(0);
    expect((JSON.parse(one.stdout) as IndicatorDataBody[]).map((d) => d.sub_object_id)).toEqual(['node1']);
    const text = await cli(['metrics', 'data', clusterId, name, '--member', 'node1']);
    expect(text.code).toBe(0);
    const [node1] = await read(name, 'node1');
    expect(text.stdout).toMatch(new RegExp(`^node1 {2}${name.replace('.', '\\.')} {2}\\d+ point\\(s\\) in the last 1h, one per \\d+ s`));
    // every point the text shows is the API's, with its unit
    const points = [...text.stdout.matchAll(/^ {2}(\d{4}-\d\d-\d\dT\S+Z) {2}(\S+)(?: (.+))?$/gm)];
    expect(points.length).toBeGreaterThan(0);
    for (const [, time, value, unit] of points) {
      expect(node1!.data_points).toContainEqual({ timestamp: Date.parse(time!), result: value });
      expect(unit ?? '').toBe(node1!.unit);
    }
  });

  it('bad input: an unknown indicator, a bad --since, an unknown cluster: a clear message and a non-zero exit code', async () => {
    const unknown = await cli(['metrics', 'data', clusterId, 'no_such_indicator']);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(/^dwsbox: DWS\.\d+: .*indicator_name "no_such_indicator" is not one dwsbox measures/);
    for (const since of ['5x', '0h', '1hour']) {
      const bad = await cli(['metrics', 'data', clusterId, 'whatever', `--since=${since}`]);
      expect(bad.code, since).not.toBe(0);
      expect(bad.stderr).toContain(`dwsbox: --since ${since}: expected a duration such as 30m, 1h, 6h, 1d, 7d or 1h30m`);
    }
    const interval = await cli(['top', clusterId, '--interval', 'soon']);
    expect(interval.code).not.toBe(0);
    expect(interval.stderr).toMatch(/--interval must be a number of seconds/);
    const nobody = await cli(['top', '11111111-2222-4333-8444-555555555555', '--once']);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/^dwsbox: DWS\.\d+: /);
    const sub = await cli(['metrics', 'graphs']);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toMatch(/metrics: use indicators \| data CLUSTER_ID INDICATOR/);
  });

  it('the view of an answer: absent figures `-`, each reason once, the host-wide ones left out; an empty answer says nothing was collected yet', () => {
    const now = Date.parse('2026-12-07T06:00:10Z');
    const sampled = '2026-12-07T06:00:05.000Z';
    const view = renderTop(
      'c1',
      [
        {
          instance_name: 'node3',
          ordinal: 3,
          role: 'standby',
          host_stat: 'stopped',
          absent: { figures: 'no sample', mem_cached: 'the page cache' },
        },
        {
          instance_name: 'node2',
          ordinal: 2,
          role: 'standby',
          host_stat: 'running',
          sampled_at: sampled,
          mem_used: 24_600_000,
          disk_used: 0.1,
          disk_usage_avg: 0.5,
          connections: 1,
          max_connections: 40,
          replication_lag_bytes: 1536,
          absent: { cpu_usage: 'a rate needs two readings', tps: 'a rate needs two readings', replication_lag_seconds: 'not yet' },
        },
        {
          instance_name: 'node1',
          ordinal: 1,
          role: 'primary',
          host_stat: 'running',
          sampled_at: sampled,
          cpu_usage: 2.94,
          tps: 17.25,
          wal_rate: 2_500_000,
          absent: { cpu_usage: 'a rate needs two readings', net_io: 'shared namespace' },
        },
      ],
      now,
    );
    expect(view.split('\n')).toEqual([
      'NAME   ROLE               CPU%  MEM      DISK            CONN  TPS   LAG         WAL/s     SAMPLED (UTC)',
      'node1  primary            2.9   -        -               -     17.3  -           2.5 MB/s  06:00:05 (5s ago)',
      'node2  standby            -     24.6 MB  0.10 GB / 0.5%  1/40  -     1.5 kB / -  -         06:00:05 (5s ago)',
      'node3  standby (stopped)  -     -        -               -     -     -           -         -',
      '',
      'not measured (-):',
      '  - cpu_usage (node1, node2): a rate needs two readings',
      '  - tps (node2): a rate needs two readings',
      '  - replication_lag_seconds (node2): not yet',
      '  - figures (node3): no sample',
    ]);
    expect(renderTop('c1', [], now)).toMatch(/^no figures collected for cluster c1 yet/);
    expect([bytes(950), bytes(12_345), bytes(4_500_000), bytes(1.2e9)]).toEqual(['950 B', '12.3 kB', '4.5 MB', '1.2 GB']);
  });
});
