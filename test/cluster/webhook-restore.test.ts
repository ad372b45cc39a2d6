// kcr's restore webhook called by a real kube-apiserver for pods that real controllers
// (StatefulSet, ReplicaSet) create. No kubelet runs the pods: the webhook acts at CREATE, so a
// Pending pod already shows what it will start from. One Node object, labelled as an agent
// labels a capable CRI-O node, gives the restores a place (restore rule 5).
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANNOTATIONS, API_VERSION, GROUP, NAMESPACE_LABEL, PLURALS, VERSION } from '../../src/api/types.ts';
import { CAPABILITY_LABELS } from '../../src/rules/restore-capability.ts';
import { installedKcr, clientsFor, createNamespace, deleteNamespace, eventually, setStatus, testCluster, type Clients } from './cluster-clients.ts';
import {
  KCR_NAMESPACE,
  metricSum,
  startLocalWebhook,
  WEBHOOK_CONFIGURATION,
  type LocalWebhook,
  type ManifestSubset,
} from './kcr-in-cluster.ts';

const cluster = testCluster();
const APP_IMAGE = 'registry.example/counter:1';
const HOLD = 'kcr.io/test-hold';
const NODE = 'kcr-webhook-restore-node';
let c: Clients;
let subset: ManifestSubset;
let webhook: LocalWebhook | undefined;
let ns: string;

beforeAll(async () => {
  subset = installedKcr();
  c = clientsFor(cluster.kubeconfig);
  // Tainted: no pod is bound to it (no kubelet would ever run or delete one there).
  await c.core.createNode({ body: {
    metadata: { name: NODE, labels: { 'kubernetes.io/arch': 'amd64', [CAPABILITY_LABELS.runtime]: 'cri-o', [CAPABILITY_LABELS.capable]: 'true' } },
    spec: { taints: [{ key: 'kcr.io/no-kubelet', effect: 'NoSchedule' }] },
  } });
  // The checkpoint images below are named as agents pushing to 127.0.0.1:5000 with prefix kcr name them.
  webhook = await startLocalWebhook(cluster, subset, { env: { KCR_REGISTRY: '127.0.0.1:5000', KCR_REGISTRY_PREFIX: 'kcr' } });
  ns = await createNamespace(c.core, 'kcr-restore', { [NAMESPACE_LABEL.key]: NAMESPACE_LABEL.value });
});

afterAll(async () => {
  await c?.core.deleteNode({ name: NODE }).catch(() => undefined);
  await webhook?.stop();
  if (!c) return;
  if (ns) {
    // Release held pods so the namespace can go.
    const pods = await c.core.listNamespacedPod({ namespace: ns });
    for (const p of pods.items) if (p.metadata?.finalizers?.includes(HOLD)) await release(p.metadata.name!);
    await deleteNamespace(c.core, ns);
  }
  await c.admission.deleteMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION }).catch(() => {});
});

// ---------- helpers ----------

const admissions = async () => metricSum(await webhook!.metrics(), 'kcr_webhook_admissions_total');

function fakeDigestImage(identity: string): string {
  return `127.0.0.1:5000/kcr/${ns}/${identity}@sha256:${randomBytes(32).toString('hex')}`;
}

/** A Ready checkpoint of `pod`'s container `app`, as the agent would record it; returns its runtime image. */
async function readyCheckpoint(name: string, pod: V1Pod, workload: { kind: string; name: string }): Promise<string> {
  const runtimeImage = fakeDigestImage(pod.metadata!.name!);
  const base = { group: GROUP, version: VERSION, namespace: ns, plural: PLURALS.Checkpoint };
  await c.custom.createNamespacedCustomObject({
    ...base,
    body: {
      apiVersion: API_VERSION,
      kind: 'Checkpoint',
      metadata: { name },
      spec: {
        containerName: 'app',
        podName: pod.metadata!.name,
        podUID: pod.metadata!.uid,
        workload,
        originalImage: APP_IMAGE,
        architecture: 'amd64',
        checkpointTimestamp: new Date().toISOString(),
      },
    },
  });
  // status is a subresource: set it the way the agent does, through /status.
  await setStatus(c, { ...base, name }, { phase: 'ImageBuilt', checkpointImage: runtimeImage.split('@')[0], runtimeImage });
  // The webhook decides from its informer-fed index: wait until it holds the checkpoint.
  const want = await countCheckpoints();
  await eventually('the webhook index to hold the checkpoint', async () =>
    metricSum(await webhook!.metrics(), 'kcr_webhook_index_objects', { kind: 'Checkpoint' }) >= want ? true : undefined,
  );
  return runtimeImage;
}

async function countCheckpoints(): Promise<number> {
  const list = (await c.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURALS.Checkpoint })) as { items: unknown[] };
  return list.items.length;
}

async function podsWithLabel(app: string): Promise<V1Pod[]> {
  return (await c.core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` })).items;
}

/** Deletes a pod gracefully, like a kubelet-backed pod: it stays Terminating until released. */
async function deleteHeld(name: string): Promise<void> {
  await c.core.patchNamespacedPod({ name, namespace: ns, body: [{ op: 'add', path: '/metadata/finalizers', value: [HOLD] }] });
  await c.core.deleteNamespacedPod({ name, namespace: ns });
  await eventually(`pod ${name} to be terminating`, async () =>
    (await c.core.readNamespacedPod({ name, namespace: ns })).metadata?.deletionTimestamp ? true : undefined,
  );
}

async function release(name: string): Promise<void> {
  await c.core
    .patchNamespacedPod({ name, namespace: ns, body: [{ op: 'remove', path: '/metadata/finalizers' }] })
    .catch(() => {});
}

function restoredFrom(pod: V1Pod): string[] {
  return Object.entries(pod.metadata?.annotations ?? {})
    .filter(([k]) => k === ANNOTATIONS.restoredFrom || k.startsWith(ANNOTATIONS.restoredFromContainerPrefix))
    .map(([, v]) => v);
}

function appImage(pod: V1Pod): string | undefined {
  return pod.spec?.containers.find((x) => x.name === 'app')?.image;
}

const template = (app: string) => ({
  metadata: { labels: { app } },
  spec: { containers: [{ name: 'app', image: APP_IMAGE }] },
});

// ---------- tests ----------

describe('namespaces kcr never sees', () => {
  it('pods in kube-system and kcr-system are not sent to the webhook; pods elsewhere are', async () => {
    const before = await admissions();
    const name = `probe-${randomBytes(3).toString('hex')}`;
    for (const namespace of ['kube-system', KCR_NAMESPACE]) {
      await c.core.createNamespacedPod({
        namespace,
        body: { metadata: { name, annotations: { [ANNOTATIONS.restore]: 'true' } }, spec: { containers: [{ name: 'app', image: APP_IMAGE }] } },
      });
      await c.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
    }
    expect(await admissions()).toBe(before);

    // Control: the same pod in an ordinary namespace does reach the webhook (synchronously).
    await c.core.createNamespacedPod({ namespace: ns, body: { metadata: { name }, spec: { containers: [{ name: 'app', image: APP_IMAGE }] } } });
    await c.core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 0 });
    expect(await admissions()).toBeGreaterThan(before);
  });
});

describe('StatefulSet', () => {
  it('a deleted pod recreated by the StatefulSet controller starts from its checkpoint', async () => {
    await c.apps.createNamespacedStatefulSet({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: { serviceName: 'web', replicas: 1, selector: { matchLabels: { app: 'web' } }, template: template('web') },
      },
    });
    const first = await eventually('pod web-0', async () => (await podsWithLabel('web')).find((p) => p.metadata?.name === 'web-0'));
    expect(appImage(first)).toBe(APP_IMAGE); // no checkpoint yet: fresh
    const image = await readyCheckpoint('web-0-cp1', first, { kind: 'StatefulSet', name: 'web' });

    await deleteHeld('web-0');
    await release('web-0'); // the StatefulSet controller recreates web-0 only once the old one is gone
    const second = await eventually('a new web-0', async () =>
      (await podsWithLabel('web')).find((p) => p.metadata?.name === 'web-0' && p.metadata.uid !== first.metadata?.uid),
    );
    expect(appImage(second)).toBe(image);
    expect(restoredFrom(second).join(' ')).toContain('web-0-cp1');
    expect(second.spec?.nodeSelector?.['kubernetes.io/arch']).toBe('amd64');
  });
});

describe('Deployment', () => {
  it('the replacement of a deleted replica starts from the replica’s checkpoint', async () => {
    await c.apps.createNamespacedDeployment({
      namespace: ns,
      body: { metadata: { name: 'api' }, spec: { replicas: 1, selector: { matchLabels: { app: 'api' } }, template: template('api') } },
    });
    const first = await eventually('the api pod', async () => (await podsWithLabel('api'))[0]);
    const image = await readyCheckpoint('api-cp1', first, { kind: 'Deployment', name: 'api' });

    await deleteHeld(first.metadata!.name!); // Terminating: the ReplicaSet replaces it at once
    try {
      const second = await eventually('the replacement api pod', async () =>
        (await podsWithLabel('api')).find((p) => p.metadata?.uid !== first.metadata?.uid),
      );
      expect(appImage(second)).toBe(image);
      expect(restoredFrom(second).join(' ')).toContain('api-cp1');
    } finally {
      await release(first.metadata!.name!);
    }
  });

  it('a scale-up while every replica is alive starts fresh (no cloning of a running replica)', async () => {
    await c.apps.createNamespacedDeployment({
      namespace: ns,
      body: { metadata: { name: 'live' }, spec: { replicas: 1, selector: { matchLabels: { app: 'live' } }, template: template('live') } },
    });
    const first = await eventually('the live pod', async () => (await podsWithLabel('live'))[0]);
    await readyCheckpoint('live-cp1', first, { kind: 'Deployment', name: 'live' });
    const before = await admissions();

    await c.apps.patchNamespacedDeploymentScale({ name: 'live', namespace: ns, body: [{ op: 'replace', path: '/spec/replicas', value: 2 }] });
    const added = await eventually('the second live pod', async () =>
      (await podsWithLabel('live')).find((p) => p.metadata?.uid !== first.metadata?.uid),
    );
    expect(await admissions()).toBeGreaterThan(before); // the webhook did see it
    expect(appImage(added)).toBe(APP_IMAGE);
    expect(restoredFrom(added)).toEqual([]);
  });
});

describe('webhook down', () => {
  it('pods are still created, fresh, within the webhook timeout', async () => {
    const cfg = await c.admission.readMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION });
    const timeoutMs = (cfg.webhooks?.[0]?.timeoutSeconds ?? 10) * 1000;
    // A bare pod with a checkpoint it would be restored from, were kcr up.
    const name = 'solo';
    const gone = { metadata: { name, uid: 'a-pod-that-is-gone' } } as V1Pod;
    await readyCheckpoint('solo-cp1', gone, { kind: 'Pod', name });
    await webhook!.stop();
    webhook = undefined;

    const started = Date.now();
    const pod = await c.core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name, annotations: { [ANNOTATIONS.restore]: 'true' } }, spec: { containers: [{ name: 'app', image: APP_IMAGE }] } },
    });
    const elapsed = Date.now() - started;
    expect(appImage(pod)).toBe(APP_IMAGE);
    expect(restoredFrom(pod)).toEqual([]);
    expect(elapsed).toBeLessThan(timeoutMs);
  });

  it('a webhook that accepts connections but never answers delays a pod by at most its timeout', async () => {
    const cfg = await c.admission.readMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION });
    const timeoutMs = (cfg.webhooks?.[0]?.timeoutSeconds ?? 10) * 1000;
    const held: Socket[] = [];
    const hung = createServer((sock) => held.push(sock)); // never completes a TLS handshake
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const port = (hung.address() as AddressInfo).port;
    try {
      await c.admission.patchMutatingWebhookConfiguration({
        name: WEBHOOK_CONFIGURATION,
        body: [{ op: 'replace', path: '/webhooks/0/clientConfig/url', value: `https://127.0.0.1:${port}/mutate` }],
      });
      // The API server picks the change up through its informer: wait until it dials the hung server.
      const name = `hung-${randomBytes(3).toString('hex')}`;
      let elapsed = 0;
      await eventually('the API server to call the hung webhook', async () => {
        const started = Date.now();
        await c.core.createNamespacedPod({ namespace: ns, dryRun: 'All', body: { metadata: { name }, spec: { containers: [{ name: 'app', image: APP_IMAGE }] } } });
        elapsed = Date.now() - started;
        return held.length > 0 ? true : undefined;
      });
      const started = Date.now();
      const pod = await c.core.createNamespacedPod({
        namespace: ns,
        body: { metadata: { name, annotations: { [ANNOTATIONS.restore]: 'true' } }, spec: { containers: [{ name: 'app', image: APP_IMAGE }] } },
      });
      elapsed = Date.now() - started;
      expect(appImage(pod)).toBe(APP_IMAGE);
      // The API server gave up after the webhook's timeout (and not much later), then let the pod in.
      expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 500);
      expect(elapsed).toBeLessThan(timeoutMs + 3000);
    } finally {
      for (const s of held) s.destroy();
      hung.close();
    }
  });
});
