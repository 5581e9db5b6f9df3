import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secrets } from '../auth/secrets.js';
import {
  credentialsEnv,
  localRepository,
  parseStanzaRepository,
  repoOptions,
  REPOSITORY_HEADER,
  RepositoryRegistry,
  s3Repository,
  writeCredentialsInclude,
} from './backup-repository.js';
import { serviceUser } from './os-user.js';

const dir = mkdtempSync(join(tmpdir(), 'dwsbox-repo-test-'));
chmodSync(dir, 0o711);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const s3 = s3Repository({
  endpoint: '127.0.0.1',
  port: 9443,
  bucket: 'b',
  region: 'us-east-1',
  uriStyle: 'path',
  verifyTls: true,
  caFile: null,
  path: '/repo',
});
const creds = { key: 'AKTEST', keySecret: 'the-secret-key' };

describe('backup repositories', () => {
  it('give stable ids per location and pgBackRest options without credentials', () => {
    expect(localRepository('/var/lib/dwsbox/repo').id).toBe(localRepository('/var/lib/dwsbox/repo').id);
    expect(localRepository('/a').id).not.toBe(localRepository('/b').id);
    expect(s3.id).toMatch(/^s3-[0-9a-f]{12}$/);
    const o = repoOptions(s3);
    expect(o).toMatchObject({
      'repo1-type': 's3',
      'repo1-s3-endpoint': '127.0.0.1',
      'repo1-storage-port': '9443',
      'repo1-s3-uri-style': 'path',
      'repo1-storage-verify-tls': 'y',
      'repo1-path': '/repo',
    });
    expect(JSON.stringify(o)).not.toContain('key');
    expect(repoOptions(localRepository('/r'))).toEqual({ 'repo1-path': '/r' });
  });

  it('are read back from a stanza config file; an old file without an id is in a local repository', () => {
    expect(
      parseStanzaRepository(`# written by dwsbox\n${REPOSITORY_HEADER}${s3.id}\n[global]\nrepo1-type=s3\nrepo1-path=/repo\n`),
    ).toMatchObject({ id: s3.id, kind: 's3' });
    expect(parseStanzaRepository('# written by dwsbox\n[global]\nrepo1-path=/var/lib/dwsbox/repo\n')).toEqual({
      ...localRepository('/var/lib/dwsbox/repo'),
      path: '/var/lib/dwsbox/repo',
    });
  });

  it('keep credentials sealed under the master key, in a 0600 file, readable by another registry', () => {
    const secrets = Secrets.fromHex('11'.repeat(32));
    const reg = new RepositoryRegistry(join(dir, 'repositories'), secrets);
    reg.register(s3, creds);
    const file = join(dir, 'repositories', `${s3.id}.json`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain(creds.keySecret);
    expect(readFileSync(file, 'utf8')).not.toContain(creds.key);
    expect(new RepositoryRegistry(join(dir, 'repositories'), secrets).get(s3.id)).toEqual({ spec: s3, creds });
    expect(new RepositoryRegistry(join(dir, 'repositories'), secrets).get('s3-000000000000')).toBeNull();
    expect(credentialsEnv(creds)).toEqual({ PGBACKREST_REPO1_S3_KEY: 'AKTEST', PGBACKREST_REPO1_S3_KEY_SECRET: 'the-secret-key' });
    expect(credentialsEnv(null)).toEqual({});
  });

  it('copy the CA file next to the record, readable by postgres', () => {
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, 'pem', { mode: 0o600 });
    const withCa = s3Repository({ ...(s3.kind === 's3' ? s3.s3 : ({} as never)), caFile: ca });
    const stored = new RepositoryRegistry(join(dir, 'repositories'), Secrets.fromHex('11'.repeat(32))).register(withCa, creds);
    expect(stored.kind === 's3' && stored.s3.caFile).toBe(join(dir, 'repositories', `${withCa.id}.ca.pem`));
    expect(statSync(join(dir, 'repositories', `${withCa.id}.ca.pem`)).mode & 0o777).toBe(0o644);
  });

  it("write the credentials file for the server's commands: root's, 0640 for the project user's group, in a 0750 directory (D32)", () => {
    const inc = join(dir, 'stanza.d');
    const os = serviceUser();
    writeCredentialsInclude(inc, creds, os);
    const f = join(inc, 'repo-credentials.conf');
    expect(readFileSync(f, 'utf8')).toContain('repo1-s3-key-secret=the-secret-key');
    expect(statSync(f).mode & 0o777).toBe(0o640);
    expect(statSync(inc).mode & 0o777).toBe(0o750);
    expect(statSync(f).uid).toBe(process.getuid!());
    writeCredentialsInclude(inc, null, os);
    expect(readFileSync(f, 'utf8')).not.toContain('the-secret-key');
    expect(() => writeCredentialsInclude(inc, { key: 'a', keySecret: 'b\nrepo1-path=/x' }, os)).toThrow(/line breaks/);
  });
});
