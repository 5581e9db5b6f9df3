/**
 * Every mutating form. Each sends what was typed to the API and shows the API's own
 * `error_msg` beside the field it names (or at the top of the form): the console does not
 * second-guess the service's validation.
 */
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Cluster, ClusterNode, Fault, GrowCheck, NodeType, Snapshot } from './api';
import type { FieldMatch } from './model';
import { Field, FormError, Link, Loading, PageTitle, Select, TextInput, toNumber, useApp, useForm, usePoll } from './ui';

const ZONES = ['local-1a', 'local-1b', 'local-1c'];

function uuid(): string {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A cluster, read once, for a form's title and defaults. */
function useCluster(id: string): { cluster: Cluster | null; error: Error | null; refresh(): void } {
  const { api, lang } = useApp();
  const poll = usePoll(() => api.call<{ cluster: Cluster }>('GET', `/v1.0/{project_id}/clusters/${encodeURIComponent(id)}`), [id, lang], 0);
  return { cluster: poll.data?.cluster ?? null, error: poll.error, refresh: poll.refresh };
}

function useSnapshot(id: string): { snapshot: Snapshot | null; error: Error | null; refresh(): void } {
  const { api, lang } = useApp();
  const poll = usePoll(
    () => api.call<{ snapshot: Snapshot }>('GET', `/v1.0/{project_id}/snapshots/${encodeURIComponent(id)}`),
    [id, lang],
    0,
  );
  return { snapshot: poll.data?.snapshot ?? null, error: poll.error, refresh: poll.refresh };
}

function Buttons(p: {
  busy: boolean;
  label: string;
  cancelTo: string;
  danger?: boolean;
  testid?: string;
  disabled?: boolean;
}): JSX.Element {
  const { t } = useApp();
  return (
    <div class="buttons">
      <button
        type="submit"
        class={`btn ${p.danger ? 'btn-danger' : 'btn-primary'}`}
        disabled={p.busy || p.disabled}
        data-testid={p.testid ?? 'submit'}
      >
        {p.label}
      </button>
      <Link to={p.cancelTo} class="btn">
        {t('cancel')}
      </Link>
    </div>
  );
}

// ---------------------------------------------------------------- create cluster

const CLUSTER_FIELDS: FieldMatch[] = [
  { name: 'name', paths: ['body.cluster.name'], words: ['cluster name'], codes: ['DWS.5050', 'DWS.5057', 'DWS.5056'] },
  { name: 'node_type', paths: ['body.cluster.node_type'], words: ['node type', 'node_type'], codes: ['DWS.5006'] },
  {
    name: 'number_of_node',
    paths: ['body.cluster.number_of_node'],
    words: ['number_of_node', 'number of nodes'],
    codes: ['DWS.5047', 'DWS.5091'],
  },
  { name: 'port', paths: ['body.cluster.port'], words: ['port'] },
  { name: 'user_name', paths: ['body.cluster.user_name'], words: ['administrator user name', 'user_name'], codes: ['DWS.5059'] },
  { name: 'user_pwd', paths: ['body.cluster.user_pwd'], words: ['password', 'user_pwd'], codes: ['DWS.5144', 'DWS.5145'] },
  {
    name: 'availability_zone',
    paths: ['body.cluster.availability_zone'],
    words: ['availability zone', 'availability_zone'],
    codes: ['DWS.5011'],
  },
  { name: 'vpc_id', paths: ['body.cluster.vpc_id'], words: ['vpc_id'] },
  { name: 'subnet_id', paths: ['body.cluster.subnet_id'], words: ['subnet_id'] },
  { name: 'description', paths: ['body.cluster.cluster_description_info'], words: ['cluster_description_info', 'description'] },
];

export function CreateClusterForm(): JSX.Element {
  const { api, t, lang, navigate } = useApp();
  const types = usePoll(() => api.call<{ node_types: NodeType[] }>('GET', '/v2/{project_id}/node-types'), [lang], 0);
  const [v, setV] = useState({
    name: '',
    node_type: '',
    number_of_node: '3',
    port: '8000',
    user_name: 'dbadmin',
    user_pwd: '',
    availability_zone: ZONES[0]!,
    vpc_id: uuid(),
    subnet_id: uuid(),
    description: '',
  });
  const set = (k: keyof typeof v) => (x: string) => setV((o) => ({ ...o, [k]: x }));
  const form = useForm(CLUSTER_FIELDS);
  useEffect(() => {
    const first = types.data?.node_types[0]?.spec_name;
    if (first && !v.node_type) setV((o) => ({ ...o, node_type: first }));
  }, [types.data]);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const r = await form.run(() =>
      api.call<{ cluster: { id: string } }>('POST', '/v1.0/{project_id}/clusters', {
        cluster: {
          name: v.name,
          node_type: v.node_type,
          number_of_node: toNumber(v.number_of_node),
          port: toNumber(v.port),
          user_name: v.user_name,
          user_pwd: v.user_pwd,
          availability_zone: v.availability_zone,
          vpc_id: v.vpc_id,
          subnet_id: v.subnet_id,
          ...(v.description ? { cluster_description_info: v.description } : {}),
        },
      }),
    );
    if (r) navigate(`clusters/${r.cluster.id}`);
  };
  const f = form.fields;
  return (
    <div>
      <PageTitle>{t('createClusterTitle')}</PageTitle>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate data-testid="create-cluster-form">
        <FormError msg={form.top} />
        <Field name="name" label={t('clusterName')} error={f['name']}>
          <TextInput name="name" value={v.name} onInput={set('name')} />
        </Field>
        <Field name="node_type" label={t('nodeType')} error={f['node_type']}>
          {types.data ? (
            <Select
              name="node_type"
              value={v.node_type}
              onChange={set('node_type')}
              options={types.data.node_types.map((n) => ({ value: n.spec_name, label: `${n.spec_name} (${n.vcpus} vCPU, ${n.ram} GB)` }))}
            />
          ) : (
            <Loading error={types.error} onRetry={types.refresh} />
          )}
        </Field>
        <Field name="number_of_node" label={t('numberOfNodes')} error={f['number_of_node']}>
          <TextInput name="number_of_node" value={v.number_of_node} onInput={set('number_of_node')} inputMode="numeric" />
        </Field>
        <Field name="port" label={t('port')} error={f['port']}>
          <TextInput name="port" value={v.port} onInput={set('port')} inputMode="numeric" />
        </Field>
        <Field name="user_name" label={t('adminUser')} error={f['user_name']}>
          <TextInput name="user_name" value={v.user_name} onInput={set('user_name')} autoComplete="off" />
        </Field>
        <Field name="user_pwd" label={t('adminPassword')} error={f['user_pwd']}>
          <TextInput name="user_pwd" type="password" value={v.user_pwd} onInput={set('user_pwd')} autoComplete="new-password" />
        </Field>
        <Field name="availability_zone" label={t('availabilityZone')} error={f['availability_zone']}>
          <Select
            name="availability_zone"
            value={v.availability_zone}
            onChange={set('availability_zone')}
            options={ZONES.map((z) => ({ value: z, label: z }))}
          />
        </Field>
        <Field name="vpc_id" label={t('vpcId')} error={f['vpc_id']} hint={t('metadataHint')}>
          <TextInput name="vpc_id" value={v.vpc_id} onInput={set('vpc_id')} />
        </Field>
        <Field name="subnet_id" label={t('subnetId')} error={f['subnet_id']}>
          <TextInput name="subnet_id" value={v.subnet_id} onInput={set('subnet_id')} />
        </Field>
        <Field name="description" label={`${t('description')} (${t('optional')})`} error={f['description']}>
          <TextInput name="description" value={v.description} onInput={set('description')} />
        </Field>
        <Buttons busy={form.busy} label={t('create')} cancelTo="" />
      </form>
    </div>
  );
}

// ---------------------------------------------------------------- create snapshot

const SNAPSHOT_FIELDS: FieldMatch[] = [
  { name: 'name', paths: ['body.snapshot.name'], words: ['snapshot name'], codes: ['DWS.5057', 'DWS.5056', 'DWS.9905'] },
  { name: 'description', paths: ['body.snapshot.description'], words: ['description'] },
];

function stamp(): string {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export function CreateSnapshotForm(p: { clusterId: string }): JSX.Element {
  const { api, t, navigate } = useApp();
  const { cluster } = useCluster(p.clusterId);
  const [name, setName] = useState(() => `snap-${stamp()}`);
  const [desc, setDesc] = useState('');
  const form = useForm(SNAPSHOT_FIELDS);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const r = await form.run(() =>
      api.call<{ snapshot: { id: string } }>('POST', '/v1.0/{project_id}/snapshots', {
        snapshot: { name, cluster_id: p.clusterId, description: desc },
      }),
    );
    if (r) navigate(`clusters/${p.clusterId}`);
  };
  return (
    <div>
      <PageTitle>{t('createSnapshotTitle', { cluster: cluster?.name ?? p.clusterId })}</PageTitle>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate data-testid="create-snapshot-form">
        <FormError msg={form.top} />
        <Field name="name" label={t('snapshotName')} error={form.fields['name']}>
          <TextInput name="name" value={name} onInput={setName} />
        </Field>
        <Field name="description" label={`${t('description')} (${t('optional')})`} error={form.fields['description']}>
          <TextInput name="description" value={desc} onInput={setDesc} />
        </Field>
        <Buttons busy={form.busy} label={t('create')} cancelTo={`clusters/${p.clusterId}`} />
      </form>
    </div>
  );
}

// ---------------------------------------------------------------- restore into a new cluster

const RESTORE_FIELDS: FieldMatch[] = [
  { name: 'name', paths: ['body.restore.name'], words: ['cluster name'], codes: ['DWS.5050', 'DWS.5057', 'DWS.5056'] },
  { name: 'port', paths: ['body.restore.port'], words: ['port'] },
  {
    name: 'availability_zone',
    paths: ['body.restore.availability_zone'],
    words: ['availability zone', 'availability_zone'],
    codes: ['DWS.5011'],
  },
  { name: 'vpc_id', paths: ['body.restore.vpc_id'], words: ['vpc_id'] },
  { name: 'subnet_id', paths: ['body.restore.subnet_id'], words: ['subnet_id'] },
  {
    name: 'restore_time',
    paths: ['body.restore.restore_point', 'body.restore.restore_point.restore_time'],
    words: ['restore time'],
    codes: ['DWS.9983'],
  },
];

export function RestoreForm(p: { snapshotId: string }): JSX.Element {
  const { api, t, navigate } = useApp();
  const { snapshot, error, refresh } = useSnapshot(p.snapshotId);
  const [v, setV] = useState({ name: '', port: '', availability_zone: '', vpc_id: '', subnet_id: '', restore_time: '' });
  const set = (k: keyof typeof v) => (x: string) => setV((o) => ({ ...o, [k]: x }));
  const form = useForm(RESTORE_FIELDS);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const restore: Record<string, unknown> = { name: v.name };
    if (v.restore_time.trim()) {
      const at = Date.parse(v.restore_time.trim());
      if (!Number.isFinite(at)) {
        form.setField('restore_time', t('badRestoreTime'));
        return;
      }
      restore['restore_point'] = { restore_time: at };
    }
    if (v.port.trim()) restore['port'] = toNumber(v.port);
    if (v.availability_zone) restore['availability_zone'] = v.availability_zone;
    if (v.vpc_id.trim()) restore['vpc_id'] = v.vpc_id.trim();
    if (v.subnet_id.trim()) restore['subnet_id'] = v.subnet_id.trim();
    const r = await form.run(() =>
      api.call<{ cluster: { id: string } }>('POST', `/v1.0/{project_id}/snapshots/${encodeURIComponent(p.snapshotId)}/actions`, {
        restore,
      }),
    );
    if (r) navigate(`clusters/${r.cluster.id}`);
  };
  if (!snapshot) return <Loading error={error} onRetry={refresh} />;
  const f = form.fields;
  return (
    <div>
      <PageTitle>{t('restoreTitle', { snapshot: snapshot.name })}</PageTitle>
      <p class="hint">{t('restoreHint')}</p>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate data-testid="restore-form">
        <FormError msg={form.top} />
        <Field name="name" label={t('newClusterName')} error={f['name']}>
          <TextInput name="name" value={v.name} onInput={set('name')} />
        </Field>
        <Field name="port" label={`${t('port')} (${t('optional')})`} error={f['port']}>
          <TextInput name="port" value={v.port} onInput={set('port')} inputMode="numeric" />
        </Field>
        <Field name="availability_zone" label={`${t('availabilityZone')} (${t('optional')})`} error={f['availability_zone']}>
          <Select
            name="availability_zone"
            value={v.availability_zone}
            onChange={set('availability_zone')}
            options={[{ value: '', label: '—' }, ...ZONES.map((z) => ({ value: z, label: z }))]}
          />
        </Field>
        <Field name="vpc_id" label={`${t('vpcId')} (${t('optional')})`} error={f['vpc_id']}>
          <TextInput name="vpc_id" value={v.vpc_id} onInput={set('vpc_id')} />
        </Field>
        <Field name="subnet_id" label={`${t('subnetId')} (${t('optional')})`} error={f['subnet_id']}>
          <TextInput name="subnet_id" value={v.subnet_id} onInput={set('subnet_id')} />
        </Field>
        <Field name="restore_time" label={`${t('restoreTime')} (${t('optional')})`} error={f['restore_time']}>
          <TextInput name="restore_time" value={v.restore_time} onInput={set('restore_time')} />
        </Field>
        <p class="hint">{t('restoreTimeHint')}</p>
        <Buttons busy={form.busy} label={t('actRestore')} cancelTo={`clusters/${snapshot.cluster_id}`} />
      </form>
      {snapshot.support_inplace_restore ? (
        <section data-testid="in-place">
          <h2>{t('inPlaceTitle', { cluster: snapshot.cluster_name })}</h2>
          <p class="hint">{t('inPlaceHint', { cluster: snapshot.cluster_name })}</p>
          <InPlaceRestore clusterId={snapshot.cluster_id} clusterName={snapshot.cluster_name} snapshot={snapshot} />
        </section>
      ) : null}
    </div>
  );
}

// ---------------------------------------------------------------- restore in place (into the cluster itself, issue 20)

const IN_PLACE_SNAPSHOT: FieldMatch = { name: 'in_place_snapshot', paths: ['body.restore.snapshot_id'], codes: ['DWS.9909'] };
const IN_PLACE_TIME: FieldMatch = {
  name: 'in_place_time',
  paths: ['body.restore.restore_time'],
  words: ['restore time', 'restore_time'],
  codes: ['DWS.9983'],
};

/**
 * POST …/clusters/{id}/in-place-restore after a confirmation: replaces the cluster's data, then the task's page
 * follows it. With `snapshot`, that snapshot (and an optional point in time); else a chooser among `snapshots`
 * (the cluster's that support_inplace_restore) or none: the newest one finished by the point in time.
 */
function InPlaceRestore(p: {
  clusterId: string;
  clusterName: string;
  snapshot?: Snapshot;
  snapshots?: Snapshot[];
  cancelTo?: string;
}): JSX.Element {
  const { api, t, navigate } = useApp();
  const [sid, setSid] = useState(p.snapshot?.id ?? '');
  const [time, setTime] = useState('');
  // a fixed snapshot has no field of its own: what the API says of it goes to the top
  const form = useForm(p.snapshot ? [IN_PLACE_TIME] : [IN_PLACE_SNAPSHOT, IN_PLACE_TIME]);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    form.clear();
    const restore: Record<string, unknown> = {};
    if (sid) restore['snapshot_id'] = sid;
    let at: number | null = null;
    if (time.trim()) {
      at = Date.parse(time.trim());
      if (!Number.isFinite(at)) {
        form.setField('in_place_time', t('badRestoreTime'));
        return;
      }
      restore['restore_time'] = at;
    }
    if (!sid && at === null) {
      form.setTop(t('inPlaceNeedOne'));
      return;
    }
    const name = p.snapshot?.name ?? p.snapshots?.find((s) => s.id === sid)?.name ?? sid;
    const iso = at === null ? '' : new Date(at).toISOString();
    const what = !sid
      ? t('inPlaceWhatTime', { time: iso })
      : at === null
        ? t('inPlaceWhatSnapshot', { snapshot: name })
        : t('inPlaceWhatSnapshotAt', { snapshot: name, time: iso });
    if (!window.confirm(t('confirmRestoreInPlace', { cluster: p.clusterName, what }))) return;
    const r = await form.run(() =>
      api.call<{ job_id: string; snapshot_id: string; safety_snapshot_id: string }>(
        'POST',
        `/v1.0/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/in-place-restore`,
        { restore },
      ),
    );
    if (r) navigate(`clusters/${p.clusterId}/tasks/${r.job_id}`);
  };
  const f = form.fields;
  return (
    <form class="form" onSubmit={(e) => void submit(e)} noValidate data-testid="in-place-form">
      <FormError msg={form.top} />
      {p.snapshot ? null : (
        <Field name="in_place_snapshot" label={t('inPlaceSnapshot')} error={f['in_place_snapshot']}>
          <Select
            name="in_place_snapshot"
            value={sid}
            onChange={setSid}
            options={[
              { value: '', label: t('inPlaceNewest') },
              ...(p.snapshots ?? []).map((s) => ({ value: s.id, label: `${s.name} (${s.finished ?? s.started ?? ''})` })),
            ]}
          />
        </Field>
      )}
      <Field name="in_place_time" label={`${t('restoreTime')} (${t('optional')})`} error={f['in_place_time']} hint={t('inPlaceTimeHint')}>
        <TextInput name="in_place_time" value={time} onInput={setTime} />
      </Field>
      <div class="buttons">
        <button type="submit" class="btn btn-danger" disabled={form.busy} data-testid="in-place-submit">
          {t('actRestoreIntoCluster')}
        </button>
        {p.cancelTo !== undefined ? (
          <Link to={p.cancelTo} class="btn">
            {t('cancel')}
          </Link>
        ) : null}
      </div>
    </form>
  );
}

/** The cluster page's "Restore in place…": one of its snapshots that can be, a point in time, or both. */
export function RestoreInPlaceForm(p: { clusterId: string }): JSX.Element {
  const { api, t, lang } = useApp();
  const { cluster, error, refresh } = useCluster(p.clusterId);
  const snaps = usePoll(
    () =>
      api.call<{ snapshots: Snapshot[] }>(
        'GET',
        `/v1.0/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/snapshots?sort_key=created&sort_dir=desc`,
      ),
    [p.clusterId, lang],
    0,
  );
  if (!cluster) return <Loading error={error} onRetry={refresh} />;
  if (!snaps.data) return <Loading error={snaps.error} onRetry={snaps.refresh} />;
  const w = cluster.restore_window;
  return (
    <div>
      <PageTitle>{t('restoreInPlaceTitle', { cluster: cluster.name })}</PageTitle>
      <p class="hint">{t('restoreInPlaceHint')}</p>
      {w ? (
        <p data-testid="restore-window">
          {t('restoreWindow')}:{' '}
          {!w.earliest_time
            ? t('restoreWindowNone')
            : t(w.latest_time ? 'restoreWindowRange' : 'restoreWindowStopped', { from: w.earliest_time })}
        </p>
      ) : null}
      <InPlaceRestore
        clusterId={cluster.id}
        clusterName={cluster.name}
        snapshots={snaps.data.snapshots.filter((s) => s.support_inplace_restore)}
        cancelTo={`clusters/${cluster.id}`}
      />
    </div>
  );
}

// ---------------------------------------------------------------- restore tables

interface TableRow {
  ss: string;
  st: string;
  ts: string;
  tt: string;
}

const TABLE_FIELDS: FieldMatch[] = [
  { name: 'database', paths: ['body.database'], words: ['database'], codes: ['DWS.5172'] },
  {
    name: 'restore_table_list',
    paths: ['body.restore_table_list'],
    words: ['restore_table_list', 'schema', 'table does not exist'],
    codes: ['DWS.5173', 'DWS.5174'],
  },
  { name: 'target_table_list', paths: ['body.target_table_list'], words: ['target_table_list', 'target table'], codes: ['DWS.9910'] },
];

export function TableRestoreForm(p: { snapshotId: string }): JSX.Element {
  const { api, t, navigate } = useApp();
  const { snapshot, error, refresh } = useSnapshot(p.snapshotId);
  const [db, setDb] = useState('postgres');
  const [cs, setCs] = useState(false);
  const [rows, setRows] = useState<TableRow[]>([{ ss: 'public', st: '', ts: 'public', tt: '' }]);
  const [check, setCheck] = useState<{ missing: string[]; existing: string[] } | null>(null);
  const form = useForm(TABLE_FIELDS);
  const setRow =
    (i: number, k: keyof TableRow) =>
    (x: string): void =>
      setRows((rs) => rs.map((r, j) => (j === i ? { ...r, [k]: x } : r)));
  const body = () => ({
    case_sensitive: cs,
    database: db,
    restore_table_list: rows.map((r) => ({ schema_name: r.ss, table_name: r.st })),
    target_table_list: rows.map((r) => ({ schema_name: r.ts, table_name: r.tt || r.st })),
  });
  const runCheck = async (): Promise<void> => {
    setCheck(null);
    const r = await form.run(() =>
      api.call<{ check_table_name_result: { restore_table_list: string[] | null; target_table_list: string[] | null } }>(
        'POST',
        `/v1/{project_id}/snapshots/${encodeURIComponent(p.snapshotId)}/table-restore-check`,
        body(),
      ),
    );
    if (r)
      setCheck({
        missing: r.check_table_name_result.restore_table_list ?? [],
        existing: r.check_table_name_result.target_table_list ?? [],
      });
  };
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const r = await form.run(() =>
      api.call<{ job_id: string }>('POST', `/v1/{project_id}/snapshots/${encodeURIComponent(p.snapshotId)}/table-restore`, body()),
    );
    if (r && snapshot) navigate(`clusters/${snapshot.cluster_id}/tasks/${r.job_id}`);
  };
  if (!snapshot) return <Loading error={error} onRetry={refresh} />;
  const f = form.fields;
  const targetErr =
    f['target_table_list'] ?? (check?.existing.length ? `${t('existingTargets')}: ${check.existing.join(', ')}` : undefined);
  return (
    <div>
      <PageTitle>{t('tableRestoreTitle', { snapshot: snapshot.name })}</PageTitle>
      <p class="hint">
        {t('tableRestoreHint')} ({snapshot.cluster_name})
      </p>
      <form class="form form-wide" onSubmit={(e) => void submit(e)} noValidate data-testid="table-restore-form">
        <FormError msg={form.top} />
        <Field name="database" label={t('database')} error={f['database']}>
          <TextInput name="database" value={db} onInput={setDb} />
        </Field>
        <div class="field field-inline">
          <label>
            <input
              type="checkbox"
              name="case_sensitive"
              checked={cs}
              onChange={(e) => setCs((e.currentTarget as HTMLInputElement).checked)}
            />{' '}
            {t('caseSensitive')}
          </label>
        </div>
        <Field
          name="restore_table_list"
          label={t('tablesToRestore')}
          error={f['restore_table_list'] ?? (check?.missing.length ? `${t('missingSources')}: ${check.missing.join(', ')}` : undefined)}
        >
          <table class="table table-inputs">
            <thead>
              <tr>
                <th>{t('sourceSchema')}</th>
                <th>{t('sourceTable')}</th>
                <th>{t('targetSchema')}</th>
                <th>{t('targetTable')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {rows.map((r, i) => (
                <tr key={i}>
                  <td>
                    <TextInput name={`ss${i}`} value={r.ss} onInput={setRow(i, 'ss')} />
                  </td>
                  <td>
                    <TextInput name={`st${i}`} value={r.st} onInput={setRow(i, 'st')} />
                  </td>
                  <td>
                    <TextInput name={`ts${i}`} value={r.ts} onInput={setRow(i, 'ts')} />
                  </td>
                  <td>
                    <TextInput name={`tt${i}`} value={r.tt} onInput={setRow(i, 'tt')} placeholder={r.st} />
                  </td>
                  <td>
                    {rows.length > 1 ? (
                      <button type="button" class="btn btn-small" onClick={() => setRows((rs) => rs.filter((_, j) => j !== i))}>
                        {t('removeTable')}
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <button
            type="button"
            class="btn btn-small"
            onClick={() => setRows((rs) => [...rs, { ss: 'public', st: '', ts: 'public', tt: '' }])}
          >
            {t('addTable')}
          </button>
          {targetErr ? (
            <div class="field-error" role="alert" data-error-for="target_table_list">
              {targetErr}
            </div>
          ) : null}
        </Field>
        {check && !check.missing.length && !check.existing.length ? (
          <div class="alert alert-ok" data-testid="check-ok">
            {t('checkPassed')}
          </div>
        ) : null}
        <div class="buttons">
          <button type="button" class="btn" disabled={form.busy} onClick={() => void runCheck()} data-testid="check">
            {t('check')}
          </button>
          <button type="submit" class="btn btn-primary" disabled={form.busy} data-testid="submit">
            {t('actTableRestore')}
          </button>
          <Link to={`clusters/${snapshot.cluster_id}`} class="btn">
            {t('cancel')}
          </Link>
        </div>
      </form>
    </div>
  );
}

// ---------------------------------------------------------------- scale out (grow-check first)

const SCALE_OUT_FIELDS: FieldMatch[] = [
  {
    name: 'count',
    paths: ['body.scale_out.count', 'body.scale_out'],
    words: ['scale_out.count', 'count'],
    codes: ['DWS.5047', 'DWS.5091'],
  },
];

export function ScaleOutForm(p: { clusterId: string }): JSX.Element {
  const { api, t, navigate } = useApp();
  const { cluster } = useCluster(p.clusterId);
  const [count, setCount] = useState('1');
  const [check, setCheck] = useState<{ count: string; result: GrowCheck } | null>(null);
  const form = useForm(SCALE_OUT_FIELDS);
  const runCheck = async (n: string): Promise<void> => {
    setCheck(null);
    const r = await form.run(() =>
      api.call<GrowCheck>('POST', `/v2/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/grow-check`, {
        scale_out: { count: toNumber(n) },
      }),
    );
    if (r) setCheck({ count: n, result: r });
  };
  useEffect(() => {
    void runCheck('1');
  }, [p.clusterId]);
  const fresh = check !== null && check.count === count;
  const blocked = fresh && check.result.data.some((d) => d.required);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (!fresh) {
      await runCheck(count);
      return;
    }
    const r = await form.run(() =>
      api.call('POST', `/v1.0/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/resize`, { scale_out: { count: toNumber(count) } }),
    );
    if (r !== undefined) navigate(`clusters/${p.clusterId}`);
  };
  return (
    <div>
      <PageTitle>{t('scaleOutTitle', { cluster: cluster?.name ?? p.clusterId })}</PageTitle>
      <p class="hint">{t('scaleOutHint')}</p>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate data-testid="scale-out-form">
        <FormError msg={form.top} />
        <Field name="count" label={t('nodesToAdd')} error={form.fields['count']}>
          <TextInput name="count" value={count} onInput={setCount} inputMode="numeric" />
        </Field>
        <div class="check-result" data-testid="grow-check">
          <h3>{t('growCheck')}</h3>
          {!fresh ? (
            <p class="hint">{t('runCheckFirst')}</p>
          ) : check.result.data.length === 0 ? (
            <div class="alert alert-ok">
              {t('growCheckOk', {
                from: check.result.note.bucket_split_info.current_dn_num,
                to: check.result.note.bucket_split_info.after_scale_out_dn_num,
              })}
            </div>
          ) : (
            <ul class="problems">
              {check.result.data.map((d) => (
                <li key={d.reason} class={d.required ? 'problem-blocking' : 'problem-warning'} data-reason={d.reason}>
                  <b>{d.type}</b> · {d.desc}{' '}
                  <span class="mono">
                    ({d.reason}, {d.required ? t('growCheckBlocking') : t('growCheckWarning')})
                  </span>
                </li>
              ))}
            </ul>
          )}
        </div>
        <div class="buttons">
          <button type="button" class="btn" disabled={form.busy} onClick={() => void runCheck(count)} data-testid="check">
            {t('check')}
          </button>
          <button type="submit" class="btn btn-primary" disabled={form.busy || blocked || !fresh} data-testid="submit">
            {t('actScaleOut')}
          </button>
          <Link to={`clusters/${p.clusterId}`} class="btn">
            {t('cancel')}
          </Link>
        </div>
      </form>
    </div>
  );
}

// ---------------------------------------------------------------- scale in

const SCALE_IN_FIELDS: FieldMatch[] = [
  {
    name: 'shrink_number',
    paths: ['body.shrink_number', 'querystring.shrink_count'],
    words: ['shrink_number', 'shrink_count'],
    codes: ['DWS.5047'],
  },
];

export function ScaleInForm(p: { clusterId: string }): JSX.Element {
  const { api, t, lang, navigate } = useApp();
  const { cluster } = useCluster(p.clusterId);
  const numbers = usePoll(
    () => api.call<{ shrink_sequence: string[] }>('GET', `/v1.0/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/shrink-numbers`),
    [p.clusterId, lang],
    0,
  );
  const [n, setN] = useState('1');
  const [check, setCheck] = useState<{ n: string; passed: boolean; reason: string } | null>(null);
  const form = useForm(SCALE_IN_FIELDS);
  const runCheck = async (): Promise<void> => {
    setCheck(null);
    const r = await form.run(() =>
      api.call<{ is_passed: boolean; reason: string }>(
        'GET',
        `/v1/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/shrink-check?shrink_count=${encodeURIComponent(n)}`,
      ),
    );
    if (r) setCheck({ n, passed: r.is_passed, reason: r.reason });
  };
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const r = await form.run(() =>
      api.call<{ job_id: string }>('POST', `/v1.0/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/cluster-shrink`, {
        shrink_number: toNumber(n),
      }),
    );
    if (r) navigate(`clusters/${p.clusterId}`);
  };
  return (
    <div>
      <PageTitle>{t('scaleInTitle', { cluster: cluster?.name ?? p.clusterId })}</PageTitle>
      <p class="hint">{t('scaleInHint')}</p>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate data-testid="scale-in-form">
        <FormError msg={form.top} />
        <p>
          {t('acceptedCounts')}:{' '}
          {numbers.data
            ? numbers.data.shrink_sequence.length
              ? numbers.data.shrink_sequence.join(', ')
              : t('noneAccepted')
            : numbers.error
              ? numbers.error.message
              : t('loading')}
        </p>
        <Field
          name="shrink_number"
          label={t('nodesToRemove')}
          error={form.fields['shrink_number'] ?? (check && check.n === n && !check.passed ? check.reason : undefined)}
        >
          <TextInput name="shrink_number" value={n} onInput={setN} inputMode="numeric" />
        </Field>
        {check && check.n === n && check.passed ? <div class="alert alert-ok">{t('shrinkCheckOk')}</div> : null}
        <div class="buttons">
          <button type="button" class="btn" disabled={form.busy} onClick={() => void runCheck()} data-testid="check">
            {t('check')}
          </button>
          <button type="submit" class="btn btn-primary" disabled={form.busy} data-testid="submit">
            {t('actScaleIn')}
          </button>
          <Link to={`clusters/${p.clusterId}`} class="btn">
            {t('cancel')}
          </Link>
        </div>
      </form>
    </div>
  );
}

// ---------------------------------------------------------------- restart, delete

export function RestartForm(p: { clusterId: string }): JSX.Element {
  const { api, t, navigate } = useApp();
  const { cluster } = useCluster(p.clusterId);
  const form = useForm([]);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const r = await form.run(() =>
      api.call('POST', `/v1.0/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/restart`, { restart: {} }),
    );
    if (r !== undefined) navigate(`clusters/${p.clusterId}`);
  };
  return (
    <div>
      <PageTitle>{t('restartTitle', { cluster: cluster?.name ?? p.clusterId })}</PageTitle>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate data-testid="restart-form">
        <FormError msg={form.top} />
        <p>{t('restartHint')}</p>
        <Buttons busy={form.busy} label={t('actRestart')} cancelTo={`clusters/${p.clusterId}`} />
      </form>
    </div>
  );
}

// ---------------------------------------------------------------- switchover, replication (highly available clusters)

/** A node's number, from its member address 127.0.c.<n> (the address plan, D24). */
const nodeNumber = (n: ClusterNode): string => n.connect_info.split(':')[0]!.split('.').pop() ?? '?';

export function SwitchoverForm(p: { clusterId: string }): JSX.Element {
  const { api, t, navigate } = useApp();
  const { cluster, error, refresh } = useCluster(p.clusterId);
  const [candidate, setCandidate] = useState('');
  const [mode, setMode] = useState('');
  const form = useForm([{ name: 'candidate', paths: ['body.candidate_node_id'], words: ['candidate'] }]);
  const modeForm = useForm([{ name: 'mode', paths: ['body.sync_mode'], words: ['sync_mode'] }]);
  if (!cluster) return <Loading error={error} onRetry={refresh} />;
  const standbys = cluster.nodes.filter((n) => n.role !== 'primary');
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    // No candidate: the preferred node (node 1), the way back after a failover.
    const r = await form.run(() =>
      api.call(
        'POST',
        `/v1.0/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/switchover`,
        candidate ? { candidate_node_id: candidate } : {},
      ),
    );
    if (r !== undefined) navigate(`clusters/${p.clusterId}`);
  };
  const submitMode = async (e: Event): Promise<void> => {
    e.preventDefault();
    const r = await modeForm.run(() =>
      api.call('PUT', `/dwsbox/v1/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/sync-mode`, {
        sync_mode: mode || cluster.sync_mode || 'sync',
      }),
    );
    if (r !== undefined) navigate(`clusters/${p.clusterId}`);
  };
  return (
    <div>
      <PageTitle>{t('switchoverTitle', { cluster: cluster.name })}</PageTitle>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate data-testid="switchover-form">
        <FormError msg={form.top} />
        <p>{t('switchoverHint')}</p>
        <Field name="candidate" label={t('switchoverTo')} error={form.fields['candidate']}>
          <Select
            name="candidate"
            value={candidate}
            onChange={setCandidate}
            options={[
              { value: '', label: t('preferredNode') },
              ...standbys.map((n) => ({ value: n.id, label: `node ${nodeNumber(n)} (${n.connect_info})` })),
            ]}
          />
        </Field>
        <Buttons busy={form.busy} label={t('actSwitchover')} cancelTo={`clusters/${p.clusterId}`} />
      </form>
      <h2>{t('replication')}</h2>
      <form class="form" onSubmit={(e) => void submitMode(e)} noValidate data-testid="sync-mode-form">
        <FormError msg={modeForm.top} />
        <p>{t('syncModeHint')}</p>
        <Field name="mode" label={t('syncMode')} error={modeForm.fields['mode']}>
          <Select
            name="mode"
            value={mode || cluster.sync_mode || 'sync'}
            onChange={setMode}
            options={['sync', 'strict', 'async'].map((m) => ({ value: m, label: m }))}
          />
        </Field>
        <Buttons busy={modeForm.busy} label={t('save')} cancelTo={`clusters/${p.clusterId}`} testid="sync-mode-submit" />
      </form>
    </div>
  );
}

const DELETE_FIELDS: FieldMatch[] = [{ name: 'keep', paths: ['body.keep_last_manual_snapshot'], words: ['keep_last_manual_snapshot'] }];

export function DeleteForm(p: { clusterId: string }): JSX.Element {
  const { api, t, navigate } = useApp();
  const { cluster, error, refresh } = useCluster(p.clusterId);
  const [keep, setKeep] = useState('1');
  const [confirm, setConfirm] = useState('');
  const form = useForm(DELETE_FIELDS);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (!cluster || confirm !== cluster.name) {
      form.setField('confirm', t('nameMismatch'));
      return;
    }
    const r = await form.run(() =>
      api.call('DELETE', `/v1.0/{project_id}/clusters/${encodeURIComponent(p.clusterId)}`, { keep_last_manual_snapshot: toNumber(keep) }),
    );
    if (r !== undefined) navigate(`clusters/${p.clusterId}`);
  };
  if (!cluster) return <Loading error={error} onRetry={refresh} />;
  return (
    <div>
      <PageTitle>{t('deleteTitle', { cluster: cluster.name })}</PageTitle>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate data-testid="delete-form">
        <FormError msg={form.top} />
        <p>{t('deleteHint')}</p>
        <Field name="keep" label={t('keepSnapshots')} error={form.fields['keep']}>
          <TextInput name="keep" value={keep} onInput={setKeep} inputMode="numeric" />
        </Field>
        <Field name="confirm" label={`${t('typeNameToConfirm')}: ${cluster.name}`} error={form.fields['confirm']}>
          <TextInput name="confirm" value={confirm} onInput={setConfirm} autoComplete="off" />
        </Field>
        <Buttons busy={form.busy} label={t('actDelete')} cancelTo={`clusters/${p.clusterId}`} danger />
      </form>
    </div>
  );
}

// ---------------------------------------------------------------- faults

const FAULT_ACTIONS = [
  'SNAPSHOTTING',
  'GROWING',
  'RESTORING',
  'FINE_GRAINED_RESTORING',
  'CREATING',
  'DELETING',
  'REBOOTING',
  'STARTING',
  'STOPPING',
  'CLUSTER_SHRINKING',
];

/** Step ids of each action (the `step` of a fault, `currentStep`/`failedStep` of the task); `_N` is a node number. */
const STEPS_OF: Record<string, string[]> = {
  SNAPSHOTTING: ['CHECK_CLUSTER', 'BACKUP', 'VERIFY_BACKUP', 'RECORD_SNAPSHOT'],
  CREATING: [
    'CHECK_CAPACITY',
    'INIT_PRIMARY',
    'START_PRIMARY',
    'ENABLE_ARCHIVING',
    'BUILD_STANDBY_2',
    'BUILD_STANDBY_3',
    'CREATE_ADMIN',
    'VERIFY_CLUSTER',
  ],
  RESTORING: ['ALLOCATE_NODES', 'RESTORE_PRIMARY', 'RECOVER_PRIMARY', 'ENABLE_NEW_ARCHIVING', 'BUILD_STANDBYS', 'CHECK_CONNECTIONS'],
  FINE_GRAINED_RESTORING: ['RESTORE_TEMP', 'START_TEMP', 'EXPORT_TABLES', 'IMPORT_TABLES', 'VERIFY_ROWS', 'REMOVE_TEMP'],
  GROWING: ['CHECK_GROW', 'COPY_DATA_4', 'START_NODE_4', 'CATCH_UP', 'PUBLISH_NODES'],
  CLUSTER_SHRINKING: ['CHECK_SHRINK', 'REMOVE_NODE_4', 'PUBLISH_NODES'],
  DELETING: ['STOP_NODES', 'KEEP_SNAPSHOTS', 'REMOVE_DATA'],
  REBOOTING: ['STOP_NODE_1', 'START_NODE_1', 'CHECK_REPLICATION'],
  STARTING: ['START_NODE_1', 'CHECK_REPLICATION'],
  STOPPING: ['STOP_NODE_1'],
};

const FAULT_FIELDS: FieldMatch[] = [
  { name: 'cluster_id', paths: ['body.cluster_id'], words: ['cluster_id', 'cluster'], codes: ['DWS.0047'] },
  { name: 'action_name', paths: ['body.action_name'], words: ['action_name'] },
  { name: 'step', paths: ['body.step'], words: ['step'] },
  { name: 'mode', paths: ['body.mode'], words: ['mode', 'crash'], codes: ['DWS.9908'] },
  { name: 'point', paths: ['body.point'], words: ['point'] },
  { name: 'delay_ms', paths: ['body.delay_ms'], words: ['delay_ms'] },
  { name: 'times', paths: ['body.times'], words: ['times'] },
];

export function FaultsPage(p: { clusterId: string | null }): JSX.Element {
  const { api, t, lang } = useApp();
  const clusters = usePoll(() => api.call<{ clusters: Cluster[] }>('GET', '/v1.0/{project_id}/clusters'), [lang], 0);
  const faults = usePoll(() => api.call<{ faults: Fault[] }>('GET', '/dwsbox/v1/{project_id}/faults'), [lang], 3000);
  const [v, setV] = useState({
    cluster_id: p.clusterId ?? '',
    action_name: 'SNAPSHOTTING',
    step: 'BACKUP',
    mode: 'fail',
    point: 'before',
    delay_ms: '',
    times: '1',
  });
  const set = (k: keyof typeof v) => (x: string) => setV((o) => ({ ...o, [k]: x }));
  const [added, setAdded] = useState<string | null>(null);
  const [listErr, setListErr] = useState<string | null>(null);
  const form = useForm(FAULT_FIELDS);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setAdded(null);
    const body: Record<string, unknown> = { action_name: v.action_name, step: v.step.trim(), mode: v.mode, point: v.point };
    if (v.cluster_id) body['cluster_id'] = v.cluster_id;
    if (v.delay_ms.trim()) body['delay_ms'] = toNumber(v.delay_ms);
    if (v.times.trim()) body['times'] = toNumber(v.times);
    const r = await form.run(() => api.call<{ fault: Fault }>('POST', '/dwsbox/v1/{project_id}/faults', body));
    if (r) {
      setAdded(r.fault.id);
      faults.refresh();
    }
  };
  const remove = async (id: string | null): Promise<void> => {
    setListErr(null);
    try {
      await api.call('DELETE', id ? `/dwsbox/v1/{project_id}/faults/${encodeURIComponent(id)}` : '/dwsbox/v1/{project_id}/faults');
      faults.refresh();
    } catch (e) {
      setListErr((e as Error).message);
    }
  };
  const nameOf = (id: string | null): string => (id ? (clusters.data?.clusters.find((c) => c.id === id)?.name ?? id) : t('anyCluster'));
  const f = form.fields;
  return (
    <div>
      <PageTitle>{t('injectFaultTitle')}</PageTitle>
      <p class="hint">{t('faultsHint')}</p>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate data-testid="fault-form">
        <FormError msg={form.top} />
        {added ? (
          <div class="alert alert-ok" data-testid="fault-added">
            {t('faultAdded', { id: added })}
          </div>
        ) : null}
        <Field name="cluster_id" label={t('faultCluster')} error={f['cluster_id']}>
          <Select
            name="cluster_id"
            value={v.cluster_id}
            onChange={set('cluster_id')}
            options={[
              { value: '', label: t('anyCluster') },
              ...(clusters.data?.clusters ?? []).map((c) => ({ value: c.id, label: c.name })),
              ...(v.cluster_id && !clusters.data?.clusters.some((c) => c.id === v.cluster_id)
                ? [{ value: v.cluster_id, label: v.cluster_id }]
                : []),
            ]}
          />
        </Field>
        <Field name="action_name" label={t('actionName')} error={f['action_name']}>
          <Select
            name="action_name"
            value={v.action_name}
            onChange={(x) => setV((o) => ({ ...o, action_name: x, step: STEPS_OF[x]?.[0] ?? o.step }))}
            options={FAULT_ACTIONS.map((a) => ({ value: a, label: a }))}
          />
        </Field>
        <Field name="step" label={t('step')} error={f['step']}>
          <input
            id="f-step"
            name="step"
            list="fault-steps"
            value={v.step}
            onInput={(e) => set('step')((e.currentTarget as HTMLInputElement).value)}
          />
          <datalist id="fault-steps">
            {(STEPS_OF[v.action_name] ?? []).map((s) => (
              <option key={s} value={s} />
            ))}
            <option value="*" />
          </datalist>
        </Field>
        <Field name="mode" label={t('mode')} error={f['mode']}>
          <Select
            name="mode"
            value={v.mode}
            onChange={set('mode')}
            options={['fail', 'delay', 'hang', 'crash'].map((m) => ({ value: m, label: m }))}
          />
        </Field>
        <Field name="point" label={t('point')} error={f['point']}>
          <Select
            name="point"
            value={v.point}
            onChange={set('point')}
            options={['before', 'during', 'after'].map((m) => ({ value: m, label: m }))}
          />
        </Field>
        <Field name="delay_ms" label={`${t('delayMs')} (${t('optional')})`} error={f['delay_ms']}>
          <TextInput name="delay_ms" value={v.delay_ms} onInput={set('delay_ms')} inputMode="numeric" />
        </Field>
        <Field name="times" label={t('times')} error={f['times']} hint={t('timesHint')}>
          <TextInput name="times" value={v.times} onInput={set('times')} inputMode="numeric" />
        </Field>
        <Buttons busy={form.busy} label={t('actInjectFault')} cancelTo={p.clusterId ? `clusters/${p.clusterId}` : ''} testid="submit" />
      </form>
      <div class="title-row">
        <h2>{t('faultsTitle')}</h2>
        <button type="button" class="btn btn-small btn-danger" onClick={() => void remove(null)}>
          {t('clearAll')}
        </button>
      </div>
      <FormError msg={listErr} />
      {!faults.data ? (
        <Loading error={faults.error} onRetry={faults.refresh} />
      ) : faults.data.faults.length === 0 ? (
        <p class="empty">{t('noFaults')}</p>
      ) : (
        <table class="table" data-testid="faults-table">
          <thead>
            <tr>
              <th>ID</th>
              <th>{t('faultCluster')}</th>
              <th>{t('actionName')}</th>
              <th>{t('step')}</th>
              <th>{t('mode')}</th>
              <th>{t('point')}</th>
              <th>{t('delayMs')}</th>
              <th>{t('times')}</th>
              <th>{t('created')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {faults.data.faults.map((x) => (
              <tr key={x.id} data-fault-id={x.id}>
                <td class="mono small">{x.id}</td>
                <td>{nameOf(x.cluster_id)}</td>
                <td class="mono">{x.action_name}</td>
                <td class="mono">{x.step}</td>
                <td>{x.mode}</td>
                <td>{x.point}</td>
                <td class="num">{x.delay_ms ?? '—'}</td>
                <td class="num">{x.times ?? '∞'}</td>
                <td class="mono">{x.created}</td>
                <td>
                  <button type="button" class="btn btn-small" onClick={() => void remove(x.id)}>
                    {t('remove')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
