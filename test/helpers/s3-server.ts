/**
 * An S3-compatible store for the S3 repository tests: s3rver (npm) in process, over HTTPS
 * with a certificate signed by a CA made here with openssl (run directly, no shell), so
 * pgBackRest verifies TLS with that CA. It accepts one key pair, made for the test, so a
 * request signed with anything else fails.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { removeDir, tempDir } from './env.js';

const require = createRequire(import.meta.url);
interface S3rverLike {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverCtor = new (o: Record<string, unknown>) => S3rverLike;
const S3rver = require('s3rver') as S3rverCtor;
const account = require('s3rver/lib/models/account.js') as {
  DUMMY_ACCOUNT: { createKeyPair(k: string, s: string): void; revokeAccessKey(k: string): void };
};

const run = promisify(execFile);

/**
 * s3rver 3.7.1 lists a delimited prefix wrongly: it never walks below a first-level
 * "directory", so a prefix that holds only deeper prefixes (a backup set's `pg_data/base/`,
 * an archive's `15-1/`) is missing from CommonPrefixes, and pgBackRest, which walks a path
 * level by level, never sees the objects under it (nor deletes them on expire). Real S3 lists
 * every common prefix; this gives s3rver the same answer: all keys under the prefix, grouped
 * at the delimiter.
 *
 * Its answers are also never cut into pages: s3rver makes a truncated list's continuation token
 * with DES, which Node's OpenSSL 3 refuses (ERR_OSSL_EVP_UNSUPPORTED), so a list of over 1,000
 * keys answered 500 and pgBackRest retried for 60 s and failed (a stanza-delete of a Patroni
 * cluster's repository, whose full backup has over 1,000 files). Real S3 pages at 1,000;
 * pgBackRest reads either.
 */
interface Listed {
  objects: { key: string }[];
  commonPrefixes: string[];
  isTruncated: boolean;
}
type ListFn = (
  this: unknown,
  bucket: string,
  o: { delimiter?: string; prefix?: string; maxKeys?: number; startAfter?: string },
) => Promise<Listed>;
const store = require('s3rver/lib/stores/filesystem.js') as { prototype: { listObjects: ListFn } };
const listAll = store.prototype.listObjects;
store.prototype.listObjects = async function (this: unknown, bucket, o) {
  const { delimiter = '', prefix = '' } = o;
  const all = await listAll.call(this, bucket, { ...o, delimiter: '', maxKeys: Infinity });
  if (!delimiter) return { ...all, isTruncated: false };
  const commonPrefixes = new Set<string>();
  const objects: { key: string }[] = [];
  for (const obj of all.objects) {
    const idx = obj.key.slice(prefix.length).indexOf(delimiter);
    if (idx !== -1) commonPrefixes.add(obj.key.slice(0, prefix.length + idx + 1));
    else objects.push(obj);
  }
  return { objects, commonPrefixes: [...commonPrefixes].sort(), isTruncated: false };
};

export interface TestS3 {
  /** host:port, as the repoS3Endpoint setting takes it */
  endpoint: string;
  bucket: string;
  caFile: string;
  key: string;
  secret: string;
  /** keys of the objects in the bucket under `prefix` */
  objects(prefix?: string): string[];
  stop(): Promise<void>;
}

async function makeCertificates(dir: string): Promise<{ caFile: string; key: Buffer; cert: Buffer }> {
  const p = (n: string): string => join(dir, n);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=dwsbox test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p('server.key'),
    '-out',
    p('server.csr'),
    '-subj',
    '/CN=127.0.0.1',
  ]);
  writeFileSync(
    p('server.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:127.0.0.1\n',
  );
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-out',
    p('server.pem'),
    '-days',
    '2',
    '-extfile',
    p('server.ext'),
  ]);
  return { caFile: p('ca.pem'), key: readFileSync(p('server.key')), cert: readFileSync(p('server.pem')) };
}

export async function startS3(): Promise<TestS3> {
  const dir = tempDir('s3');
  const certs = await makeCertificates(dir);
  const bucket = 'dwsbox-test';
  const key = `DWSBOXTEST${randomBytes(5).toString('hex').toUpperCase()}`;
  const secret = `s3-secret-${randomBytes(12).toString('hex')}`;
  account.DUMMY_ACCOUNT.createKeyPair(key, secret);
  const directory = join(dir, 'data');
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    directory,
    silent: true,
    key: certs.key,
    cert: certs.cert,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const addr = await server.run();
  const suffix = '._S3rver_object';
  return {
    endpoint: `127.0.0.1:${addr.port}`,
    bucket,
    caFile: certs.caFile,
    key,
    secret,
    objects(prefix = '') {
      const out: string[] = [];
      const walk = (d: string, rel: string): void => {
        let names: string[] = [];
        try {
          names = readdirSync(d);
        } catch {
          return;
        }
        for (const n of names) {
          const full = join(d, n);
          if (statSync(full).isDirectory()) walk(full, `${rel}${n}/`);
          else if (n.endsWith(suffix)) out.push(`${rel}${n.slice(0, -suffix.length)}`);
        }
      };
      walk(join(directory, bucket), '');
      return out.filter((k) => k.startsWith(prefix)).sort();
    },
    async stop() {
      await server.close();
      account.DUMMY_ACCOUNT.revokeAccessKey(key);
      if (!process.env['DWSBOX_KEEP_TEST_DIRS']) removeDir(dir);
    },
  };
}
