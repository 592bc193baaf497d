import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // one file at a time: the lab tests count connections exactly, and on two cores a second
    // lab's traffic made packets drop between namespaces (a lost SYN takes a round-robin slot)
    maxWorkers: 1,
    minWorkers: 1,
    fileParallelism: false,
  },
});
