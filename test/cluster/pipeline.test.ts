// kcr's main job end to end, every part real but the nodes: the real kube-apiserver and
// controllers, kcr's webhook, controller and one agent per simulated node as local processes
// (each as its own ServiceAccount, bound only by the manifests' RBAC), real Redis, a real
// registry with Basic auth. Schedules fire on their real cron (each minute), so this file
// waits for one or two minute boundaries.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANNOTATIONS, API_VERSION, GROUP, PLURALS, VERSION, type Checkpoint, type CheckpointRequest } from '../../src/api/types.ts';
import { apiCode, clientsFor, createNamespace, deleteNamespace, eventually, installedKcr, testCluster, type Clients } from './cluster-clients.ts';
import { copyRegistrySecret, startStack, stopStack, type StackState } from './kcr-stack.ts';
import { DEFAULT_PKI_DIR, pkiPaths } from './pki.ts';
import { parseAppState, type AppState } from './sim-node/app-state.ts';
import { readCheckpointArchive } from './sim-node/archive.ts';
import { createRegistryClient } from './sim-node/registry-client.ts';

const EVERY_MINUTE = '* * * * *';
const IMAGE = 'busybox:1.37';

let admin: Clients;
let kcrDir: string;
let stack: StackState;
let ns: string;
const log: string[] = [];

const custom = (plural: string) => ({ group: GROUP, version: VERSION, namespace: ns, plural });

async function checkpoints(filter: (cp: Checkpoint) => boolean = () => true): Promise<Checkpoint[]> {
  const list = (await admin.custom.listNamespacedCustomObject(custom(PLURALS.Checkpoint))) as { items: Checkpoint[] };
  return list.items.filter(filter);
}

const ready = (cp: Checkpoint) => cp.status?.phase === 'ImageBuilt' && typeof cp.status.runtimeImage === 'string';

async function pod(name: string): Promise<V1Pod | undefined> {
  try {
    return await admin.core.readNamespacedPod({ name, namespace: ns });
  } catch (err) {
    if (apiCode(err) === 404) return undefined;
    throw err;
  }
}

function runningReady(p: V1Pod | undefined, notUid?: string): p is V1Pod {
  return (
    p !== undefined &&
    p.metadata?.uid !== notUid &&
    p.metadata?.deletionTimestamp === undefined &&
    p.status?.phase === 'Running' &&
    (p.status.containerStatuses ?? []).every((s) => s.ready === true)
  );
}

async function runningPod(name: string, notUid?: string): Promise<V1Pod> {
  return eventually(`pod ${name} Running${notUid ? ' (a new one)' : ''}`, async () => {
    const p = await pod(name);
    return runningReady(p, notUid) ? p : undefined;
  }, 120_000, 250);
}

/** The pods of a Deployment that run and are not being deleted. */
async function runningPodsOf(app: string): Promise<V1Pod[]> {
  const list = await admin.core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` });
  return list.items.filter((p) => runningReady(p));
}

/** The app's memory, read through the API server's node proxy (as `kubectl get --raw` would). */
async function appState(p: V1Pod, container = 'app'): Promise<AppState> {
  const body: unknown = await admin.core.connectGetNodeProxyWithPath({ name: p.spec!.nodeName!, path: `state/${ns}/${p.metadata!.name!}/${container}` });
  return parseAppState(typeof body === 'string' ? JSON.parse(body) : body);
}

function template(app: string, annotations: Record<string, string> = {}) {
  return {
    metadata: { labels: { app }, annotations },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'app', image: IMAGE, command: ['sh', '-c', 'i=0; while true; do i=$((i+1)); sleep 1; done'] }],
    },
  };
}

/** The original kcr's opt-in: only the workload annotation, nothing on the pods. */
async function createStatefulSet(name: string, cron: string): Promise<void> {
  await admin.apps.createNamespacedStatefulSet({
    namespace: ns,
    body: {
      metadata: { name, annotations: { [ANNOTATIONS.workloadSchedule]: cron } },
      spec: { serviceName: name, replicas: 1, selector: { matchLabels: { app: name } }, template: template(name) },
    },
  });
}

async function createDeployment(name: string, cron: string): Promise<void> {
  await admin.apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name, annotations: { [ANNOTATIONS.workloadSchedule]: cron } },
      spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: template(name) },
    },
  });
}

async function createRequest(name: string, podName: string, scheduleRef?: string): Promise<CheckpointRequest> {
  return (await admin.custom.createNamespacedCustomObject({
    ...custom(PLURALS.CheckpointRequest),
    body: {
      apiVersion: API_VERSION,
      kind: 'CheckpointRequest',
      metadata: { name },
      spec: { podReference: { name: podName }, containerName: 'app', timeoutSeconds: 60, ...(scheduleRef ? { checkpointScheduleRef: { name: scheduleRef } } : {}) },
    },
  })) as CheckpointRequest;
}

async function completed(name: string): Promise<CheckpointRequest> {
  return eventually(`CheckpointRequest ${name} to finish`, async () => {
    const r = (await admin.custom.getNamespacedCustomObject({ ...custom(PLURALS.CheckpointRequest), name })) as CheckpointRequest;
    if (r.status?.phase === 'Failed') throw new Error(`CheckpointRequest ${name} failed: ${r.status.message ?? ''}`);
    return r.status?.phase === 'Completed' ? r : undefined;
  }, 120_000, 250);
}

/** The newest ready Checkpoint of the pod with this UID (only its workload's cron makes them here). */
async function scheduledCheckpoint(podName: string, podUid: string): Promise<Checkpoint> {
  return eventually(`a scheduled Checkpoint of ${podName}`, async () => {
    const found = await checkpoints((cp) => ready(cp) && cp.spec.podUID === podUid);
    return found.sort((a, b) => (b.spec.checkpointTimestamp ?? '').localeCompare(a.spec.checkpointTimestamp ?? ''))[0];
  }, 150_000, 500);
}

/** The app state inside a checkpoint image, pulled from the registry as a node would. */
async function savedState(image: string): Promise<AppState> {
  const resolved = await createRegistryClient().resolve(image, registryCredentials());
  if (!resolved.checkpoint) throw new Error(`${image} is not a checkpoint image`);
  return (await readCheckpointArchive(resolved.checkpoint.archive)).state;
}

function registryCredentials(): { username: string; password: string } | undefined {
  if (!stack.registry.authFile) return undefined;
  const doc = JSON.parse(readFileSync(stack.registry.authFile, 'utf8')) as { auths?: Record<string, { auth?: string }> };
  const decoded = Buffer.from(doc.auths?.[stack.registry.host]?.auth ?? '', 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0 ? undefined : { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

/**
 * A restored run counts on from the checkpoint's counter (a fresh one would count from 0):
 * counter = saved + seconds since it started, within a second of reading.
 */
async function expectContinuedFrom(p: V1Pod, image: string): Promise<void> {
  const saved = await savedState(image);
  const now = await appState(p);
  expect(now.restoredFrom).toBe(image);
  const sinceStart = Math.floor((Date.now() - Date.parse(now.startedAt)) / 1000);
  expect(now.counter - sinceStart).toBeGreaterThanOrEqual(saved.counter - 1);
  expect(now.counter - sinceStart).toBeLessThanOrEqual(saved.counter + 1);
}

async function registryHas(image: string): Promise<boolean> {
  const m = /^[^/]+\/(.+)@(sha256:[a-f0-9]{64})$/.exec(image);
  if (!m) throw new Error(`not a digest reference: ${image}`);
  const cred = registryCredentials();
  const res = await fetch(`${stack.registry.url}/v2/${m[1]}/manifests/${m[2]}`, {
    method: 'HEAD',
    headers: {
      accept: 'application/vnd.oci.image.manifest.v1+json',
      ...(cred ? { authorization: `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}` } : {}),
    },
  });
  if (res.status !== 200 && res.status !== 404) throw new Error(`registry answered ${res.status} for ${image}`);
  return res.status === 200;
}

beforeAll(async () => {
  const cluster = testCluster();
  installedKcr();
  admin = clientsFor(cluster.kubeconfig);
  const besideKubeconfig = join(dirname(cluster.kubeconfig), 'pki');
  const pkiDir = existsSync(pkiPaths(besideKubeconfig).caCert) ? besideKubeconfig : DEFAULT_PKI_DIR;
  kcrDir = mkdtempSync(join(tmpdir(), 'kcr-pipeline-'));
  const started = await startStack({
    cluster: { server: admin.kc.getCurrentCluster()!.server, kubeconfig: cluster.kubeconfig, binDir: cluster.binDir, pkiDir },
    kcrDir,
    nodes: 2,
    netnsOffset: 40,
    log: (m) => log.push(m),
    controllerEnv: { KCR_RETENTION_INTERVAL_MS: '2000', KCR_CONTROLLER_RESYNC_MS: '2000' },
  });
  stack = started.state;
  ns = await createNamespace(admin.core, 'pipe');
  // Restored pods pull their checkpoint image with the registry's credentials.
  await copyRegistrySecret(cluster.kubeconfig, ns, kcrDir);
}, 600_000);

afterAll(async () => {
  if (ns) await deleteNamespace(admin.core, ns);
  if (kcrDir) {
    await stopStack(kcrDir);
    rmSync(kcrDir, { recursive: true, force: true });
  }
});

describe('kcr end to end: schedules, agent, registry, webhook, simulated nodes', () => {
  it('a StatefulSet with the original kcr annotation is checkpointed on its cron; its replacement is restored with its state', async () => {
    await createStatefulSet('web', EVERY_MINUTE);
    const first = await runningPod('web-0');
    const cp = await scheduledCheckpoint('web-0', first.metadata!.uid!);
    expect(cp.spec).toMatchObject({ containerName: 'app', podName: 'web-0', identity: 'web-0', workload: { kind: 'StatefulSet', name: 'web' }, originalImage: IMAGE });
    expect(await registryHas(cp.status!.runtimeImage!)).toBe(true);

    await admin.core.deleteNamespacedPod({ name: 'web-0', namespace: ns });
    const replacement = await runningPod('web-0', first.metadata!.uid);
    // The webhook picks the newest ready checkpoint, which may be one a later minute took.
    const restoredFrom = replacement.metadata?.annotations?.[`${ANNOTATIONS.restoredFromContainerPrefix}app`];
    expect(restoredFrom).toBeDefined();
    const used = (await checkpoints((c) => c.metadata.name === restoredFrom))[0]!;
    expect(used.spec.podUID).toBe(first.metadata!.uid);
    expect(replacement.spec!.containers[0]!.image).toBe(used.status!.runtimeImage);
    await expectContinuedFrom(replacement, used.status!.runtimeImage!);
  }, 300_000);

  it('a Deployment likewise: the replica that replaces a deleted one continues its state; after an image rollout pods start fresh', async () => {
    await createDeployment('api', EVERY_MINUTE);
    const [first] = await eventually('a running api pod', async () => {
      const pods = await runningPodsOf('api');
      return pods.length === 1 ? pods : undefined;
    }, 120_000, 250);
    const cp = await scheduledCheckpoint(first!.metadata!.name!, first!.metadata!.uid!);
    expect(cp.spec).toMatchObject({ identity: 'api', workload: { kind: 'Deployment', name: 'api' } });

    await admin.core.deleteNamespacedPod({ name: first!.metadata!.name!, namespace: ns });
    const [replacement] = await eventually('the replacement api pod', async () => {
      const pods = (await runningPodsOf('api')).filter((p) => p.metadata!.uid !== first!.metadata!.uid);
      return pods.length === 1 ? pods : undefined;
    }, 120_000, 250);
    const restoredFrom = replacement!.metadata?.annotations?.[`${ANNOTATIONS.restoredFromContainerPrefix}app`];
    expect(restoredFrom).toBeDefined();
    const used = (await checkpoints((c) => c.metadata.name === restoredFrom))[0]!;
    expect(used.spec.podUID).toBe(first!.metadata!.uid);
    await expectContinuedFrom(replacement!, used.status!.runtimeImage!);

    // A rollout to a new image: its pods start fresh (the checkpoint is of other software).
    await admin.apps.patchNamespacedDeployment(
      { name: 'api', namespace: ns, body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'busybox:1.38' }] },
    );
    const [rolled] = await eventually('a running pod of the new image', async () => {
      const pods = (await runningPodsOf('api')).filter((p) => p.spec!.containers[0]!.image === 'busybox:1.38');
      return pods.length >= 1 ? pods : undefined;
    }, 120_000, 250);
    expect(rolled!.metadata?.annotations?.[`${ANNOTATIONS.restoredFromContainerPrefix}app`]).toBeUndefined();
    expect((await appState(rolled!)).restoredFrom).toBeUndefined();
  }, 300_000);

  it('a CheckpointRequest a user writes completes with a Checkpoint whose image is in the registry; retention keeps exactly N and deletes the rest from the registry', async () => {
    await admin.custom.createNamespacedCustomObject({
      ...custom(PLURALS.CheckpointSchedule),
      body: {
        apiVersion: API_VERSION,
        kind: 'CheckpointSchedule',
        // New Year at midnight: it never fires during the test; its retention governs the requests below.
        metadata: { name: 'keep-two' },
        spec: { schedule: '0 0 1 1 *', selector: { matchLabels: { app: 'cache' } }, retention: { maxCheckpointsPerContainer: 2 } },
      },
    });
    await createStatefulSet('cache', '0 0 1 1 *');
    const p = await runningPod('cache-0');
    const made: Checkpoint[] = [];
    for (let i = 1; i <= 3; i++) {
      await createRequest(`user-${i}`, 'cache-0', 'keep-two');
      const done = await completed(`user-${i}`);
      expect(done.status?.checkpoint?.name).toBeDefined();
      const cp = await eventually(`Checkpoint of user-${i}`, async () => (await checkpoints((c) => c.metadata.name === done.status!.checkpoint!.name && ready(c)))[0]);
      expect(cp.spec).toMatchObject({ podName: 'cache-0', podUID: p.metadata!.uid, containerName: 'app', checkpointScheduleRef: { name: 'keep-two' } });
      made.push(cp);
      // Archives have one-second names: the next one is taken in a later second.
      await new Promise((r) => setTimeout(r, 1100));
    }
    const oldest = made[0]!;
    await eventually('retention to delete the oldest of three', async () => ((await checkpoints((c) => c.metadata.name === oldest.metadata.name)).length === 0 ? true : undefined), 60_000, 500);
    const kept = await checkpoints((c) => c.spec.podUID === p.metadata!.uid);
    expect(kept.map((c) => c.metadata.name).sort()).toEqual([made[1]!.metadata.name, made[2]!.metadata.name].sort());
    await eventually('the registry manifest of the deleted checkpoint to go', async () => ((await registryHas(oldest.status!.runtimeImage!)) ? undefined : true), 30_000, 500);
    expect(await registryHas(made[2]!.status!.runtimeImage!)).toBe(true);
    // Retention settles: later passes keep exactly two.
    await new Promise((r) => setTimeout(r, 5000));
    expect((await checkpoints((c) => c.spec.podUID === p.metadata!.uid)).length).toBe(2);
  }, 300_000);
});
