/**
 * The dwsbox web console: a single-page app served by the service at /console/. It is a
 * client of the public REST API like any other (token auth, x-language); see api.ts.
 */
import { render, type JSX } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { Api, loadSession, saveSession, type Session } from './api';
import {
  CreateClusterForm,
  CreateSnapshotForm,
  DeleteForm,
  FaultsPage,
  RestartForm,
  SwitchoverForm,
  RestoreForm,
  RestoreInPlaceForm,
  ScaleInForm,
  ScaleOutForm,
  TableRestoreForm,
} from './forms';
import { DbUsersPage, ParametersPage, TagsPage } from './cluster-tabs';
import { MonitoringPage } from './monitoring';
import { loadLang, saveLang, translator, type Lang } from './i18n';
import { splitRoute } from './model';
import { ClusterPage, ClustersPage, LoginPage, NodeTypesPage } from './pages';
import { AlarmsPage, EventsPage } from './project-pages';
import { CreateDisasterRecoveryForm, DisasterRecoveriesPage, DisasterRecoveryPage } from './disaster-recovery-pages';
import { TaskPage } from './tasks';
import { AppContext, Link, type Ctx } from './ui';
import './style.css';

interface Location {
  path: string;
  search: string;
}
const here = (): Location => ({ path: window.location.pathname, search: window.location.search });

function Routes(p: { loc: Location }): JSX.Element {
  const r = splitRoute(p.loc.path);
  const q = new URLSearchParams(p.loc.search);
  const [a, b, c, d] = r;
  if (r.length === 0 || (a === 'clusters' && r.length === 1)) return <ClustersPage />;
  if (a === 'clusters' && b === 'new' && r.length === 2) return <CreateClusterForm />;
  if (a === 'clusters' && b) {
    if (r.length === 2) return <ClusterPage key={b} id={b} />;
    if (c === 'snapshot' && r.length === 3) return <CreateSnapshotForm clusterId={b} />;
    if (c === 'scale-out' && r.length === 3) return <ScaleOutForm clusterId={b} />;
    if (c === 'scale-in' && r.length === 3) return <ScaleInForm clusterId={b} />;
    if (c === 'restart' && r.length === 3) return <RestartForm clusterId={b} />;
    if (c === 'switchover' && r.length === 3) return <SwitchoverForm clusterId={b} />;
    if (c === 'delete' && r.length === 3) return <DeleteForm clusterId={b} />;
    if (c === 'restore-in-place' && r.length === 3) return <RestoreInPlaceForm clusterId={b} />;
    if (c === 'tasks' && d && r.length === 4) return <TaskPage clusterId={b} taskId={d} />;
    if (c === 'db-users' && r.length === 3) return <DbUsersPage key={b} clusterId={b} />;
    if (c === 'parameters' && r.length === 3) return <ParametersPage key={b} clusterId={b} />;
    if (c === 'tags' && r.length === 3) return <TagsPage key={b} clusterId={b} />;
    if (c === 'monitoring' && r.length === 3) return <MonitoringPage key={b} clusterId={b} />;
  }
  if (a === 'snapshots' && b && c === 'restore' && r.length === 3) return <RestoreForm snapshotId={b} />;
  if (a === 'snapshots' && b && c === 'table-restore' && r.length === 3) return <TableRestoreForm snapshotId={b} />;
  if (a === 'node-types' && r.length === 1) return <NodeTypesPage />;
  if (a === 'events' && r.length === 1) return <EventsPage />;
  if (a === 'alarms' && r.length === 1) return <AlarmsPage />;
  if (a === 'disaster-recovery' && r.length === 1) return <DisasterRecoveriesPage />;
  if (a === 'disaster-recovery' && b === 'new' && r.length === 2) return <CreateDisasterRecoveryForm />;
  if (a === 'disaster-recovery' && b && r.length === 2) return <DisasterRecoveryPage key={b} id={b} />;
  if (a === 'faults' && r.length === 1) return <FaultsPage key={q.get('cluster') ?? ''} clusterId={q.get('cluster')} />;
  return (
    <div class="alert alert-warn">
      Not found: <span class="mono">{p.loc.path}</span> · <Link to="">Clusters</Link>
    </div>
  );
}

function App(): JSX.Element {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const [lang, setLang] = useState<Lang>(() => loadLang());
  const [loc, setLoc] = useState<Location>(here);
  const [notice, setNotice] = useState<string | null>(null);
  const api = useMemo(() => new Api(session, lang), []);
  api.setSession(session);
  api.setLang(lang);
  const t = translator(lang);

  useEffect(() => {
    const onPop = (): void => setLoc(here());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = t('appName');
  }, [lang]);

  const navigate = (path: string): void => {
    const url = `/console/${path.replace(/^\//, '')}`;
    if (url !== window.location.pathname + window.location.search) window.history.pushState(null, '', url);
    setLoc(here());
    window.scrollTo(0, 0);
  };
  const signOut = (msg: string | null): void => {
    saveSession(null);
    setSession(null);
    setNotice(msg);
  };
  api.whenUnauthorized(() => signOut(translator(lang)('sessionExpired')));
  const switchLang = (l: Lang): void => {
    saveLang(l);
    setLang(l);
  };

  const ctx: Ctx = { api, lang, t, session, navigate };
  return (
    <AppContext.Provider value={ctx}>
      <header class="topbar">
        <Link to="" class="brand">
          {t('appName')}
        </Link>
        {session ? (
          <nav class="nav">
            <Link to="">{t('navClusters')}</Link>
            <Link to="node-types">{t('navNodeTypes')}</Link>
            <Link to="events" data-testid="nav-events">
              {t('navEvents')}
            </Link>
            <Link to="alarms" data-testid="nav-alarms">
              {t('navAlarms')}
            </Link>
            <Link to="disaster-recovery" data-testid="nav-dr">
              {t('navDr')}
            </Link>
            <Link to="faults">{t('navFaults')}</Link>
          </nav>
        ) : (
          <span class="nav" />
        )}
        <span class="lang-switch" role="group" aria-label={t('language')}>
          <button
            type="button"
            class={`btn btn-small${lang === 'en' ? ' active' : ''}`}
            aria-pressed={lang === 'en'}
            data-lang="en"
            onClick={() => switchLang('en')}
          >
            English
          </button>
          <button
            type="button"
            class={`btn btn-small${lang === 'zh' ? ' active' : ''}`}
            aria-pressed={lang === 'zh'}
            data-lang="zh"
            onClick={() => switchLang('zh')}
          >
            中文
          </button>
        </span>
        {session ? (
          <span class="who">
            <span class="hint" data-testid="signed-in">
              {t('signedInAs', { user: session.userName, project: session.projectId.slice(0, 8) + '…' })}
            </span>
            <button type="button" class="btn btn-small" data-testid="sign-out" onClick={() => signOut(null)}>
              {t('signOut')}
            </button>
          </span>
        ) : null}
      </header>
      <main class="main">
        {session ? (
          <Routes loc={loc} />
        ) : (
          <LoginPage
            notice={notice}
            onSignedIn={(s) => {
              saveSession(s);
              setNotice(null);
              setSession(s);
            }}
          />
        )}
      </main>
    </AppContext.Provider>
  );
}

render(<App />, document.getElementById('app')!);
