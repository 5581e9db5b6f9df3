/**
 * `dwsbox hosts add|list|remove|etcd` (issue 18, D27): the hosts of several-hosts operation, on the
 * data directory's store and CA (run where the service's data directory is, as root). `add`
 * registers a host and writes its agent's bundle; `list` asks each agent over mutual TLS now.
 * docs/operations.md#several-hosts.
 */
import type { Config } from '../../config/config.js';
import { systemClock } from '../../domain/clock.js';
import { AgentFleet } from '../../dataplane/agent/host-agents.js';
import { etcdMemberOut, HostService, hostOut } from '../../services/host-service.js';
import { migrate } from '../../store/migrate.js';
import { openStore } from '../../store/open-store.js';

async function withHosts<T>(config: Config, fn: (hosts: HostService) => Promise<T>): Promise<T> {
  const store = openStore(config.store);
  try {
    await migrate(store.adapter);
    return await fn(new HostService({ store, clock: systemClock, agents: new AgentFleet(config.dataDir) }));
  } finally {
    await store.close();
  }
}

export function hostsAdd(
  config: Config,
  i: { name: string; address: string; port?: number | undefined; zone?: string | undefined; bundleOut: string },
): Promise<unknown> {
  return withHosts(config, async (hosts) => {
    const { host, bundle } = await hosts.add(i, i.bundleOut);
    return {
      host: hostOut(host),
      bundle,
      next: `install the bundle on the host, then run there: dwsbox agent --listen ${host.address}:${host.agentPort} --bundle <its directory>`,
    };
  });
}

export function hostsList(config: Config): Promise<unknown> {
  return withHosts(config, async (hosts) => ({ hosts: (await hosts.list()).map(hostOut) }));
}

export function hostsRemove(config: Config, name: string): Promise<unknown> {
  return withHosts(config, (hosts) => hosts.remove(name));
}

/** `hosts etcd H1 H2 H3` forms (or resumes forming) the fleet's etcd; `hosts etcd` shows its members. */
export function hostsEtcd(config: Config, names: string[]): Promise<unknown> {
  return withHosts(config, async (hosts) => ({
    members: (names.length ? await hosts.formEtcd(names) : await hosts.etcdMembers()).map(etcdMemberOut),
  }));
}
