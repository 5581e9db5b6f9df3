/**
 * The console's only way to the service: the public REST API, with the same token auth as
 * any client. The token (X-Subject-Token of POST /v3/auth/tokens) is kept in sessionStorage,
 * so it lives as long as the tab; every call sends it as X-Auth-Token, with x-language.
 */
import type { Lang } from './i18n';

export interface Session {
  token: string;
  projectId: string;
  userName: string;
  role: string;
  expiresAt: string;
}

const SESSION_KEY = 'dwsbox.console.session';

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    if (!s.token || !s.projectId) return null;
    if (s.expiresAt && Date.parse(s.expiresAt) < Date.now()) return null;
    return s;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  if (s) sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(SESSION_KEY);
}

/** An answer of the API that is not 2xx: its DWS body, as the service wrote it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly msg: string,
  ) {
    super(msg ? `${code ? `${code}: ` : ''}${msg}` : `HTTP ${status}`);
  }
}

type Listener = () => void;

export class Api {
  private onUnauthorized: Listener = () => {};

  constructor(
    private session: Session | null,
    private lang: Lang,
  ) {}

  setSession(s: Session | null): void {
    this.session = s;
  }
  setLang(l: Lang): void {
    this.lang = l;
  }
  whenUnauthorized(fn: Listener): void {
    this.onUnauthorized = fn;
  }
  get projectId(): string {
    return this.session?.projectId ?? '';
  }

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = { Accept: 'application/json', 'x-language': this.lang === 'zh' ? 'zh-cn' : 'en-us' };
    if (json) h['Content-Type'] = 'application/json';
    if (this.session) h['X-Auth-Token'] = this.session.token;
    return h;
  }

  /** `{project_id}` in the path is replaced by the session's project. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = path.replace('{project_id}', encodeURIComponent(this.projectId));
    const res = await fetch(url, {
      method,
      headers: this.headers(body !== undefined),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      cache: 'no-store',
    });
    const text = await res.text();
    let data: unknown = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!res.ok) {
      const e = (data ?? {}) as { error_code?: string; error_msg?: string };
      const err = new ApiError(res.status, e.error_code ?? '', e.error_msg ?? (text.slice(0, 300) || res.statusText));
      if (res.status === 401 && this.session) this.onUnauthorized();
      throw err;
    }
    return data as T;
  }

  /** POST /v3/auth/tokens, password method, project scope. */
  async signIn(userName: string, password: string, projectId: string): Promise<Session> {
    const res = await fetch('/v3/auth/tokens', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'x-language': this.lang === 'zh' ? 'zh-cn' : 'en-us' },
      body: JSON.stringify({
        auth: {
          identity: { methods: ['password'], password: { user: { name: userName, password } } },
          scope: { project: { id: projectId } },
        },
      }),
    });
    const body = (await res.json().catch(() => ({}))) as {
      error_code?: string;
      error_msg?: string;
      token?: { expires_at: string; project: { id: string }; user: { name: string }; roles: { name: string }[] };
    };
    const token = res.headers.get('X-Subject-Token');
    if (!res.ok || !token || !body.token) throw new ApiError(res.status, body.error_code ?? '', body.error_msg ?? `HTTP ${res.status}`);
    return {
      token,
      projectId: body.token.project.id,
      userName: body.token.user.name,
      role: body.token.roles[0]?.name ?? '',
      expiresAt: body.token.expires_at,
    };
  }
}

// ---------------------------------------------------------------- wire types (the parts the console reads)

export interface ClusterNode {
  id: string;
  status: string;
  role: string;
  connect_info: string;
}
export interface Cluster {
  id: string;
  name: string;
  status: string;
  sub_status: string;
  task_status: string;
  action_progress: Record<string, string>;
  number_of_node: number;
  node_type: string;
  port: number;
  user_name: string;
  endpoints: { connect_info: string; jdbc_url: string }[];
  nodes: ClusterNode[];
  created: string;
  updated: string;
  availability_zone: string;
  failed_reasons?: { error_code: string; error_msg: string } | null;
  resize_info?: { resize_status: string; target_node_num: number; origin_node_num: number } | null;
  cluster_description_info?: string;
  /** dwsbox: a highly available cluster's replication (D25) */
  sync_mode?: string;
  /** when dwsbox may restart the cluster on its own (UTC) */
  maintain_window?: { day: string; start_time: string; end_time: string };
  /** dwsbox: the restart a parameter change needs, waiting for the maintenance window (or running) */
  pending_restart?: { parameters: { name: string; value: string }[]; status: string; start_time?: string; since: string };
  /** dwsbox: the times the cluster can be restored to (a point-in-time restore, issue 20); detail only */
  restore_window?: { earliest_time: string | null; latest_time: string | null };
}

/** One event of ListEvents (GET /v2/{project_id}/events, D26). */
export interface ClusterEvent {
  event_id: string;
  name: string;
  display_name: string;
  /** management, monitor or system alarm */
  category: string;
  severity: string;
  description: string;
  source_id: string;
  /** the cluster's name */
  source_name: string;
  subject: string;
  occur_time: number;
}

export interface Snapshot {
  id: string;
  name: string;
  description: string;
  status: string;
  type: string;
  started: string | null;
  finished: string | null;
  size: number;
  cluster_id: string;
  cluster_name: string;
  progress: string;
  backup_key: string | null;
  prior_backup_key: string | null;
  total_backup_size: number;
  /** dwsbox: a cluster-level snapshot its own cluster can be restored to in place (issue 20) */
  support_inplace_restore?: boolean;
}

export interface SubItem {
  status: string;
  detail: string;
  sub_item_name: string;
  begin_time: string | null;
  end_time: string | null;
  estimated_time: number;
  step: string;
}
export interface Item {
  item_name: string;
  sub_items: SubItem[];
}
export interface Task {
  id: string;
  action_name: string;
  status: string;
  cluster_name: string;
  submit_time: string;
  items: Item[];
  kind: string;
  progress: string;
  end_time: string | null;
  error_code: string | null;
  error_msg: string | null;
  failed_step: string | null;
}

export interface NodeType {
  spec_name: string;
  id: string;
  vcpus: number;
  ram: number;
  detail: { type: string; value: string; unit: string }[];
  availability_zones: { code: string; status: string }[];
  datastores: { version: string }[];
  volume: { type: string; size: number } | null;
}

export interface Fault {
  id: string;
  cluster_id: string | null;
  action_name: string;
  step: string;
  mode: string;
  point: string;
  delay_ms: number | null;
  times: number | null;
  created: string;
}

export interface GrowCheck {
  data: { pass: boolean; reason: string; required: boolean; desc: string; type: string }[];
  note: { bucket_split_info: { current_dn_num: number; after_scale_out_dn_num: number } };
}

/** A database user or role (ListDatabaseUsers, issue 16). */
export interface DbUser {
  name: string;
  login: boolean;
  user_type: string;
}

/** The cluster's one parameter configuration (ListClusterConfigurations). */
export interface Configuration {
  id: string;
  name: string;
  type: string;
  status: string;
  fail_reason?: string;
}

/** One parameter (ListClusterConfigurationsParameter), as the primary's pg_settings says. */
export interface Parameter {
  name: string;
  values: { type: string; value: string; default_value: string }[];
  unit: string;
  type: string;
  readonly: boolean;
  value_range: string;
  restart_required: boolean;
  /** dwsbox: the primary's pg_settings.pending_restart */
  pending_restart?: boolean;
  description: string;
}

/** One parameter change (ListConfigurationsAuditRecords): a SETTING_CONFIGURATION task. */
export interface ConfigurationRecord {
  id: string;
  start_time: string;
  end_time?: string;
  status: string;
  failed_reason?: string;
  parameters: { name: string; old_value: string; new_value: string; restart_required: boolean }[];
}

export interface Tag {
  key: string;
  value: string;
}
