// A kcr stack (Redis, registry, nodes, webhook, controller, agents) for one
// end-to-end test file, in a folder of its own. Stopping it also removes what it registered in
// the cluster (its Nodes and the webhook configuration), so the files after it see a cluster
// without them: pods there stay unscheduled and no admission call goes to a stopped webhook.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientsFor, createNamespace, deleteNamespace, eventually, installedKcr, testCluster } from './cluster-clients.ts';
import { E2eWorld } from './e2e-world.ts';
import { WEBHOOK_CONFIGURATION, type TestCluster } from './kcr-in-cluster.ts';
import { startStack, stopStack, type StackOptions, type StackState } from './kcr-stack.ts';
import { clusterPkiDir } from './pki.ts';

/** The controller's intervals, short so retention and restore steps show within seconds. */
const CONTROLLER_ENV = { KCR_RETENTION_INTERVAL_MS: '2000', KCR_CONTROLLER_RESYNC_MS: '1000' };

export interface E2eStack {
  state: StackState;
  stop(): Promise<void>;
}

export interface E2eStackOptions {
  controllerEnv?: Record<string, string>;
  nodeProfiles?: readonly string[];
  webhookReplicas?: number;
  /** kcr's namespace and how it is installed (kcr-stack.ts StackOptions); default manifests/ into kcr-system. */
  namespace?: string;
  install?: StackOptions['install'];
}

export async function startE2eStack(cluster: TestCluster, options: E2eStackOptions = {}): Promise<E2eStack> {
  const { controllerEnv = {}, nodeProfiles, webhookReplicas, namespace, install } = options;
  const admin = clientsFor(cluster.kubeconfig);
  const pkiDir = clusterPkiDir(cluster.kubeconfig);
  const kcrDir = mkdtempSync(join(tmpdir(), 'kcr-e2e-'));
  const { state } = await startStack({
    cluster: { server: admin.kc.getCurrentCluster()!.server, kubeconfig: cluster.kubeconfig, binDir: cluster.binDir, pkiDir },
    kcrDir,
    ...(nodeProfiles ? { nodeProfiles } : {}),
    ...(webhookReplicas ? { webhookReplicas } : {}),
    ...(namespace ? { namespace } : {}),
    ...(install ? { install } : {}),
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

/**
 * What an end-to-end file works in: its own stack on the run's cluster and a fresh namespace
 * on it (kcr gives it its kcr-pull Secret once it has checkpoints: restored pods pull with it).
 * close() deletes the namespace, lets the kubelets remove its pods, then stops the stack.
 */
export async function openE2eWorld(namespacePrefix: string, options: E2eStackOptions = {}): Promise<{ world: E2eWorld; close(): Promise<void> }> {
  const cluster = testCluster();
  installedKcr();
  const admin = clientsFor(cluster.kubeconfig);
  const stack = await startE2eStack(cluster, options);
  try {
    const ns = await createNamespace(admin.core, namespacePrefix);
    const world = new E2eWorld(admin, stack.state, ns);
    return {
      world,
      async close() {
        await deleteNamespace(admin.core, ns);
        await eventually('the namespace pods to go', async () => ((await admin.core.listNamespacedPod({ namespace: ns })).items.length === 0 ? true : undefined), 60_000, 500).catch(() => undefined);
        await stack.stop();
      },
    };
  } catch (err) {
    await stack.stop();
    throw err;
  }
}
