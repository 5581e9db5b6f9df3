import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    // 2 cores: a few files at once; each e2e file runs its own service and clusters.
    maxWorkers: Number(process.env['DWSBOX_TEST_WORKERS'] ?? 3),
    testTimeout: 240_000,
    hookTimeout: 240_000,
    globalSetup: ['test/helpers/global-setup.ts'],
    reporters: process.env['CI'] ? ['default'] : ['default'],
  },
});
