// SecretStore over the Kubernetes API (client-node CoreV1Api).
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { isNotFound } from './api-errors.ts';
import type { SecretStore, StoredSecret } from './secret-store.ts';

function encode(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));
}

function decode(secret: V1Secret): StoredSecret {
  const data = Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
  return { data, resourceVersion: secret.metadata?.resourceVersion ?? '' };
}

function body(namespace: string, name: string, data: Record<string, string>, resourceVersion?: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': 'kcr', 'app.kubernetes.io/component': 'webhook-certs' },
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    },
    data: encode(data),
  };
}

export function kubeSecretStore(core: CoreV1Api): SecretStore {
  return {
    async get(namespace, name) {
      try {
        return decode(await core.readNamespacedSecret({ namespace, name }));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async create(namespace, name, data) {
      return decode(await core.createNamespacedSecret({ namespace, body: body(namespace, name, data) }));
    },
    async replace(namespace, name, data, resourceVersion) {
      return decode(
        await core.replaceNamespacedSecret({ namespace, name, body: body(namespace, name, data, resourceVersion) }),
      );
    },
  };
}
