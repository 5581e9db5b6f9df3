/**
 * docs/grafana-dashboard.json and docs/operations.md's Prometheus setup cannot drift from the
 * series /metrics serves (issue 17): every metric name a panel query or template variable uses
 * is one the service registers, every label a legend names is one of those metrics' labels,
 * every dwsbox_member_* series is documented, and the prometheus.yml snippet scrapes
 * metrics_path /metrics at the collection's default interval. The registry is the one the
 * service builds (`new Metrics(...)`); registering reads nothing, so no store or PostgreSQL
 * is needed. (`yaml` is not a dependency of the repository: the snippet is checked as text.)
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Metrics } from '../../src/metrics/metrics.js';
import { SETTINGS } from '../../src/config/config.js';
import type { Store } from '../../src/store/store.js';

const read = (path: string): string => readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');

interface Target {
  expr: string;
  legendFormat?: string;
  refId: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  schemaVersion: number;
  __inputs: { name: string; type: string; pluginId: string }[];
  panels: Panel[];
  templating: { list: { name: string; type: string; definition?: string; query: string | { query: string } }[] };
}

const dashboard = JSON.parse(read('docs/grafana-dashboard.json')) as Dashboard;
const operations = read('docs/operations.md');

// the service's registry: the collect() functions that read the store run only at a scrape
const metrics = new Metrics({ store: {} as Store, repositoryBytes: () => 0, replicationLag: () => [], sampleMaxAgeSeconds: 46 });
const registered = new Map(
  metrics.registry.getMetricsAsArray().map((m) => [m.name, (m as unknown as { labelNames?: string[] }).labelNames ?? []] as const),
);

const allPanels = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
const panels = allPanels(dashboard.panels).filter((p) => p.type !== 'row');
const targets = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));
const variableQueries = dashboard.templating.list.map((v) => (typeof v.query === 'string' ? v.query : v.query.query));
const names = (expr: string): string[] => expr.match(/dwsbox_[a-z_]+/g) ?? [];

describe('docs/grafana-dashboard.json', () => {
  it('is a schemaVersion 39 dashboard on a ${DS_PROMETHEUS} data source input, with a cluster variable', () => {
    expect(dashboard.schemaVersion).toBe(39);
    expect(dashboard.__inputs).toContainEqual(
      expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }),
    );
    const cluster = dashboard.templating.list.find((v) => v.name === 'cluster');
    expect(cluster?.type).toBe('query');
    expect(variableQueries).toContain('label_values(dwsbox_member_cpu_percent, cluster_name)');
    expect(panels.length).toBeGreaterThanOrEqual(9);
    for (const p of panels) {
      expect(p.type, p.title).toBe('timeseries');
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
  });

  it('queries only series the service registers, filtered by the cluster variable', () => {
    expect(targets.length).toBeGreaterThan(0);
    for (const q of [...targets.map((t) => t.expr), ...variableQueries]) {
      expect(names(q).length, q).toBeGreaterThan(0);
      for (const n of names(q)) expect(registered.has(n), `${n} in ${q}: not a registered metric`).toBe(true);
    }
    for (const t of targets) expect(t.expr, t.panel).toContain('cluster_name="$cluster"');
    // the charts the issue asks for
    const used = new Set(targets.flatMap((t) => names(t.expr)));
    for (const n of [
      'dwsbox_member_cpu_percent',
      'dwsbox_member_memory_bytes',
      'dwsbox_member_data_bytes',
      'dwsbox_member_connections',
      'dwsbox_member_max_connections',
      'dwsbox_member_transactions_per_second',
      'dwsbox_member_replication_lag_bytes',
      'dwsbox_member_replication_lag_seconds',
      'dwsbox_member_wal_bytes_per_second',
      'dwsbox_member_longest_query_seconds',
    ])
      expect([...used]).toContain(n);
  });

  it("names in legends and selectors only labels of the metrics queried (one line per member: '{{member}} ({{role}})')", () => {
    for (const t of targets) {
      const labels = new Set(names(t.expr).flatMap((n) => registered.get(n) ?? []));
      const legendLabels = [...(t.legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!);
      expect(legendLabels, t.panel).toEqual(expect.arrayContaining(['member', 'role']));
      for (const l of legendLabels) expect([...labels], `${l} in ${t.panel}`).toContain(l);
      for (const m of t.expr.matchAll(/(\w+)\s*(?:=~|!~|!=|=)\s*"/g)) expect([...labels], `${m[1]} in ${t.expr}`).toContain(m[1]);
    }
  });
});

describe("docs/operations.md's /metrics section", () => {
  it('lists every dwsbox_member_* series the service registers, and no other', () => {
    const member = [...registered.keys()].filter((n) => n.startsWith('dwsbox_member_'));
    expect(member.length).toBeGreaterThan(10);
    const documented = new Set([...operations.matchAll(/^\|\s*`(dwsbox_member_[a-z_]+)`\s*\|/gm)].map((m) => m[1]!));
    expect([...documented].sort()).toEqual(member.sort());
    for (const n of member) expect(registered.get(n)).toEqual(['cluster_id', 'cluster_name', 'member', 'role', 'project_id']);
  });

  it('has a prometheus.yml scrape config: metrics_path /metrics, the collection interval, one way to authenticate', () => {
    const section = operations.slice(operations.indexOf('### Prometheus and Grafana'));
    expect(section.startsWith('### Prometheus and Grafana')).toBe(true);
    const yml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(yml).toBeDefined();
    const lines = yml!.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    // YAML by hand: no tabs, indentation in steps of two, one key per line
    for (const l of lines) {
      expect(l, l).not.toMatch(/\t/);
      expect(/^ */.exec(l)![0].length % 2 === 0, l).toBe(true);
      expect(l, l).toMatch(/^ *(- )?([a-z_]+:( .+)?|- .+)$/);
    }
    expect(lines[0]).toBe('scrape_configs:');
    const value = (key: string): string | undefined => new RegExp(`^\\s*(?:- )?${key}:\\s*(.+)$`, 'm').exec(yml!)?.[1]?.trim();
    expect(value('metrics_path')).toBe('/metrics');
    expect(value('job_name')).toBeDefined();
    const interval = SETTINGS.find((s) => s.key === 'metricsCollectIntervalMs')!.default as number;
    expect(value('scrape_interval')).toBe(`${interval / 1000}s`);
    expect(yml).toMatch(/^ {4}basic_auth:\n {6}username: \S+\n {6}password_file: \/\S+$/m);
    expect(value('targets')).toMatch(/^\['[^']+:\d+'\]$/);
    // the bearer alternative and the CLI command that makes the read-only credential
    expect(section).toMatch(/authorization:\n\s+type: Bearer\n\s+credentials_file: \/\S+/);
    expect(section).toContain('npx dwsbox credentials create --project-id "$DWSBOX_PROJECT_ID" --role readonly');
    expect(section).toContain('[grafana-dashboard.json](grafana-dashboard.json)');
  });
});
