/** Sign-in, the clusters list, a cluster's page (its overview: nodes, events, tasks, snapshots; the other tabs in cluster-tabs.tsx) and node types. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError, type Cluster, type ClusterEvent, type NodeType, type Session, type Snapshot } from './api';
import { clusterEventsPath, formatEventTime, psqlCommand, severityClass, writeEndpoint } from './model';
import { ClusterTabs } from './cluster-tabs';
import { TaskList } from './tasks';
import { Badge, CopyText, Field, FormError, Link, Loading, PageTitle, TextInput, useApp, useForm, usePoll } from './ui';

const LAST_PROJECT_KEY = 'dwsbox.console.lastProject';

export function LoginPage(p: { onSignedIn(s: Session): void; notice: string | null }): JSX.Element {
  const { api, t } = useApp();
  const [user, setUser] = useState('');
  const [pw, setPw] = useState('');
  const [project, setProject] = useState(() => {
    try {
      return localStorage.getItem(LAST_PROJECT_KEY) ?? '';
    } catch {
      return '';
    }
  });
  const form = useForm([
    // by path only: "wrong user name or password" belongs to the whole form
    { name: 'user', paths: ['body.auth.identity.password.user.name'] },
    { name: 'password', paths: ['body.auth.identity.password.user.password'] },
    { name: 'project', paths: ['body.auth.scope.project.id'] },
  ]);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const s = await form.run(() => api.signIn(user.trim(), pw, project.trim()));
    if (s) {
      try {
        localStorage.setItem(LAST_PROJECT_KEY, s.projectId);
      } catch {
        /* storage unavailable */
      }
      p.onSignedIn(s);
    }
  };
  return (
    <div class="login">
      <h1>{t('signInTitle')}</h1>
      {p.notice ? <div class="alert alert-warn">{p.notice}</div> : null}
      <form class="form" onSubmit={(e) => void submit(e)} noValidate data-testid="login-form">
        <FormError msg={form.top} />
        <Field name="user" label={t('userName')} error={form.fields['user']}>
          <TextInput name="user" value={user} onInput={setUser} autoComplete="username" />
        </Field>
        <Field name="password" label={t('password')} error={form.fields['password']}>
          <TextInput name="password" type="password" value={pw} onInput={setPw} autoComplete="current-password" />
        </Field>
        <Field name="project" label={t('projectId')} error={form.fields['project']}>
          <TextInput name="project" value={project} onInput={setProject} />
        </Field>
        <div class="buttons">
          <button type="submit" class="btn btn-primary" disabled={form.busy}>
            {t('signIn')}
          </button>
        </div>
        <p class="hint">{t('signInHint')}</p>
      </form>
    </div>
  );
}

function nodeStatusLabel(status: string, t: ReturnType<typeof useApp>['t']): string {
  if (status === '200') return t('nodeUp');
  if (status === '503') return t('nodeDown');
  if (status === '100') return t('nodeBuilding');
  return status;
}

function ActionProgress(p: { value: Record<string, string> }): JSX.Element | null {
  const e = Object.entries(p.value);
  if (e.length === 0) return null;
  return (
    <span class="mono" data-testid="action-progress">
      {e.map(([k, v]) => `${k} ${v}`).join(', ')}
    </span>
  );
}

function NodeList(p: { c: Cluster }): JSX.Element {
  const { t } = useApp();
  return (
    <ul class="node-list">
      {p.c.nodes.map((n) => (
        <li key={n.id} data-role={n.role}>
          <span class={`role role-${n.role}`}>{n.role === 'primary' ? t('primary') : n.role === 'standby' ? t('standby') : n.role}</span>{' '}
          <span class="mono">{n.connect_info}</span> <span class={`node-status node-${n.status}`}>{nodeStatusLabel(n.status, t)}</span>
        </li>
      ))}
    </ul>
  );
}

function primaryPsql(c: Cluster): string | null {
  const at = writeEndpoint(c);
  return at ? psqlCommand(at, c.user_name) : null;
}

export function ClustersPage(): JSX.Element {
  const { api, t, lang } = useApp();
  const poll = usePoll(() => api.call<{ clusters: Cluster[] }>('GET', '/v1.0/{project_id}/clusters'), [lang], 2000);
  return (
    <div>
      <div class="title-row">
        <PageTitle live>{t('clustersTitle')}</PageTitle>
        <Link to="clusters/new" class="btn btn-primary" data-testid="create-cluster">
          {t('createCluster')}
        </Link>
      </div>
      {!poll.data ? (
        <Loading error={poll.error} onRetry={poll.refresh} />
      ) : poll.data.clusters.length === 0 ? (
        <p class="empty">{t('noClusters')}</p>
      ) : (
        <table class="table" data-testid="clusters-table">
          <thead>
            <tr>
              <th>{t('name')}</th>
              <th>{t('status')}</th>
              <th>{t('subStatus')}</th>
              <th>{t('taskStatus')}</th>
              <th>{t('actionProgress')}</th>
              <th>{t('nodes')}</th>
              <th>{t('connect')}</th>
            </tr>
          </thead>
          <tbody>
            {poll.data.clusters.map((c) => {
              const psql = primaryPsql(c);
              return (
                <tr key={c.id} data-cluster-id={c.id} data-cluster-name={c.name}>
                  <td>
                    <Link to={`clusters/${c.id}`} class="cluster-link">
                      {c.name}
                    </Link>
                    <div class="hint mono">{c.node_type}</div>
                  </td>
                  <td>
                    <Badge value={c.status} />
                  </td>
                  <td>
                    <Badge value={c.sub_status} />
                  </td>
                  <td>
                    <Badge value={c.task_status} />
                  </td>
                  <td>
                    <ActionProgress value={c.action_progress} />
                  </td>
                  <td>
                    <NodeList c={c} />
                  </td>
                  <td>{psql ? <CopyText text={psql} testid="psql" /> : null}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

function SnapshotTable(p: { clusterId: string }): JSX.Element {
  const { api, t, lang } = useApp();
  const [err, setErr] = useState<string | null>(null);
  const poll = usePoll(
    () =>
      api.call<{ snapshots: Snapshot[] }>(
        'GET',
        `/v1.0/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/snapshots?sort_key=created&sort_dir=desc`,
      ),
    [p.clusterId, lang],
    2000,
  );
  const del = async (s: Snapshot): Promise<void> => {
    if (!window.confirm(t('confirmDeleteSnapshot', { name: s.name }))) return;
    setErr(null);
    try {
      await api.call('DELETE', `/v1.0/{project_id}/snapshots/${encodeURIComponent(s.id)}`);
      poll.refresh();
    } catch (e) {
      setErr((e as Error).message);
    }
  };
  if (!poll.data) return <Loading error={poll.error} onRetry={poll.refresh} />;
  if (poll.data.snapshots.length === 0) return <p class="empty">{t('noSnapshots')}</p>;
  return (
    <>
      <FormError msg={err} />
      <table class="table" data-testid="snapshots-table">
        <thead>
          <tr>
            <th>{t('name')}</th>
            <th>{t('status')}</th>
            <th>{t('snapshotType')}</th>
            <th>{t('started')}</th>
            <th>{t('finished')}</th>
            <th>{t('sizeGb')}</th>
            <th>{t('backupKey')}</th>
            <th>{t('priorBackupKey')}</th>
            <th>{t('actions')}</th>
          </tr>
        </thead>
        <tbody>
          {poll.data.snapshots.map((s) => (
            <tr key={s.id} data-snapshot-id={s.id} data-snapshot-name={s.name}>
              <td>
                {s.name}
                {s.description ? <div class="hint">{s.description}</div> : null}
              </td>
              <td>
                <Badge value={s.status} />
                {s.status === 'CREATING' && s.progress ? <span class="mono"> {s.progress}</span> : null}
              </td>
              <td>{s.type}</td>
              <td class="mono">{s.started ?? '—'}</td>
              <td class="mono">{s.finished ?? '—'}</td>
              <td class="num">{s.size}</td>
              <td class="mono">{s.backup_key ?? '—'}</td>
              <td class="mono">{s.prior_backup_key ?? '—'}</td>
              <td class="row-actions">
                {s.status === 'AVAILABLE' ? (
                  <>
                    <Link to={`snapshots/${s.id}/restore`} class="btn btn-small">
                      {t('actRestore')}
                    </Link>
                    <Link to={`snapshots/${s.id}/table-restore`} class="btn btn-small">
                      {t('actTableRestore')}
                    </Link>
                  </>
                ) : null}
                <button type="button" class="btn btn-small btn-danger" onClick={() => void del(s)}>
                  {t('actDeleteSnapshot')}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** How many of a cluster's latest events its page shows. */
const EVENTS_SHOWN = 20;

/** The cluster's latest events (D26), newest first, as ListEvents records them. */
function EventTable(p: { clusterId: string }): JSX.Element {
  const { api, t, lang } = useApp();
  const poll = usePoll(
    () => api.call<{ events: ClusterEvent[]; count: number }>('GET', clusterEventsPath(p.clusterId, EVENTS_SHOWN)),
    [p.clusterId, lang],
    2000,
  );
  if (!poll.data) return <Loading error={poll.error} onRetry={poll.refresh} />;
  if (poll.data.events.length === 0) return <p class="empty">{t('noEvents')}</p>;
  return (
    <table class="table" data-testid="events-table" data-count={poll.data.count}>
      <thead>
        <tr>
          <th>{t('eventTime')}</th>
          <th>{t('eventSeverity')}</th>
          <th>{t('eventKind')}</th>
          <th>{t('eventMessage')}</th>
        </tr>
      </thead>
      <tbody>
        {poll.data.events.map((e) => (
          <tr key={e.event_id} data-event-id={e.event_id} data-kind={e.name} data-severity={e.severity}>
            <td class="mono">{formatEventTime(e.occur_time)}</td>
            <td>
              <span class={`badge badge-${severityClass(e.severity)}`}>{e.severity}</span>
            </td>
            <td title={e.display_name}>{e.name}</td>
            <td>{e.description}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ClusterPage(p: { id: string }): JSX.Element {
  const { api, t, lang } = useApp();
  const poll = usePoll(
    () => api.call<{ cluster: Cluster }>('GET', `/v1.0/{project_id}/clusters/${encodeURIComponent(p.id)}`),
    [p.id, lang],
    1000,
  );
  const gone = poll.error instanceof ApiError && poll.error.status === 404;
  if (gone) {
    return (
      <div>
        <div class="alert alert-warn" data-testid="cluster-gone">
          {t('clusterGone')}
        </div>
        <Link to="">{t('backToClusters')}</Link>
      </div>
    );
  }
  if (!poll.data) return <Loading error={poll.error} onRetry={poll.refresh} />;
  const c = poll.data.cluster;
  const psql = primaryPsql(c);
  return (
    <div data-testid="cluster-page" data-cluster-id={c.id}>
      <p>
        <Link to="">← {t('backToClusters')}</Link>
      </p>
      <div class="title-row">
        <PageTitle live>{c.name}</PageTitle>
        <span class="status-row" data-testid="cluster-status">
          <Badge value={c.status} /> <Badge value={c.sub_status} /> <Badge value={c.task_status} />{' '}
          <ActionProgress value={c.action_progress} />
        </span>
      </div>
      <ClusterTabs clusterId={c.id} current="overview" />
      {c.failed_reasons ? (
        <div class="alert alert-error" role="alert">
          <b>{t('failedReasons')}:</b> {c.failed_reasons.error_msg} <span class="mono">[{c.failed_reasons.error_code}]</span>
        </div>
      ) : null}
      <nav class="toolbar" aria-label={t('actions')}>
        <Link to={`clusters/${c.id}/snapshot`} class="btn" data-testid="act-snapshot">
          {t('actCreateSnapshot')}
        </Link>
        <Link to={`clusters/${c.id}/scale-out`} class="btn" data-testid="act-scale-out">
          {t('actScaleOut')}
        </Link>
        <Link to={`clusters/${c.id}/scale-in`} class="btn" data-testid="act-scale-in">
          {t('actScaleIn')}
        </Link>
        <Link to={`clusters/${c.id}/restart`} class="btn" data-testid="act-restart">
          {t('actRestart')}
        </Link>
        <Link to={`clusters/${c.id}/restore-in-place`} class="btn" data-testid="act-restore-in-place">
          {t('actRestoreInPlace')}
        </Link>
        {c.sync_mode ? (
          <Link to={`clusters/${c.id}/switchover`} class="btn" data-testid="act-switchover">
            {t('actSwitchover')}
          </Link>
        ) : null}
        <Link to={`faults?cluster=${c.id}`} class="btn" data-testid="act-fault">
          {t('actInjectFault')}
        </Link>
        <Link to={`clusters/${c.id}/delete`} class="btn btn-danger" data-testid="act-delete">
          {t('actDelete')}
        </Link>
      </nav>
      <dl class="summary">
        <dt>{t('clusterId')}</dt>
        <dd class="mono">{c.id}</dd>
        <dt>{t('nodeType')}</dt>
        <dd>{c.node_type}</dd>
        <dt>{t('numberOfNodes')}</dt>
        <dd>{c.number_of_node}</dd>
        <dt>{t('port')}</dt>
        <dd>{c.port}</dd>
        <dt>{t('adminUser')}</dt>
        <dd>{c.user_name}</dd>
        <dt>{t('availabilityZone')}</dt>
        <dd>{c.availability_zone}</dd>
        <dt>{t('created')}</dt>
        <dd class="mono">{c.created}</dd>
        <dt>{t('updated')}</dt>
        <dd class="mono">{c.updated}</dd>
        {c.restore_window ? (
          <>
            <dt>{t('restoreWindow')}</dt>
            <dd data-testid="restore-window">
              {!c.restore_window.earliest_time
                ? t('restoreWindowNone')
                : t(c.restore_window.latest_time ? 'restoreWindowRange' : 'restoreWindowStopped', { from: c.restore_window.earliest_time })}
            </dd>
          </>
        ) : null}
        {c.cluster_description_info ? (
          <>
            <dt>{t('description')}</dt>
            <dd>{c.cluster_description_info}</dd>
          </>
        ) : null}
        {psql ? (
          <>
            <dt>{t('connect')}</dt>
            <dd>
              <CopyText text={psql} testid="psql" />
            </dd>
          </>
        ) : null}
      </dl>
      <h2>{t('nodes')}</h2>
      <table class="table" data-testid="nodes-table">
        <thead>
          <tr>
            <th>{t('nodeId')}</th>
            <th>{t('role')}</th>
            <th>{t('endpoint')}</th>
            <th>{t('nodeStatus')}</th>
          </tr>
        </thead>
        <tbody>
          {c.nodes.map((n) => (
            <tr key={n.id} data-role={n.role}>
              <td class="mono">{n.id}</td>
              <td>{n.role === 'primary' ? t('primary') : n.role === 'standby' ? t('standby') : n.role}</td>
              <td class="mono">{n.connect_info}</td>
              <td>
                <span class={`node-status node-${n.status}`}>{nodeStatusLabel(n.status, t)}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2 id="events">{t('eventsTitle')}</h2>
      <EventTable clusterId={c.id} />
      <h2 id="tasks">{t('tasksTitle')}</h2>
      <TaskList clusterId={c.id} />
      <h2 id="snapshots">{t('snapshotsTitle')}</h2>
      <SnapshotTable clusterId={c.id} />
    </div>
  );
}

export function NodeTypesPage(): JSX.Element {
  const { api, t, lang } = useApp();
  const poll = usePoll(() => api.call<{ node_types: NodeType[] }>('GET', '/v2/{project_id}/node-types'), [lang], 0);
  if (!poll.data) return <Loading error={poll.error} onRetry={poll.refresh} />;
  const detail = (n: NodeType, type: string): string => {
    const d = n.detail.find((x) => x.type === type);
    return d ? `${d.value}${d.unit ? ` ${d.unit}` : ''}` : '—';
  };
  return (
    <div>
      <PageTitle>{t('nodeTypesTitle')}</PageTitle>
      <table class="table" data-testid="node-types-table">
        <thead>
          <tr>
            <th>{t('specName')}</th>
            <th>{t('vcpus')}</th>
            <th>{t('ramGb')}</th>
            <th>{t('disk')}</th>
            <th>{t('settings')}</th>
            <th>{t('zones')}</th>
            <th>{t('version')}</th>
          </tr>
        </thead>
        <tbody>
          {poll.data.node_types.map((n) => (
            <tr key={n.id} data-spec={n.spec_name}>
              <td class="mono">{n.spec_name}</td>
              <td class="num">{n.vcpus}</td>
              <td class="num">{n.ram}</td>
              <td>{n.volume ? `${n.volume.size} GB ${n.volume.type}` : detail(n, 'LOCAL_DISK')}</td>
              <td class="mono small">{detail(n, 'postgresql')}</td>
              <td>{n.availability_zones.map((z) => z.code).join(', ')}</td>
              <td>{n.datastores.map((d) => d.version).join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
