// Deletes checkpoint images (finalizers, the sweep) and lists them (the sweep) with kcr's RegistryClient. Credentials come from the
// dockerconfigjson Secret (kcr-registry in kcr's namespace), read when needed and never logged;
// a missing Secret means anonymous access.
import { parseDockerConfigJson, credentialsFor, type CredentialStore } from '../images/docker-config.ts';
import { endpointFor, type InsecureRegistry } from '../images/registry-endpoint.ts';
import { RegistryClient } from '../images/registry-client.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';
import type { ManifestDeleter } from './retention-runner.ts';
import type { RegistryInventory } from './registry-sweep.ts';
import type { StoredManifest } from '../retention/registry-sweep-plan.ts';
import { underPrefix } from '../rules/checkpoint-image-ref.ts';

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

/** Every tagged manifest under kcr's prefix in the registry, for the sweep (catalog → tags → digests). */
export function registryInventory(options: {
  api: KubeJson;
  namespace: string;
  secretName: string;
  insecureRegistries: readonly InsecureRegistry[];
  registry: string;
  prefix: string;
}): RegistryInventory {
  return {
    async stored() {
      const store = await readCredentials(options.api, options.namespace, options.secretName);
      const client = new RegistryClient({ endpoint: endpointFor(options.registry, options.insecureRegistries), credentials: credentialsFor(store, options.registry) });
      try {
        const out: StoredManifest[] = [];
        for (const repository of (await client.catalog()).filter((r) => underPrefix(r, options.prefix))) {
          for (const tag of await client.tags(repository)) {
            const digest = await client.manifestDigest(repository, tag);
            if (digest !== undefined) out.push({ repository, digest });
          }
        }
        return out;
      } finally {
        client.close();
      }
    },
  };
}
