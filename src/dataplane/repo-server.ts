/**
 * The S3 repository's pgBackRest TLS server (D32): the bucket's credentials never reach a
 * project's OS user. One `pgbackrest server` per S3 repository runs as the dwsbox service user
 * and holds the credentials in its own config (root's, readable by the service user's group
 * only). A project's processes reach the repository through it with a client certificate
 * whose CN is the project's user, which the server authorises for that user's stanzas alone
 * (`tls-server-auth`, rewritten from the stanza configs and reloaded with SIGHUP whenever a
 * stanza comes or goes). Like a postmaster (D1) it is started detached and outlives the
 * service, since PostgreSQL's `archive_command` needs it at any time; a later start adopts it
 * (PID, start time and /proc checked), the health monitor restarts a dead one, and
 * `clusters stop-all` stops it.
 *
 * Layout, `<dataDir>/repo-servers/<repository id>/` (root's, 0711): `server.conf` (root,
 * group of the service user, 0640), `state.json` (root, 0600: PID, start time, port),
 * `server.log` (root's, the server's output), `conf.d/` (an empty include directory, so no
 * host-wide `/etc/pgbackrest/conf.d` is read), and the service user's `log/`, `lock/`, `spool/`.
 *
 * What pgBackRest 2.45 does not enforce, and the docs say: `tls-server-auth` authorises the
 * stanza a client names, not the paths its repository commands read; a client that runs its
 * own commands (a tenant who got code execution as its OS user) can name another stanza's
 * files under its own stanza through the server. The credentials stay out of its reach; the
 * backups of other projects in the same bucket do not (docs/security.md).
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../log/logger.js';
import type { Binaries } from './binaries.js';
import { repoOptions, REPOSITORY_HEADER, type RepositoryCredentials, type RepositorySpec } from './backup-repository.js';
import { lookupUser, type OsUser } from './os-user.js';
import { baseEnv, isProcessAlive, processStartTime, signalProcess, spawnDetached } from './pg-exec.js';
import { ensureServiceUser } from './project-users.js';
import { mkdirSafe, ownedBy, readFileSafe, readTail, rootWithGroupOf, serviceOwner, writeFileSafe } from './safe-fs.js';
import { withLock } from './serial-lock.js';
import type { CertificateAuthority, CertPaths } from './tls.js';

/** The CN of the certificate the repository side uses (the server's own, and the client one of its backups). */
export const REPO_CN = 'dwsbox-repo';
/** The address the repository servers and the per-command PostgreSQL-side servers listen on. */
export const TLS_ADDRESS = '127.0.0.1';
/** The header line of a stanza config that names the OS user its commands run as (D32). */
export const OS_USER_HEADER = '# dwsbox-os-user=';

interface State {
  pid: number;
  startTime: number;
  port: number;
}

/** What the repository side of a command needs: its config, its user, its certificate. */
export interface RepoSide {
  conf: string;
  includeDir: string;
  user: OsUser;
  cert: CertPaths;
  caFile: string;
  port: number;
}

export class RepoServers {
  constructor(
    private readonly dataDir: string,
    /** directory of the stanza configs (`<stanza>.conf`), scanned for authorisations */
    private readonly configDir: string,
    private readonly bins: Binaries,
    private readonly ca: CertificateAuthority,
    private readonly log: Logger,
  ) {}

  private dir(repoId: string): string {
    return join(this.dataDir, 'repo-servers', repoId);
  }
  confOf(repoId: string): string {
    return join(this.dir(repoId), 'server.conf');
  }
  /** The lock directory of the repository side (its stop files). */
  lockDirOf(repoId: string): string {
    return join(this.dir(repoId), 'lock');
  }
  private stateFile(repoId: string): string {
    return join(this.dir(repoId), 'state.json');
  }

  /** The ports of the servers recorded here (their state files), on TLS_ADDRESS. */
  ports(): number[] {
    return this.list().flatMap((id) => {
      const p = this.recordedPort(id);
      return p === null ? [] : [p];
    });
  }

  /** The repositories that have a server here (a state file). */
  list(): string[] {
    const root = join(this.dataDir, 'repo-servers');
    return existsSync(root) ? readdirSync(root).filter((id) => existsSync(this.stateFile(id))) : [];
  }

  /**
   * The server of an S3 repository, running, authorised for every stanza whose config names
   * the repository, and every such stanza's client include (`<stanza>.d/repo-host.conf`)
   * pointing at it. Idempotent and cheap when nothing changed (it is called before every
   * command on such a stanza): a new authorisation is written and reloaded (SIGHUP, then the
   * reload is awaited in the server's log); a dead or foreign server is (re)started.
   */
  ensure(spec: RepositorySpec, creds: RepositoryCredentials | null): Promise<RepoSide> {
    return withLock(join(this.dataDir, 'locks', `repo-server-${spec.id}.lock`), 'repository server', () => this.ensureAlone(spec, creds));
  }

  private async ensureAlone(spec: RepositorySpec, creds: RepositoryCredentials | null): Promise<RepoSide> {
    if (spec.kind !== 's3') throw new Error('a repository server is only for an S3 repository');
    if (!creds)
      throw new AppError('ENGINE_COMMAND_FAILED', {
        args: [
          'pgBackRest',
          `S3 repository ${spec.id} has no credentials recorded in this data directory; start the service with its repoS3* settings`,
        ],
      });
    const user = await ensureServiceUser();
    const cert = await this.ca.ensureCert(REPO_CN, user);
    const dir = this.dir(spec.id);
    mkdirSafe(join(this.dataDir, 'repo-servers'), serviceOwner(), 0o711);
    mkdirSafe(dir, serviceOwner(), 0o711);
    const includeDir = join(dir, 'conf.d');
    mkdirSafe(includeDir, serviceOwner(), 0o755);
    for (const d of ['log', 'lock', 'spool']) mkdirSafe(join(dir, d), ownedBy(user), 0o700);
    let state = this.running(spec.id, user);
    const port = state?.port ?? this.recordedPort(spec.id) ?? (await freePort());
    const stanzas = this.stanzasOf(spec.id);
    const conf = this.confOf(spec.id);
    const text = this.configText(spec, creds, cert, port, stanzas);
    const changed = readFileSafe(conf) !== text;
    if (changed) writeFileSafe(conf, text, rootWithGroupOf(user), 0o640);
    if (state && changed) await this.reload(spec.id, state);
    if (!state) state = await this.start(spec.id, user, port);
    const side: RepoSide = { conf, includeDir, user, cert, caFile: this.ca.caFile, port: state.port };
    for (const s of stanzas) {
      const u = lookupUser(s.user);
      if (u) this.writeClientInclude(s.configFile, await this.ca.ensureCert(u.name, u), u, side);
    }
    return side;
  }

  /** Every stanza config here that names this repository: its stanza and OS user. */
  private stanzasOf(repoId: string): { stanza: string; user: string; configFile: string }[] {
    if (!existsSync(this.configDir)) return [];
    const out: { stanza: string; user: string; configFile: string }[] = [];
    for (const f of readdirSync(this.configDir)
      .filter((n) => n.endsWith('.conf'))
      .sort()) {
      const configFile = join(this.configDir, f);
      const text = readFileSafe(configFile) ?? '';
      if (new RegExp(`^${REPOSITORY_HEADER}(\\S+)$`, 'm').exec(text)?.[1] !== repoId) continue;
      const user = new RegExp(`^${OS_USER_HEADER}(\\S+)$`, 'm').exec(text)?.[1];
      if (user) out.push({ stanza: f.slice(0, -'.conf'.length), user, configFile });
    }
    return out;
  }

  private configText(
    spec: RepositorySpec,
    creds: RepositoryCredentials,
    cert: CertPaths,
    port: number,
    stanzas: { stanza: string; user: string }[],
  ): string {
    if (/[\r\n]/.test(creds.key + creds.keySecret)) throw new Error('repository credentials must not contain line breaks');
    const byUser = new Map<string, string[]>();
    for (const s of stanzas) byUser.set(s.user, [...(byUser.get(s.user) ?? []), s.stanza]);
    const dir = this.dir(spec.id);
    return [
      "# written by dwsbox: the S3 repository's pgBackRest TLS server (D32); changes are overwritten",
      `${REPOSITORY_HEADER}${spec.id}`,
      '[global]',
      ...Object.entries(repoOptions(spec)).map(([k, v]) => `${k}=${v}`),
      `repo1-s3-key=${creds.key}`,
      `repo1-s3-key-secret=${creds.keySecret}`,
      // dwsbox alone decides retention (D2); this value also silences pgBackRest's warning.
      'repo1-retention-full=9999999',
      'expire-auto=n',
      `log-path=${join(dir, 'log')}`,
      `lock-path=${join(dir, 'lock')}`,
      `spool-path=${join(dir, 'spool')}`,
      'log-level-file=off',
      // the server's reloads ("configuration reload end") are awaited in its log
      'log-level-console=detail',
      'log-level-stderr=error',
      'start-fast=y',
      'compress-type=zst',
      'compress-level=3',
      'process-max=2',
      'archive-timeout=60',
      `tls-server-address=${TLS_ADDRESS}`,
      `tls-server-port=${port}`,
      `tls-server-ca-file=${this.ca.caFile}`,
      `tls-server-cert-file=${cert.crt}`,
      `tls-server-key-file=${cert.key}`,
      ...[...byUser].sort(([a], [b]) => a.localeCompare(b)).map(([u, list]) => `tls-server-auth=${u}=${list.sort().join(',')}`),
      '',
    ].join('\n');
  }

  /** A stanza's client include: where its repository's server is, and the project user's certificate (root's, readable by the project user's group). */
  private writeClientInclude(configFile: string, cert: CertPaths, u: OsUser, side: RepoSide): void {
    const text = [
      "# written by dwsbox: this stanza's S3 repository through its TLS server (D32)",
      '[global]',
      `repo1-host=${TLS_ADDRESS}`,
      'repo1-host-type=tls',
      `repo1-host-port=${side.port}`,
      `repo1-host-ca-file=${side.caFile}`,
      `repo1-host-cert-file=${cert.crt}`,
      `repo1-host-key-file=${cert.key}`,
      `repo1-host-config=${side.conf}`,
      `repo1-host-config-include-path=${side.includeDir}`,
      '',
    ].join('\n');
    const file = join(configFile.replace(/\.conf$/, '.d'), 'repo-host.conf');
    if (readFileSafe(file) !== text) writeFileSafe(file, text, rootWithGroupOf(u), 0o640);
  }

  /** A project user's certificate (its CN is the user's name, which `tls-server-auth` names). */
  clientCert(user: OsUser): Promise<CertPaths> {
    return this.ca.ensureCert(user.name, user);
  }

  private recordedPort(repoId: string): number | null {
    const s = this.readState(repoId);
    return s ? s.port : null;
  }

  private readState(repoId: string): State | null {
    try {
      return JSON.parse(readFileSync(this.stateFile(repoId), 'utf8')) as State;
    } catch {
      return null;
    }
  }

  /** The recorded server when it is the process we started (PID, start time, binary, user, config), else null. */
  private running(repoId: string, user: OsUser): State | null {
    const s = this.readState(repoId);
    if (!s || !isProcessAlive(s.pid, s.startTime)) return null;
    try {
      if (readFileSync(`/proc/${s.pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)?.[1] !== String(user.uid)) return null;
      if (realpathSync(`/proc/${s.pid}/exe`) !== realpathSync(this.bins.pgbackrest)) return null;
      const argv = readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').split('\0');
      if (!argv.includes(`--config=${this.confOf(repoId)}`) || !argv.includes('server')) return null;
    } catch {
      return null;
    }
    return s;
  }

  private async start(repoId: string, user: OsUser, wantPort: number): Promise<State> {
    const logFile = join(this.dir(repoId), 'server.log');
    // A port taken meanwhile by someone else: another one, and the config with it.
    let port = wantPort;
    if (!(await portFree(port))) {
      port = await freePort();
      const conf = this.confOf(repoId);
      writeFileSafe(
        conf,
        (readFileSafe(conf) ?? '').replace(/^tls-server-port=\d+$/m, `tls-server-port=${port}`),
        rootWithGroupOf(user),
        0o640,
      );
    }
    const pid = spawnDetached({
      cmd: this.bins.pgbackrest,
      args: [`--config=${this.confOf(repoId)}`, `--config-include-path=${join(this.dir(repoId), 'conf.d')}`, 'server'],
      env: baseEnv(),
      logFile,
      runAs: user,
    });
    const state: State = { pid, startTime: processStartTime(pid) ?? 0, port };
    writeFileSafe(this.stateFile(repoId), JSON.stringify(state) + '\n', serviceOwner(), 0o600);
    const deadline = Date.now() + 15_000;
    while (!(await listening(port))) {
      if (!isProcessAlive(pid) || Date.now() > deadline) {
        throw new AppError('ENGINE_COMMAND_FAILED', {
          args: [
            'pgbackrest server',
            `the S3 repository's TLS server did not start listening on ${TLS_ADDRESS}:${port}: ${readTail(logFile)}`,
          ],
        });
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    this.log.info('S3 repository TLS server started (D32)', { repository: repoId, pid, port });
    return state;
  }

  /** SIGHUP, then wait until the server's log shows the reload done (so the next client meets the new authorisations). */
  private async reload(repoId: string, s: State): Promise<void> {
    const logFile = join(this.dir(repoId), 'server.log');
    const count = (): number => (readTail(logFile, 1 << 20).match(/configuration reload end/g) ?? []).length;
    const before = count();
    signalProcess(s.pid, 'SIGHUP');
    const deadline = Date.now() + 10_000;
    while (count() <= before) {
      if (!isProcessAlive(s.pid, s.startTime) || Date.now() > deadline) {
        throw new AppError('ENGINE_COMMAND_FAILED', {
          args: ['pgbackrest server', `the S3 repository's TLS server did not reload its authorisations: ${readTail(logFile)}`],
        });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stop every repository server of this data directory (SIGTERM to the recorded, checked PID); returns how many. */
  async stopAll(): Promise<number> {
    let n = 0;
    const user = lookupUser('dwsbox');
    for (const id of this.list()) {
      const s = user ? this.running(id, user) : null;
      if (!s) continue;
      signalProcess(s.pid, 'SIGTERM');
      const deadline = Date.now() + 10_000;
      while (isProcessAlive(s.pid, s.startTime) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (isProcessAlive(s.pid, s.startTime)) signalProcess(s.pid, 'SIGKILL');
      n++;
    }
    return n;
  }
}

/** A port free on the TLS address now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: TLS_ADDRESS, port: 0, exclusive: true }, () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: TLS_ADDRESS, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** Does something accept TCP connections on the TLS address and this port? */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: TLS_ADDRESS, port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}
