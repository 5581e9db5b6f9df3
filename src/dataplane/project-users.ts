/**
 * Project users (D32): one OS user per project and data directory, made by dwsbox as root.
 * Every postmaster, tool and temporary instance of the project's clusters runs as it, and it
 * owns their files. It is a system user with no home, no shell and no password, with a group
 * of its own under the same id; its uid comes from a dwsbox range, above every uid the store
 * has ever recorded (so an id is never given to a second project, even after the first is
 * gone); its comment carries the dwsbox marker with the project and the data directory, so a
 * sweep can find users left behind. A service that does not run as root runs everything as
 * itself.
 */
import { readFileSync } from 'node:fs';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import {
  DEFAULT_UID_RANGE,
  isRoot,
  lookupUser,
  markedUsers,
  parseMarker,
  projectUserName,
  serviceUser,
  USER_MARKER,
  type OsUser,
  type UidRange,
} from './os-user.js';
import { join } from 'node:path';
import { runTool } from './pg-exec.js';
import { mkdirSafe, serviceOwner } from './safe-fs.js';
import { withLock } from './serial-lock.js';

/** What the store records of project users (D32: uids never reused). */
export interface UidRecord {
  /** the highest uid ever recorded, or null */
  highest(): Promise<number | null>;
  /** record (idempotently) that this project's user has this name and uid */
  record(projectId: string, name: string, uid: number): Promise<void>;
}

export class ProjectUsers {
  constructor(
    private readonly dataDir: string,
    private readonly log: Logger,
    private readonly range: UidRange = DEFAULT_UID_RANGE,
  ) {}

  /** The project's user's name on this host (whether it exists or not). */
  nameOf(projectId: string): string {
    return projectUserName(this.dataDir, projectId);
  }

  /**
   * The OS user every process and file of a project's clusters belongs to (made by `ensure`).
   * The service's own user when it is not root.
   */
  userOf(projectId: string): OsUser {
    if (!isRoot()) return serviceUser();
    const name = this.nameOf(projectId);
    const u = lookupUser(name);
    if (!u) {
      throw new AppError('ENGINE_COMMAND_FAILED', {
        args: [
          'project user',
          `project ${projectId} has no OS user ${name} on this host; its clusters cannot run. On an installation from before per-project users run \`dwsbox tenants migrate\` (docs/security.md); otherwise recreate the cluster from a snapshot`,
        ],
      });
    }
    return u;
  }

  /**
   * Make the project's user when it is missing (idempotent). The uid is recorded once
   * `useradd` succeeded; a user made before a crash is found by its name and recorded then.
   * Several processes may race: a taken name or id makes this look again.
   */
  async ensure(projectId: string, uids: UidRecord, o: { signal?: AbortSignal } = {}): Promise<OsUser> {
    if (!isRoot()) return serviceUser();
    const name = this.nameOf(projectId);
    const have = lookupUser(name);
    if (have) {
      await uids.record(projectId, name, have.uid);
      return have;
    }
    // Ids are host-wide: one maker at a time on the host, so two projects never take one id (or group).
    mkdirSafe(USERS_LOCK_DIR, serviceOwner(), 0o711);
    return withLock(join(USERS_LOCK_DIR, 'users.lock'), 'project users', () => this.make(projectId, name, uids, o));
  }

  private async make(projectId: string, name: string, uids: UidRecord, o: { signal?: AbortSignal }): Promise<OsUser> {
    const signal = o.signal ? { signal: o.signal } : {};
    for (let attempt = 0; ; attempt++) {
      const have = lookupUser(name);
      if (have) {
        await uids.record(projectId, name, have.uid);
        return have;
      }
      const uid = await this.freeUid(uids);
      try {
        if (!groupExists(name))
          await runTool({
            cmd: 'groupadd',
            args: ['--system', '--gid', String(uid), name],
            label: 'groupadd',
            pidNamespace: false,
            timeoutMs: 60_000,
            ...signal,
          });
        // The user's group is its own: one group of that name, and no other group with its id.
        const gid = groupId(name) ?? uid;
        const sharing = groupsWithId(gid).filter((g) => g !== name);
        if (sharing.length) throw new Error(`group ${name} has gid ${gid}, which group ${sharing.join(', ')} has too; remove one of them`);
        await runTool({
          cmd: 'useradd',
          args: [
            '--system',
            '--uid',
            String(uid),
            '--gid',
            String(gid),
            '--no-create-home',
            '--home-dir',
            '/nonexistent',
            '--shell',
            '/usr/sbin/nologin',
            '--comment',
            `${USER_MARKER}${projectId} ${this.dataDir}`,
            name,
          ],
          label: 'useradd',
          pidNamespace: false,
          timeoutMs: 60_000,
          ...signal,
        });
        this.log.info('project OS user made (D32)', { projectId, name, uid });
      } catch (e) {
        if (attempt >= 20) throw e;
        this.log.info('project user not made on this try (another process took the id or the name); looking again', {
          projectId,
          name,
          uid,
          error: (e as Error).message,
        });
      }
    }
  }

  /** A uid above every uid the store recorded and every one in the range on this host, free as a uid and as a gid. */
  private async freeUid(uids: UidRecord): Promise<number> {
    let uid = Math.max(this.range.min, ((await uids.highest()) ?? this.range.min - 1) + 1);
    const users = ids('/etc/passwd');
    const groups = ids('/etc/group');
    for (const t of users) if (t <= this.range.max && t >= uid) uid = t + 1;
    while (users.has(uid) || groups.has(uid)) uid++;
    if (uid > this.range.max)
      throw new AppError('CAPACITY_EXCEEDED', { args: [`the range of project uids ${this.range.min}-${this.range.max} is used up`] });
    return uid;
  }

  /** The project users of this data directory (by their marker). */
  list(): { name: string; uid: number; projectId: string }[] {
    return markedUsers().flatMap((u) => {
      const m = parseMarker(u.comment);
      return m && m.dataDir === this.dataDir ? [{ name: u.name, uid: u.uid, projectId: m.projectId }] : [];
    });
  }
}

/** The dwsbox service user: shared services (the S3 repository's pgBackRest TLS server) run as it, never as root or a project's user. */
export const SERVICE_USER = 'dwsbox';

/**
 * The service user, made when missing (a system user with no home, no shell, no password;
 * idempotent, and a race with another process is harmless). The service's own user when not root.
 */
export async function ensureServiceUser(): Promise<OsUser> {
  if (!isRoot()) return serviceUser();
  for (let attempt = 0; ; attempt++) {
    const have = lookupUser(SERVICE_USER);
    if (have) return have;
    try {
      await runTool({
        cmd: 'useradd',
        args: [
          '--system',
          '--user-group',
          '--no-create-home',
          '--home-dir',
          '/nonexistent',
          '--shell',
          '/usr/sbin/nologin',
          '--comment',
          'dwsbox service user (D32)',
          SERVICE_USER,
        ],
        label: 'useradd',
        pidNamespace: false,
        timeoutMs: 60_000,
      });
    } catch (e) {
      if (attempt >= 5) throw e;
    }
  }
}

/**
 * Remove a marked project user and its group (`userdel`, `groupdel`): for uninstalling and for
 * tests. Refuses a user without the dwsbox marker. Its files must be gone first; its uid stays
 * recorded in the store, so it is never given out again.
 */
export async function removeProjectUser(name: string): Promise<void> {
  const u = markedUsers().find((x) => x.name === name);
  if (!u) throw new Error(`${name} is not a dwsbox project user`);
  await runTool({ cmd: 'userdel', args: [name], label: 'userdel', pidNamespace: false, timeoutMs: 60_000 });
  if (groupExists(name)) await runTool({ cmd: 'groupdel', args: [name], label: 'groupdel', pidNamespace: false, timeoutMs: 60_000 });
}

/**
 * Remove the groups a project user left behind without its user (a `useradd` that failed
 * after its `groupadd`, before the host-wide lock): a dwsbox name, a gid in the range, no user
 * of that name. Under the same lock as the making. Returns their names.
 */
export async function removeOrphanGroups(range: UidRange = DEFAULT_UID_RANGE): Promise<string[]> {
  if (!isRoot()) return [];
  mkdirSafe(USERS_LOCK_DIR, serviceOwner(), 0o711);
  return withLock(join(USERS_LOCK_DIR, 'users.lock'), 'project users', async () => {
    const orphans = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .filter((f) => /^dws[0-9a-f]{13}$/.test(f[0] ?? '') && Number(f[2]) >= range.min && Number(f[2]) <= range.max && !lookupUser(f[0]!))
      .map((f) => f[0]!);
    for (const g of orphans) await runTool({ cmd: 'groupdel', args: [g], label: 'groupdel', pidNamespace: false, timeoutMs: 60_000 });
    return orphans;
  });
}

function ids(file: string): Set<number> {
  try {
    return new Set(
      readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => Number(l.split(':')[2]))
        .filter((n) => Number.isInteger(n)),
    );
  } catch {
    return new Set();
  }
}

function groupId(name: string): number | null {
  try {
    const f = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .find((x) => x[0] === name);
    return f ? Number(f[2]) : null;
  } catch {
    return null;
  }
}

const groupExists = (name: string): boolean => groupId(name) !== null;

function groupsWithId(gid: number): string[] {
  try {
    return readFileSync('/etc/group', 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .filter((f) => Number(f[2]) === gid)
      .map((f) => f[0]!);
  } catch {
    return [];
  }
}

/** Where the host-wide lock of user making lives (root's; never a world-writable directory). */
const USERS_LOCK_DIR = '/run/dwsbox';
