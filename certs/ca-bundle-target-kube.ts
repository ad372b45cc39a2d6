// CaBundleTarget over the Kubernetes API (client-node AdmissionregistrationV1Api).
import type { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import type { CaBundleTarget } from './ca-bundle-target.ts';

export function kubeCaBundleTarget(api: AdmissionregistrationV1Api): CaBundleTarget {
  return {
    async getCaBundles(name) {
      const cfg = await api.readMutatingWebhookConfiguration({ name });
      return (cfg.webhooks ?? []).map((w) =>
        w.clientConfig.caBundle ? Buffer.from(w.clientConfig.caBundle, 'base64').toString('utf8') : '',
      );
    },
    async patchCaBundle(name, caPem) {
      const cfg = await api.readMutatingWebhookConfiguration({ name });
      const value = Buffer.from(caPem, 'utf8').toString('base64');
      // JSON patch (client-node's default for patch) guarded by the resourceVersion we
      // read, so a concurrent edit of the webhook list makes this write fail, not land
      // on the wrong entry; the rotator retries on its next check.
      const body = [
        { op: 'test', path: '/metadata/resourceVersion', value: cfg.metadata?.resourceVersion },
        ...(cfg.webhooks ?? []).map((_, i) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value })),
      ];
      await api.patchMutatingWebhookConfiguration({ name, body });
    },
  };
}
