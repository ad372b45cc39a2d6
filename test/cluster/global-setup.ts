// Vitest global setup of the cluster project: one control plane for the whole run.
// KCR_TEST_KUBECONFIG=<admin kubeconfig> points the tests at an existing cluster instead
// (nothing is started or stopped then). KCR_KEEP_CLUSTER=1 leaves the local one running.
import type { TestProject } from 'vitest/node';
import { controlPlaneBinDir, ensureClusterUp, stopCluster } from './local-cluster.ts';
import { installKcr, type ManifestSubset, type TestCluster } from './kcr-in-cluster.ts';

/** kcr's manifests as installed once for the run, or why installing them failed. */
export type KcrInstall = { subset: ManifestSubset; error?: undefined } | { subset?: undefined; error: string };

declare module 'vitest' {
  export interface ProvidedContext {
    kcrCluster: TestCluster;
    kcrInstall: KcrInstall;
  }
}

/** Installs kcr's CRDs and RBAC once; a failure is reported by the tests that need them, not here. */
async function install(project: TestProject, cluster: TestCluster, log: (m: string) => void): Promise<void> {
  const started = Date.now();
  try {
    const subset = await installKcr(cluster);
    project.provide('kcrInstall', { subset });
    log(`kcr manifests applied in ${((Date.now() - started) / 1000).toFixed(1)}s (left out: ${subset.skipped.join(', ') || 'nothing'})`);
  } catch (err) {
    project.provide('kcrInstall', { error: err instanceof Error ? err.message : String(err) });
    log(`applying kcr manifests failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (m: string) => console.error(`[cluster] ${m}`);
  const external = process.env.KCR_TEST_KUBECONFIG;
  if (external !== undefined && external !== '') {
    // kubectl is still the one built here: the harness applies manifests with it.
    const binDir = await controlPlaneBinDir(log);
    const cluster = { kubeconfig: external, binDir, external: true };
    project.provide('kcrCluster', cluster);
    await install(project, cluster, log);
    log(`using the cluster of KCR_TEST_KUBECONFIG=${external}`);
    return async () => {};
  }
  const { state, alreadyRunning, elapsedMs } = await ensureClusterUp({ log });
  log(alreadyRunning ? `reusing the running local cluster at ${state.server}` : `local cluster up in ${(elapsedMs / 1000).toFixed(1)}s at ${state.server}`);
  const cluster = { kubeconfig: state.kubeconfig, binDir: state.binDir, external: false };
  project.provide('kcrCluster', cluster);
  await install(project, cluster, log);
  return async () => {
    // A cluster someone started before the run (npm run cluster:up) is theirs to stop.
    if (alreadyRunning || process.env.KCR_KEEP_CLUSTER === '1') return;
    await stopCluster();
    log('local cluster stopped');
  };
}
