// Deletes checkpoint images for retention with R's RegistryClient. Credentials come from the
// dockerconfigjson Secret (kcr-registry in kcr's namespace), read when needed and never logged;
// a missing Secret means anonymous access.
import { parseDockerConfigJson, credentialsFor, type CredentialStore } from '../images/docker-config.ts';
import { endpointFor, type InsecureRegistry } from '../images/registry-endpoint.ts';
import { RegistryClient } from '../images/registry-client.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';
import type { ManifestDeleter } from './retention-runner.ts';

export async function readCredentials(api: KubeJson, namespace: string, secretName: string): Promise<CredentialStore> {
  try {
    const secret = await api.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${namespace}/secrets/${secretName}`);
    const raw = secret.data?.['.dockerconfigjson'] ?? secret.data?.['.dockercfg'];
    return raw === undefined ? new Map() : parseDockerConfigJson(Buffer.from(raw, 'base64'));
  } catch (err) {
    if (apiCode(err) === 404) return new Map();
    throw err;
  }
}

export function registryManifestDeleter(options: {
  api: KubeJson;
  namespace: string;
  secretName: string;
  insecureRegistries: readonly InsecureRegistry[];
}): ManifestDeleter {
  return async (registry, repository, digest) => {
    const store = await readCredentials(options.api, options.namespace, options.secretName);
    const client = new RegistryClient({
      endpoint: endpointFor(registry, options.insecureRegistries),
      credentials: credentialsFor(store, registry),
    });
    try {
      return await client.deleteManifest(repository, digest);
    } finally {
      client.close();
    }
  };
}
