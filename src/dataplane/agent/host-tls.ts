/**
 * The host agent as the control plane reaches it on another host (design D27, issue 18): the
 * agent's own calls over HTTPS on the host's address, with mutual TLS. Both sides hold a
 * certificate of the dwsbox CA (`dataplane/tls.ts`, made at the control plane's first start):
 * the agent accepts only a client whose certificate the CA signed and names the control plane
 * (`CONTROL_CN`), and the control plane accepts only an agent whose certificate the CA signed
 * for that host's address. No token travels: the certificates are the credentials.
 *
 * An agent's bundle (`hosts add` writes it for the operator to install on the host): `ca.crt`,
 * `agent.crt`, `agent.key` in one directory, root's, 0600 for the key.
 *
 * And what the agent reports of its host (`GET /v1/host`): memory, the disk of its directory,
 * processors and addresses, as this host's kernel tells them.
 */
import { readFileSync, statfsSync } from 'node:fs';
import { availableParallelism, hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { HostReport } from '../../domain/hosts.js';

/** The CN of the control plane's client certificate: the one client an agent's TLS listener serves. */
export const CONTROL_CN = 'dwsbox-control';

export interface TlsFiles {
  ca: string;
  crt: string;
  key: string;
}

/** The files of an agent's bundle directory. */
export const agentBundle = (dir: string): TlsFiles => ({
  ca: join(dir, 'ca.crt'),
  crt: join(dir, 'agent.crt'),
  key: join(dir, 'agent.key'),
});

/** Node's TLS options of a listener or a client from the files: the peer must hold a certificate of the same CA. */
export function tlsOptions(f: TlsFiles): { ca: Buffer; cert: Buffer; key: Buffer } {
  return { ca: readFileSync(f.ca), cert: readFileSync(f.crt), key: readFileSync(f.key) };
}

/**
 * The HTTPS server options of the agent's host listener: the client's certificate is required
 * and checked against the CA during the handshake (a client without one, or with one of
 * another CA, never gets a request through); TLS 1.3 only.
 */
export function agentHttpsOptions(bundleDir: string): Record<string, unknown> {
  return { ...tlsOptions(agentBundle(bundleDir)), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' };
}

/** Why a request on the TLS listener is not the control plane's (null: it is). */
export function notControlPlane(socket: unknown): string | null {
  const s = socket as Partial<TLSSocket>;
  if (typeof s.getPeerCertificate !== 'function') return 'not a TLS connection';
  if (!s.authorized) return `the client's certificate was not accepted (${String(s.authorizationError ?? 'none')})`;
  const cn = s.getPeerCertificate().subject?.CN;
  return cn === CONTROL_CN ? null : `the certificate of ${JSON.stringify(cn)} is not the control plane's`;
}

/** What this host offers now, as its kernel reports it. */
export function hostReport(agentDir: string): HostReport {
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1] ?? 0) * 1024;
  const fs = statfsSync(agentDir);
  const addresses = Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => a.family === 'IPv4' && !a.internal)
    .map((a) => a.address)
    .sort();
  return {
    hostname: hostname(),
    addresses,
    cpus: availableParallelism(),
    memTotalBytes: kb('MemTotal'),
    memAvailableBytes: kb('MemAvailable'),
    diskTotalBytes: fs.blocks * fs.bsize,
    diskFreeBytes: fs.bavail * fs.bsize,
  };
}
