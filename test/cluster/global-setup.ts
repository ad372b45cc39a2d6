// Vitest global setup of the cluster project: one control plane for the whole run.
// KCR_TEST_KUBECONFIG=<admin kubeconfig> points the tests at an existing cluster instead
// (nothing is started or stopped then). KCR_KEEP_CLUSTER=1 leaves the local one running.
import type { TestProject } from 'vitest/node';
import { controlPlaneBinDir, ensureClusterUp, stopCluster } from './local-cluster.ts';
import type { TestCluster } from './kcr-in-cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kcrCluster: TestCluster;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (m: string) => console.error(`[cluster] ${m}`);
  const external = process.env.KCR_TEST_KUBECONFIG;
  if (external !== undefined && external !== '') {
    // kubectl is still the one built here: the harness applies manifests with it.
    const binDir = await controlPlaneBinDir(log);
    project.provide('kcrCluster', { kubeconfig: external, binDir, external: true });
    log(`using the cluster of KCR_TEST_KUBECONFIG=${external}`);
    return async () => {};
  }
  const { state, alreadyRunning, elapsedMs } = await ensureClusterUp({ log });
  log(alreadyRunning ? `reusing the running local cluster at ${state.server}` : `local cluster up in ${(elapsedMs / 1000).toFixed(1)}s at ${state.server}`);
  project.provide('kcrCluster', { kubeconfig: state.kubeconfig, binDir: state.binDir, external: false });
  return async () => {
    // A cluster someone started before the run (npm run cluster:up) is theirs to stop.
    if (alreadyRunning || process.env.KCR_KEEP_CLUSTER === '1') return;
    await stopCluster();
    log('local cluster stopped');
  };
}
