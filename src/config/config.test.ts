import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, envName, flagName, isPostgresUrl, loadConfig, MINUTE, SECOND, SETTINGS } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'dwsbox-config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function configFile(values: unknown): string {
  const f = join(dir, `config-${n++}.json`);
  writeFileSync(f, typeof values === 'string' ? values : JSON.stringify(values));
  return f;
}

const DATA = '/srv/dwsbox-test-data';
const base = { dataDir: DATA };

describe('loadConfig defaults', () => {
  const c = loadConfig({ env: {}, flags: base });

  it('has the documented defaults', () => {
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 7480,
      logLevel: 'info',
      logPretty: false,
      enableCrashFaults: false,
      stopClustersOnExit: false,
      maxNodes: 64,
      projectNodeQuota: 24,
      taskConcurrency: 4,
      projectTaskConcurrency: 2,
      enableTenantFaults: false,
      faultMaxDelayMs: 5 * MINUTE,
      policyMinIntervalMs: 60 * MINUTE,
      projectSnapshotQuota: 1000,
      projectRepoQuotaMb: 102400,
      snapshotSpaceMarginMb: 1024,
      leaseMs: 15 * SECOND,
      pollMs: 250,
      shutdownTimeoutMs: 10 * SECOND,
      stepTimeoutMs: 120 * MINUTE,
      stepIdleTimeoutMs: 10 * MINUTE,
      monitorIntervalMs: 2 * SECOND,
      snapshotFullEvery: 7,
      masterKey: null,
      projectId: null,
      accessKey: null,
      secretKey: null,
      metricsHost: null,
      metricsPort: null,
      pgBinDir: null,
      unsafeNoFsync: false,
    });
  });

  it('derives the store and the repository from the data directory', () => {
    expect(c.dataDir).toBe(DATA);
    expect(c.store).toBe(join(DATA, 'dwsbox.sqlite'));
    expect(c.repoPath).toBe(join(DATA, 'repo'));
  });

  it('resolves a relative data directory', () => {
    expect(loadConfig({ env: {}, flags: { dataDir: 'rel/dir' } }).dataDir).toBe(resolve('rel/dir'));
  });

  it('every setting is in the result, and the result is frozen', () => {
    for (const s of SETTINGS) expect(c).toHaveProperty(s.key);
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => {
      (c as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('reads only the env it is given, never process.env', () => {
    const saved = process.env['DWSBOX_PORT'];
    process.env['DWSBOX_PORT'] = '1234';
    try {
      expect(loadConfig({ env: {}, flags: base }).port).toBe(7480);
      expect(loadConfig({ env: { DWSBOX_PORT: '4321' }, flags: base }).port).toBe(4321);
    } finally {
      if (saved === undefined) delete process.env['DWSBOX_PORT'];
      else process.env['DWSBOX_PORT'] = saved;
    }
  });
});

describe('precedence: flags > env > file > defaults', () => {
  const file = configFile({ port: 1111, logLevel: 'warn', pollMs: 500 });

  it('a file value beats the default', () => {
    expect(loadConfig({ env: {}, flags: base, file }).port).toBe(1111);
  });
  it('env beats the file', () => {
    const c = loadConfig({ env: { DWSBOX_PORT: '2222' }, flags: base, file });
    expect(c.port).toBe(2222);
    expect(c.logLevel).toBe('warn'); // untouched keys still come from the file
  });
  it('a flag beats env and file', () => {
    const c = loadConfig({ env: { DWSBOX_PORT: '2222', DWSBOX_POLL_MS: '600' }, flags: { ...base, port: 3333 }, file });
    expect(c.port).toBe(3333);
    expect(c.pollMs).toBe(600);
    expect(c.logLevel).toBe('warn');
  });
  it('an empty env value counts as unset', () => {
    expect(loadConfig({ env: { DWSBOX_PORT: '' }, flags: base, file }).port).toBe(1111);
  });
  it('the file can be named by DWSBOX_CONFIG or the config flag', () => {
    expect(loadConfig({ env: { DWSBOX_CONFIG: file }, flags: base }).port).toBe(1111);
    expect(loadConfig({ env: {}, flags: { ...base, config: file } }).port).toBe(1111);
  });
});

describe('environment variable and flag names', () => {
  it('DWSBOX_ + upper snake case, except the store', () => {
    expect(envName('dataDir')).toBe('DWSBOX_DATA_DIR');
    expect(envName('leaseMs')).toBe('DWSBOX_LEASE_MS');
    expect(envName('store')).toBe('DWSBOX_STORE_URL');
    expect(flagName('dataDir')).toBe('data-dir');
    expect(flagName('stopClustersOnExit')).toBe('stop-clusters-on-exit');
  });

  it('DWSBOX_STORE_URL sets the store (and DWSBOX_STORE does not)', () => {
    const url = 'postgres://dwsbox@db.example/dwsbox';
    expect(loadConfig({ env: { DWSBOX_STORE_URL: url }, flags: base }).store).toBe(url);
    expect(loadConfig({ env: { DWSBOX_STORE: url }, flags: base }).store).toBe(join(DATA, 'dwsbox.sqlite'));
  });

  it('reads every setting from its environment variable', () => {
    const c = loadConfig({
      env: { DWSBOX_DATA_DIR: '/srv/x', DWSBOX_LOG_PRETTY: 'yes', DWSBOX_TASK_CONCURRENCY: '2', DWSBOX_HOST: '0.0.0.0' },
      flags: {},
    });
    expect(c).toMatchObject({ dataDir: '/srv/x', logPretty: true, taskConcurrency: 2, host: '0.0.0.0' });
  });

  it('recognizes PostgreSQL URLs', () => {
    expect(isPostgresUrl('postgres://a@b/c')).toBe(true);
    expect(isPostgresUrl('postgresql://a@b/c')).toBe(true);
    expect(isPostgresUrl('/var/lib/dwsbox/dwsbox.sqlite')).toBe(false);
  });
});

describe('bad values throw, naming the setting and the value', () => {
  const bad = (input: Parameters<typeof loadConfig>[0]): ConfigError => {
    try {
      loadConfig(input);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return e as ConfigError;
    }
    throw new Error('loadConfig accepted a bad value');
  };

  it('a non-integer from the environment', () => {
    const e = bad({ env: { DWSBOX_PORT: 'abc' }, flags: base });
    expect(e.message).toMatch(/setting port/);
    expect(e.message).toContain('"abc"');
    expect(e.message).toContain('environment DWSBOX_PORT');
  });

  it('an out-of-range flag', () => {
    const e = bad({ env: {}, flags: { ...base, leaseMs: 5 } });
    expect(e.message).toMatch(/setting leaseMs/);
    expect(e.message).toContain('5');
    expect(e.message).toMatch(/at least 1000/);
    expect(e.message).toContain('flag --lease-ms');
    expect(bad({ env: {}, flags: { ...base, port: 70000 } }).message).toMatch(/at most 65535/);
  });

  it('a value from the config file names the file', () => {
    const f = configFile({ taskConcurrency: 'many' });
    const e = bad({ env: {}, flags: base, file: f });
    expect(e.message).toMatch(/setting taskConcurrency/);
    expect(e.message).toContain('"many"');
    expect(e.message).toContain(f);
  });

  it('booleans, choices and fractional integers', () => {
    expect(bad({ env: { DWSBOX_LOG_PRETTY: 'maybe' }, flags: base }).message).toMatch(/"maybe".*logPretty.*true or false/);
    expect(bad({ env: { DWSBOX_LOG_LEVEL: 'loud' }, flags: base }).message).toMatch(/"loud".*logLevel.*one of/);
    expect(bad({ env: { DWSBOX_POLL_MS: '12.5' }, flags: base }).message).toMatch(/pollMs/);
  });

  it('never prints a secret value', () => {
    const e = bad({ env: { DWSBOX_MASTER_KEY: 'not-hex-secret-value' }, flags: base });
    expect(e.message).toMatch(/masterKey/);
    expect(e.message).not.toContain('not-hex-secret-value');
  });

  it('unknown keys and malformed files', () => {
    expect(bad({ env: {}, flags: base, file: configFile({ prot: 1 }) }).message).toMatch(/unknown setting prot/);
    expect(bad({ env: {}, flags: base, file: configFile('{ not json') }).message).toMatch(/cannot read config file/);
    expect(bad({ env: {}, flags: base, file: configFile([1, 2]) }).message).toMatch(/JSON object/);
    expect(bad({ env: {}, flags: base, file: join(dir, 'missing.json') }).message).toMatch(/cannot read config file/);
  });

  it('the bootstrap trio must come together', () => {
    const e = bad({ env: { DWSBOX_PROJECT_ID: 'p1', DWSBOX_ACCESS_KEY: 'AKAKAKAKAK' }, flags: base });
    expect(e.message).toMatch(/projectId, accessKey and secretKey/);
    expect(e.message).toContain('DWSBOX_SECRET_KEY');
    expect(() => loadConfig({ env: {}, flags: { ...base, secretKey: 'only-the-secret-key' } })).toThrow(ConfigError);
    const ok = loadConfig({
      env: { DWSBOX_PROJECT_ID: 'p1', DWSBOX_ACCESS_KEY: 'AKAKAKAKAK' },
      flags: { ...base, secretKey: 'sk-0123456789abcdef' },
    });
    expect(ok).toMatchObject({ projectId: 'p1', accessKey: 'AKAKAKAKAK', secretKey: 'sk-0123456789abcdef' });
  });

  it('metricsHost and metricsPort must come together', () => {
    expect(bad({ env: { DWSBOX_METRICS_HOST: '127.0.0.1' }, flags: base }).message).toMatch(/metricsHost and metricsPort/);
    expect(loadConfig({ env: { DWSBOX_METRICS_HOST: '127.0.0.1', DWSBOX_METRICS_PORT: '9100' }, flags: base }).metricsPort).toBe(9100);
  });
});

describe('value forms', () => {
  it('booleans accept the usual spellings, and a bare flag means true', () => {
    for (const [v, want] of [
      ['1', true],
      ['TRUE', true],
      ['on', true],
      ['0', false],
      ['off', false],
      ['No', false],
    ] as const) {
      expect(loadConfig({ env: { DWSBOX_LOG_PRETTY: v }, flags: base }).logPretty).toBe(want);
    }
    expect(loadConfig({ env: {}, flags: { ...base, logPretty: '' } }).logPretty).toBe(true);
  });
  it('a valid master key is kept', () => {
    const mk = 'ab'.repeat(32);
    expect(loadConfig({ env: { DWSBOX_MASTER_KEY: mk }, flags: base }).masterKey).toBe(mk);
  });
});
