/**
 * `npx dwsbox doctor`: checks what dwsbox needs on this host and that every cluster's nodes
 * agree with the store, and prints each problem with its fix.
 */
import { existsSync, readdirSync, readFileSync, statSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config/config.js';
import { findBinaries, type Binaries } from '../../dataplane/binaries.js';
import { createEngine } from '../../main.js';
import { lookupUser, osIdentity } from '../../dataplane/os-user.js';
import { allPids } from '../../dataplane/process-info.js';
import { silentLogger } from '../../log/logger.js';
import { openStore } from '../../store/open-store.js';
import { codeVersion, currentVersion } from '../../store/migrate.js';
import type { Store } from '../../store/store.js';

export interface Finding {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

/** Processes whose command line is a postmaster under `dir`. */
function postmastersUnder(dir: string): { pid: number; dataDir: string }[] {
  const out: { pid: number; dataDir: string }[] = [];
  for (const pid of allPids()) {
    try {
      const argv = readFileArgv(pid);
      const i = argv.indexOf('-D');
      if (i > 0 && /postgres$/.test(argv[0] ?? '') && argv[i + 1]?.startsWith(dir)) out.push({ pid, dataDir: argv[i + 1]! });
    } catch {
      /* gone */
    }
  }
  return out;
}

function readFileArgv(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

function modeOf(p: string): number | null {
  try {
    return statSync(p).mode & 0o777;
  } catch {
    return null;
  }
}

export async function runDoctor(config: Config): Promise<Finding[]> {
  const f: Finding[] = [];
  const add = (check: string, ok: boolean, detail: string, fix?: string): void => {
    f.push({ check, ok, detail, ...(fix && !ok ? { fix } : {}) });
  };

  let bins: Binaries | null = null;
  try {
    bins = findBinaries(config.pgBinDir);
    add('binaries', true, `PostgreSQL ${bins.pgVersion} in ${bins.binDir}; pgBackRest ${bins.pgbackrestVersion}`);
  } catch (e) {
    add(
      'binaries',
      false,
      (e as Error).message,
      'bash scripts/setup.sh (installs postgresql-15 and pgbackrest), or apt-get install -y postgresql-15 pgbackrest',
    );
  }
  for (const tool of ['setpriv', 'flock']) {
    const found = ['/usr/bin', '/bin'].some((d) => existsSync(join(d, tool)));
    add(`tool ${tool}`, found, found ? 'found' : 'not found', 'apt-get install -y util-linux');
  }

  // Highly available clusters (issue 15, D23): Patroni, etcd and HAProxy, run by the host agent.
  for (const [pkg, bin] of [
    ['patroni', '/usr/bin/patroni'],
    ['etcd-server', '/usr/bin/etcd'],
    ['haproxy', '/usr/sbin/haproxy'],
  ] as const) {
    const found = existsSync(bin);
    add(`tool ${bin.split('/').pop()}`, found, found ? bin : 'not found', `bash scripts/setup.sh (or apt-get install -y ${pkg})`);
  }

  const root = process.getuid?.() === 0;
  if (root) {
    const pg = lookupUser('postgres');
    add(
      'postgres OS user',
      !!pg,
      pg ? `uid ${pg.uid}, gid ${pg.gid}` : 'missing',
      'useradd --system --home-dir /var/lib/postgresql --create-home --shell /bin/bash postgres (or bash scripts/setup.sh)',
    );
  }

  // Data directory: exists, reachable by postgres (every parent traversable), free space.
  if (!existsSync(config.dataDir)) {
    add(
      'data directory',
      false,
      `${config.dataDir} does not exist`,
      `it is created by the first npx dwsbox serve --data-dir ${config.dataDir}`,
    );
  } else {
    let blocked: string | null = null;
    if (root) {
      for (let p = config.dataDir; ; p = join(p, '..')) {
        const m = modeOf(p);
        if (m !== null && (m & 0o001) === 0 && statSync(p).uid !== osIdentity().postgres.uid) blocked = `${p} (mode ${m.toString(8)})`;
        if (join(p, '..') === p) break;
      }
    }
    add(
      'data directory permissions',
      blocked === null,
      blocked ? `the postgres user cannot traverse ${blocked}` : `${config.dataDir} is reachable by the postgres user`,
      blocked ? `chmod o+x ${blocked.split(' ')[0]}, or use a data directory outside it` : undefined,
    );
    const s = statfsSync(config.dataDir);
    const free = s.bavail * s.bsize;
    add(
      'free space',
      free > 1e9,
      `${(free / 1e9).toFixed(1)} GB free in ${config.dataDir}`,
      'free disk space: every node and the repository live there',
    );
  }

  // Store: reachable, migrations current.
  let store: Store | null = null;
  try {
    store = openStore(config.store);
    await store.ping();
    const have = await currentVersion(store.adapter);
    const want = codeVersion(store.adapter);
    add(
      'store',
      have === want,
      `${store.adapter.name} store, schema version ${have} (this dwsbox: ${want})`,
      have < want ? 'npx dwsbox migrate' : 'upgrade dwsbox, or restore the store from a backup taken before the upgrade',
    );
  } catch (e) {
    add(
      'store',
      false,
      `cannot open the store: ${(e as Error).message}`,
      'check --store / DWSBOX_STORE_URL and that the server (PostgreSQL store) is reachable',
    );
  }

  // The API port.
  if (bins) {
    // The configured engine names slots and logs as its clusters have them (nothing is started here).
    const engine = createEngine({ ...config, unsafeNoFsync: false, initdbPool: 0 }, bins, silentLogger());
    const free = await engine.isAddressFree(config.host, config.port);
    add(
      'API port',
      true,
      free
        ? `${config.host}:${config.port} is free`
        : `${config.host}:${config.port} is in use (by a running dwsbox serve, or something else)`,
    );

    if (store) {
      // Every cluster's nodes against the store, and orphans.
      const known = new Set<string>();
      const clusters = await store.listClusters();
      for (const c of clusters) {
        const nodes = await store.listNodes(c.id);
        for (const n of nodes) {
          known.add(n.dataDir);
          const st = engine.nodeStatus(c, n);
          if (n.membership !== 'active') continue;
          const shouldRun = !c.stopped && ['AVAILABLE', 'UNAVAILABLE'].includes(c.status);
          if (shouldRun && !st)
            add(
              `cluster ${c.name} node ${n.ordinal}`,
              false,
              `${n.host}:${n.port} should run but does not`,
              `POST /v1.0/{project_id}/clusters/${c.id}/restart, or start dwsbox serve (it starts nodes that should run)`,
            );
          else if (c.stopped && st)
            add(
              `cluster ${c.name} node ${n.ordinal}`,
              false,
              `runs (pid ${st.pid}) although the cluster is stopped`,
              `POST /v1/{project_id}/clusters/${c.id}/stop again, or kill -INT ${st.pid}`,
            );
          else add(`cluster ${c.name} node ${n.ordinal}`, true, st ? `running, pid ${st.pid}` : 'stopped, as it should be');
        }
        const primary = nodes.find((n) => n.role === 'primary');
        if (primary && engine.memberStatus(c, primary)) {
          try {
            const standbys = new Set(nodes.filter((n) => n.role === 'standby').map((n) => n.ordinal));
            for (const slot of await engine.replicationSlots(c, primary)) {
              if (slot.ordinal !== null && !standbys.has(slot.ordinal))
                add(
                  `cluster ${c.name} slot ${slot.name}`,
                  false,
                  'replication slot with no standby: it keeps WAL on the primary',
                  `psql on the primary: select pg_drop_replication_slot('${slot.name}')`,
                );
            }
          } catch (e) {
            add(`cluster ${c.name} slots`, false, `cannot read replication slots: ${(e as Error).message}`);
          }
        }
      }
      for (const p of postmastersUnder(config.dataDir)) {
        if (known.has(p.dataDir)) continue;
        add(
          'orphan PostgreSQL',
          false,
          `pid ${p.pid} runs ${p.dataDir}, which the store does not know`,
          `kill -INT ${p.pid} (a temporary instance of an interrupted task, or a node of a deleted cluster)`,
        );
      }
      const tmp = join(config.dataDir, 'tmp');
      const left = existsSync(tmp) ? readdirSync(tmp) : [];
      const active = new Set((await store.listActiveTasks()).map((t) => t.id));
      for (const d of left.filter((x) => !active.has(x)))
        add(
          'temporary instance',
          false,
          `${join(tmp, d)} is left from a finished task`,
          `rm -rf ${join(tmp, d)} (stop its postmaster first if one runs)`,
        );
    }
  }
  await store?.close();
  return f;
}
