/* Over 400 lines: pgBackRest as dwsbox drives it is one idea with three faces kept together — a stanza's config, its commands (locally, or through the S3 repository's TLS server), and what its repository holds. */
/**
 * pgBackRest 2.45: one stanza per cluster, repository under the data directory by default,
 * or an S3-compatible object store (design D2, D3; backup-repository.ts). Every call runs as
 * postgres with TZ=UTC (labels use local time) and, when it belongs to a cluster's step,
 * under the cluster's lock file. A stanza's calls go to the repository its config file
 * records, with that repository's credentials in the child's environment.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { AppError } from '../errors/app-error.js';
import { dirname, join } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { Binaries } from './binaries.js';
import {
  credentialsEnv,
  localRepository,
  parseStanzaRepository,
  repoOptions,
  REPOSITORY_HEADER,
  RepositoryRegistry,
  writeCredentialsInclude,
  type RepositoryCredentials,
  type RepositoryRef,
  type RepositorySpec,
} from './backup-repository.js';
import { isRoot, lookupUser, serviceUser, type OsUser } from './os-user.js';
import { mkdirsSafe, mkdirSafe, ownedBy, readFileSafe, removeTree, rootWithGroupOf, serviceOwner, writeFileSafe } from './safe-fs.js';
import { baseEnv, startTool, type ToolHandle, type ToolResult } from './pg-exec.js';
import { freePort, listening, OS_USER_HEADER, REPO_CN, RepoServers, TLS_ADDRESS, type RepoSide } from './repo-server.js';
import { CertificateAuthority } from './tls.js';

export { OS_USER_HEADER };

/**
 * With an S3 repository and a root service, which commands run where (D32). The project's
 * user runs PostgreSQL's own archive-push and archive-get and the restores, as clients of the
 * repository's TLS server; every other command runs on the repository side, as the service
 * user with the server's config, and reaches PostgreSQL (when it needs to) through a
 * `pgbackrest server` started for that command as the project's user.
 */
const CLIENT_COMMANDS = new Set(['archive-push', 'archive-get', 'restore']);
const PG_COMMANDS = new Set(['stanza-create', 'stanza-upgrade', 'check', 'backup']);

export interface StanzaTarget {
  /** the project's OS user: pgBackRest runs as it and it owns the stanza's repository, log, lock and spool directories (D32) */
  os: OsUser;
  stanza: string;
  /** the config file of this stanza */
  configFile: string;
  pgPath: string;
  pgPort: number;
  pgSocket: string;
  /**
   * The cluster's other members on this host (a highly available cluster, D23), on the same
   * port: written as pg2…, so pgBackRest finds whichever member leads now for a backup or a
   * check, and any member may archive.
   */
  otherMembers?: readonly { path: string; socket: string }[];
}

export interface RepoSettings {
  /** the local repository's directory */
  repoPath: string;
  logPath: string;
  lockPath: string;
  spoolPath: string;
  /** directory of the stanzas' config files (`<stanza>.conf`, credentials in `<stanza>.d/`) */
  configDir: string;
}

/** One pgBackRest backup set as `info --output=json` describes it. */
export interface BackupSetInfo {
  label: string;
  type: 'full' | 'diff' | 'incr';
  prior: string | null;
  reference: string[];
  annotation: Record<string, string>;
  /** bytes of the database at backup time */
  databaseSize: number;
  /** bytes this backup itself added to the repository */
  repoOwnBytes: number;
  /** bytes in the repository needed to restore this set (with the sets it references) */
  repoSetBytes: number;
  /** bytes of database files this backup copied (all for a full, the changed ones for a diff) */
  copiedBytes: number;
  startTime: number;
  stopTime: number;
  /** null: an offline backup (`--no-online`), whose WAL is in the set itself */
  lsnStart: string | null;
  lsnStop: string | null;
  walStart: string | null;
  walStop: string | null;
  error: boolean;
}

export interface RunOptions {
  extra?: string[];
  /** arguments after the command (repo-ls's path) */
  positional?: string[];
  /** a repository command that takes no --stanza (repo-ls) */
  noStanza?: boolean;
  lockFile?: string | undefined;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
  onLine?: (l: string, s: 'stdout' | 'stderr') => void;
  idleTimeoutMs?: number;
  waitingFor?: string;
}

/**
 * pgBackRest takes its own stanza lock; a second backup or an expire of the same stanza at
 * the same moment fails with "unable to acquire lock" (error 050), which is worth a retry.
 */
function classify(e: unknown): unknown {
  if (e instanceof AppError && e.code === 'ENGINE_COMMAND_FAILED' && /unable to acquire lock|\[050\]/.test(e.message)) {
    return new AppError('ENGINE_COMMAND_FAILED', { message: e.message, retryable: true, details: e.details ?? {} });
  }
  if (e instanceof AppError && e.code === 'ENGINE_COMMAND_FAILED' && /No space left on device|\[ENOSPC\]|errno 28/i.test(e.message)) {
    return new AppError('DISK_FULL', { args: [e.message], details: e.details ?? {} });
  }
  return e;
}

/** `224KB` → bytes (pgBackRest formats sizes in powers of 1024). */
/**
 * What `stanza-create` answers over the files of a stanza-create killed part way (its service
 * died, and the tool with it, D1): an archive directory that is not empty ([040], [041]), or one
 * of the stanza's two info files without the other ([055]). A stanza that never held a backup
 * (a new or restored cluster's) can be removed and made again.
 */
export function partlyCreatedStanza(message: string): boolean {
  return /\[04[01]\]|directory not empty|\[055\]: (archive|backup)\.info exists but (backup|archive)\.info is missing/.test(message);
}

export function parseSize(n: string, unit: string): number {
  const mult: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
  return Math.round(Number(n) * (mult[unit] ?? 1));
}

/** A `backup file …` or `restore file …` detail line: the file's size and the running percent. */
export function parseFileLine(line: string): { bytes: number; percent: number } | null {
  const m = /(?:backup|restore) file .* \((\d+(?:\.\d+)?)(B|KB|MB|GB|TB), (\d+(?:\.\d+)?)%\)/.exec(line);
  if (!m) return null;
  return { bytes: parseSize(m[1]!, m[2]!), percent: Number(m[3]) };
}

/** An entry of `repo-ls --output=json`. */
export interface RepoEntry {
  type: 'file' | 'path' | 'link';
  size?: number;
}

export class PgBackRest {
  /** the repository of new stanzas (the service's settings) */
  private configured: RepositorySpec;
  private registry: RepositoryRegistry;
  /** the S3 repositories' TLS servers (D32) */
  readonly servers: RepoServers;

  constructor(
    private readonly bins: Binaries,
    readonly repo: RepoSettings,
    private readonly log: Logger,
  ) {
    this.configured = localRepository(repo.repoPath);
    const dataDir = dirname(repo.configDir);
    this.registry = new RepositoryRegistry(join(dataDir, 'repositories'), null);
    this.servers = new RepoServers(dataDir, repo.configDir, bins, new CertificateAuthority(dataDir), log);
  }

  /** Use `spec` for new stanzas; the registry (default: the current one) keeps it and its credentials for every later use. */
  configure(registry: RepositoryRegistry | null, spec: RepositorySpec, creds: RepositoryCredentials | null): void {
    if (registry) this.registry = registry;
    this.configured = this.registry.register(spec, creds);
  }

  configuredSpec(): RepositorySpec {
    return this.configured;
  }

  /** The repository new stanzas go to. */
  configuredRepository(): RepositoryRef {
    return { id: this.configured.id, kind: this.configured.kind };
  }

  /** The roots of the repository, logs, locks and spools: root's, traversable (D32); each stanza has its own directory in each. */
  ensureRepoDirs(): void {
    for (const d of [this.repo.repoPath, this.repo.logPath, this.repo.lockPath, this.repo.spoolPath]) mkdirsSafe(d, serviceOwner(), 0o711);
  }

  /** A stanza's own log, lock and spool directories (`<root>/<stanza>`), its OS user's. */
  private stanzaDirs(stanza: string): { logPath: string; lockPath: string; spoolPath: string } {
    return {
      logPath: join(this.repo.logPath, stanza),
      lockPath: join(this.repo.lockPath, stanza),
      spoolPath: join(this.repo.spoolPath, stanza),
    };
  }

  /**
   * Remove what a deleted stanza leaves outside its repository (after `stanza-delete`): its
   * stop file, its own log, lock and spool directories, its directory in a local repository
   * (emptied by pgBackRest), its config and include directory. The stanza's user could write
   * some of them: removed with removeTree, which follows no link.
   */
  async removeStanzaFiles(stanza: string): Promise<void> {
    const configFile = this.configFileOf(stanza);
    const dirs = Object.values(this.stanzaDirs(stanza));
    if (existsSync(configFile)) {
      const r = parseStanzaRepository(readFileSafe(configFile) ?? '');
      if (r.kind === 's3' && isRoot()) await removeTree(join(this.servers.lockDirOf(r.id), `${stanza}.stop`));
      if (r.kind === 'local' && r.path === join(this.repo.repoPath, stanza)) dirs.push(r.path);
    }
    for (const d of dirs) await removeTree(d);
    rmSync(configFile, { force: true });
    rmSync(this.includeDirOf(configFile), { recursive: true, force: true });
  }

  /**
   * The OS user a stanza's commands run as: the one its config file names (a root-owned file,
   * D32); `postgres` for a config written before per-project users.
   */
  stanzaUser(configFile: string): OsUser {
    if (!isRoot()) return serviceUser();
    const text = readFileSafe(configFile) ?? '';
    const name = new RegExp(`^${OS_USER_HEADER}(\\S+)$`, 'm').exec(text)?.[1] ?? 'postgres';
    const u = lookupUser(name);
    if (!u)
      throw new AppError('ENGINE_COMMAND_FAILED', {
        args: ['pgBackRest', `stanza config ${configFile} names the OS user ${name}, which does not exist on this host`],
      });
    return u;
  }

  configFileOf(stanza: string): string {
    return join(this.repo.configDir, `${stanza}.conf`);
  }
  /** The directory of the credentials file the server's archive and restore commands include. */
  includeDirOf(configFile: string): string {
    return configFile.replace(/\.conf$/, '') + '.d';
  }

  /** The repository a stanza's config file records, or null when the stanza has no config file here. */
  stanzaRepository(configFile: string): RepositoryRef | null {
    if (!existsSync(configFile)) return null;
    const r = parseStanzaRepository(readFileSync(configFile, 'utf8'));
    return { id: r.id, kind: r.kind };
  }

  /** The full repository (and credentials) of a stanza: the one its config file records, else the configured one. */
  private resolve(configFile: string): { spec: RepositorySpec; creds: RepositoryCredentials | null } {
    if (!existsSync(configFile)) return { spec: this.configured, creds: this.registry.get(this.configured.id)?.creds ?? null };
    const r = parseStanzaRepository(readFileSync(configFile, 'utf8'));
    if (r.kind === 'local') return { spec: { id: r.id, kind: 'local', path: r.path || this.repo.repoPath }, creds: null };
    const hit = this.registry.get(r.id);
    if (!hit) {
      throw new AppError('ENGINE_COMMAND_FAILED', {
        args: [
          'pgBackRest',
          `stanza config ${configFile} names S3 repository ${r.id}, which this data directory has no record (or credentials) of; start the service once with that repository's repoS3* settings`,
        ],
      });
    }
    return hit;
  }

  /**
   * Write a stanza's config file (idempotent). The stanza stays in the repository its config
   * file records unless `repository` names another (a move, see LocalEngine); a new stanza
   * goes to the configured one.
   */
  writeConfig(t: StanzaTarget, extraGlobal: Record<string, string> = {}, repository?: RepositorySpec): void {
    const isNew = !existsSync(t.configFile);
    const chosen = repository ? { spec: repository, creds: this.registry.get(repository.id)?.creds ?? null } : this.resolve(t.configFile);
    // D32: as root, an S3 repository is reached through its TLS server (repo-host.conf in the
    // include directory, written by RepoServers): no credentials, no repo1-* options here.
    const viaServer = isRoot() && chosen.spec.kind === 's3';
    writeCredentialsInclude(this.includeDirOf(t.configFile), viaServer ? null : chosen.creds, t.os);
    // D32: a new stanza in a local repository gets a directory of its own, its OS user's
    // (`repo1-path=<repository>/<stanza>`); an existing one keeps the path it records.
    const repoOpts = viaServer ? {} : repoOptions(chosen.spec);
    if (chosen.spec.kind === 'local' && (isNew || repository)) {
      repoOpts['repo1-path'] = join(chosen.spec.path, t.stanza);
      mkdirSafe(repoOpts['repo1-path'], ownedBy(t.os), 0o750);
    }
    const dirs = this.stanzaDirs(t.stanza);
    for (const d of Object.values(dirs)) mkdirSafe(d, ownedBy(t.os), 0o750);
    const global: Record<string, string> = {
      ...repoOpts,
      // dwsbox alone decides retention (D2); this value also silences pgBackRest's warning.
      'repo1-retention-full': '9999999',
      'expire-auto': 'n',
      'log-path': dirs.logPath,
      'lock-path': dirs.lockPath,
      'spool-path': dirs.spoolPath,
      'start-fast': 'y',
      'compress-type': 'zst',
      'compress-level': '3',
      'process-max': '2',
      'log-level-file': 'off',
      'log-level-console': 'warn',
      'log-level-stderr': 'error',
      'archive-timeout': '60',
      ...extraGlobal,
    };
    const lines = [
      '# written by dwsbox',
      `${REPOSITORY_HEADER}${chosen.spec.id}`,
      `${OS_USER_HEADER}${t.os.name}`,
      '[global]',
      ...Object.entries(global).map(([k, v]) => `${k}=${v}`),
      '',
      `[${t.stanza}]`,
      ...[{ path: t.pgPath, socket: t.pgSocket }, ...(t.otherMembers ?? [])].flatMap((m, i) => [
        `pg${i + 1}-path=${m.path}`,
        `pg${i + 1}-port=${t.pgPort}`,
        `pg${i + 1}-socket-path=${m.socket}`,
        `pg${i + 1}-user=postgres`,
      ]),
      '',
    ];
    // D32: root's, readable by the PostgreSQL user's group (pgBackRest reads it; only dwsbox writes it).
    writeFileSafe(t.configFile, lines.join('\n'), rootWithGroupOf(t.os), 0o640);
  }

  /** `archive_command` for a stanza's primary. */
  archiveCommand(t: StanzaTarget): string {
    return `${this.bins.pgbackrest} --config=${t.configFile} ${this.includeArg(t.configFile)} --stanza=${t.stanza} archive-push %p`;
  }

  /**
   * `--config-include-path=<stanza>.d`: the server's own commands (archive-push, and the
   * archive-get that `restore` writes into restore_command with its command-line options)
   * read the repository's credentials from there, since they run with the server's environment.
   */
  private includeArg(configFile: string): string {
    const dir = this.includeDirOf(configFile);
    if (!existsSync(dir)) mkdirSafe(dir, rootWithGroupOf(this.stanzaUser(configFile)), 0o750);
    return `--config-include-path=${dir}`;
  }

  /** `restore_command` reading WAL from a stanza (read-only, D4). */
  restoreCommand(t: Pick<StanzaTarget, 'configFile' | 'stanza'>): string {
    return `${this.bins.pgbackrest} --config=${t.configFile} ${this.includeArg(t.configFile)} --stanza=${t.stanza} archive-get %f "%p"`;
  }

  private args(t: Pick<StanzaTarget, 'configFile' | 'stanza'>, command: string, o: RunOptions): string[] {
    return [
      `--config=${t.configFile}`,
      this.includeArg(t.configFile),
      ...(o.noStanza ? [] : [`--stanza=${t.stanza}`]),
      ...(o.extra ?? []),
      command,
      ...(o.positional ?? []),
    ];
  }

  run(t: Pick<StanzaTarget, 'configFile' | 'stanza'>, command: string, o: RunOptions = {}): Promise<ToolResult> {
    return this.start(t, command, o).done;
  }

  /** Start a command; its `done` rejects with the classified error (DISK_FULL, a retryable lock conflict, …), like `run`. */
  start(t: Pick<StanzaTarget, 'configFile' | 'stanza'>, command: string, o: RunOptions = {}): ToolHandle {
    const h = this.startRaw(t, command, o);
    const done = h.done.catch((e: unknown) => {
      throw classify(e);
    });
    return {
      get pid() {
        return h.pid;
      },
      touch: h.touch,
      done,
    };
  }

  private startRaw(t: Pick<StanzaTarget, 'configFile' | 'stanza'>, command: string, o: RunOptions): ToolHandle {
    const repository = this.resolve(t.configFile);
    if (isRoot() && repository.spec.kind === 's3') return this.startViaServer(t, command, o, repository.spec, repository.creds);
    // The stanza's repository credentials go in the child's environment, never on its command line.
    const { creds } = repository;
    return startTool({
      cmd: this.bins.pgbackrest,
      args: this.args(t, command, o),
      runAs: this.stanzaUser(t.configFile),
      env: baseEnv(credentialsEnv(creds)),
      logger: this.log,
      label: `pgbackrest ${command}`,
      timeoutMs: o.timeoutMs ?? 10 * 60_000,
      ...(o.lockFile ? { lockFile: o.lockFile } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onLine ? { onLine: o.onLine } : {}),
      ...(o.idleTimeoutMs ? { idleTimeoutMs: o.idleTimeoutMs } : {}),
      ...(o.waitingFor ? { waitingFor: o.waitingFor } : {}),
    });
  }

  /**
   * A command on a stanza in an S3 repository, as root (D32): the repository's server is
   * ensured first (running, this stanza authorised); then a client command runs as the
   * project's user through the server, and any other on the repository side as the service
   * user, with a `pgbackrest server` of the project's user for the time of the command when
   * it needs PostgreSQL. The handle's `pid` is the command's own once it runs.
   */
  private startViaServer(
    t: Pick<StanzaTarget, 'configFile' | 'stanza'>,
    command: string,
    o: RunOptions,
    spec: RepositorySpec,
    creds: RepositoryCredentials | null,
  ): ToolHandle {
    let main: ToolHandle | null = null;
    let touched = false;
    const common = {
      cmd: this.bins.pgbackrest,
      env: baseEnv(),
      logger: this.log,
      label: `pgbackrest ${command}`,
      timeoutMs: o.timeoutMs ?? 10 * 60_000,
      ...(o.lockFile ? { lockFile: o.lockFile } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onLine ? { onLine: o.onLine } : {}),
      ...(o.idleTimeoutMs ? { idleTimeoutMs: o.idleTimeoutMs } : {}),
      ...(o.waitingFor ? { waitingFor: o.waitingFor } : {}),
    };
    const done = (async (): Promise<ToolResult> => {
      const side = await this.servers.ensure(spec, creds);
      if (CLIENT_COMMANDS.has(command)) {
        main = startTool({ ...common, args: this.args(t, command, o), runAs: this.stanzaUser(t.configFile) });
        if (touched) main.touch();
        return main.done;
      }
      const repoArgs = [
        `--config=${side.conf}`,
        `--config-include-path=${side.includeDir}`,
        ...(o.noStanza ? [] : [`--stanza=${t.stanza}`]),
      ];
      if (!PG_COMMANDS.has(command)) {
        // stanza-delete (always with --force here) wants pg1-path named, and reads nothing there.
        const pgPath =
          command === 'stanza-delete'
            ? stanzaPgOptions(readFileSafe(t.configFile) ?? '', t.stanza).filter((x) => x.startsWith('--pg1-path='))
            : [];
        main = startTool({
          ...common,
          args: [...repoArgs, ...pgPath, ...(o.extra ?? []), command, ...(o.positional ?? [])],
          runAs: side.user,
        });
        return main.done;
      }
      const pg = await this.startPgServer(t, side, o.signal);
      try {
        main = startTool({
          ...common,
          args: [...repoArgs, ...pg.options, ...(o.extra ?? []), command, ...(o.positional ?? [])],
          runAs: side.user,
        });
        if (touched) main.touch();
        return await main.done;
      } finally {
        await pg.stop();
      }
    })();
    return {
      get pid() {
        return main?.pid;
      },
      touch: () => {
        touched = true;
        main?.touch();
      },
      done: done.catch((e: unknown) => {
        throw classify(e);
      }),
    };
  }

  /**
   * A `pgbackrest server` as the stanza's OS user on a free port, authorising only the
   * repository side (its certificate's CN) for this stanza, for the time of one command; and
   * the `pg1-*` options that make the repository side's command use it. Dies with the service.
   */
  private async startPgServer(
    t: Pick<StanzaTarget, 'configFile' | 'stanza'>,
    side: RepoSide,
    signal?: AbortSignal,
  ): Promise<{ options: string[]; stop(): Promise<void> }> {
    const user = this.stanzaUser(t.configFile);
    const cert = await this.servers.clientCert(user);
    const pg = stanzaPgOptions(readFileSafe(t.configFile) ?? '', t.stanza);
    const port = await freePort();
    const stopper = new AbortController();
    const server = startTool({
      cmd: this.bins.pgbackrest,
      env: baseEnv(),
      logger: this.log,
      label: 'pgbackrest server (PostgreSQL side)',
      timeoutMs: 48 * 3600_000,
      runAs: user,
      signal: signal ? AbortSignal.any([signal, stopper.signal]) : stopper.signal,
      args: [
        `--config=${t.configFile}`,
        this.includeArg(t.configFile),
        `--tls-server-address=${TLS_ADDRESS}`,
        `--tls-server-port=${port}`,
        `--tls-server-ca-file=${side.caFile}`,
        `--tls-server-cert-file=${cert.crt}`,
        `--tls-server-key-file=${cert.key}`,
        `--tls-server-auth=${REPO_CN}=${t.stanza}`,
        '--log-level-console=warn',
        'server',
      ],
    });
    const ended = server.done.then(
      () => null,
      (e: unknown) => e,
    );
    const stop = async (): Promise<void> => {
      stopper.abort(new Error('the command it served ended'));
      await ended;
    };
    const deadline = Date.now() + 15_000;
    while (!(await listening(port))) {
      const early = await Promise.race([ended, new Promise((r) => setTimeout(() => r(undefined), 25))]);
      if (early !== undefined || Date.now() > deadline) {
        await stop();
        throw new AppError('ENGINE_COMMAND_FAILED', {
          args: [
            'pgbackrest server',
            `the PostgreSQL side's TLS server did not start on ${TLS_ADDRESS}:${port}${early ? `: ${(early as Error).message}` : ''}`,
          ],
        });
      }
    }
    return {
      options: [
        `--pg1-host=${TLS_ADDRESS}`,
        '--pg1-host-type=tls',
        `--pg1-host-port=${port}`,
        `--pg1-host-ca-file=${side.caFile}`,
        `--pg1-host-cert-file=${side.cert.crt}`,
        `--pg1-host-key-file=${side.cert.key}`,
        `--pg1-host-config=${t.configFile}`,
        `--pg1-host-config-include-path=${this.includeDirOf(t.configFile)}`,
        ...pg,
      ],
      stop,
    };
  }

  /**
   * As root, the TLS server of every S3 repository a stanza here names: running (started, or
   * restarted when it died) and authorised (D32). At start-up and from the health monitor.
   * Returns the repositories it looked after.
   */
  async superviseServers(): Promise<string[]> {
    if (!isRoot() || !existsSync(this.repo.configDir)) return [];
    const ids = new Set<string>();
    for (const f of readdirSync(this.repo.configDir).filter((n) => n.endsWith('.conf'))) {
      const r = parseStanzaRepository(readFileSafe(join(this.repo.configDir, f)) ?? '');
      if (r.kind === 's3') ids.add(r.id);
    }
    for (const id of ids) {
      const hit = this.registry.get(id);
      if (!hit) {
        this.log.warn('a stanza names an S3 repository this data directory has no record of; its server is not started', {
          repository: id,
        });
        continue;
      }
      await this.servers.ensure(hit.spec, hit.creds);
    }
    return [...ids];
  }

  /** `stanza-create` is itself idempotent for an existing, matching stanza. */
  async stanzaCreate(t: StanzaTarget, o: { lockFile?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.run(t, 'stanza-create', { ...o, timeoutMs: 120_000 });
  }

  /**
   * `stanza-upgrade`: the stanza takes the database it is configured for as its current one when
   * that is another (a new system identifier: a standby cluster promoted, issue 19); its earlier
   * backups stay, under their own database in its history. Idempotent.
   */
  async stanzaUpgrade(t: StanzaTarget, o: { lockFile?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.run(t, 'stanza-upgrade', { ...o, timeoutMs: 120_000 }).catch((e: unknown) => {
      // [028] "the stanza is already up to date": nothing to do.
      if (/\[028\]|already up to date/i.test((e as Error).message)) return;
      throw e;
    });
  }

  /** `check`: the archive works (a WAL switch reaches the repository). */
  async check(t: StanzaTarget, o: { lockFile?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.run(t, 'check', { ...o, timeoutMs: 180_000 });
  }

  /** The stanza's backup sets, oldest first. */
  async info(
    t: Pick<StanzaTarget, 'configFile' | 'stanza'>,
    o: { signal?: AbortSignal } = {},
  ): Promise<{ sets: BackupSetInfo[]; status: { code: number; message: string }; lockHeld: boolean }> {
    const r = await this.run(t, 'info', { extra: ['--output=json'], signal: o.signal, timeoutMs: 60_000 });
    const parsed = JSON.parse(r.stdout) as Array<{
      name: string;
      backup?: RawBackup[];
      status?: { code: number; message: string; lock?: { backup?: { held?: boolean } } };
    }>;
    const st = parsed.find((s) => s.name === t.stanza);
    const sets = (st?.backup ?? []).map(toSetInfo);
    return {
      sets,
      status: { code: st?.status?.code ?? -1, message: st?.status?.message ?? 'missing' },
      lockHeld: !!st?.status?.lock?.backup?.held,
    };
  }

  /** Is the stanza's repository an object store (no local directory to look into)? */
  isRemote(stanza: string): boolean {
    return this.stanzaRepository(this.configFileOf(stanza))?.kind === 's3';
  }
  /** The local directory of the stanza's repository. */
  private localRepoPath(stanza: string): string {
    const { spec } = this.resolve(this.configFileOf(stanza));
    return spec.kind === 'local' ? spec.path : this.repo.repoPath;
  }
  /** Repository directory of a stanza's backups (a local repository). */
  backupDir(stanza: string): string {
    return join(this.localRepoPath(stanza), 'backup', stanza);
  }
  archiveDir(stanza: string): string {
    return join(this.localRepoPath(stanza), 'archive', stanza);
  }

  /**
   * `repo-ls --output=json <path>` in a stanza's repository (`path` relative to the
   * repository root): what pgBackRest itself sees there, names → type and size. An object
   * store has no directories, so a missing path lists as empty.
   */
  async repoLs(
    stanza: string,
    path: string,
    o: { recurse?: boolean; filter?: string; signal?: AbortSignal } = {},
  ): Promise<Map<string, RepoEntry>> {
    const t = { stanza, configFile: this.configFileOf(stanza) };
    const extra = ['--output=json', ...(o.recurse ? ['--recurse'] : []), ...(o.filter ? [`--filter=${o.filter}`] : [])];
    const r = await this.run(t, 'repo-ls', { extra, positional: [path], noStanza: true, signal: o.signal, timeoutMs: 120_000 });
    const parsed = JSON.parse(r.stdout || '{}') as Record<string, RepoEntry>;
    return new Map(Object.entries(parsed).filter(([name]) => name !== '.'));
  }

  /**
   * Is a file of PostgreSQL's archive in the stanza's (`archive/<stanza>/<db-id>/<first 16>/…`):
   * a segment (`<segment>-<sha1>[.zst]`, never the `.backup` file named after it), or a
   * history or backup file by its name (`00000002.history`, `<segment>.<offset>.backup`)?
   */
  async isArchived(stanza: string, name: string): Promise<boolean> {
    if (SEGMENT.test(name)) return (await this.missingWal(stanza, name, name)).length === 0;
    return (await this.archivedNames(stanza, name.slice(0, 16), name)).some((n) => n.startsWith(name));
  }

  /**
   * The WAL segments from `start` to `stop` (walRange) that the stanza's archive lacks: one
   * listing per 256 segments (a directory of the archive), not a read of the segments.
   */
  async missingWal(stanza: string, start: string | null, stop: string | null, o: { signal?: AbortSignal } = {}): Promise<string[]> {
    // An offline set needs no archived WAL: its pg_wal is in the set.
    if (start === null || stop === null) return [];
    const byDir = new Map<string, string[]>();
    for (const seg of walRange(start, stop)) byDir.set(seg.slice(0, 16), [...(byDir.get(seg.slice(0, 16)) ?? []), seg]);
    const missing: string[] = [];
    for (const [dir, segs] of byDir) {
      const have = new Set(
        (await this.archivedNames(stanza, dir, dir, o)).filter((n) => ARCHIVED_SEGMENT.test(n)).map((n) => n.slice(0, 24)),
      );
      missing.push(...segs.filter((seg) => !have.has(seg)));
    }
    return missing;
  }

  /** The names starting with `prefix` in the archive directory `dir` (16 hex digits) of every archive id of the stanza. */
  private async archivedNames(stanza: string, dir: string, prefix: string, o: { signal?: AbortSignal } = {}): Promise<string[]> {
    const names: string[] = [];
    if (this.isRemote(stanza)) {
      // The archive ids (`15-1`) come from `info`: a store's listing of a prefix holding only
      // deeper prefixes is not something every S3-compatible store answers alike.
      for (const id of await this.archiveIds(stanza, o))
        names.push(...(await this.repoLs(stanza, `archive/${stanza}/${id}/${dir}`, { ...o, filter: `^${prefix}` })).keys());
      return names;
    }
    const base = this.archiveDir(stanza);
    for (const dbv of existsSync(base) ? readdirSync(base) : []) {
      const d = join(base, dbv, dir);
      if (existsSync(d)) names.push(...readdirSync(d).filter((n) => n.startsWith(prefix)));
    }
    return names;
  }

  /** The ids of the stanza's archives (`15-1`), from `info`. */
  private async archiveIds(stanza: string, o: { signal?: AbortSignal } = {}): Promise<string[]> {
    const t = { stanza, configFile: this.configFileOf(stanza) };
    const r = await this.run(t, 'info', { extra: ['--output=json'], signal: o.signal, timeoutMs: 60_000 });
    return (
      (JSON.parse(r.stdout) as Array<{ name: string; archive?: Array<{ id: string }> }>)
        .find((x) => x.name === stanza)
        ?.archive?.map((a) => a.id) ?? []
    );
  }

  /** Does the stanza exist in its repository (its backup.info)? */
  async stanzaExists(stanza: string): Promise<boolean> {
    if (this.isRemote(stanza)) return (await this.repoLs(stanza, `backup/${stanza}`)).has('backup.info');
    return existsSync(join(this.backupDir(stanza), 'backup.info'));
  }

  /** Does the stanza have anything in its WAL archive? */
  async archiveExists(stanza: string): Promise<boolean> {
    if (this.isRemote(stanza)) return (await this.repoLs(stanza, `archive/${stanza}`)).size > 0;
    return existsSync(this.archiveDir(stanza));
  }
}

interface RawBackup {
  label: string;
  type: 'full' | 'diff' | 'incr';
  prior: string | null;
  reference: string[] | null;
  annotation?: Record<string, string>;
  error?: boolean;
  info: { size: number; delta: number; repository: { size: number; delta: number } };
  // absent (or null) for an offline backup
  lsn?: { start: string | null; stop: string | null };
  archive?: { start: string | null; stop: string | null };
  timestamp: { start: number; stop: number };
}

function toSetInfo(b: RawBackup): BackupSetInfo {
  return {
    label: b.label,
    type: b.type,
    prior: b.prior,
    reference: b.reference ?? [],
    annotation: b.annotation ?? {},
    databaseSize: b.info.size,
    repoOwnBytes: b.info.repository.delta,
    repoSetBytes: b.info.repository.size,
    copiedBytes: b.info.delta,
    startTime: b.timestamp.start * 1000,
    stopTime: b.timestamp.stop * 1000,
    lsnStart: b.lsn?.start ?? null,
    lsnStop: b.lsn?.stop ?? null,
    walStart: b.archive?.start ?? null,
    walStop: b.archive?.stop ?? null,
    error: b.error ?? false,
  };
}

/**
 * An archived segment's file (`<segment>-<sha1>[.<compression>]`), not the `.backup` history
 * file named after a backup's first segment (`<segment>.<offset>.backup`).
 */
const ARCHIVED_SEGMENT = /^[0-9A-F]{24}-[0-9a-f]{40}(\.|$)/;
/** A WAL segment's name (timeline, log, segment). */
const SEGMENT = /^[0-9A-F]{24}$/;

/** WAL segments of 16 MB (initdb's default, which dwsbox keeps): 256 to a log file (the middle 8 hex digits of a name). */
const SEGMENTS_PER_LOG = 0x100;

/**
 * The WAL segment names from `start` to `stop`, both included (`TTTTTTTTLLLLLLLLSSSSSSSS`:
 * timeline, log, segment). A backup starts and stops on one timeline; names on two timelines,
 * or out of order, give just the two names.
 */
export function walRange(start: string, stop: string): string[] {
  if (!SEGMENT.test(start) || !SEGMENT.test(stop) || start.slice(0, 8) !== stop.slice(0, 8) || start > stop)
    return start === stop ? [start] : [start, stop];
  const tli = start.slice(0, 8);
  const toN = (s: string): number => parseInt(s.slice(8, 16), 16) * SEGMENTS_PER_LOG + parseInt(s.slice(16), 16);
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');
  const out: string[] = [];
  for (let n = toN(start); n <= toN(stop); n++) out.push(`${tli}${hex(Math.floor(n / SEGMENTS_PER_LOG))}${hex(n % SEGMENTS_PER_LOG)}`);
  return out;
}

/** The `[stanza]` section's `pg1-*` settings of a stanza config, as command-line options. */
function stanzaPgOptions(text: string, stanza: string): string[] {
  const section = text.split(/^\[/m).find((x) => x.startsWith(`${stanza}]`)) ?? '';
  return [...section.matchAll(/^(pg1-(?:path|port|socket-path|user))=(.*)$/gm)].map((m) => `--${m[1]}=${m[2]}`);
}
