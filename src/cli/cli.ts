/**
 * The `dwsbox` command. `serve`, `migrate`, `credentials`, `users`, `tenants` and `clusters stop-all`
 * act locally; the resource commands are HTTP clients of the REST API (cli/commands/api.ts).
 * Each command imports what it needs when it runs: the service (main.ts) costs about 0.8 s of
 * CPU to load, which neither an API command nor the agent should pay at each start.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { join } from 'node:path';
import { SETTINGS, envName, flagName, loadConfig, ConfigError, type Config } from '../config/config.js';
import { createLogger } from '../log/logger.js';
import { systemClock } from '../domain/clock.js';
import { checkAgentEndpoint } from '../domain/hosts.js';
import type { AuthService } from '../auth/auth-service.js';
import type { Role } from '../domain/records.js';
import type { Store } from '../store/store.js';
import { isAppError } from '../errors/app-error.js';
import { API_HELP, runApiCommand } from './commands/api.js';
import { readSecretFromStdin, warnSecretArgument } from './secrets.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const SETTING_OPTIONS: Options = Object.fromEntries(
  SETTINGS.map((s) => [flagName(s.key), { type: s.kind === 'bool' ? 'boolean' : 'string' }]),
);

const HELP = `dwsbox: a GaussDB(DWS) management service over real PostgreSQL clusters

Usage: npx dwsbox <command> [options]

Service (local):
  serve [--port P] [--host H] [--data-dir DIR] [--store URL] [--enable-crash-faults] [--stop-clusters-on-exit] [--config FILE]
                            run the service in the foreground (SIGTERM/SIGINT stop it cleanly)
  migrate [--dry-run]       bring the metadata store to this version's schema
  clusters stop-all         stop every PostgreSQL node of every cluster (and the S3 repository's TLS server)
  clusters om-password CLUSTER_ID
                            a fresh password for the cluster's O&M account (dwsbox_om), printed once,
                            while its tenant has it on (docs/api.md#the-om-account)
  agent [--agent-dir DIR]   run the host agent in the foreground (serve starts one detached when needed;
                            it supervises etcd, Patroni members and routers; docs/operations.md#the-host-agent)
  agent [--agent-dir DIR] --listen ADDRESS:PORT --bundle DIR
                            the same, also serving the control plane of several hosts over mutual TLS on the
                            host's address (the bundle hosts add wrote; docs/operations.md#several-hosts)
  agent stop [--stop-units] ask the running agent to leave (with --stop-units: Patroni, routers, etcd first)
  hosts add NAME --address ADDRESS [--agent-port P] [--zone AZ] --bundle-out DIR
                            register a host (D27) and write its agent's TLS bundle (ca.crt, agent.crt, agent.key)
  hosts list                each registered host, asked over mutual TLS now: up (with its memory, disk,
                            processors, addresses) or why not
  hosts remove NAME         forget a host (refused while its agent runs anything, or cannot be asked)
  hosts etcd [H1 H2 H3]     form the fleet's etcd on three registered hosts (their agents run its members, over
                            TLS; new clusters keep their Patroni state there); without hosts: its members now
  tenants list              each project's OS user on this host (D32): name, uid, clusters
  tenants migrate [--dry-run]
                            move a data directory from before per-project OS users (the service stopped;
                            each cluster restarts once; docs/security.md#migrating)
  credentials create --project-id ID [--role admin|readonly|operator] [--access-key AK [--secret-key-stdin]]
                            a key pair (the secret is generated unless given on standard input);
                            operator: sees every project's series on /metrics
  credentials list [--project-id ID]
  credentials delete AK
  users create --project-id ID --name NAME --password-stdin [--role admin|readonly|operator]
                            (the password: --password-stdin, DWSBOX_USER_PASSWORD, or --password PW with a warning)
  users list [--project-id ID]
  users delete NAME
  doctor [--json]           check binaries, the postgres user, the data directory, the store, ports, and
                            every cluster's nodes against the store; prints each problem with its fix
  store backup FILE         copy the SQLite metadata store (safe while the service runs)
  store restore FILE        replace the SQLite metadata store (the service must be stopped)

Every setting is also a flag (see docs/configuration.md), e.g. --data-dir, --store, --log-level. Give
secret settings (--secret-key, --master-key, --repo-s3-key-secret, a --store URL with a password) in
the environment or a --config file (0600) instead: arguments are visible to every user of the host.

${API_HELP}`;

/** Settings only `serve` uses: the bootstrap key pair (a local admin command neither needs nor checks it). */
const BOOTSTRAP = ['projectId', 'accessKey', 'secretKey'];

function flagsToSettings(values: Record<string, unknown>, omit: readonly string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    if (omit.includes(s.key)) continue;
    const v = values[flagName(s.key)];
    if (v !== undefined) out[s.key] = v;
  }
  if (values['config'] !== undefined) out['config'] = values['config'];
  return out;
}

/**
 * The configuration of a local command other than `serve`: the bootstrap settings left out
 * of flags and environment, so `credentials create --project-id P` (whose --project-id,
 * --access-key and --secret-key are its own) works without the bootstrap key pair set.
 */
function localConfig(values: Record<string, unknown>): Config {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !BOOTSTRAP.some((b) => envName(b) === k)));
  warnSecretSettings(values, BOOTSTRAP);
  return loadConfig({ env, flags: flagsToSettings(values, BOOTSTRAP) });
}

/** A warning for each secret setting given as a flag (a --store URL only when it holds a password). */
function warnSecretSettings(values: Record<string, unknown>, except: readonly string[] = []): void {
  for (const spec of SETTINGS) {
    if (!spec.secret || except.includes(spec.key)) continue;
    const v = values[flagName(spec.key)];
    if (typeof v !== 'string') continue;
    if (spec.key === 'store' && !/^postgres(ql)?:\/\/[^/@]*:[^/@]*@/.test(v)) continue;
    warnSecretArgument(`--${flagName(spec.key)}`, `${envName(spec.key)} or a --config file (0600)`);
  }
}

function parse(argv: string[], extra: Options = {}): { values: Record<string, unknown>; positionals: string[] } {
  const r = parseArgs({
    args: argv,
    options: { ...SETTING_OPTIONS, config: { type: 'string' }, help: { type: 'boolean', short: 'h' }, ...extra },
    allowPositionals: true,
    strict: true,
  });
  return { values: r.values as Record<string, unknown>, positionals: r.positionals };
}

function out(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}

/** The metadata store of the data directory, brought to this version's schema, for one local command. */
async function withStore<T>(config: Config, fn: (store: Store) => Promise<T>): Promise<T> {
  const [{ openStore }, { migrate }] = await Promise.all([import('../store/open-store.js'), import('../store/migrate.js')]);
  const store = openStore(config.store);
  try {
    await migrate(store.adapter);
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function withLocalStore<T>(config: Config, fn: (o: { auth: AuthService; store: Store }) => Promise<T>): Promise<T> {
  const [{ Secrets }, { AuthService }] = await Promise.all([import('../auth/secrets.js'), import('../auth/auth-service.js')]);
  return withStore(config, (store) => {
    const secrets = Secrets.load(config.masterKey, join(config.dataDir, 'master.key'));
    return fn({ auth: new AuthService(store, secrets, systemClock, createLogger({ level: 'warn' })), store });
  });
}

/** The data directory's engine for a local command (no initdb pool, fsync as configured). */
async function localEngine(config: Config) {
  const [{ createEngine }, { findBinaries }] = await Promise.all([import('../main.js'), import('../dataplane/binaries.js')]);
  return createEngine(
    { ...config, unsafeNoFsync: false, initdbPool: 0 },
    findBinaries(config.pgBinDir),
    createLogger({ level: config.logLevel }),
  );
}

function role(v: unknown): Role {
  if (v === undefined) return 'admin';
  if (v !== 'admin' && v !== 'readonly' && v !== 'operator')
    throw new ConfigError(`--role must be admin, readonly or operator, got ${String(v)}`);
  return v;
}

async function serve(argv: string[]): Promise<void> {
  const { values } = parse(argv);
  warnSecretSettings(values);
  const config = loadConfig({ flags: flagsToSettings(values) });
  const { createService } = await import('../main.js');
  const service = await createService(config);
  if (service.firstStartCredentials) {
    const c = service.firstStartCredentials;
    process.stdout.write(
      `dwsbox: first start: created project ${c.projectId} and an admin key pair. It is shown only this once:\n` +
        `  DWSBOX_PROJECT_ID=${c.projectId}\n  DWSBOX_ACCESS_KEY=${c.accessKey}\n  DWSBOX_SECRET_KEY=${c.secretKey}\n`,
    );
  }
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) {
      service.log.warn('second signal: exiting now', { signal: sig });
      process.exit(1);
    }
    stopping = true;
    service.log.info('signal received', { signal: sig });
    service.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        service.log.error('stop failed', { error: (e as Error).message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  const addr = await service.start();
  process.stdout.write(
    `dwsbox: serving the DWS API on http://${addr.host}:${addr.port} (data directory ${config.dataDir}, clusters on the ${config.engine} engine)\n`,
  );
}

async function credentials(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    'project-id': { type: 'string' },
    role: { type: 'string' },
    'access-key': { type: 'string' },
    'secret-key': { type: 'string' },
    'secret-key-stdin': { type: 'boolean' },
  });
  const config = localConfig(values);
  const sub = positionals[0];
  let secretKey: string | undefined;
  if (sub === 'create') {
    if (!values['project-id']) throw new ConfigError('credentials create needs --project-id');
    if (values['secret-key-stdin']) secretKey = await readSecretFromStdin('--secret-key-stdin');
    else if (values['secret-key'] !== undefined) {
      warnSecretArgument('--secret-key', '--secret-key-stdin (or leave it out: a secret key is generated and printed once)');
      secretKey = values['secret-key'] as string;
    }
  }
  await withLocalStore(config, async ({ auth, store }) => {
    if (sub === 'create') {
      const pid = values['project-id'] as string;
      out(await auth.createCredential(pid, role(values['role']), values['access-key'] as string | undefined, secretKey, 'cli'));
    } else if (sub === 'list') {
      out(
        (await store.listCredentials(values['project-id'] as string | undefined)).map((c) => ({
          access_key: c.accessKey,
          project_id: c.projectId,
          role: c.role,
          created: new Date(c.createdAt).toISOString(),
        })),
      );
    } else if (sub === 'delete') {
      const ak = positionals[1];
      if (!ak) throw new ConfigError('credentials delete needs the access key');
      if (!(await store.deleteCredential(ak))) throw new ConfigError(`no access key ${ak}`);
      out({ deleted: ak });
    } else throw new ConfigError('credentials: use create, list or delete');
  });
}

async function users(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    'project-id': { type: 'string' },
    role: { type: 'string' },
    name: { type: 'string' },
    password: { type: 'string' },
    'password-stdin': { type: 'boolean' },
  });
  const config = localConfig(values);
  const sub = positionals[0];
  let pw: string | undefined;
  if (sub === 'create') {
    if (!values['project-id'] || !values['name'])
      throw new ConfigError(
        'users create needs --project-id and --name, and the password on standard input (--password-stdin) or in DWSBOX_USER_PASSWORD',
      );
    if (values['password-stdin']) pw = await readSecretFromStdin('--password-stdin');
    else if (values['password'] !== undefined) {
      warnSecretArgument('--password', 'DWSBOX_USER_PASSWORD or --password-stdin');
      pw = values['password'] as string;
    } else pw = process.env['DWSBOX_USER_PASSWORD'];
    if (!pw)
      throw new ConfigError(
        'users create needs the password: --password-stdin (e.g. printf \'%s\\n\' "$PW" | npx dwsbox users create …) or DWSBOX_USER_PASSWORD',
      );
  }
  await withLocalStore(config, async ({ auth, store }) => {
    if (sub === 'create') {
      out(await auth.createUser(values['project-id'] as string, values['name'] as string, pw!, role(values['role'])));
    } else if (sub === 'list') {
      out(
        (await store.listUsers(values['project-id'] as string | undefined)).map((u) => ({
          name: u.name,
          project_id: u.projectId,
          role: u.role,
          created: new Date(u.createdAt).toISOString(),
        })),
      );
    } else if (sub === 'delete') {
      const name = positionals[1];
      if (!name) throw new ConfigError('users delete needs the user name');
      if (!(await store.deleteUser(name))) throw new ConfigError(`no user ${name}`);
      out({ deleted: name });
    } else throw new ConfigError('users: use create, list or delete');
  });
}

async function migrateCmd(argv: string[]): Promise<void> {
  const { values } = parse(argv, { 'dry-run': { type: 'boolean' } });
  const config = localConfig(values);
  const [{ openStore }, { migrate }] = await Promise.all([import('../store/open-store.js'), import('../store/migrate.js')]);
  const store = openStore(config.store);
  try {
    out(await migrate(store.adapter, { dryRun: values['dry-run'] === true }));
  } finally {
    await store.close();
  }
}

async function clustersLocal(argv: string[]): Promise<boolean> {
  if (argv[0] === 'om-password') return omPasswordCommand(argv.slice(1));
  if (argv[0] !== 'stop-all') return false;
  const { values } = parse(argv.slice(1));
  const config = localConfig(values);
  // The data directory's engine (Patroni members are stopped through the host agent, which stops last when nothing else of the host runs on it).
  const engine = await localEngine(config);
  const { stopAllNodes } = await import('../main.js');
  await withStore(config, async (store) => out({ stopped: await stopAllNodes(store, engine, createLogger({ level: config.logLevel })) }));
  return true;
}

/** `clusters om-password CLUSTER_ID`: the operator's login as the cluster's O&M account, while the tenant has it on. */
async function omPasswordCommand(argv: string[]): Promise<boolean> {
  const { values, positionals } = parse(argv);
  if (positionals.length !== 1) throw new ConfigError('usage: dwsbox clusters om-password CLUSTER_ID [--data-dir DIR]');
  const config = localConfig(values);
  const engine = await localEngine(config);
  const { omPassword } = await import('../services/om-password.js');
  await withStore(config, async (store) => out(await omPassword(store, engine, positionals[0]!)));
  return true;
}

async function doctor(argv: string[]): Promise<number> {
  const { values } = parse(argv, { json: { type: 'boolean' } });
  const config = localConfig(values);
  const { runDoctor } = await import('./commands/doctor.js');
  const findings = await runDoctor(config);
  if (values['json']) out(findings);
  else {
    for (const f of findings) {
      process.stdout.write(`${f.ok ? 'ok  ' : 'FAIL'}  ${f.check}: ${f.detail}\n`);
      if (f.fix) process.stdout.write(`        fix: ${f.fix}\n`);
    }
    const bad = findings.filter((f) => !f.ok).length;
    process.stdout.write(bad ? `\n${bad} problem(s) found\n` : '\nno problems found\n');
  }
  return findings.some((f) => !f.ok) ? 1 : 0;
}

async function tenantsCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { 'dry-run': { type: 'boolean' } });
  const config = localConfig(values);
  const log = createLogger({ level: config.logLevel });
  const { tenantsList, tenantsMigrate } = await import('./commands/tenants.js');
  if (positionals[0] === 'list') out(await tenantsList(config, log));
  else if (positionals[0] === 'migrate') out(await tenantsMigrate(config, log, { dryRun: values['dry-run'] === true }));
  else throw new ConfigError('tenants: use list or migrate [--dry-run]');
  return 0;
}

async function agentCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    'stop-units': { type: 'boolean' },
    listen: { type: 'string' },
    bundle: { type: 'string' },
  });
  const config = localConfig(values);
  if (positionals[0] === 'stop') {
    const { AgentClient } = await import('../dataplane/agent/client.js');
    const client = new AgentClient(config.agentDir);
    try {
      out(await client.shutdown(values['stop-units'] === true));
    } finally {
      await client.close();
    }
    return 0;
  }
  if (positionals.length > 0) throw new ConfigError('agent: use `agent` or `agent stop [--stop-units]`');
  const { runAgent, AgentBusyError } = await import('../dataplane/agent/agent.js');
  const log = createLogger({ level: config.logLevel });
  let agent;
  try {
    agent = await runAgent(config.agentDir, log, listenOf(values['listen'], values['bundle']));
  } catch (e) {
    if (e instanceof AgentBusyError) {
      log.info(e.message);
      return 0;
    }
    throw e;
  }
  const leave = (): void => void agent.close().then(() => process.exit(0));
  process.once('SIGTERM', leave);
  process.once('SIGINT', leave);
  await agent.done;
  await agent.close();
  return 0;
}

/** `--listen ADDRESS:PORT --bundle DIR` of `agent`: its listener for the control plane of several hosts. */
function listenOf(listen: unknown, bundle: unknown): { listen?: { host: string; port: number; bundleDir: string } } {
  if (listen === undefined && bundle === undefined) return {};
  const m = typeof listen === 'string' ? /^([^:]+):(\d+)$/.exec(listen) : null;
  if (!m) throw new ConfigError('agent: --listen ADDRESS:PORT (an IPv4 address of this host and a port)');
  checkAgentEndpoint(m[1]!, Number(m[2]));
  if (typeof bundle !== 'string' || !bundle)
    throw new ConfigError('agent: --listen needs --bundle DIR (ca.crt, agent.crt, agent.key from `hosts add`)');
  return { listen: { host: m[1]!, port: Number(m[2]), bundleDir: bundle } };
}

async function hostsCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    address: { type: 'string' },
    'agent-port': { type: 'string' },
    zone: { type: 'string' },
    'bundle-out': { type: 'string' },
  });
  const { 'agent-port': _agentPort, ...settings } = values;
  const config = localConfig(settings);
  const { hostsAdd, hostsEtcd, hostsList, hostsRemove } = await import('./commands/hosts.js');
  const [sub, name] = positionals;
  if (sub === 'list') out(await hostsList(config));
  else if (sub === 'add' && name)
    out(
      await hostsAdd(config, {
        name,
        address: String(values['address'] ?? ''),
        port: values['agent-port'] === undefined ? undefined : Number(values['agent-port']),
        zone: values['zone'] === undefined ? undefined : String(values['zone']),
        bundleOut: String(values['bundle-out'] ?? ''),
      }),
    );
  else if (sub === 'remove' && name) out(await hostsRemove(config, name));
  else if (sub === 'etcd') out(await hostsEtcd(config, positionals.slice(1)));
  else
    throw new ConfigError(
      'hosts: use add NAME --address A [--agent-port P] [--zone AZ] --bundle-out DIR | list | remove NAME | etcd [H1 H2 H3]',
    );
  return 0;
}

async function storeCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  const config = localConfig(values);
  const [sub, file] = positionals;
  if (!file || (sub !== 'backup' && sub !== 'restore')) throw new ConfigError('use: store backup FILE | store restore FILE');
  const { backupStore, restoreStore } = await import('./commands/store-backup.js');
  out(sub === 'backup' ? await backupStore(config, file) : await restoreStore(config, file));
  return 0;
}

/** The commands that act locally (`clusters` only for stop-all and om-password); `--help` after one prints the help instead. */
const LOCAL_COMMANDS = ['serve', 'migrate', 'credentials', 'users', 'doctor', 'store', 'tenants', 'hosts', 'agent'];

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd !== undefined && LOCAL_COMMANDS.includes(cmd) && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(HELP);
    return 0;
  }
  try {
    switch (cmd) {
      case 'serve':
        await serve(rest);
        return -1;
      case 'migrate':
        await migrateCmd(rest);
        return 0;
      case 'credentials':
        await credentials(rest);
        return 0;
      case 'users':
        await users(rest);
        return 0;
      case 'doctor':
        return await doctor(rest);
      case 'store':
        return await storeCmd(rest);
      case 'tenants':
        return await tenantsCmd(rest);
      case 'hosts':
        return await hostsCmd(rest);
      case 'agent':
        return await agentCmd(rest);
      case 'clusters':
        if (await clustersLocal(rest)) return 0;
        break;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        return cmd === undefined ? 2 : 0;
      default:
        break;
    }
    return await runApiCommand(argv);
  } catch (e) {
    const err = e as Error;
    if (isAppError(e)) process.stderr.write(`dwsbox: ${e.wireCode}: ${e.message}\n`);
    else process.stderr.write(`dwsbox: ${err.message}\n`);
    return 1;
  }
}
