// One kcr stack (Redis, registry, simulated nodes, webhook, controller, agents) shared by the
// end-to-end test files: the first file starts it, later ones find it running (startStack
// reuses a recorded stack of the same API server), and the global teardown stops it.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startStack, type StackState } from './kcr-stack.ts';
import { KCR_DIR, DEFAULT_PKI_DIR, pkiPaths } from './pki.ts';
import type { TestCluster } from './kcr-in-cluster.ts';
import { clientsFor } from './cluster-clients.ts';

/** Where the shared stack keeps its state, logs and data (git-ignored). */
export const SHARED_STACK_DIR = join(KCR_DIR, 'test-stack');

/** The controller's intervals, short so retention and restore steps show within seconds. */
const CONTROLLER_ENV = { KCR_RETENTION_INTERVAL_MS: '2000', KCR_CONTROLLER_RESYNC_MS: '1000' };

export async function sharedStack(cluster: TestCluster, log: (m: string) => void = () => {}): Promise<StackState> {
  const admin = clientsFor(cluster.kubeconfig);
  const besideKubeconfig = join(dirname(cluster.kubeconfig), 'pki');
  const pkiDir = existsSync(pkiPaths(besideKubeconfig).caCert) ? besideKubeconfig : DEFAULT_PKI_DIR;
  const { state } = await startStack({
    cluster: { server: admin.kc.getCurrentCluster()!.server, kubeconfig: cluster.kubeconfig, binDir: cluster.binDir, pkiDir },
    kcrDir: SHARED_STACK_DIR,
    nodes: 2,
    netnsOffset: 40,
    log,
    controllerEnv: CONTROLLER_ENV,
  });
  return state;
}
