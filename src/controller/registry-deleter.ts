// The controller's access to the checkpoint registry: deleting images (Checkpoint finalizers, the
// sweep) and listing them (the sweep), with kcr's RegistryClient. Credentials come from the
// dockerconfigjson Secret (kcr-registry in kcr's namespace), never logged; a missing Secret means
// anonymous access. One client per registry is kept while its credentials stay the same, so a
// finalizer pass over many Checkpoints reads the Secret and fetches a token once, not per image.
import { parseDockerConfigJson, credentialsFor, type CredentialStore } from '../images/docker-config.ts';
import { endpointFor, type InsecureRegistry } from '../images/registry-endpoint.ts';
import { RegistryClient } from '../images/registry-client.ts';
import { RegistryError } from '../images/registry-error.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';
import type { ManifestDeleter } from './retention-runner.ts';
import type { RegistryInventory } from './registry-sweep.ts';
import type { StoredManifest } from '../retention/registry-sweep-plan.ts';
import { underPrefix } from '../rules/checkpoint-image-ref.ts';

/** The Secret is read again after this long: a rotated or fixed credential is picked up. */
const CREDENTIALS_TTL_MS = 30_000;

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

export interface ControllerRegistryOptions {
  api: KubeJson;
  namespace: string;
  secretName: string;
  insecureRegistries: readonly InsecureRegistry[];
  now?: () => number;
  /** A registry call failed (counted in kcr_registry_errors_total). */
  onRegistryError?: (operation: 'delete' | 'list') => void;
}

export interface ControllerRegistry {
  deleteManifest: ManifestDeleter;
  /** Every tagged manifest under `prefix` in `registry`, for the sweep (catalog → tags → digests). */
  inventory(registry: string, prefix: string): RegistryInventory;
  /** Closes the kept connections (shutdown). */
  close(): void;
}

export function controllerRegistry(options: ControllerRegistryOptions): ControllerRegistry {
  const now = options.now ?? Date.now;
  let store: { at: number; value: Promise<CredentialStore> } | undefined;
  const clients = new Map<string, { key: string; client: RegistryClient }>();
  const clientFor = async (registry: string): Promise<RegistryClient> => {
    if (!store || now() - store.at >= CREDENTIALS_TTL_MS) {
      const value = readCredentials(options.api, options.namespace, options.secretName);
      store = { at: now(), value };
      // A failed read is not kept: the next call reads again.
      value.catch(() => {
        if (store?.value === value) store = undefined;
      });
    }
    const credentials = credentialsFor(await store.value, registry);
    const key = JSON.stringify(credentials ?? null);
    const known = clients.get(registry);
    if (known && known.key === key) return known.client;
    known?.client.close();
    const client = new RegistryClient({ endpoint: endpointFor(registry, options.insecureRegistries), credentials });
    clients.set(registry, { key, client });
    return client;
  };
  const counted = async <T>(operation: 'delete' | 'list', call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      // The registry's own failures only; reading the credentials Secret is the API server's.
      if (err instanceof RegistryError) options.onRegistryError?.(operation);
      throw err;
    }
  };
  return {
    close: () => {
      for (const { client } of clients.values()) client.close();
      clients.clear();
    },
    deleteManifest: async (registry, repository, digest) => counted('delete', async () => (await clientFor(registry)).deleteManifest(repository, digest)),
    inventory: (registry, prefix) => ({
      stored: () => counted('list', async () => {
        const client = await clientFor(registry);
        const out: StoredManifest[] = [];
        for (const repository of (await client.catalog()).filter((r) => underPrefix(r, prefix))) {
          for (const tag of await client.tags(repository)) {
            const digest = await client.manifestDigest(repository, tag);
            if (digest !== undefined) out.push({ repository, digest });
          }
        }
        return out;
      }),
    }),
  };
}
