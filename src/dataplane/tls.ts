/**
 * The dwsbox certificate authority of a data directory and the certificates it issues, made
 * with `openssl` (one command each, no shell). pgBackRest's TLS servers (D32: the S3
 * repository server; D27: the servers of several hosts) and their clients authenticate each
 * other with them: a client's certificate CN names who it is (a project user, `dwsbox-repo`),
 * and the server authorises that name for its own stanzas (`tls-server-auth`).
 *
 * Layout, all in `<dataDir>/tls/` (root's, 0711: no project user can plant a name in it):
 * `ca.key` (root, 0600), `ca.crt` (0644), `<name>.crt` (0644) and `<name>.key` (root's,
 * readable by the group of the user the certificate is for, 0640). A certificate is made once
 * and kept; its key never leaves the directory.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { OsUser } from './os-user.js';
import { baseEnv, runTool } from './pg-exec.js';
import { withLock } from './serial-lock.js';
import { mkdirSafe, serviceOwner } from './safe-fs.js';

/** Ten years: the certificates are dwsbox's own, renewed by making new ones (docs/security.md). */
const DAYS = '3650';
const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export interface CertPaths {
  crt: string;
  key: string;
}

export class CertificateAuthority {
  readonly dir: string;
  private readonly lockFile: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'tls');
    this.lockFile = join(dataDir, 'locks', 'tls.lock');
  }

  /** Run `fn` alone: one call at a time in this process, under the data directory's TLS lock. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return withLock(this.lockFile, 'certificates', fn);
  }

  get caFile(): string {
    return join(this.dir, 'ca.crt');
  }

  /** The CA's certificate (PEM), for a client that trusts it. */
  caPem(): string {
    return readFileSync(this.caFile, 'utf8');
  }

  /** The CA's key and certificate, made at first use (idempotent). */
  ensureCa(): Promise<void> {
    return this.serial(() => this.makeCa());
  }

  private async makeCa(): Promise<void> {
    mkdirSafe(this.dir, serviceOwner(), 0o711);
    if (existsSync(this.caFile)) return;
    const key = join(this.dir, 'ca.key');
    const tmp = temps({ key, crt: this.caFile });
    await openssl([
      'req',
      '-x509',
      ...KEY_ARGS,
      '-keyout',
      tmp.key,
      '-out',
      tmp.crt,
      '-days',
      DAYS,
      '-subj',
      '/CN=dwsbox CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    chmodSync(tmp.key, 0o600);
    chmodSync(tmp.crt, 0o644);
    renameSync(tmp.key, key);
    renameSync(tmp.crt, this.caFile);
  }

  /**
   * A certificate for `name` (its CN; also what `tls-server-auth` names), valid for TLS
   * clients and servers at `addresses`, its key readable by `owner`'s group: made once, then
   * kept.
   */
  async ensureCert(name: string, owner: Pick<OsUser, 'gid'>, addresses: readonly string[] = ['127.0.0.1']): Promise<CertPaths> {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) throw new Error(`not a certificate name: ${name}`);
    const out = { crt: join(this.dir, `${name}.crt`), key: join(this.dir, `${name}.key`) };
    if (existsSync(out.crt) && existsSync(out.key)) return out;
    return this.serial(async () => {
      if (existsSync(out.crt) && existsSync(out.key)) return out;
      await this.makeCa();
      await this.makeCert(name, out, owner, addresses);
      return out;
    });
  }

  /**
   * A certificate for `name` at `addresses`, written to `out` and not kept here: a host agent's
   * (issue 18), handed to its host in its bundle. Its key is root's, 0600.
   */
  async issue(name: string, addresses: readonly string[], out: CertPaths): Promise<void> {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) throw new Error(`not a certificate name: ${name}`);
    await this.serial(async () => {
      await this.makeCa();
      await this.makeCert(name, out, serviceOwner(), addresses, 0o600);
    });
  }

  private async makeCert(
    name: string,
    out: CertPaths,
    owner: Pick<OsUser, 'gid'>,
    addresses: readonly string[],
    keyMode = 0o640,
  ): Promise<void> {
    const tmp = temps(out);
    // pgBackRest 2.45 matches a server's host against DNS names only: each address is both.
    const san = addresses.flatMap((a) => [`IP:${a}`, `DNS:${a}`]).join(',');
    await openssl([
      'req',
      '-x509',
      ...KEY_ARGS,
      '-keyout',
      tmp.key,
      '-out',
      tmp.crt,
      '-days',
      DAYS,
      '-subj',
      `/CN=${name}`,
      '-CA',
      this.caFile,
      '-CAkey',
      join(this.dir, 'ca.key'),
      '-addext',
      `subjectAltName=${san}`,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      '-addext',
      'extendedKeyUsage=serverAuth,clientAuth',
    ]);
    chownSync(tmp.key, serviceOwner().uid, owner.gid);
    chmodSync(tmp.key, keyMode);
    chmodSync(tmp.crt, 0o644);
    renameSync(tmp.key, out.key);
    renameSync(tmp.crt, out.crt);
  }
}

const temps = (p: CertPaths): CertPaths => {
  const n = randomBytes(4).toString('hex');
  return { key: `${p.key}.${n}.tmp`, crt: `${p.crt}.${n}.tmp` };
};

async function openssl(args: string[]): Promise<void> {
  await runTool({ cmd: 'openssl', args, env: baseEnv(), label: 'openssl', timeoutMs: 60_000 });
}
