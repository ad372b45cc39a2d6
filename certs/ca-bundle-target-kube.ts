// CaBundleTarget over the Kubernetes API (kcr's plain-JSON client, src/kube/kube-json.ts).
import type { KubeJson } from '../src/kube/kube-json.ts';
import type { CaBundleTarget } from './ca-bundle-target.ts';

interface WebhookConfiguration {
  metadata?: { resourceVersion?: string };
  webhooks?: { clientConfig: { caBundle?: string } }[];
}

const path = (name: string) => `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(name)}`;

export function kubeCaBundleTarget(api: KubeJson): CaBundleTarget {
  return {
    async getCaBundles(name) {
      const cfg = await api.get<WebhookConfiguration>(path(name));
      return (cfg.webhooks ?? []).map((w) =>
        w.clientConfig.caBundle ? Buffer.from(w.clientConfig.caBundle, 'base64').toString('utf8') : '',
      );
    },
    async patchCaBundle(name, caPem) {
      const cfg = await api.get<WebhookConfiguration>(path(name));
      const value = Buffer.from(caPem, 'utf8').toString('base64');
      // A JSON patch guarded by the resourceVersion we read, so a concurrent edit of the webhook
      // list makes this write fail, not land on the wrong entry; the rotator retries on its next check.
      const body = [
        { op: 'test', path: '/metadata/resourceVersion', value: cfg.metadata?.resourceVersion },
        ...(cfg.webhooks ?? []).map((_, i) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value })),
      ];
      await api.patch(path(name), body, 'json');
    },
  };
}
