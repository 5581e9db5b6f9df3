import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, envName, flagName, loadConfig } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'dwsbox-config-repo-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DATA = '/srv/dwsbox-test-data';
const S3 = {
  repoType: 's3',
  repoS3Endpoint: 'obs.example.com:9443',
  repoS3Bucket: 'dws',
  repoS3Region: 'eu-west-0',
  repoS3Key: 'AK',
  repoS3KeySecret: 'very-secret',
};

describe('backup repository settings', () => {
  it('are local by default, with path-style S3 and TLS verification as the S3 defaults', () => {
    const c = loadConfig({ env: {}, flags: { dataDir: DATA } });
    expect(c).toMatchObject({
      repoType: 'local',
      repoS3UriStyle: 'path',
      repoS3VerifyTls: true,
      repoS3Path: '/dwsbox',
      repoS3CaFile: null,
      repoS3KeySecret: null,
    });
  });

  it('are named as the docs say', () => {
    expect(flagName('repoS3Endpoint')).toBe('repo-s3-endpoint');
    expect(envName('repoS3KeySecret')).toBe('DWSBOX_REPO_S3_KEY_SECRET');
  });

  it('take an S3 repository from the environment', () => {
    const c = loadConfig({
      env: {
        DWSBOX_REPO_TYPE: 's3',
        DWSBOX_REPO_S3_ENDPOINT: 'obs.example.com',
        DWSBOX_REPO_S3_BUCKET: 'b',
        DWSBOX_REPO_S3_REGION: 'r',
        DWSBOX_REPO_S3_KEY: 'k',
        DWSBOX_REPO_S3_KEY_SECRET: 's',
        DWSBOX_REPO_S3_VERIFY_TLS: 'false',
      },
      flags: { dataDir: DATA },
    });
    expect(c).toMatchObject({
      repoType: 's3',
      repoS3Endpoint: 'obs.example.com',
      repoS3Bucket: 'b',
      repoS3KeySecret: 's',
      repoS3VerifyTls: false,
    });
  });

  it('refuse an S3 repository without what it needs, naming the settings', () => {
    expect(() => loadConfig({ env: {}, flags: { dataDir: DATA, repoType: 's3', repoS3Endpoint: 'x.example.com' } })).toThrow(
      /repoType s3 needs repoS3Bucket \(DWSBOX_REPO_S3_BUCKET, --repo-s3-bucket\), repoS3Region .*repoS3KeySecret/,
    );
  });

  it('refuse an endpoint with a scheme, a bad path and an unreadable CA file, and never print the secret', () => {
    const bad = (flags: Record<string, unknown>): string => {
      try {
        loadConfig({ env: {}, flags: { dataDir: DATA, ...S3, ...flags } });
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ repoS3Endpoint: 'https://obs.example.com' })).toMatch(/repoS3Endpoint: expected host or host:port, without a scheme/);
    expect(bad({ repoS3Endpoint: 'obs.example.com:70000' })).toMatch(/port must be 1 to 65535/);
    expect(bad({ repoS3Path: 'relative' })).toMatch(/repoS3Path: expected an absolute path/);
    expect(bad({ repoS3CaFile: join(dir, 'missing.pem') })).toMatch(/cannot read repoS3CaFile/);
    expect(bad({ repoType: 'ftp' })).toMatch(/repoType/);
    expect(bad({ repoS3UriStyle: 'virtual' })).not.toContain('very-secret');
  });

  it('resolve the CA file', () => {
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
    expect(loadConfig({ env: {}, flags: { dataDir: DATA, ...S3, repoS3CaFile: ca } }).repoS3CaFile).toBe(ca);
  });
});
