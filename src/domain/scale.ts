/**
 * Scale-out and scale-in rules (design D5, D6, D18), pure: which node numbers a scale-out adds
 * and a scale-in removes, what blocks a scale-out (the grow-check items, in English and
 * Chinese), and how many nodes a scale-in may remove. The service and the task steps gather
 * the figures (store, host, addresses); the verdicts are made here, once, for both.
 */
import { AppError } from '../errors/app-error.js';
import type { Lang } from './step-names.js';

/** The API's lower bound on a cluster's size; a scale-in never goes below it. */
export const MIN_CLUSTER_NODES = 3;
/** D6: node i listens on 127.0.c.i, so node numbers run from 1 (the primary) to 254. */
export const MAX_NODE_ORDINAL = 254;

/**
 * The node numbers a scale-out of `count` nodes adds: the lowest free ones from 2 up (node 1
 * is the primary). null when they do not fit below 254 (D6).
 */
export function newOrdinals(existing: readonly number[], count: number): number[] | null {
  const used = new Set(existing);
  const out: number[] = [];
  for (let i = 2; i <= MAX_NODE_ORDINAL && out.length < count; i++) if (!used.has(i)) out.push(i);
  return out.length === count ? out : null;
}

/** How many nodes a scale-in may remove from a cluster of `activeNodes` (never below 3). */
export function maxShrink(activeNodes: number): number {
  return Math.max(0, activeNodes - MIN_CLUSTER_NODES);
}

/** Why a scale-in of `n` nodes is refused, or null. */
export function shrinkProblem(activeNodes: number, n: number): string | null {
  if (!Number.isInteger(n) || n < 1) return `shrink_number must be an integer of at least 1, got ${n}`;
  const max = maxShrink(activeNodes);
  if (n > max) {
    return `a cluster keeps at least ${MIN_CLUSTER_NODES} nodes: this one has ${activeNodes}, so ${max === 0 ? 'no node' : `at most ${max} node${max === 1 ? '' : 's'}`} can be removed, not ${n}`;
  }
  return null;
}

/**
 * The standbys a scale-in of `n` removes: the highest-numbered ones, highest first. The
 * primary is never among them.
 */
export function shrinkOrdinals(active: readonly { ordinal: number; role: string }[], n: number): number[] {
  return active
    .filter((x) => x.role === 'standby' && x.ordinal !== 1)
    .map((x) => x.ordinal)
    .sort((a, b) => b - a)
    .slice(0, n);
}

// ------------------------------------------------------------------ grow-check

/** What the service (grow-check, resize) and the CHECK_GROW step measure before a scale-out. */
export interface GrowFigures {
  status: string;
  stopped: boolean;
  /** the D8 key of a running operation on the cluster, or null */
  busyWith: string | null;
  primaryUp: boolean;
  /** node numbers the cluster uses (every membership) */
  existingOrdinals: number[];
  /** nodes the cluster has now (active) */
  activeNodes: number;
  count: number;
  /** nodes of the project, and of the host, without the new ones */
  projectNodes: number;
  projectQuota: number;
  hostNodes: number;
  hostNodeLimit: number;
  memAvailableBytes: number;
  memPerNodeBytes: number;
  diskFreeBytes: number;
  /** bytes one copy of the primary takes (its databases) */
  copyBytes: number;
  port: number;
  wildcardListener: boolean;
  /** `host:port` of new nodes that another process holds */
  busyAddresses: string[];
  /** standbys that are down now (a warning, not a blocker) */
  downStandbys: number[];
}

export const GrowReason = {
  ClusterBusy: 'CLUSTER_BUSY',
  ClusterStatus: 'CLUSTER_STATUS',
  ClusterStopped: 'CLUSTER_STOPPED',
  PrimaryDown: 'PRIMARY_DOWN',
  AddressRange: 'ADDRESS_RANGE',
  PortWildcard: 'PORT_WILDCARD',
  AddressInUse: 'ADDRESS_IN_USE',
  NodeQuota: 'NODE_QUOTA',
  HostNodeLimit: 'HOST_NODE_LIMIT',
  HostMemory: 'HOST_MEMORY',
  HostDisk: 'HOST_DISK',
  StandbyDown: 'STANDBY_DOWN',
} as const;
export type GrowReason = (typeof GrowReason)[keyof typeof GrowReason];

export type GrowCheckType = 'status' | 'quota' | 'capacity' | 'limit';

export interface GrowProblem {
  reason: GrowReason;
  type: GrowCheckType;
  /** true: the scale-out is refused; false: a warning */
  required: boolean;
  args: Record<string, string | number>;
}

/** Disk a new node needs besides its copy of the data: WAL segments and the server's own files. */
export const NODE_DISK_OVERHEAD_BYTES = 64e6;

const toMegabytes = (b: number): number => Math.round(b / 1e6);

/** Everything that stands in the way of a scale-out, blockers first, in a fixed order. */
export function growProblems(f: GrowFigures): GrowProblem[] {
  const out: GrowProblem[] = [];
  const add = (reason: GrowReason, type: GrowCheckType, args: GrowProblem['args'] = {}, required = true): void => {
    out.push({ reason, type, required, args });
  };
  if (f.busyWith) add('CLUSTER_BUSY', 'status', { action: f.busyWith });
  if (f.stopped) add('CLUSTER_STOPPED', 'status');
  else if (f.status !== 'AVAILABLE') add('CLUSTER_STATUS', 'status', { status: f.status });
  else if (!f.primaryUp && !f.busyWith) add('PRIMARY_DOWN', 'status');
  const ordinals = newOrdinals(f.existingOrdinals, f.count);
  if (!ordinals)
    add('ADDRESS_RANGE', 'limit', {
      current: f.existingOrdinals.length,
      count: f.count,
      total: f.existingOrdinals.length + f.count,
      max: MAX_NODE_ORDINAL,
    });
  if (f.wildcardListener) add('PORT_WILDCARD', 'capacity', { port: f.port });
  if (f.busyAddresses.length) add('ADDRESS_IN_USE', 'capacity', { addresses: f.busyAddresses.join(', ') });
  if (f.projectNodes + f.count > f.projectQuota)
    add('NODE_QUOTA', 'quota', { current: f.projectNodes, count: f.count, limit: f.projectQuota });
  // The host's figures decide but are never shown: a tenant sees its own request and quota,
  // not what the host or other projects use (issue 12).
  if (f.hostNodes + f.count > f.hostNodeLimit) add('HOST_NODE_LIMIT', 'capacity', { count: f.count });
  const mem = f.memPerNodeBytes * f.count;
  if (mem > f.memAvailableBytes) add('HOST_MEMORY', 'capacity', { count: f.count, need: toMegabytes(mem) });
  const disk = (f.copyBytes + NODE_DISK_OVERHEAD_BYTES) * f.count;
  if (disk > f.diskFreeBytes) add('HOST_DISK', 'capacity', { count: f.count, need: toMegabytes(disk) });
  if (f.downStandbys.length) add('STANDBY_DOWN', 'status', { nodes: f.downStandbys.join(', ') }, false);
  return out;
}

const TYPE_TEXT: Record<GrowCheckType, Record<Lang, string>> = {
  status: { en: 'status', zh: '状态' },
  quota: { en: 'quota', zh: '配额' },
  capacity: { en: 'capacity', zh: '资源' },
  limit: { en: 'limit', zh: '限制' },
};

const DESC_TEXT: Record<GrowReason, Record<Lang, string>> = {
  CLUSTER_BUSY: {
    en: 'The cluster is running another operation ({action}); try again when it has finished.',
    zh: '集群正在执行其他操作（{action}），请在其完成后重试。',
  },
  CLUSTER_STATUS: {
    en: 'The cluster status is {status}; a scale-out needs an AVAILABLE cluster.',
    zh: '集群状态为 {status}，扩容需要集群处于可用（AVAILABLE）状态。',
  },
  CLUSTER_STOPPED: { en: 'The cluster is stopped; start it first.', zh: '集群已停止，请先启动集群。' },
  PRIMARY_DOWN: {
    en: 'The primary node is not running; the new nodes copy their data from it. Restart the cluster first.',
    zh: '主节点未运行，新节点需要从主节点复制数据。请先重启集群。',
  },
  ADDRESS_RANGE: {
    en: 'A cluster has at most {max} nodes on this host (one loopback address each): {current} + {count} would be {total}.',
    zh: '本主机上的集群最多有 {max} 个节点（每个节点一个回环地址）：{current} + {count} = {total}。',
  },
  PORT_WILDCARD: {
    en: "Port {port} is held by a process listening on all addresses (0.0.0.0:{port}), which blocks the new nodes' addresses; stop that process.",
    zh: '端口 {port} 被监听所有地址（0.0.0.0:{port}）的进程占用，新节点的地址无法使用，请停止该进程。',
  },
  ADDRESS_IN_USE: {
    en: "The new nodes' addresses are in use by another process: {addresses}.",
    zh: '新节点的地址已被其他进程占用：{addresses}。',
  },
  NODE_QUOTA: {
    en: 'The project has {current} nodes; {count} more would pass its quota of {limit}.',
    zh: '项目已有 {current} 个节点，再增加 {count} 个将超过配额 {limit}。',
  },
  HOST_NODE_LIMIT: {
    en: 'This host has no room for {count} more nodes now (the operator limits the nodes it runs); try fewer nodes or later.',
    zh: '本主机当前无法再容纳 {count} 个节点（运维人员限制了节点总数），请减少节点数或稍后重试。',
  },
  HOST_MEMORY: {
    en: '{count} new nodes need {need} MB of memory, more than this host has free now.',
    zh: '{count} 个新节点需要 {need} MB 内存，超过本主机当前可用内存。',
  },
  HOST_DISK: {
    en: 'Copying the data to {count} new nodes needs about {need} MB of disk, more than this host has free now.',
    zh: '向 {count} 个新节点复制数据约需 {need} MB 磁盘空间，超过本主机当前可用空间。',
  },
  STANDBY_DOWN: {
    en: 'Standby node {nodes} is down; the scale-out can run, and the cluster stays DEGRADED until it is back.',
    zh: '备节点 {nodes} 已停止；扩容可以进行，但在其恢复前集群仍处于降级（DEGRADED）状态。',
  },
};

/** `desc` and `type` of a grow-check item, in the request's language. */
export function growCheckText(p: GrowProblem, lang: Lang): { desc: string; type: string } {
  const desc = DESC_TEXT[p.reason][lang].replace(/\{(\w+)\}/g, (_, k: string) => String(p.args[k] ?? ''));
  return { desc, type: TYPE_TEXT[p.type][lang] };
}

/** The AppError a blocking grow-check item becomes (resize and CHECK_GROW alike). */
export function growProblemError(p: GrowProblem, clusterName: string): AppError {
  const desc = growCheckText(p, 'en').desc;
  switch (p.reason) {
    case 'CLUSTER_BUSY':
    case 'CLUSTER_STATUS':
    case 'CLUSTER_STOPPED':
    case 'PRIMARY_DOWN':
      return new AppError('CLUSTER_STATE_CONFLICT', { args: [clusterName, desc] });
    case 'NODE_QUOTA':
      return new AppError('NODE_QUOTA_EXCEEDED', { args: [desc] });
    default:
      return new AppError('CAPACITY_EXCEEDED', { args: [desc] });
  }
}
