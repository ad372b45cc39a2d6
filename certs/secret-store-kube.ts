// SecretStore over the Kubernetes API (kcr's plain-JSON client, src/kube/kube-json.ts).
import type { V1Secret } from '@kubernetes/client-node';
import type { KubeJson } from '../src/kube/kube-json.ts';
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

const secrets = (namespace: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;

export function kubeSecretStore(api: KubeJson): SecretStore {
  return {
    async get(namespace, name) {
      try {
        return decode(await api.get<V1Secret>(`${secrets(namespace)}/${encodeURIComponent(name)}`));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async create(namespace, name, data) {
      return decode(await api.create<V1Secret>(secrets(namespace), body(namespace, name, data)));
    },
    async replace(namespace, name, data, resourceVersion) {
      return decode(await api.replace<V1Secret>(`${secrets(namespace)}/${encodeURIComponent(name)}`, body(namespace, name, data, resourceVersion)));
    },
  };
}
