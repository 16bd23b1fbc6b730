import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs nothing running; `integration` runs against the real local
// Kafka, FerretDB and Redis, which its globalSetup starts through infra/stack.sh.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          // test/cluster: the cluster mode's own run (vitest.cluster.config.ts, npm run test:cluster)
          exclude: ['test/**/*.int.test.ts', 'test/cluster/**', 'node_modules/**'],
          testTimeout: 20_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Two cores: files run two at a time, each on its own topics, database and keys.
          maxWorkers: 2,
          // unit first; integration after, in its own group (different worker count)
          sequence: { groupOrder: 1 },
          globals: true,
        },
      },
    ],
  },
});
