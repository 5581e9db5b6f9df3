/**
 * The hosts of several-hosts operation (issue 18, design D27): a machine whose host agent serves
 * the control plane over mutual TLS at `address:agentPort`, in an availability zone. What the
 * last check of its agent found is kept with it (`state`, `report`).
 */
import { isIPv4 } from 'node:net';
import { AppError } from '../errors/app-error.js';

export type HostState = 'new' | 'up' | 'unreachable';

/** What a host's agent reports of it (`GET /v1/host`), as the host's kernel tells it. */
export interface HostReport {
  hostname: string;
  /** the host's non-loopback IPv4 addresses */
  addresses: string[];
  cpus: number;
  memTotalBytes: number;
  memAvailableBytes: number;
  /** the filesystem of the agent's directory */
  diskTotalBytes: number;
  diskFreeBytes: number;
}

export interface HostRecord {
  name: string;
  zone: string;
  address: string;
  agentPort: number;
  state: HostState;
  /** why the last check did not reach the agent */
  stateReason: string | null;
  /** the agent's report at the last check that reached it */
  report: HostReport | null;
  /** SHA-256 of the certificate made for its agent (as `openssl x509 -fingerprint -sha256` prints it) */
  certFingerprint: string;
  createdAt: number;
  checkedAt: number | null;
}

/** A member of the fleet's etcd (issue 18) as its host's agent reports it now. */
export interface EtcdMemberState {
  /** the member's name: its host's */
  name: string;
  address: string;
  /** its client URL */
  endpoint: string;
  /** `healthy`, or why not (a fleet's member is healthy only while a majority runs) */
  health: string;
  /** the agent's unit state (`running`, …), null when the agent could not be asked */
  unit: string | null;
}

/** The port an agent listens on for the control plane when `hosts add` is given none. */
export const DEFAULT_AGENT_PORT = 8701;
/** The zone of a host registered without one. */
export const DEFAULT_ZONE = 'local-1a';

/** A host's name (also its etcd member's). */
export const HOST_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const ZONE = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** An agent's listening address and port, checked (`hosts add`, `agent --listen`); a `VALIDATION` error says which is wrong. */
export function checkAgentEndpoint(address: string, port: number): void {
  if (!isIPv4(address) || address === '0.0.0.0' || address.startsWith('255.'))
    throw new AppError('VALIDATION', { args: [`address ${JSON.stringify(address)}: the IPv4 address the host's agent listens on`] });
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new AppError('VALIDATION', { args: [`port ${String(port)}: 1-65535`] });
}

/** A new host's fields, checked; a `VALIDATION` error names the first that is wrong. */
export function checkHostInput(i: { name: string; address: string; port?: number | undefined; zone?: string | undefined }): {
  name: string;
  address: string;
  agentPort: number;
  zone: string;
} {
  const bad = (why: string): never => {
    throw new AppError('VALIDATION', { args: [why] });
  };
  if (!HOST_NAME.test(i.name)) bad(`host name ${JSON.stringify(i.name)}: a lower-case letter, then letters, digits and '-', at most 63`);
  const port = i.port ?? DEFAULT_AGENT_PORT;
  checkAgentEndpoint(i.address, port);
  const zone = i.zone ?? DEFAULT_ZONE;
  if (!ZONE.test(zone)) bad(`zone ${JSON.stringify(zone)}: lower-case letters, digits and '-', at most 64`);
  return { name: i.name, address: i.address, agentPort: port, zone };
}
