/**
 * Who runs what (D32). As root, every PostgreSQL server, tool and temporary instance of a
 * project's clusters runs as that project's own OS user: a system user dwsbox creates, named
 * after the data directory and the project, with a uid from a dwsbox range that the store
 * records and never gives out again. No project's user can read or write another project's
 * files, connect to its sockets, or signal its processes. A service that does not run as root
 * runs everything as itself (one tenant's worth of isolation; documented).
 */
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { userInfo } from 'node:os';

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface OsIdentity {
  /** the service runs as root and switches to a project's user for PostgreSQL and its tools */
  runAsPostgres: boolean;
  /** the OS user the service runs as */
  serviceUser: string;
  /** the `postgres` OS user (installations from before D32; doctor), or the service's own user when not root */
  postgres: OsUser;
}

let cached: OsIdentity | undefined;

function passwd(): string[][] {
  try {
    return readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .filter((f) => f.length >= 7);
  } catch {
    return [];
  }
}

const toUser = (f: string[]): OsUser => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' });

export function lookupUser(name: string): OsUser | undefined {
  const f = passwd().find((x) => x[0] === name);
  return f ? toUser(f) : undefined;
}

export function lookupUid(uid: number): OsUser | undefined {
  const f = passwd().find((x) => Number(x[2]) === uid);
  return f ? toUser(f) : undefined;
}

/** Every user with the dwsbox marker in its comment field: name, uid, the comment. */
export function markedUsers(): { name: string; uid: number; comment: string }[] {
  return passwd()
    .filter((f) => (f[4] ?? '').startsWith(USER_MARKER))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), comment: f[4]! }));
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function osIdentity(): OsIdentity {
  if (cached) return cached;
  const me = userInfo();
  const self: OsUser = { name: me.username, uid: me.uid, gid: me.gid, home: me.homedir };
  if (me.uid === 0) {
    const pg = lookupUser('postgres') ?? { name: 'postgres', uid: -1, gid: -1, home: '/var/lib/postgresql' };
    cached = { runAsPostgres: true, serviceUser: me.username, postgres: pg };
  } else {
    cached = { runAsPostgres: false, serviceUser: me.username, postgres: self };
  }
  return cached;
}

/** The service's own user (what everything runs as when the service is not root). */
export function serviceUser(): OsUser {
  const me = userInfo();
  return { name: me.username, uid: me.uid, gid: me.gid, home: me.homedir };
}

/** The comment field of every project user dwsbox creates: `dwsbox project <project id> <data dir>`. */
export const USER_MARKER = 'dwsbox project ';

/** Parse a marked user's comment into its project and data directory. */
export function parseMarker(comment: string): { projectId: string; dataDir: string } | null {
  const m = /^dwsbox project (\S+) (\/.*)$/.exec(comment);
  return m ? { projectId: m[1]!, dataDir: m[2]! } : null;
}

/**
 * A project's OS user name: `dws` and 13 hex digits of a hash of the data directory and the
 * project id (unique per host and data directory, 16 characters, within Linux's 32).
 */
export function projectUserName(dataDir: string, projectId: string): string {
  let dir = dataDir;
  try {
    dir = realpathSync(dataDir);
  } catch {
    /* not made yet */
  }
  return `dws${createHash('sha256').update(`${dir}\0${projectId}`).digest('hex').slice(0, 13)}`;
}

/** The range project users' uids (and gids) come from: above the 16-bit ids and below 2^31. */
export interface UidRange {
  min: number;
  max: number;
}
export const DEFAULT_UID_RANGE: UidRange = { min: 1_610_000_000, max: 1_619_999_999 };
