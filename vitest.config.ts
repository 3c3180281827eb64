import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globals: false,
    include: ['test/**/*.test.ts'],
    // Probes Redis and PostgreSQL once: skipped with one line locally, an error in CI (CI=true).
    globalSetup: ['test/setup/services.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Gateway tests bind real ports; two cores, so keep parallelism modest.
    poolOptions: { forks: { maxForks: 2 } },
    pool: 'forks',
  },
});
