import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // the lab tests build namespaces and run ifupdown: two files at a time on two cores
    maxWorkers: 2,
    minWorkers: 1,
  },
});
