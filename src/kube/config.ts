// Loading the KubeConfig every component talks to the API server with.
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface KubeConfigSource {
  /** Path to a kubeconfig file (config.kubeconfig); wins over everything else. */
  kubeconfig: string | undefined;
  /** Whether a service account token is mounted; injectable for tests. */
  inCluster?: boolean;
}

/**
 * An explicit kubeconfig file, else the pod's service account when running in a
 * cluster, else the user's default kubeconfig (~/.kube/config).
 */
export function loadKubeConfig(source: KubeConfigSource): KubeConfig {
  const kc = new KubeConfig();
  if (source.kubeconfig !== undefined) {
    kc.loadFromFile(source.kubeconfig);
  } else if (source.inCluster ?? existsSync(SERVICE_ACCOUNT_TOKEN)) {
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
  }
  if (!kc.getCurrentCluster()) {
    throw new Error(
      source.kubeconfig !== undefined
        ? `kubeconfig ${source.kubeconfig} has no current cluster`
        : 'no Kubernetes cluster configured: not in a cluster and no kubeconfig found',
    );
  }
  return kc;
}
