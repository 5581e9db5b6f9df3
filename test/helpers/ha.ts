/**
 * One highly available cluster (issue 15) on the run's host agent, for tests: a project OS user
 * of its own, a subnet and a port, three members by default, started and healthy. `close()`
 * removes the cluster (or, with DWSBOX_KEEP_TEST_DIRS, only stops it, keeping its files),
 * releases the subnet and the project user, and returns the processes left under its directory.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ensureAgent, type AgentClient } from '../../src/dataplane/agent/client.js';
import type { OsUser } from '../../src/dataplane/os-user.js';
import { generateHaSecrets, HaCluster, readWriteHost, type HaClusterSpec } from '../../src/dataplane/patroni/ha-cluster.js';
import { ensureServiceUser, ProjectUsers, removeProjectUser, type UidRecord } from '../../src/dataplane/project-users.js';
import { silentLogger } from '../../src/log/logger.js';
import { freePort, processesUnder, removeDir, tempDir, testAgentDir } from './env.js';
import type { Endpoint } from './ha-writer.js';

export interface HaTestCluster {
  root: string;
  agent: AgentClient;
  cluster: HaCluster;
  projectUser: OsUser;
  subnet: number;
  /** the read-write endpoint, as the superuser */
  rw: Endpoint;
  close(): Promise<{ pid: number; cmd: string }[]>;
}

export async function startHaCluster(o: {
  /** names its directory, its project user and its scope */
  prefix: string;
  ordinals?: readonly number[];
  /** more of the spec, given the cluster's paths (e.g. archiving, which needs every member's data directory) */
  extra?: (paths: HaCluster) => Partial<HaClusterSpec>;
}): Promise<HaTestCluster> {
  const root = tempDir(o.prefix);
  // revive: another test file may kill the run's agent on purpose (serve starts it again); calls then start one.
  const agent = await ensureAgent(testAgentDir(), { revive: true });
  const uids: UidRecord = { highest: async () => null, record: async () => {} };
  const projectUser = await new ProjectUsers(root, silentLogger()).ensure(o.prefix, uids);
  const scope = `${o.prefix.replace(/[^a-z0-9]/g, '').slice(0, 8)}${randomBytes(4).toString('hex')}`;
  const ordinals = o.ordinals ?? [1, 2, 3];
  const port = await freePort();
  const subnet = await agent.allocateSubnet(scope, { port, members: ordinals.length });
  const secrets = generateHaSecrets();
  const spec: HaClusterSpec = {
    scope,
    subnet,
    port,
    ordinals,
    dir: join(root, 'cluster'),
    member: projectUser,
    service: await ensureServiceUser(),
    secrets,
  };
  const cluster = new HaCluster(agent, { ...spec, ...o.extra?.(new HaCluster(agent, spec)) });
  const close = async (): Promise<{ pid: number; cmd: string }[]> => {
    // DWSBOX_KEEP_TEST_DIRS keeps the cluster's files (logs, data) for a look afterwards.
    await (process.env['DWSBOX_KEEP_TEST_DIRS'] ? cluster.stop() : cluster.remove()).catch((e: unknown) =>
      console.warn(`removing cluster ${scope}: ${(e as Error).message}`),
    );
    await agent.releaseSubnet(subnet).catch(() => false);
    await agent.close();
    const left = processesUnder(root);
    if (!process.env['DWSBOX_KEEP_TEST_DIRS']) removeDir(root);
    await removeProjectUser(projectUser.name);
    return left;
  };
  try {
    await cluster.ensure();
    await cluster.waitHealthy({ timeoutMs: 180_000 });
  } catch (e) {
    await close();
    throw e;
  }
  return {
    root,
    agent,
    cluster,
    projectUser,
    subnet,
    rw: { host: readWriteHost(subnet), port, user: secrets.superuser.username, password: secrets.superuser.password },
    close,
  };
}
