// Node identities from the local cluster's PKI (test/cluster/pki.ts): a client certificate
// system:node:<name>/system:nodes for the API server, a kubelet serving certificate for the
// node's IP signed by the kubelet CA the API server trusts, and the cluster CA to verify the
// API server's kubelet-client certificate.
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_PKI_DIR, ensureClusterPki, issueKubeletServingCert, nodeKubeconfig } from '../pki.ts';
import type { NodeIdentityFactory } from './start.ts';

export function localClusterIdentity(server: string, pkiDir: string = DEFAULT_PKI_DIR): NodeIdentityFactory {
  return (name, ip) => {
    const paths = ensureClusterPki(pkiDir);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(nodeKubeconfig(name, server, pkiDir));
    const serving = issueKubeletServingCert(name, ip, pkiDir);
    return { kubeConfig, tls: { cert: serving.cert, key: serving.key, clientCa: readFileSync(paths.caCert, 'utf8') } };
  };
}

/** The API server URL of an admin kubeconfig file. */
export function serverOf(kubeconfigFile: string): string {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigFile);
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error(`${kubeconfigFile} names no cluster server`);
  return server;
}
