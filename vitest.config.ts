import { defineConfig } from 'vitest/config';
import { SlowestFirst } from './test/helpers/sequencer.js';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    // 2 cores: a few files at once; each e2e file runs its own service and clusters. The whole
    // suite on 2 cores (2026-12-05, vitest's Duration): 2 workers 634 s, 3 555 s, 4 592 s.
    maxWorkers: Number(process.env['DWSBOX_TEST_WORKERS'] ?? 3),
    testTimeout: 240_000,
    hookTimeout: 240_000,
    globalSetup: ['test/helpers/global-setup.ts'],
    // The longest files start first (test/durations.json), so no slow file starts last.
    sequence: { sequencer: SlowestFirst },
    reporters: ['default'],
    // A failed expectation prints its values whole (chai shortens them to `[Array(1)]` past 40
    // characters, which told nothing of a CI failure).
    chaiConfig: { truncateThreshold: 0 },
  },
});
