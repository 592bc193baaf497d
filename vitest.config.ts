import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // one file at a time by default: a lab is several namespaces, servers and clients, and CI
    // has two cores (the tiers are folders, see the Makefile; `make unit` and `make e2e` run
    // their files two at a time)
    maxWorkers: 1,
    minWorkers: 1,
    fileParallelism: false,
  },
});
