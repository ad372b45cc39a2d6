// The webhook's ServiceAccount, as the manifests bind it, against the real RBAC authorizer:
// it can read what its decision needs and publish its CA, and nothing more.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, PLURALS, VERSION } from '../../src/api/types.ts';
import { installedKcr, clientsFor, createNamespace, deleteNamespace, expectApiError, testCluster, type Clients } from './cluster-clients.ts';
import { KCR_NAMESPACE, pointWebhooksAtUrl, serviceAccountKubeconfig, WEBHOOK_CONFIGURATION, WEBHOOK_SERVICE_ACCOUNT } from './kcr-in-cluster.ts';
import { KCR_DIR } from './pki.ts';

const cluster = testCluster();
let admin: Clients;
let hook: Clients;
let ns: string;

beforeAll(async () => {
  const subset = installedKcr();
  admin = clientsFor(cluster.kubeconfig);
  // Its own webhook configuration must exist to be read. If no other test registered it yet, it is
  // registered at a closed port: no pod is admitted here, and failurePolicy Ignore lets pods through.
  const cfg = subset.webhookConfigurations.find((w) => w.metadata.name === WEBHOOK_CONFIGURATION);
  if (!cfg) throw new Error('manifests render no kcr-restore webhook configuration');
  try {
    await admin.admission.readMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION });
  } catch {
    await admin.admission.createMutatingWebhookConfiguration({ body: pointWebhooksAtUrl(cfg, 'https://127.0.0.1:1') as never });
  }
  const kubeconfig = await serviceAccountKubeconfig(cluster, KCR_NAMESPACE, WEBHOOK_SERVICE_ACCOUNT, join(KCR_DIR, 'rbac-test-webhook.kubeconfig'), 3600);
  hook = clientsFor(kubeconfig);
  ns = await createNamespace(admin.core, 'kcr-rbac');
});

afterAll(async () => {
  if (admin && ns) await deleteNamespace(admin.core, ns);
});

describe('kcr-webhook ServiceAccount: allowed what the webhook needs', () => {
  it('lists and watches-by-list pods, namespaces, ReplicaSets, Deployments and StatefulSets in all namespaces', async () => {
    await hook.core.listPodForAllNamespaces({ limit: 1 });
    await hook.core.listNamespace({ limit: 1 });
    await hook.apps.listReplicaSetForAllNamespaces({ limit: 1 });
    await hook.apps.listDeploymentForAllNamespaces({ limit: 1 });
    await hook.apps.listStatefulSetForAllNamespaces({ limit: 1 });
  });

  it('lists Checkpoints and CheckpointSchedules in all namespaces', async () => {
    await hook.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURALS.Checkpoint });
    await hook.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURALS.CheckpointSchedule });
  });

  it('reads and patches its own webhook configuration (caBundle publishing)', async () => {
    const cfg = await hook.admission.readMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION });
    expect(cfg.metadata?.name).toBe(WEBHOOK_CONFIGURATION);
    const patched = await hook.admission.patchMutatingWebhookConfiguration({
      name: WEBHOOK_CONFIGURATION,
      body: [{ op: 'replace', path: '/webhooks/0/timeoutSeconds', value: cfg.webhooks?.[0]?.timeoutSeconds ?? 3 }],
    });
    expect(patched.metadata?.name).toBe(WEBHOOK_CONFIGURATION);
  });
});

describe('kcr-webhook ServiceAccount: refused outside its role (403 from RBAC)', () => {
  it('cannot list Secrets in default', async () => {
    const err = await expectApiError(() => hook.core.listNamespacedSecret({ namespace: 'default' }));
    expect(err.code).toBe(403);
  });

  it('cannot list Secrets even in kcr-system, nor read one that is not its own', async () => {
    expect((await expectApiError(() => hook.core.listNamespacedSecret({ namespace: KCR_NAMESPACE }))).code).toBe(403);
    await admin.core.createNamespacedSecret({
      namespace: KCR_NAMESPACE,
      body: { metadata: { name: `other-${ns}` }, stringData: { password: 'x' } },
    });
    try {
      const err = await expectApiError(() => hook.core.readNamespacedSecret({ name: `other-${ns}`, namespace: KCR_NAMESPACE }));
      expect(err.code).toBe(403);
    } finally {
      await admin.core.deleteNamespacedSecret({ name: `other-${ns}`, namespace: KCR_NAMESPACE });
    }
  });

  it('cannot create a pod', async () => {
    const err = await expectApiError(() =>
      hook.core.createNamespacedPod({
        namespace: ns,
        body: { metadata: { name: 'intruder' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
      }),
    );
    expect(err.code).toBe(403);
  });

  it('cannot delete pods, nor change Checkpoints', async () => {
    expect((await expectApiError(() => hook.core.deleteCollectionNamespacedPod({ namespace: ns }))).code).toBe(403);
    const err = await expectApiError(() =>
      hook.custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: PLURALS.Checkpoint,
        body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'Checkpoint', metadata: { name: 'forged' }, spec: { containerName: 'app' } },
      }),
    );
    expect(err.code).toBe(403);
  });

  it('cannot read or change other webhook configurations', async () => {
    const other = `kcr-rbac-probe-${ns}`;
    await admin.admission.createMutatingWebhookConfiguration({ body: { metadata: { name: other }, webhooks: [] } });
    try {
      expect((await expectApiError(() => hook.admission.readMutatingWebhookConfiguration({ name: other }))).code).toBe(403);
      expect((await expectApiError(() => hook.admission.listMutatingWebhookConfiguration())).code).toBe(403);
    } finally {
      await admin.admission.deleteMutatingWebhookConfiguration({ name: other });
    }
  });

  it('is not a cluster admin: cannot create namespaces', async () => {
    expect((await expectApiError(() => hook.core.createNamespace({ body: { metadata: { name: `x-${ns}` } } }))).code).toBe(403);
  });
});
