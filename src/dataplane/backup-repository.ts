/**
 * Where a stanza's backups and WAL live: the local repository (a directory) or an
 * S3-compatible object store (pgBackRest `repo1-type=s3`).
 *
 * The service's settings name the repository of NEW stanzas; each stanza records the one it
 * was created in, in its own config file (`# dwsbox-repository=<id>`), and keeps it: a
 * changed setting never moves an existing cluster behind its back (a cluster with no backup
 * sets follows at its next snapshot; one with backup sets is refused, see
 * `LocalEngine.ensureStanzaRepository`).
 *
 * Credentials (design D17): the S3 key pair is kept encrypted (AES-256-GCM under the master
 * key) in `<dataDir>/repositories/<id>.json` (0600), so a stanza whose repository is no longer
 * the configured one still reaches it. pgBackRest gets the pair:
 * - for the commands dwsbox runs, through the child's environment
 *   (`PGBACKREST_REPO1_S3_KEY`, `PGBACKREST_REPO1_S3_KEY_SECRET`), never on a command line;
 * - for `archive_command` and `restore_command`, which the PostgreSQL server runs with its
 *   own environment, from `<dataDir>/stanzas/<stanza>.d/repo-credentials.conf`: a file
 *   root's, readable by the project user's group (0640, D32), passed with
 *   `--config-include-path` (the only clear copy; PostgreSQL logs and `pg_settings` show the
 *   command, which holds only paths).
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkdirSafe, rootWithGroupOf, writeFileSafe } from './safe-fs.js';
import type { OsUser } from './os-user.js';

export type RepositoryKind = 'local' | 's3';

/** What a cluster (and so each of its snapshots) records of its repository. */
export interface RepositoryRef {
  id: string;
  kind: RepositoryKind;
}

export interface S3Location {
  /** host name or address, no port */
  endpoint: string;
  port: number;
  bucket: string;
  region: string;
  uriStyle: 'path' | 'host';
  verifyTls: boolean;
  /** PEM CA file the endpoint is verified with (a root-owned copy, 0644), or null for the system CAs */
  caFile: string | null;
  /** path inside the bucket */
  path: string;
}

export type RepositorySpec = { id: string; kind: 'local'; path: string } | { id: string; kind: 's3'; s3: S3Location };

export interface RepositoryCredentials {
  key: string;
  keySecret: string;
}

/** Encrypts and decrypts secrets under the master key (`Secrets`, D17). */
export interface Sealer {
  encrypt(plain: string): string;
  decrypt(sealed: string): string;
}

const tmpName = (file: string): string => `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 12);

export function localRepository(path: string): RepositorySpec {
  return { id: `local-${hash(path)}`, kind: 'local', path };
}

export function s3Repository(s3: S3Location): RepositorySpec {
  return { id: `s3-${hash(`${s3.endpoint}:${s3.port}/${s3.bucket}${s3.path}`)}`, kind: 's3', s3 };
}

/** The pgBackRest `repo1-*` options of a repository, without its credentials. */
export function repoOptions(r: RepositorySpec): Record<string, string> {
  if (r.kind === 'local') return { 'repo1-path': r.path };
  const s = r.s3;
  return {
    'repo1-type': 's3',
    'repo1-path': s.path,
    'repo1-s3-endpoint': s.endpoint,
    'repo1-storage-port': String(s.port),
    'repo1-s3-bucket': s.bucket,
    'repo1-s3-region': s.region,
    'repo1-s3-uri-style': s.uriStyle,
    'repo1-storage-verify-tls': s.verifyTls ? 'y' : 'n',
    ...(s.caFile ? { 'repo1-storage-ca-file': s.caFile } : {}),
  };
}

export const REPOSITORY_HEADER = '# dwsbox-repository=';

/** The repository a stanza config file records; a file written before repositories had ids is in a local one. */
export function parseStanzaRepository(text: string): RepositoryRef & { path: string } {
  const id = new RegExp(`^${REPOSITORY_HEADER}(\\S+)$`, 'm').exec(text)?.[1];
  // As root an S3 stanza's config names no repo1-type: it reaches the bucket through the repository's TLS server (D32).
  const kind: RepositoryKind = /^repo1-type=s3$/m.test(text) || id?.startsWith('s3-') ? 's3' : 'local';
  const path = /^repo1-path=(.*)$/m.exec(text)?.[1] ?? '';
  return { id: id ?? (kind === 'local' ? localRepository(path).id : 's3-unknown'), kind, path };
}

interface StoredRepository {
  spec: RepositorySpec;
  keyEnc: string | null;
  keySecretEnc: string | null;
}

/**
 * The repositories this data directory has used, with their credentials sealed under the
 * master key. Every process on the data directory reads the same files.
 */
export class RepositoryRegistry {
  private readonly cache = new Map<string, { spec: RepositorySpec; creds: RepositoryCredentials | null }>();

  constructor(
    readonly dir: string,
    private readonly sealer: Sealer | null,
  ) {}

  /**
   * Record a repository and its credentials (idempotent; new credentials replace old ones,
   * so rotating a key is a restart with the new one). An S3 CA file is copied next to it,
   * readable by every project user (0644, root's), and the stored spec names the copy.
   */
  register(spec: RepositorySpec, creds: RepositoryCredentials | null): RepositorySpec {
    mkdirSync(this.dir, { recursive: true, mode: 0o711 });
    chmodSync(this.dir, 0o711);
    let stored = spec;
    if (spec.kind === 's3' && spec.s3.caFile) {
      const copy = join(this.dir, `${spec.id}.ca.pem`);
      if (spec.s3.caFile !== copy) {
        const tmp = tmpName(copy);
        copyFileSync(spec.s3.caFile, tmp);
        chmodSync(tmp, 0o644);
        renameSync(tmp, copy);
      }
      stored = { ...spec, s3: { ...spec.s3, caFile: copy } };
    }
    if (creds && !this.sealer) throw new Error('a master key is needed to keep repository credentials');
    const body: StoredRepository = {
      spec: stored,
      keyEnc: creds ? this.sealer!.encrypt(creds.key) : null,
      keySecretEnc: creds ? this.sealer!.encrypt(creds.keySecret) : null,
    };
    // Written whole, then renamed into place: several processes on one data directory may
    // register the same repository at the same moment, and each reader sees a complete file.
    const file = join(this.dir, `${spec.id}.json`);
    const tmp = tmpName(file);
    writeFileSync(tmp, JSON.stringify(body, null, 2) + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
    this.cache.set(spec.id, { spec: stored, creds });
    return stored;
  }

  /** A recorded repository with its credentials, or null when this data directory has none by that id. */
  get(id: string): { spec: RepositorySpec; creds: RepositoryCredentials | null } | null {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const file = join(this.dir, `${id}.json`);
    if (!existsSync(file)) return null;
    const body = JSON.parse(readFileSync(file, 'utf8')) as StoredRepository;
    const creds =
      body.keyEnc && body.keySecretEnc && this.sealer
        ? { key: this.sealer.decrypt(body.keyEnc), keySecret: this.sealer.decrypt(body.keySecretEnc) }
        : null;
    const out = { spec: body.spec, creds };
    this.cache.set(id, out);
    return out;
  }
}

/** The environment that hands a repository's credentials to a pgBackRest child. */
export function credentialsEnv(creds: RepositoryCredentials | null): Record<string, string> {
  if (!creds) return {};
  return { PGBACKREST_REPO1_S3_KEY: creds.key, PGBACKREST_REPO1_S3_KEY_SECRET: creds.keySecret };
}

/**
 * Write (or clear) the credentials file the PostgreSQL server's archive and restore commands
 * read: root's, 0640 for the project user's group, in a 0750 directory (D32).
 */
export function writeCredentialsInclude(dir: string, creds: RepositoryCredentials | null, os: OsUser): void {
  // D32: root's directory and file, readable by the project user's group; never written through a planted link.
  const owner = rootWithGroupOf(os);
  mkdirSafe(dir, owner, 0o750);
  const file = join(dir, 'repo-credentials.conf');
  if (!creds) {
    if (existsSync(file)) writeFileSafe(file, "# written by dwsbox: this stanza's repository needs no credentials\n", owner, 0o640);
    return;
  }
  if (/[\r\n]/.test(creds.key + creds.keySecret)) throw new Error('repository credentials must not contain line breaks');
  writeFileSafe(
    file,
    [
      "# written by dwsbox: the S3 credentials of this stanza's repository (D17)",
      '[global]',
      `repo1-s3-key=${creds.key}`,
      `repo1-s3-key-secret=${creds.keySecret}`,
      '',
    ].join('\n'),
    owner,
    0o640,
  );
}
