// A kcr stack (Redis, registry, simulated nodes, webhook, controller, agents) for one
// end-to-end test file, in a folder of its own. Stopping it also removes what it registered in
// the cluster (its Nodes and the webhook configuration), so the files after it see a cluster
// without them: pods there stay unscheduled and no admission call goes to a stopped webhook.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { clientsFor } from './cluster-clients.ts';
import { WEBHOOK_CONFIGURATION, type TestCluster } from './kcr-in-cluster.ts';
import { startStack, stopStack, type StackState } from './kcr-stack.ts';
import { DEFAULT_PKI_DIR, pkiPaths } from './pki.ts';

/** The controller's intervals, short so retention and restore steps show within seconds. */
const CONTROLLER_ENV = { KCR_RETENTION_INTERVAL_MS: '2000', KCR_CONTROLLER_RESYNC_MS: '1000' };

export interface E2eStack {
  state: StackState;
  stop(): Promise<void>;
}

export async function startE2eStack(cluster: TestCluster, controllerEnv: Record<string, string> = {}): Promise<E2eStack> {
  const admin = clientsFor(cluster.kubeconfig);
  const besideKubeconfig = join(dirname(cluster.kubeconfig), 'pki');
  const pkiDir = existsSync(pkiPaths(besideKubeconfig).caCert) ? besideKubeconfig : DEFAULT_PKI_DIR;
  const kcrDir = mkdtempSync(join(tmpdir(), 'kcr-e2e-'));
  const { state } = await startStack({
    cluster: { server: admin.kc.getCurrentCluster()!.server, kubeconfig: cluster.kubeconfig, binDir: cluster.binDir, pkiDir },
    kcrDir,
    nodes: 2,
    netnsOffset: 40,
    controllerEnv: { ...CONTROLLER_ENV, ...controllerEnv },
  });
  return {
    state,
    async stop() {
      await stopStack(kcrDir);
      await admin.admission.deleteMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION }).catch(() => undefined);
      for (const n of state.nodes) await admin.core.deleteNode({ name: n.name }).catch(() => undefined);
      // KCR_KEEP_E2E_LOGS=1 keeps the stack's folder (logs/ of every component) for a look afterwards.
      if (process.env.KCR_KEEP_E2E_LOGS === '1') console.error(`[e2e] stack logs kept in ${join(kcrDir, 'logs')}`);
      else rmSync(kcrDir, { recursive: true, force: true });
    },
  };
}
