import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globals: false,
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Gateway tests bind real ports; two cores, so keep parallelism modest.
    poolOptions: { forks: { maxForks: 2 } },
    pool: 'forks',
  },
});
