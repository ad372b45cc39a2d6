// A hostile tenant against kcr's objects, on a real kube-apiserver with kcr's manifests applied
// (RBAC and ValidatingAdmissionPolicies): each attack is a test that fails if the attack works.
// The last parts play stolen kcr-controller and kcr-agent tokens: the controller's pod writes
// are bounded, the ConfigMaps it keeps bare pods' manifests in are reachable in kcr-system only,
// and of Secrets it reads and writes only kcr-pull (and kcr's own in kcr-system).
//   tenant  - ServiceAccount bound to the built-in `edit` role in its namespace (kcr-edit and
//             kcr-view aggregate into it), as a namespace's developers are;
//   sloppy  - a ServiceAccount an administrator gave every verb on kcr's kinds and their status:
//             kcr-objects-are-kcrs must still stop it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, GROUP, PLURALS, VERSION } from '../../src/api/types.ts';
import { clientsFor, createNamespace, deleteNamespace, eventually, expectApiError, installedKcr, testCluster, type Clients } from './cluster-clients.ts';
import { KCR_NAMESPACE, serviceAccountKubeconfig } from './kcr-in-cluster.ts';

const cluster = testCluster();
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const POLICY = 'kcr-objects-are-kcrs';
let admin: Clients;
let tenant: Clients;
let sloppy: Clients;
let controller: Clients;
let ns: string;
let dir: string;

const cpBody = (name: string) => ({
  apiVersion: API_VERSION,
  kind: 'Checkpoint',
  metadata: { name },
  spec: { containerName: 'app', podName: 'web-0', identity: 'web-0', originalImage: 'busybox:1.37', checkpointTimestamp: '2026-11-24T06:00:00Z' },
});
const custom = (plural: string) => ({ group: GROUP, version: VERSION, namespace: ns, plural });

async function serviceAccount(name: string): Promise<Clients> {
  await admin.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
  return clientsFor(await serviceAccountKubeconfig(cluster, ns, name, join(dir, `${name}.kubeconfig`), 3600));
}

beforeAll(async () => {
  installedKcr();
  admin = clientsFor(cluster.kubeconfig);
  dir = mkdtempSync(join(tmpdir(), 'kcr-tenant-'));
  ns = await createNamespace(admin.core, 'kcr-tenant');
  tenant = await serviceAccount('tenant');
  await admin.rbac.createNamespacedRoleBinding({ namespace: ns, body: {
    metadata: { name: 'tenant-edit' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
    subjects: [{ kind: 'ServiceAccount', name: 'tenant', namespace: ns }],
  } });
  sloppy = await serviceAccount('sloppy');
  await admin.rbac.createNamespacedRole({ namespace: ns, body: {
    metadata: { name: 'everything-kcr' },
    rules: [{ apiGroups: [GROUP], resources: ['checkpoints', 'checkpoints/status', 'checkpointrequests', 'checkpointrequests/status', 'restorerequests', 'restorerequests/status'], verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'] }],
  } });
  await admin.rbac.createNamespacedRoleBinding({ namespace: ns, body: {
    metadata: { name: 'sloppy-everything' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'everything-kcr' },
    subjects: [{ kind: 'ServiceAccount', name: 'sloppy', namespace: ns }],
  } });
  controller = clientsFor(await serviceAccountKubeconfig(cluster, KCR_NAMESPACE, 'kcr-controller', join(dir, 'controller.kubeconfig'), 3600));
  // The aggregation controller folds kcr-edit into edit within moments.
  await eventually('edit to carry kcr-edit', async () => {
    const role = await admin.rbac.readClusterRole({ name: 'edit' });
    return (role.rules ?? []).some((r) => r.apiGroups?.includes(GROUP) && r.resources?.includes('restorerequests') && r.verbs.includes('create')) ? true : undefined;
  });
}, 120_000);

afterAll(async () => {
  if (admin && ns) await deleteNamespace(admin.core, ns);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a namespace developer (edit)', () => {
  it('asks for checkpoints and restores and reads Checkpoints, as edit and view aggregate kcr-edit and kcr-view', async () => {
    await tenant.custom.createNamespacedCustomObject({ ...custom(PLURALS.CheckpointRequest), body: { apiVersion: API_VERSION, kind: 'CheckpointRequest', metadata: { name: 'mine' }, spec: { podReference: { name: 'web-0' }, containerName: 'app' } } });
    await tenant.custom.listNamespacedCustomObject(custom(PLURALS.Checkpoint));
    await tenant.custom.deleteNamespacedCustomObject({ ...custom(PLURALS.CheckpointRequest), name: 'mine' });
  });

  it('cannot create a Checkpoint or write any kcr status (RBAC)', async () => {
    const create = await expectApiError(() => tenant.custom.createNamespacedCustomObject({ ...custom(PLURALS.Checkpoint), body: cpBody('forged') }));
    expect(create.code).toBe(403);
    expect(create.message).toMatch(/cannot create resource "checkpoints"/);
    await admin.custom.createNamespacedCustomObject({ ...custom(PLURALS.Checkpoint), body: cpBody('real') });
    const status = await expectApiError(() => tenant.custom.patchNamespacedCustomObjectStatus({ ...custom(PLURALS.Checkpoint), name: 'real', body: { status: { phase: 'ImageBuilt', runtimeImage: 'evil.example/x@sha256:' + 'a'.repeat(64) } } }, mergePatch));
    expect(status.code).toBe(403);
    expect(status.message).toMatch(/checkpoints\/status/);
  });

  it('cannot set kcr’s annotations on a pod (kcr-objects-are-kcrs), and may set its own', async () => {
    await admin.core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'web-0' }, spec: { containers: [{ name: 'app', image: 'busybox:1.37' }] } } });
    for (const key of ['kcr.io/restored-from.app', 'kcr.io/restored-from', 'kcr.io/in-place-restores.app', 'kcr.io/claim-holder', 'kcr.io/identity']) {
      const denied = await expectApiError(() => tenant.core.patchNamespacedPod({ name: 'web-0', namespace: ns, body: { metadata: { annotations: { [key]: 'bank-checkpoint' } } } }, mergePatch));
      expect(denied.code, key).toBe(403);
      expect(denied.message, key).toContain(POLICY);
      expect(denied.message, key).toContain('only kcr sets');
    }
    await tenant.core.patchNamespacedPod({ name: 'web-0', namespace: ns, body: { metadata: { annotations: { 'example.com/owner': 'me' } } } }, mergePatch);
  });
});

describe('a ServiceAccount given every verb on kcr’s kinds', () => {
  it('still cannot create a Checkpoint, change its spec or kcr’s annotations, or write any status', async () => {
    const create = await expectApiError(() => sloppy.custom.createNamespacedCustomObject({ ...custom(PLURALS.Checkpoint), body: cpBody('forged-2') }));
    expect(create.code).toBe(403);
    expect(create.message).toContain(`only kcr creates Checkpoints (${POLICY})`);

    await admin.custom.createNamespacedCustomObject({ ...custom(PLURALS.Checkpoint), body: cpBody('target') });
    // Source fields are set-once by the CRD's own rules; the policy guards the rest (what a restore needs from a node).
    for (const change of [{ architecture: 'arm64' }, { runtime: { name: 'containerd' } }, { baseImage: { name: 'evil.example/x:1' } }]) {
      const spec = await expectApiError(() => sloppy.custom.patchNamespacedCustomObject({ ...custom(PLURALS.Checkpoint), name: 'target', body: { spec: change } }, mergePatch));
      expect(spec.code, JSON.stringify(change)).toBe(403);
      expect(spec.message).toContain(`only kcr changes a Checkpoint's spec (${POLICY})`);
    }
    for (const key of ['kcr.io/pinned', 'kcr.io/target-node', 'kcr.io/claim']) {
      const pin = await expectApiError(() => sloppy.custom.patchNamespacedCustomObject({ ...custom(PLURALS.Checkpoint), name: 'target', body: { metadata: { annotations: { [key]: 'true' } } } }, mergePatch));
      expect(pin.code, key).toBe(403);
      expect(pin.message, key).toContain('only kcr sets');
    }
    const status = await expectApiError(() => sloppy.custom.patchNamespacedCustomObjectStatus({ ...custom(PLURALS.Checkpoint), name: 'target', body: { status: { phase: 'ImageBuilt' } } }, mergePatch));
    expect(status.message).toContain(`only kcr writes the status of checkpoints (${POLICY})`);
    await sloppy.custom.createNamespacedCustomObject({ ...custom(PLURALS.RestoreRequest), body: { apiVersion: API_VERSION, kind: 'RestoreRequest', metadata: { name: 'rr' }, spec: { podReference: { name: 'web-0' } } } });
    const rrStatus = await expectApiError(() => sloppy.custom.patchNamespacedCustomObjectStatus({ ...custom(PLURALS.RestoreRequest), name: 'rr', body: { status: { phase: 'Restoring', keptManifest: 'kcr-redis-config' } } }, mergePatch));
    expect(rrStatus.message).toContain(`only kcr writes the status of restorerequests (${POLICY})`);
    // Its own labels and annotations it may keep.
    await sloppy.custom.patchNamespacedCustomObject({ ...custom(PLURALS.Checkpoint), name: 'target', body: { metadata: { labels: { team: 'a' }, annotations: { 'example.com/note': 'x' } } } }, mergePatch);
  });

  it('kcr’s controller may write what the policy reserves (the exemption is by ServiceAccount)', async () => {
    await controller.custom.patchNamespacedCustomObjectStatus({ ...custom(PLURALS.Checkpoint), name: 'target', body: { status: { phase: 'Created' } } }, mergePatch);
    await controller.custom.patchNamespacedCustomObject({ ...custom(PLURALS.Checkpoint), name: 'target', body: { metadata: { annotations: { 'kcr.io/pinned': 'true' } } } }, mergePatch);
  });
});

describe('kcr’s controller ServiceAccount, as a stolen token would use it', () => {
  const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
  const image = (namespace: string) => `127.0.0.1:5000/kcr/${namespace}/web-0@sha256:${'b'.repeat(64)}`;
  const setImage = (to: string) => controller.core.patchNamespacedPod({ name: 'web-0', namespace: ns, body: { spec: { containers: [{ name: 'app', image: to }] } } }, strategic);

  it('may not write pods in kube-system (kcr-controller-pod-writes)', async () => {
    await admin.core.createNamespacedPod({ namespace: 'kube-system', body: { metadata: { name: 'kcr-tenant-probe' }, spec: { containers: [{ name: 'app', image: 'busybox:1.37' }] } } });
    try {
      const del = await expectApiError(() => controller.core.deleteNamespacedPod({ name: 'kcr-tenant-probe', namespace: 'kube-system' }));
      expect(del.code).toBe(403);
      expect(del.message).toContain('kcr controller may not write pods in kube-system (kcr-controller-pod-writes)');
    } finally {
      await admin.core.deleteNamespacedPod({ name: 'kcr-tenant-probe', namespace: 'kube-system', gracePeriodSeconds: 0 }).catch(() => undefined);
    }
  });

  it('switches a container only between its image and a checkpoint image of the pod’s own namespace', async () => {
    const other = await expectApiError(() => setImage(image('bank')));
    expect(other.code).toBe(403);
    expect(other.message).toContain('only to or from a checkpoint image of the pod\'s namespace (kcr-controller-pod-writes)');
    const anything = await expectApiError(() => setImage('evil.example/miner:latest'));
    expect(anything.code).toBe(403);
    await setImage(image(ns));
    // Back to the original (a crash loop past the bound): from a checkpoint image, allowed.
    await setImage('busybox:1.37');
  });

  it('creates a pod as a ServiceAccount other than default only without its token (kcr-controller-pod-writes)', async () => {
    // Stands for any ServiceAccount of the namespace bound to more than its pods should have.
    await admin.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'powerful' } } });
    const bare = (name: string, spec: Record<string, unknown>) => ({
      metadata: { name },
      spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image: 'busybox:1.37', command: ['sleep', '3600'] }], ...spec },
    });
    const attempts: Array<[string, Record<string, unknown>]> = [
      // The token the ServiceAccount admission plugin mounts (kube-api-access-*), as a pod gets by default.
      ['as-powerful', { serviceAccountName: 'powerful' }],
      ['as-powerful-automount', { serviceAccountName: 'powerful', automountServiceAccountToken: true }],
      // Automount off, the token asked for as a projected volume instead.
      ['as-powerful-projected', { serviceAccountName: 'powerful', automountServiceAccountToken: false, volumes: [{ name: 'token', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }] }],
    ];
    for (const [name, spec] of attempts) {
      const denied = await expectApiError(() => controller.core.createNamespacedPod({ namespace: ns, body: bare(name, spec) }));
      expect(denied.code, name).toBe(403);
      expect(denied.message, name).toContain('kcr controller may create a pod as ServiceAccount powerful only without its token');
      expect(denied.message, name).toContain('(kcr-controller-pod-writes)');
    }
    // Without the token it may recreate a pod of any ServiceAccount; the default one keeps its token.
    await controller.core.createNamespacedPod({ namespace: ns, body: bare('powerful-tokenless', { serviceAccountName: 'powerful', automountServiceAccountToken: false }) });
    await controller.core.createNamespacedPod({ namespace: ns, body: bare('as-default', {}) });
  });

  it('keeps bare pods\' manifests in ConfigMaps of kcr-system only: those of other namespaces are out of its reach', async () => {
    const body = (name: string) => ({ metadata: { name }, data: { 'pod.json': '{}' } });
    const elsewhere = await expectApiError(() => controller.core.createNamespacedConfigMap({ namespace: ns, body: body('kcr-restore-probe') }));
    expect(elsewhere.code).toBe(403);
    expect(elsewhere.message).toContain('cannot create resource "configmaps"');
    const read = await expectApiError(() => controller.core.listNamespacedConfigMap({ namespace: 'kube-system' }));
    expect(read.code).toBe(403);
    const name = `kcr-restore-probe-${ns}`.slice(0, 63);
    await controller.core.createNamespacedConfigMap({ namespace: KCR_NAMESPACE, body: body(name) });
    await controller.core.readNamespacedConfigMap({ name, namespace: KCR_NAMESPACE });
    await controller.core.deleteNamespacedConfigMap({ name, namespace: KCR_NAMESPACE });
  });
});

describe('kcr’s controller ServiceAccount and Secrets, as a stolen token would use it', () => {
  const dockerConfig = (host: string) => ({ '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { [host]: { auth: Buffer.from('u:p').toString('base64') } } })).toString('base64') });
  const pullSecret = (name: string, labelled: boolean) => ({
    metadata: { name, ...(labelled ? { labels: { 'kcr.io/pull-secret': 'true' } } : {}) },
    type: 'kubernetes.io/dockerconfigjson',
    data: dockerConfig('registry.example'),
  });

  it('reads no Secret but kcr-pull: not a tenant’s, and it cannot list them', async () => {
    await admin.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'db-password' }, stringData: { password: 'hunter2' } } });
    const read = await expectApiError(() => controller.core.readNamespacedSecret({ name: 'db-password', namespace: ns }));
    expect(read.code).toBe(403);
    const list = await expectApiError(() => controller.core.listNamespacedSecret({ namespace: ns }));
    expect(list.code).toBe(403);
    const all = await expectApiError(() => controller.core.listSecretForAllNamespaces({}));
    expect(all.code).toBe(403);
  });

  it('creates only kcr-pull, as a labelled dockerconfigjson (kcr-controller-secret-writes)', async () => {
    const planted = await expectApiError(() => controller.core.createNamespacedSecret({ namespace: ns, body: pullSecret('planted', true) }));
    expect(planted.code).toBe(403);
    expect(planted.message).toContain('kcr controller may write only the Secret kcr-pull outside kcr-system');
    expect(planted.message).toContain('kcr-controller-secret-writes');
    const unlabelled = await expectApiError(() => controller.core.createNamespacedSecret({ namespace: ns, body: pullSecret('kcr-pull', false) }));
    expect(unlabelled.code).toBe(403);
    expect(unlabelled.message).toContain('labelled kcr.io/pull-secret=true');
    const opaque = await expectApiError(() => controller.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'kcr-pull', labels: { 'kcr.io/pull-secret': 'true' } }, stringData: { token: 'x' } } }));
    expect(opaque.code).toBe(403);
    const inKcr = await expectApiError(() => controller.core.createNamespacedSecret({ namespace: KCR_NAMESPACE, body: pullSecret('kcr-webhook-tls-planted', true) }));
    expect(inKcr.code).toBe(403);
    await controller.core.createNamespacedSecret({ namespace: ns, body: pullSecret('kcr-pull', true) });
    await controller.core.deleteNamespacedSecret({ name: 'kcr-pull', namespace: ns });
  });

  it('never rewrites or deletes a tenant’s own Secret named kcr-pull', async () => {
    await admin.core.createNamespacedSecret({ namespace: ns, body: pullSecret('kcr-pull', false) });
    try {
      const live = await controller.core.readNamespacedSecret({ name: 'kcr-pull', namespace: ns });
      const taken = await expectApiError(() => controller.core.replaceNamespacedSecret({ name: 'kcr-pull', namespace: ns, body: { ...live, metadata: { ...live.metadata, labels: { 'kcr.io/pull-secret': 'true' } }, data: dockerConfig('evil.example') } }));
      expect(taken.code).toBe(403);
      expect(taken.message).toContain('kcr never touches one it did not make');
      const gone = await expectApiError(() => controller.core.deleteNamespacedSecret({ name: 'kcr-pull', namespace: ns }));
      expect(gone.code).toBe(403);
    } finally {
      await admin.core.deleteNamespacedSecret({ name: 'kcr-pull', namespace: ns });
    }
  });
});

describe('kcr’s agent ServiceAccount, as a stolen token would use it', () => {
  it('cannot reach kubelets through the API server’s node proxy (exec, attach, any endpoint): it has nodes/checkpoint only', async () => {
    const agent = clientsFor(await serviceAccountKubeconfig(cluster, KCR_NAMESPACE, 'kcr-agent', join(dir, 'agent.kubeconfig'), 3600));
    const proxy = await expectApiError(() => agent.core.connectPostNodeProxyWithPath({ name: 'any-node', path: 'run/kube-system/etcd/etcd' }));
    expect(proxy.code).toBe(403);
    expect(proxy.message).toContain('cannot create resource "nodes/proxy"');
  });
});

