import { defineConfig } from 'vitest/config';

// Three projects: unit (pure, fast), integration (real Redis, registry, HTTPS),
// cluster (a real kube-apiserver). `npm test` runs them in that order.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          // One local control plane for the whole run (or KCR_TEST_KUBECONFIG's cluster).
          globalSetup: ['test/cluster/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
