import { defineConfig } from 'vitest/config';

// The failure tests on the local cluster mode (3 Kafka brokers, a Redis Cluster): `npm run
// test:cluster`, after `npm test` in CI. One file at a time: each kills nodes of the one cluster.
export default defineConfig({
  test: {
    name: 'cluster',
    include: ['test/cluster/**/*.cluster.test.ts'],
    globalSetup: ['test/cluster/support/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    maxWorkers: 1,
    globals: true,
  },
});
