/**
 * A client of the Patroni 3.0.2 REST API of one cluster's members (D23: the only control
 * surface of a Patroni cluster; never a member's files). GETs need no credentials; every
 * action carries the cluster's basic auth (D23), and a member answers 401 to a call without
 * it. Reads that any member can answer (`/cluster`, `/config`) go to the first member that
 * answers; actions that belong to one member (`/reinitialize`, `/restart`) go to that member.
 *
 * Typed are the fields dwsbox reads (patroni-ops.md §3); Patroni sends more. Every failure is
 * an AppError `ENGINE_COMMAND_FAILED` whose details carry the HTTP status (`restStatus(e)`),
 * or none when no member answered.
 */
import { AppError } from '../../errors/app-error.js';
import { basicAuth, httpCall, type HttpAnswer } from './http.js';
import type { Credentials } from './patroni-config.js';

/** A member in `GET /cluster`. */
export interface ClusterMember {
  name: string;
  /** `leader`, `sync_standby`, `replica` or `standby_leader` */
  role: string;
  /** `running`, `stopped`, `starting`, `creating replica`, `crashed`, `initializing new cluster`, … (a running replica is not necessarily streaming) */
  state: string;
  host?: string;
  port?: number;
  api_url?: string;
  timeline?: number;
  /** bytes behind the leader's last known position, or `unknown` (absent on the leader) */
  lag?: number | 'unknown';
  pending_restart?: boolean;
  tags?: Record<string, unknown>;
}

/** `GET /cluster`. */
export interface PatroniCluster {
  members: ClusterMember[];
  pause?: boolean;
  scheduled_switchover?: { at: string; from?: string; to?: string };
}

/** One row of the leader's `replication[]` (pg_stat_replication). */
export interface ReplicationRow {
  usename: string;
  /** the member's name */
  application_name: string;
  client_addr: string;
  /** `streaming`, `catchup`, `startup`, `backup` */
  state: string;
  /** `sync`, `async`, `potential`, `quorum` */
  sync_state: string;
  sync_priority: number;
}

/** `GET /patroni` (one member's own view). */
export interface PatroniStatus {
  /** `running`, `stopped`, `starting`, `crashed`, … */
  state: string;
  /** `master` (3.0.2's word for the primary) or `replica` */
  role: string;
  server_version?: number;
  timeline?: number;
  xlog?: {
    location?: number;
    received_location?: number;
    replayed_location?: number;
    replayed_timestamp?: string | null;
    paused?: boolean;
  };
  /** on the leader: its walsenders */
  replication?: ReplicationRow[];
  sync_standby?: boolean;
  pending_restart?: boolean;
  pause?: boolean;
  dcs_last_seen?: number;
  /** the leader keeps leading without its DCS (Patroni's failsafe mode) */
  failsafe_mode_is_active?: boolean;
  database_system_identifier?: string;
  postmaster_start_time?: string;
  patroni: { version: string; scope: string };
}

/** The HTTP status of a failed REST call (undefined when none answered or not a REST failure). */
export function restStatus(e: unknown): number | undefined {
  return e instanceof AppError && typeof e.details?.['httpStatus'] === 'number' ? e.details['httpStatus'] : undefined;
}

export interface PatroniRestOptions {
  /** member name → its REST base URL (`http://127.2.c.i:8008`) */
  members: Record<string, string>;
  /** the cluster's REST credentials; without them every action is refused (401) */
  auth?: Credentials;
  /** per call; default 5 s (a switchover waits longer: it blocks until done) */
  timeoutMs?: number;
}

export class PatroniRest {
  private readonly members = new Map<string, string>();

  constructor(private readonly o: PatroniRestOptions) {
    for (const [name, url] of Object.entries(o.members)) this.members.set(name, url.replace(/\/+$/, ''));
  }

  /** Add or move a member (its REST base URL). */
  setMember(name: string, url: string): void {
    this.members.set(name, url.replace(/\/+$/, ''));
  }

  /** Forget a member. */
  removeMember(name: string): void {
    this.members.delete(name);
  }

  private urlOf(member: string): string {
    const u = this.members.get(member);
    if (!u) throw new Error(`no REST address known for Patroni member ${member}`);
    return u;
  }

  private async call(
    member: string,
    method: 'GET' | 'POST' | 'PATCH',
    path: string,
    body?: unknown,
    timeoutMs?: number,
  ): Promise<HttpAnswer> {
    const headers: Record<string, string> = {};
    if (method !== 'GET' && this.o.auth) headers['authorization'] = basicAuth(this.o.auth.username, this.o.auth.password);
    const a = await httpCall({
      method,
      url: `${this.urlOf(member)}${path}`,
      headers,
      ...(body === undefined ? {} : { body }),
      timeoutMs: timeoutMs ?? this.o.timeoutMs ?? 5000,
    });
    if (a.status < 200 || a.status > 299)
      throw new AppError('ENGINE_COMMAND_FAILED', {
        args: [`Patroni ${method} ${path} on ${member}`, `HTTP ${a.status}: ${a.text.trim().slice(0, 300)}`],
        details: { httpStatus: a.status, member },
      });
    return a;
  }

  /** The first member that answers (in the order given), for calls any member can serve. */
  private async any(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown, timeoutMs?: number): Promise<HttpAnswer> {
    let last: unknown = new Error('no Patroni member known');
    for (const name of this.members.keys()) {
      try {
        return await this.call(name, method, path, body, timeoutMs);
      } catch (e) {
        // A member that answered with an HTTP error speaks for the cluster: do not ask the next.
        if (restStatus(e) !== undefined) throw e;
        last = e;
      }
    }
    throw new AppError('ENGINE_COMMAND_FAILED', {
      args: [`Patroni ${method} ${path}`, `no member answered: ${(last as Error).message}`],
      cause: last,
    });
  }

  /** `GET /cluster`: every member's role, state, timeline and lag, as the DCS has them. */
  async cluster(): Promise<PatroniCluster> {
    return (await this.any('GET', '/cluster')).json as PatroniCluster;
  }

  /** `GET /patroni` of one member. */
  async patroni(member: string): Promise<PatroniStatus> {
    return (await this.call(member, 'GET', '/patroni')).json as PatroniStatus;
  }

  /** `GET /config`: the dynamic configuration in the DCS. */
  async config(): Promise<Record<string, unknown>> {
    return (await this.any('GET', '/config')).json as Record<string, unknown>;
  }

  /**
   * A health check (`/primary`, `/replica?lag=…`, `/health`, …) of one member: true on 200,
   * false on 503 (what the router sees).
   */
  async check(member: string, path: string): Promise<boolean> {
    try {
      await this.call(member, 'GET', path);
      return true;
    } catch (e) {
      if (restStatus(e) === 503) return false;
      throw e;
    }
  }

  /**
   * A planned switchover from `leader` (to `candidate`, which 3.0.2 requires to be the
   * synchronous standby in synchronous mode, D25). Blocks until Patroni saw the new leader
   * (up to about 20 s); returns Patroni's message. `scheduledAt` (ISO 8601 with a zone)
   * schedules it instead (HTTP 202).
   */
  async switchover(leader: string, candidate?: string, scheduledAt?: string): Promise<string> {
    const body = { leader, ...(candidate ? { candidate } : {}), ...(scheduledAt ? { scheduled_at: scheduledAt } : {}) };
    return (await this.any('POST', '/switchover', body, 30_000)).text.trim();
  }

  /** A manual failover to `candidate` (for when there is no healthy leader). */
  async failover(candidate: string): Promise<string> {
    return (await this.any('POST', '/failover', { candidate }, 30_000)).text.trim();
  }

  /** `PATCH /config`: merge into the dynamic configuration (`null` deletes a key); returns the new one. Every member applies it within a loop. */
  async patchConfig(patch: Record<string, unknown>): Promise<Record<string, unknown>> {
    return (await this.any('PATCH', '/config', patch)).json as Record<string, unknown>;
  }

  /**
   * Run `member`'s HA loop now rather than at its next turn (up to `loop_wait` later): Patroni
   * 3.0.2 wakes the loop of the member that serves a `PATCH /config` whether or not the patch
   * changed anything (api.py `do_PATCH_config`, `ha.wakeup()`), so `patch` is settings at the
   * values they should have.
   */
  async wake(member: string, patch: Record<string, unknown>): Promise<void> {
    await this.call(member, 'PATCH', '/config', patch);
  }

  /** Rebuild a replica from the leader (its data directory is wiped). `force` also when it runs. */
  async reinitialize(member: string, force = true): Promise<string> {
    return (await this.call(member, 'POST', '/reinitialize', { force })).text.trim();
  }

  /** Restart one member's PostgreSQL (`restartPending`: only if it has a pending restart). */
  async restart(member: string, o: { restartPending?: boolean; timeoutS?: number } = {}): Promise<string> {
    const body = { ...(o.restartPending ? { restart_pending: true } : {}), ...(o.timeoutS ? { timeout: o.timeoutS } : {}) };
    return (await this.call(member, 'POST', '/restart', body, 60_000)).text.trim();
  }

  /** Re-read the member's configuration file (`POST /reload`). */
  async reload(member: string): Promise<void> {
    await this.call(member, 'POST', '/reload');
  }
}
