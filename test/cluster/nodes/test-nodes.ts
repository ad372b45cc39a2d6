// Local nodes for one cluster test file, on the run's cluster (its PKI, its kubelet binary), in a
// temporary folder removed again on stop together with the Node objects.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testCluster } from '../cluster-clients.ts';
import { clusterPkiDir } from '../pki.ts';
import { startLocalNodes, type LocalNodes, type StartLocalNodesOptions } from './local-nodes.ts';

export type TestNodeOptions = Pick<StartLocalNodesOptions, 'profiles' | 'namePrefix' | 'netnsIndexOffset' | 'labels' | 'insecureRegistries' | 'registryCaFile'>;

export async function startTestNodes(opts: TestNodeOptions): Promise<LocalNodes> {
  const cluster = testCluster();
  if (cluster.external) throw new Error('local nodes join only the local cluster (KCR_TEST_KUBECONFIG names another one)');
  const dir = mkdtempSync(join(tmpdir(), 'kcr-nodes-'));
  try {
    const nodes = await startLocalNodes({ ...opts, kubeconfig: cluster.kubeconfig, binDir: cluster.binDir, pkiDir: clusterPkiDir(cluster.kubeconfig), dir });
    return {
      ...nodes,
      async stop(o) {
        await nodes.stop(o);
        if (process.env.KCR_KEEP_E2E_LOGS === '1') console.error(`[nodes] kubelet and runtime logs kept in ${dir}`);
        else rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
