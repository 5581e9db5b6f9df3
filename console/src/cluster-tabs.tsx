/**
 * A cluster's tabs beyond its overview (issue 16): its database users (list, create, drop), its
 * parameters (as the primary's pg_settings says, with the restart flag and the pending-restart
 * state; an edit starts a SETTING_CONFIGURATION task, shown live like every task) and its tags
 * (list, add, remove); its monitoring charts are in monitoring.tsx (D29). Each tab is a page of
 * its own (…/clusters/{id}/db-users, /parameters, /tags, /monitoring), so only the open one polls
 * the API.
 */
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Cluster, Configuration, ConfigurationRecord, DbUser, Parameter, Tag, Task } from './api';
import type { Key } from './i18n';
import { isActive, parameterChanges, parameterFields, restartingChanges, startedRecord } from './model';
import { TaskCard } from './tasks';
import { Badge, Field, FormError, Link, Loading, PageTitle, TextInput, useApp, useForm, usePoll } from './ui';

export type ClusterTab = 'overview' | 'db-users' | 'parameters' | 'tags' | 'monitoring';

const TABS: { tab: ClusterTab; path: string; label: Key }[] = [
  { tab: 'overview', path: '', label: 'tabOverview' },
  { tab: 'db-users', path: '/db-users', label: 'tabDbUsers' },
  { tab: 'parameters', path: '/parameters', label: 'tabParameters' },
  { tab: 'tags', path: '/tags', label: 'tabTags' },
  { tab: 'monitoring', path: '/monitoring', label: 'tabMonitoring' },
];

/** The tab bar: links (each tab has its own address), the open one marked for assistive technology. */
export function ClusterTabs(p: { clusterId: string; current: ClusterTab }): JSX.Element {
  const { t } = useApp();
  return (
    <nav class="tabs" aria-label={t('clusterSections')} data-testid="cluster-tabs">
      {TABS.map((x) => (
        <Link
          key={x.tab}
          to={`clusters/${p.clusterId}${x.path}`}
          class={`tab${x.tab === p.current ? ' tab-current' : ''}`}
          data-testid={`tab-${x.tab}`}
          current={x.tab === p.current}
        >
          {t(x.label)}
        </Link>
      ))}
    </nav>
  );
}

const clusterPath = (id: string): string => `/v1.0/{project_id}/clusters/${encodeURIComponent(id)}`;

/** The frame of a tab: back link, the cluster's name and status, the tab bar (monitoring.tsx uses it too). */
export function TabFrame(p: { clusterId: string; tab: ClusterTab; live?: boolean; children: ComponentChildren }): JSX.Element {
  const { api, t, lang } = useApp();
  const poll = usePoll(() => api.call<{ cluster: Cluster }>('GET', clusterPath(p.clusterId)), [p.clusterId, lang], 5000);
  const c = poll.data?.cluster;
  return (
    <div data-testid={`cluster-${p.tab}`} data-cluster-id={p.clusterId}>
      <p>
        <Link to="">← {t('backToClusters')}</Link>
      </p>
      <div class="title-row">
        <PageTitle live={p.live ?? true}>{c ? c.name : p.clusterId}</PageTitle>
        {c ? (
          <span class="status-row">
            <Badge value={c.status} /> <Badge value={c.sub_status} /> <Badge value={c.task_status} />
          </span>
        ) : null}
      </div>
      {!c && poll.error ? <Loading error={poll.error} onRetry={poll.refresh} /> : null}
      <ClusterTabs clusterId={p.clusterId} current={p.tab} />
      {p.children}
    </div>
  );
}

// ---------------------------------------------------------------- database users

export function DbUsersPage(p: { clusterId: string }): JSX.Element {
  const { api, t, lang } = useApp();
  const users = `/v1/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/db-manager/users`;
  const poll = usePoll(() => api.call<{ users: DbUser[] }>('GET', users), [p.clusterId, lang], 5000);
  // The administrator is listed but not dropped here (the API refuses it: docs/security.md).
  const admin = usePoll(() => api.call<{ cluster: Cluster }>('GET', clusterPath(p.clusterId)), [p.clusterId], 0).data?.cluster.user_name;
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [login, setLogin] = useState(true);
  const [done, setDone] = useState<string | null>(null);
  const form = useForm([
    { name: 'name', paths: ['body.name'], words: ['user name', 'role name', 'name'] },
    { name: 'password', paths: ['body.password'], words: ['password'], codes: ['DWS.5144', 'DWS.5145'] },
  ]);
  const drop = useForm([]);
  const create = async (e: Event): Promise<void> => {
    e.preventDefault();
    setDone(null);
    const body: Record<string, unknown> = { name: name.trim(), type: login ? 'USER' : 'ROLE', login };
    if (password !== '') body['password'] = password;
    const r = await form.run(() => api.call('POST', users, body).then(() => true));
    if (r) {
      setDone(t('dbUserCreated', { name: name.trim() }));
      setName('');
      setPassword('');
      poll.refresh();
    }
  };
  const remove = async (u: DbUser): Promise<void> => {
    if (!window.confirm(t('confirmDropDbUser', { name: u.name }))) return;
    setDone(null);
    const r = await drop.run(() => api.call('DELETE', `${users}/${encodeURIComponent(u.name)}`).then(() => true));
    if (r) {
      setDone(t('dbUserDropped', { name: u.name }));
      poll.refresh();
    }
  };
  return (
    <TabFrame clusterId={p.clusterId} tab="db-users">
      <h2>{t('dbUsersTitle')}</h2>
      <p class="hint">{t('dbUsersHint')}</p>
      {done ? (
        <div class="alert alert-ok" role="status" data-testid="db-user-done">
          {done}
        </div>
      ) : null}
      <FormError msg={drop.top} />
      {!poll.data ? (
        <Loading error={poll.error} onRetry={poll.refresh} />
      ) : poll.data.users.length === 0 ? (
        <p class="empty">{t('noDbUsers')}</p>
      ) : (
        <table class="table" data-testid="db-users-table">
          <thead>
            <tr>
              <th>{t('name')}</th>
              <th>{t('canLogIn')}</th>
              <th>{t('actions')}</th>
            </tr>
          </thead>
          <tbody>
            {poll.data.users.map((u) => (
              <tr key={u.name} data-db-user={u.name}>
                <td class="mono">{u.name}</td>
                <td>{u.login ? t('yes') : t('no')}</td>
                <td class="row-actions">
                  {u.name === admin ? (
                    <span class="hint">{t('adminUser')}</span>
                  ) : (
                    <button
                      type="button"
                      class="btn btn-small btn-danger"
                      disabled={drop.busy}
                      aria-label={`${t('dropDbUser')} ${u.name}`}
                      onClick={() => void remove(u)}
                    >
                      {t('dropDbUser')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>{t('createDbUser')}</h2>
      <form class="form" onSubmit={(e) => void create(e)} noValidate data-testid="db-user-form">
        <FormError msg={form.top} />
        <Field name="name" label={t('dbUserName')} error={form.fields['name']}>
          <TextInput name="name" value={name} onInput={setName} autoComplete="off" />
        </Field>
        <Field name="password" label={t('dbUserPassword')} error={form.fields['password']} hint={t('dbUserPasswordHint')}>
          <TextInput name="password" type="password" value={password} onInput={setPassword} autoComplete="new-password" />
        </Field>
        <div class="field">
          <label>
            <input
              type="checkbox"
              id="f-login"
              name="login"
              checked={login}
              onChange={(e) => setLogin((e.currentTarget as HTMLInputElement).checked)}
            />{' '}
            {t('dbUserLogin')}
          </label>
        </div>
        <div class="buttons">
          <button type="submit" class="btn btn-primary" disabled={form.busy} data-testid="submit">
            {t('createDbUser')}
          </button>
        </div>
      </form>
    </TabFrame>
  );
}

// ---------------------------------------------------------------- parameters

interface ParametersView {
  cluster: Cluster;
  configuration: Configuration | undefined;
  parameters: Parameter[];
  records: ConfigurationRecord[];
}

/** One task, live, as the task list shows it. */
function LiveTask(p: { clusterId: string; taskId: string; onEnd(): void }): JSX.Element {
  const { api, lang } = useApp();
  const poll = usePoll(
    () =>
      api.call<Task>('GET', `/dwsbox/v1/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/tasks/${encodeURIComponent(p.taskId)}`),
    [p.clusterId, p.taskId, lang],
    1000,
  );
  // Once it ends, the parameters are read again at once: they show what it set.
  const ended = poll.data !== null && !isActive(poll.data.status);
  useEffect(() => {
    if (ended) p.onEnd();
  }, [ended]);
  if (!poll.data) return <Loading error={poll.error} onRetry={poll.refresh} />;
  return (
    <div class="task-list" data-testid="parameter-task">
      <TaskCard task={poll.data} clusterId={p.clusterId} open />
    </div>
  );
}

export function ParametersPage(p: { clusterId: string }): JSX.Element {
  const { api, t, lang } = useApp();
  const base = `${clusterPath(p.clusterId)}/configurations`;
  const audit = `/v1/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/configurations/audit-records`;
  const poll = usePoll(
    async (): Promise<ParametersView> => {
      const [detail, list, params, history] = await Promise.all([
        api.call<{ cluster: Cluster }>('GET', clusterPath(p.clusterId)),
        api.call<{ configurations: Configuration[] }>('GET', base),
        api.call<{ configurations: Parameter[] }>('GET', `${base}/${encodeURIComponent(p.clusterId)}`),
        api.call<{ records: ConfigurationRecord[] }>('GET', `${audit}?limit=10`),
      ]);
      return {
        cluster: detail.cluster,
        configuration: list.configurations[0],
        parameters: params.configurations,
        records: history.records,
      };
    },
    [p.clusterId, lang],
    3000,
  );
  const [editing, setEditing] = useState(false);
  const [drafts, setDrafts] = useState<Record<string, string>>({});
  const [watching, setWatching] = useState<string | null>(null);
  const [restartNow, setRestartNow] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const view = poll.data;
  const form = useForm(view ? parameterFields(view.parameters) : []);

  const save = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (!view) return;
    setNote(null);
    const changes = parameterChanges(view.parameters, drafts);
    if (changes.length === 0) {
      setNote(t('noParameterChanges'));
      return;
    }
    const restarting = restartingChanges(view.parameters, changes);
    // Without restart_now a restart waits for the maintenance window: nothing restarts now, nothing to confirm.
    if (restartNow && restarting.length && !window.confirm(t('confirmRestartParameters', { names: restarting.join(', ') }))) return;
    const started = await form.run(async () => {
      // UpdateConfiguration answers {}: the task it made is the newest audit record, if a new one.
      const before = (await api.call<{ records: ConfigurationRecord[] }>('GET', `${audit}?limit=1`)).records[0]?.id;
      await api.call(
        'PUT',
        `/v2/{project_id}/clusters/${encodeURIComponent(p.clusterId)}/configurations/${encodeURIComponent(p.clusterId)}`,
        {
          configurations: changes.map((c) => ({ type: 'dn', ...c })),
          ...(restartNow ? { restart_now: true } : {}),
        },
      );
      return startedRecord(before, (await api.call<{ records: ConfigurationRecord[] }>('GET', `${audit}?limit=1`)).records) ?? false;
    });
    if (started === undefined) return;
    setEditing(false);
    setDrafts({});
    setRestartNow(false);
    if (started) setWatching(started.id);
    else setNote(t('noParameterChanges'));
    poll.refresh();
  };

  // A task that is running is shown even when it was started elsewhere (the CLI, another tab).
  const newest = view?.records[0];
  const shownTask = watching ?? (newest && isActive(newest.status) ? newest.id : null);
  const pending = view ? view.parameters.filter((x) => x.pending_restart).length : 0;
  const mw = view?.cluster.maintain_window;
  const windowText = mw ? `${mw.day} ${mw.start_time}–${mw.end_time} UTC` : '—';
  const wait = view?.cluster.pending_restart;
  const waitWhat = wait ? wait.parameters.map((x) => `${x.name}=${x.value}`).join(', ') : '';
  return (
    <TabFrame clusterId={p.clusterId} tab="parameters">
      <h2>{t('parametersTitle')}</h2>
      <p class="hint">{t('parametersHint')}</p>
      {!view ? (
        <Loading error={poll.error} onRetry={poll.refresh} />
      ) : (
        <>
          <p data-testid="configuration-status">
            {t('configurationStatus')}: <Badge value={view.configuration?.status ?? ''} />
            {view.configuration?.fail_reason ? <span class="hint"> {view.configuration.fail_reason}</span> : null}
          </p>
          {pending || wait ? (
            <div class="alert alert-warn" data-testid="pending-restart" data-restart-status={wait?.status ?? ''}>
              {pending ? <div>{t('pendingRestartCount', { n: pending })}</div> : null}
              {wait ? (
                <div>
                  {wait.status === 'RUNNING'
                    ? t('restartRunning', { what: waitWhat })
                    : t('restartScheduled', { window: windowText, at: wait.start_time ?? '—', what: waitWhat })}
                </div>
              ) : null}
            </div>
          ) : null}
          {poll.error ? <div class="alert alert-warn">{poll.error.message}</div> : null}
          {shownTask ? (
            <>
              <h3>{t('parameterTask')}</h3>
              <LiveTask key={shownTask} clusterId={p.clusterId} taskId={shownTask} onEnd={poll.refresh} />
            </>
          ) : null}
          <form class="parameters-form" onSubmit={(e) => void save(e)} noValidate data-testid="parameters-form">
            <FormError msg={form.top} />
            {note ? (
              <div class="alert alert-warn" role="status" data-testid="parameters-note">
                {note}
              </div>
            ) : null}
            {editing ? (
              <div class="field">
                <label>
                  <input
                    type="checkbox"
                    id="f-restart_now"
                    name="restart_now"
                    checked={restartNow}
                    onChange={(e) => setRestartNow((e.currentTarget as HTMLInputElement).checked)}
                  />{' '}
                  {t('restartNow', { window: windowText })}
                </label>
              </div>
            ) : null}
            <div class="buttons">
              {editing ? (
                <>
                  <button type="submit" class="btn btn-primary" disabled={form.busy} data-testid="save-parameters">
                    {t('saveParameters', { n: parameterChanges(view.parameters, drafts).length })}
                  </button>
                  <button
                    type="button"
                    class="btn"
                    data-testid="cancel-parameters"
                    onClick={() => {
                      setEditing(false);
                      setDrafts({});
                      setRestartNow(false);
                      form.clear();
                    }}
                  >
                    {t('cancel')}
                  </button>
                </>
              ) : (
                <button type="button" class="btn" data-testid="edit-parameters" onClick={() => setEditing(true)}>
                  {t('editParameters')}
                </button>
              )}
            </div>
            <table class="table" data-testid="parameters-table">
              <thead>
                <tr>
                  <th>{t('name')}</th>
                  <th>{t('paramValue')}</th>
                  <th>{t('paramDefault')}</th>
                  <th>{t('paramUnit')}</th>
                  <th>{t('paramRange')}</th>
                  <th>{t('paramRestart')}</th>
                  <th>{t('paramPending')}</th>
                </tr>
              </thead>
              <tbody>
                {view.parameters.map((x) => {
                  const value = x.values[0]?.value ?? '';
                  const err = form.fields[x.name];
                  return (
                    <tr
                      key={x.name}
                      data-parameter={x.name}
                      data-pending={x.pending_restart ? 'true' : 'false'}
                      class={err ? 'has-error' : undefined}
                    >
                      <td>
                        <span class="mono">{x.name}</span>
                        <div class="hint">{x.description}</div>
                      </td>
                      <td class="mono" data-value={value}>
                        {editing && !x.readonly ? (
                          <>
                            <input
                              type="text"
                              id={`f-${x.name}`}
                              name={x.name}
                              aria-label={x.name}
                              size={12}
                              value={drafts[x.name] ?? value}
                              onInput={(e) => {
                                const v = (e.currentTarget as HTMLInputElement).value;
                                setDrafts((d) => ({ ...d, [x.name]: v }));
                              }}
                            />
                            {err ? (
                              <div class="field-error" role="alert" data-error-for={x.name}>
                                {err}
                              </div>
                            ) : null}
                          </>
                        ) : (
                          value
                        )}
                      </td>
                      <td class="mono">{x.values[0]?.default_value ?? ''}</td>
                      <td class="mono">{x.unit || '—'}</td>
                      <td class="mono small">{x.readonly ? t('paramNodeType') : x.value_range || '—'}</td>
                      <td>{x.restart_required ? t('yes') : t('no')}</td>
                      <td>{x.pending_restart ? <span class="badge badge-warn">{t('yes')}</span> : t('no')}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </form>
          <h2>{t('parameterHistory')}</h2>
          {view.records.length === 0 ? (
            <p class="empty">{t('noParameterHistory')}</p>
          ) : (
            <table class="table" data-testid="parameter-history">
              <thead>
                <tr>
                  <th>{t('changeTask')}</th>
                  <th>{t('status')}</th>
                  <th>{t('changeStart')}</th>
                  <th>{t('changeEnd')}</th>
                  <th>{t('changeWhat')}</th>
                </tr>
              </thead>
              <tbody>
                {view.records.map((r) => (
                  <tr key={r.id} data-record-id={r.id} data-status={r.status}>
                    <td class="mono small">
                      <Link to={`clusters/${p.clusterId}/tasks/${r.id}`}>{r.id}</Link>
                    </td>
                    <td>
                      <Badge value={r.status} />
                      {r.failed_reason ? <div class="hint">{r.failed_reason}</div> : null}
                    </td>
                    <td class="mono">{r.start_time}</td>
                    <td class="mono">{r.end_time ?? '—'}</td>
                    <td class="mono small">
                      {r.parameters.map((c) => (
                        <div key={c.name}>
                          {c.name} {c.old_value} → {c.new_value}
                          {c.restart_required ? ` (${t('paramRestart').toLowerCase()})` : ''}
                        </div>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </TabFrame>
  );
}

// ---------------------------------------------------------------- tags

export function TagsPage(p: { clusterId: string }): JSX.Element {
  const { api, t, lang } = useApp();
  const path = `${clusterPath(p.clusterId)}/tags`;
  const poll = usePoll(() => api.call<{ tags: Tag[] }>('GET', path), [p.clusterId, lang], 5000);
  const [key, setKey] = useState('');
  const [value, setValue] = useState('');
  const form = useForm([
    { name: 'key', paths: ['body.tags.0.key'], words: ['tag key', 'key'] },
    { name: 'value', paths: ['body.tags.0.value'], words: ['tag value', 'value'] },
  ]);
  const removing = useForm([]);
  const add = async (e: Event): Promise<void> => {
    e.preventDefault();
    const r = await form.run(() =>
      api.call('POST', `${path}/batch-create`, { tags: [{ key: key.trim(), value: value.trim() }] }).then(() => true),
    );
    if (r) {
      setKey('');
      setValue('');
      poll.refresh();
    }
  };
  const remove = async (tag: Tag): Promise<void> => {
    if (!window.confirm(t('confirmRemoveTag', { key: tag.key }))) return;
    const r = await removing.run(() => api.call('POST', `${path}/batch-delete`, { tags: [tag] }).then(() => true));
    if (r) poll.refresh();
  };
  return (
    <TabFrame clusterId={p.clusterId} tab="tags">
      <h2>{t('tagsTitle')}</h2>
      <FormError msg={removing.top} />
      {!poll.data ? (
        <Loading error={poll.error} onRetry={poll.refresh} />
      ) : poll.data.tags.length === 0 ? (
        <p class="empty">{t('noTags')}</p>
      ) : (
        <table class="table" data-testid="tags-table">
          <thead>
            <tr>
              <th>{t('tagKey')}</th>
              <th>{t('tagValue')}</th>
              <th>{t('actions')}</th>
            </tr>
          </thead>
          <tbody>
            {poll.data.tags.map((tag) => (
              <tr key={tag.key} data-tag-key={tag.key}>
                <td class="mono">{tag.key}</td>
                <td class="mono">{tag.value}</td>
                <td class="row-actions">
                  <button
                    type="button"
                    class="btn btn-small btn-danger"
                    disabled={removing.busy}
                    aria-label={`${t('removeTag')} ${tag.key}`}
                    onClick={() => void remove(tag)}
                  >
                    {t('removeTag')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>{t('addTag')}</h2>
      <form class="form" onSubmit={(e) => void add(e)} noValidate data-testid="tag-form">
        <FormError msg={form.top} />
        <Field name="key" label={t('tagKey')} error={form.fields['key']}>
          <TextInput name="key" value={key} onInput={setKey} autoComplete="off" />
        </Field>
        <Field name="value" label={t('tagValue')} error={form.fields['value']}>
          <TextInput name="value" value={value} onInput={setValue} autoComplete="off" />
        </Field>
        <div class="buttons">
          <button type="submit" class="btn btn-primary" disabled={form.busy} data-testid="submit">
            {t('addTag')}
          </button>
        </div>
      </form>
    </TabFrame>
  );
}
