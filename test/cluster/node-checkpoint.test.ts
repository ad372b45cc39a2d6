// Simulated nodes in the real control plane: they register and stay Ready, run the pods the real
// scheduler binds to them, and answer the kubelet checkpoint API through the real API server's
// node proxy; checkpoint images pulled from a real registry are restored, not started.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CoordinationV1Api, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RegistryServer } from '../support/registry.ts';
import { apiCode, clientsFor, createNamespace, deleteNamespace, eventually, testCluster, type Clients } from './cluster-clients.ts';
import { APISERVER_KUBELET_CLIENT_USER, DEFAULT_PKI_DIR, issueClientCert, pkiPaths } from './pki.ts';
import { CRIO_CHECKPOINT_ANNOTATION, SIM_ANNOTATIONS } from './sim-node/annotations.ts';
import { parseAppState, type AppState } from './sim-node/app-state.ts';
import { parseCheckpointArchiveName } from './sim-node/archive-name.ts';
import { readCheckpointArchive } from './sim-node/archive.ts';
import { localClusterIdentity } from './sim-node/local-identity.ts';
import { startSimulatedNodes, type SimulatedNodes } from './sim-node/start.ts';

const runId = randomBytes(3).toString('hex');
const nodeSetLabel = 'sim.kcr.io/test-node-set';
let clients: Clients;
let kc: KubeConfig;
let pkiDir: string;
let nodes: SimulatedNodes;
let reg: RegistryServer;
let ns: string;
let root: string;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

interface Reply {
  status: number;
  body: string;
}

/** A raw call to the API server as the admin kubeconfig's user. */
async function apiCall(method: string, path: string): Promise<Reply> {
  const opts: RequestOptions = { method, headers: { accept: 'application/json, */*' } };
  await kc.applyToHTTPSOptions(opts);
  const url = new URL(path, kc.getCurrentCluster()!.server);
  return new Promise((resolve, reject) => {
    const req = request(url, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function nodeName(i: number): string {
  return `ckpt-${runId}-${i}`;
}

function podOn(name: string, node: string, image: string, annotations: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, namespace: ns, annotations: { [SIM_ANNOTATIONS.memoryBytes]: String(384 * 1024), ...annotations } },
    // Placed by the real scheduler: the nodeSelector only narrows it to this test's node.
    spec: { nodeSelector: { 'kubernetes.io/hostname': node }, containers: [{ name: 'app', image }], terminationGracePeriodSeconds: 30 },
  };
}

async function runningPod(name: string, timeoutMs = 30_000): Promise<V1Pod> {
  return eventually(
    `pod ${name} Running and Ready`,
    async () => {
      const p = await clients.core.readNamespacedPod({ name, namespace: ns });
      const ready = p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      return p.status?.phase === 'Running' && ready ? p : undefined;
    },
    timeoutMs,
  );
}

function annotatedState(p: V1Pod, container = 'app'): AppState | undefined {
  const raw = p.metadata?.annotations?.[`${SIM_ANNOTATIONS.statePrefix}${container}`];
  return raw === undefined ? undefined : parseAppState(JSON.parse(raw));
}

async function checkpointViaProxy(node: string, pod: string, container: string, query = '?timeout=30'): Promise<Reply> {
  return apiCall('POST', `/api/v1/nodes/${node}/proxy/checkpoint/${ns}/${pod}/${container}${query}`);
}

/** Pushes `layer` as a one-layer checkpoint image (what kcr's agent does) and returns its reference. */
async function pushCheckpointImage(repo: string, tag: string, layer: Buffer, container: string, original: string): Promise<string> {
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const put = async (body: Buffer) => {
    const digest = sha(body);
    const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    const loc = new URL(start.headers.get('location')!, reg.url);
    loc.searchParams.set('digest', digest);
    const res = await fetch(loc, { method: 'PUT', body });
    expect(res.status).toBe(201);
    return digest;
  };
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await put(layer), size: layer.length }],
    annotations: { [CRIO_CHECKPOINT_ANNOTATION]: container, 'org.criu.checkpoint.container.name': container, 'org.criu.checkpoint.rootfsImageName': original },
  };
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    body: JSON.stringify(manifest),
  });
  expect(res.status).toBe(201);
  return `${reg.host}/${repo}:${tag}`;
}

/** The API server's kubelet-client user must hold nodes/proxy and nodes/checkpoint (kubeadm binds the former). */
async function ensureKubeletClientRbac(): Promise<void> {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const ignoreExists = (err: unknown) => {
    if (apiCode(err) !== 409) throw err;
  };
  await rbac
    .createClusterRole({ body: { metadata: { name: 'kcr-test:sim-kubelet-client' }, rules: [{ apiGroups: [''], resources: ['nodes/checkpoint', 'nodes/proxy'], verbs: ['create', 'get'] }] } })
    .catch(ignoreExists);
  await rbac
    .createClusterRoleBinding({
      body: {
        metadata: { name: 'kcr-test:sim-kubelet-client' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kcr-test:sim-kubelet-client' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: APISERVER_KUBELET_CLIENT_USER }],
      },
    })
    .catch(ignoreExists);
}

beforeAll(async () => {
  const cluster = testCluster();
  clients = clientsFor(cluster.kubeconfig);
  kc = clients.kc;
  const besideKubeconfig = join(dirname(cluster.kubeconfig), 'pki');
  pkiDir = existsSync(pkiPaths(besideKubeconfig).caCert) ? besideKubeconfig : DEFAULT_PKI_DIR;
  await ensureKubeletClientRbac();
  reg = await startRegistry();
  root = mkdtempSync(join(tmpdir(), 'kcr-sim-nodes-'));
  nodes = await startSimulatedNodes({
    count: 2,
    namePrefix: `ckpt-${runId}-`,
    identity: localClusterIdentity(kc.getCurrentCluster()!.server, pkiDir),
    checkpointRoot: root,
    labels: { [nodeSetLabel]: runId },
    // Clear of other node sets in the run's node network (the global setup's start at 0).
    netnsIndexOffset: 100,
    timing: { stateAnnotationMs: 1000, restartBackoffMs: 1000, imagePullBackoffMs: 2000 },
  });
  ns = await createNamespace(clients.core, 'sim-node');
});

afterAll(async () => {
  if (ns) await deleteNamespace(clients.core, ns);
  await nodes?.stop();
  for (const n of nodes?.nodes ?? []) await clients.core.deleteNode({ name: n.name }).catch(() => undefined);
  await reg?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('simulated nodes in the real control plane', () => {
  it('register with CRI-O as runtime, become Ready and keep their Leases fresh', async () => {
    const list = await clients.core.listNode({ labelSelector: `${nodeSetLabel}=${runId}` });
    expect(list.items.map((n) => n.metadata!.name).sort()).toEqual([nodeName(1), nodeName(2)]);
    for (const n of list.items) {
      expect(n.status?.nodeInfo).toMatchObject({ containerRuntimeVersion: 'cri-o://1.34.0', kubeletVersion: 'v1.37.2', architecture: 'amd64' });
      expect(n.metadata?.labels).toMatchObject({ 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': n.metadata!.name });
      expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(n.status?.daemonEndpoints?.kubeletEndpoint?.Port).toBe(nodes.node(n.metadata!.name!).port);
      const internalIp = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
      expect(internalIp).toBe(nodes.node(n.metadata!.name!).ip);
      expect(internalIp).not.toMatch(/^127\./); // the node proxy would refuse it
    }
    // TaintNodesByCondition taints a new node not-ready; the node lifecycle controller lifts it once Ready.
    for (const i of [1, 2]) {
      await eventually(`${nodeName(i)} untainted`, async () => ((await clients.core.readNode({ name: nodeName(i) })).spec?.taints ?? []).length === 0 || undefined, 30_000);
    }
    const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: nodeName(1), namespace: 'kube-node-lease' });
    expect(lease.spec?.holderIdentity).toBe(nodeName(1));
    expect(Date.now() - new Date(lease.spec!.renewTime!).getTime()).toBeLessThan(60_000);
  });

  it('run a pod the scheduler binds to them: Running, Ready, pod IP, imageID, state kept current', async () => {
    await clients.core.createNamespacedPod({ namespace: ns, body: podOn('counter', nodeName(1), 'docker.io/library/counter:1.0') });
    const p = await runningPod('counter');
    expect(p.spec?.nodeName).toBe(nodeName(1));
    const cs = p.status!.containerStatuses![0]!;
    expect(cs).toMatchObject({ name: 'app', ready: true, restartCount: 0, started: true });
    expect(cs.state?.running?.startedAt).toBeDefined();
    expect(cs.imageID).toMatch(/^docker\.io\/library\/counter@sha256:[0-9a-f]{64}$/);
    expect(p.status?.podIP).toMatch(/^10\.244\.\d+\.\d+$/);
    expect(p.status?.hostIP).toBe(nodes.node(nodeName(1)).ip);
    expect(p.status?.conditions?.map((c) => c.type).sort()).toEqual(['ContainersReady', 'Initialized', 'PodReadyToStartContainers', 'PodScheduled', 'Ready']);
    // The counter grows and the node publishes it.
    const first = await eventually('a state annotation', async () => annotatedState(await clients.core.readNamespacedPod({ name: 'counter', namespace: ns })));
    const later = await eventually('the counter to grow', async () => {
      const s = annotatedState(await clients.core.readNamespacedPod({ name: 'counter', namespace: ns }));
      return s && s.counter > first.counter ? s : undefined;
    }, 15_000);
    expect(later.startedAt).toBe(first.startedAt);
    expect(later.restoredFrom).toBeUndefined();
    // And through the node proxy.
    const r = await apiCall('GET', `/api/v1/nodes/${nodeName(1)}/proxy/state/${ns}/counter/app`);
    expect(r.status).toBe(200);
    expect(parseAppState(JSON.parse(r.body)).counter).toBeGreaterThanOrEqual(later.counter);
  });

  it('checkpoint through the node proxy: 200 with the archive path; the archive is on the node disk in CRI-O layout', async () => {
    await runningPod('counter');
    const before = annotatedState(await clients.core.readNamespacedPod({ name: 'counter', namespace: ns }))!;
    const r = await checkpointViaProxy(nodeName(1), 'counter', 'app');
    expect(r.status).toBe(200);
    const { items } = JSON.parse(r.body) as { items: string[] };
    expect(items).toHaveLength(1);
    const path = items[0]!;
    const node = nodes.node(nodeName(1));
    expect(dirname(path)).toBe(node.checkpointDir);
    expect(parseCheckpointArchiveName(path.slice(node.checkpointDir.length + 1))?.prefix).toBe(`checkpoint-counter_${ns}-app`);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(node.checkpointDir)).mode & 0o777).toBe(0o700);
    const archive = await readCheckpointArchive(await readFile(path));
    const names = archive.entries.map((e) => e.name);
    for (const want of ['config.dump', 'spec.dump', 'checkpoint/inventory.img', 'checkpoint/pages-1.img', 'rootfs-diff.tar', 'bind.mounts', 'stats-dump']) expect(names).toContain(want);
    expect(archive.entries.find((e) => e.name === 'checkpoint/pages-1.img')!.size).toBe(384 * 1024);
    expect(archive.state.counter).toBeGreaterThanOrEqual(before.counter);
    expect((archive.spec as { annotations: Record<string, string> }).annotations['io.kubernetes.pod.namespace']).toBe(ns);
  });

  it('404 for an unknown container, pod or timeout; 500 when the node is told to fail', async () => {
    const unknownContainer = await checkpointViaProxy(nodeName(1), 'counter', 'nope');
    expect(unknownContainer.status).toBe(404);
    expect(unknownContainer.body).toContain('container nope does not exist');
    expect((await checkpointViaProxy(nodeName(1), 'no-such-pod', 'app')).status).toBe(404);
    expect((await checkpointViaProxy(nodeName(1), 'counter', 'app', '?timeout=soon')).status).toBe(404);
    // Across processes: the node annotation.
    await clients.core.patchNode({ name: nodeName(1), body: { metadata: { annotations: { [SIM_ANNOTATIONS.failCheckpoint]: 'true' } } } }, mergePatch);
    try {
      const failed = await checkpointViaProxy(nodeName(1), 'counter', 'app');
      expect(failed.status).toBe(500);
      expect(failed.body).toContain(`checkpointing of ${ns}/counter/app failed`);
    } finally {
      await clients.core.patchNode({ name: nodeName(1), body: { metadata: { annotations: { [SIM_ANNOTATIONS.failCheckpoint]: null } } } }, mergePatch);
    }
    // In process: the next one only.
    nodes.node(nodeName(1)).failNextCheckpoints(1);
    expect((await checkpointViaProxy(nodeName(1), 'counter', 'app')).status).toBe(500);
    expect((await checkpointViaProxy(nodeName(1), 'counter', 'app')).status).toBe(200);
  });

  it('the kubelet asks the API server (SubjectAccessReview): a user without nodes/checkpoint gets 403', async () => {
    const node = nodes.node(nodeName(1));
    const jane = issueClientCert(`jane-${runId}`, ['developers'], pkiDir);
    const r = await new Promise<Reply>((resolve, reject) => {
      const req = request(
        { host: node.ip, port: node.port, method: 'POST', path: `/checkpoint/${ns}/counter/app`, ca: readFileSync(pkiPaths(pkiDir).kubeletCaCert, 'utf8'), cert: jane.cert, key: jane.key },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(r).toEqual({ status: 403, body: `Forbidden (user=jane-${runId}, verb=create, resource=nodes, subresource(s)=[checkpoint])\n` });
  });

  it('a pod whose image is a checkpoint image is restored: the app continues from the saved state', async () => {
    const r = await checkpointViaProxy(nodeName(1), 'counter', 'app');
    expect(r.status).toBe(200);
    const path = (JSON.parse(r.body) as { items: string[] }).items[0]!;
    const data = await readFile(path);
    const saved = (await readCheckpointArchive(data)).state;
    const image = await pushCheckpointImage(`${ns}/counter`, 'ckpt-1', data, 'app', 'docker.io/library/counter:1.0');
    // On the other node: a migration.
    await clients.core.createNamespacedPod({ namespace: ns, body: podOn('restored', nodeName(2), image) });
    const p = await runningPod('restored');
    expect(p.status!.containerStatuses![0]!.imageID).toMatch(new RegExp(`^${reg.host}/${ns}/counter@sha256:[0-9a-f]{64}$`));
    const s = await eventually('restored state', async () => annotatedState(await clients.core.readNamespacedPod({ name: 'restored', namespace: ns })));
    expect(s.restoredFrom).toBe(image);
    expect(s.counter).toBeGreaterThanOrEqual(saved.counter);
    expect(s.counter).toBeLessThan(saved.counter + 30);
    // A checkpoint of the restored container names the original image, not the checkpoint image.
    const again = await checkpointViaProxy(nodeName(2), 'restored', 'app');
    const config = (await readCheckpointArchive(await readFile((JSON.parse(again.body) as { items: string[] }).items[0]!))).config;
    expect(config.rootfsImageName).toBe('docker.io/library/counter:1.0');
  });

  it('a running container whose image changes is restarted from the new image (in-place restore)', async () => {
    await clients.core.createNamespacedPod({ namespace: ns, body: podOn('inplace', nodeName(2), 'docker.io/library/counter:1.0') });
    await runningPod('inplace');
    const image = `${reg.host}/${ns}/counter:ckpt-1`;
    await clients.core.patchNamespacedPod({ name: 'inplace', namespace: ns, body: { spec: { containers: [{ name: 'app', image }] } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
    const p = await eventually('restart from the checkpoint image', async () => {
      const pod = await clients.core.readNamespacedPod({ name: 'inplace', namespace: ns });
      const cs = pod.status?.containerStatuses?.[0];
      return cs?.restartCount === 1 && cs.ready && annotatedState(pod)?.restoredFrom === image ? pod : undefined;
    });
    expect(p.status!.containerStatuses![0]!.image).toBe(image);
  });

  it('a restore the node is told to fail never starts: CreateContainerError "criu restore failed"; other checkpoints still restore', async () => {
    // Another, newer checkpoint image; only ckpt-1 is made to fail.
    const r = await checkpointViaProxy(nodeName(1), 'counter', 'app');
    const good = await pushCheckpointImage(`${ns}/counter`, 'ckpt-2', await readFile((JSON.parse(r.body) as { items: string[] }).items[0]!), 'app', 'docker.io/library/counter:1.0');
    await clients.core.patchNode({ name: nodeName(2), body: { metadata: { annotations: { [SIM_ANNOTATIONS.failRestore]: 'ckpt-1' } } } }, mergePatch);
    try {
      await clients.core.createNamespacedPod({ namespace: ns, body: podOn('badrestore', nodeName(2), `${reg.host}/${ns}/counter:ckpt-1`) });
      await clients.core.createNamespacedPod({ namespace: ns, body: podOn('goodrestore', nodeName(2), good) });
      const cs = await eventually('CreateContainerError', async () => {
        const c = (await clients.core.readNamespacedPod({ name: 'badrestore', namespace: ns })).status?.containerStatuses?.[0];
        return c?.state?.waiting?.reason === 'CreateContainerError' ? c : undefined;
      });
      expect(cs.state!.waiting!.message).toBe('criu restore failed');
      expect(cs.ready).toBe(false);
      const pod = await clients.core.readNamespacedPod({ name: 'badrestore', namespace: ns });
      expect(pod.status?.phase).toBe('Pending');
      expect(annotatedState(pod)).toBeUndefined();
      await runningPod('goodrestore');
      await eventually('goodrestore restored from ckpt-2', async () => annotatedState(await clients.core.readNamespacedPod({ name: 'goodrestore', namespace: ns }))?.restoredFrom === good || undefined);
    } finally {
      await clients.core.patchNode({ name: nodeName(2), body: { metadata: { annotations: { [SIM_ANNOTATIONS.failRestore]: null } } } }, mergePatch);
    }
    // With the failure lifted, the next retry restores.
    await runningPod('badrestore');
  });

  it('an image that cannot be pulled: ErrImagePull then ImagePullBackOff', async () => {
    await clients.core.createNamespacedPod({ namespace: ns, body: podOn('nopull', nodeName(2), `${reg.host}/${ns}/missing:1`) });
    const reasons = new Set<string>();
    await eventually('ImagePullBackOff after ErrImagePull', async () => {
      const c = (await clients.core.readNamespacedPod({ name: 'nopull', namespace: ns })).status?.containerStatuses?.[0];
      const reason = c?.state?.waiting?.reason;
      if (reason) reasons.add(reason);
      return reasons.has('ImagePullBackOff') ? true : undefined;
    }, 20_000, 100);
    expect(reasons.has('ErrImagePull') || reasons.has('ImagePullBackOff')).toBe(true);
  });

  it('a container told to crash exits with code 1 and is restarted (restartCount 1)', async () => {
    await clients.core.patchNamespacedPod({ name: 'counter', namespace: ns, body: { metadata: { annotations: { [`${SIM_ANNOTATIONS.crashPrefix}app`]: 'once-1' } } } }, mergePatch);
    const cs = await eventually('restart after the crash', async () => {
      const c = (await clients.core.readNamespacedPod({ name: 'counter', namespace: ns })).status?.containerStatuses?.[0];
      return c?.restartCount === 1 && c.state?.running ? c : undefined;
    });
    expect(cs.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
  });

  it('a container in crash loop ("loop") keeps exiting with code 1 and being restarted', async () => {
    await clients.core.createNamespacedPod({ namespace: ns, body: podOn('looper', nodeName(1), 'docker.io/library/counter:1.0', { [`${SIM_ANNOTATIONS.crashPrefix}app`]: 'loop' }) });
    const cs = await eventually('two restarts', async () => {
      const c = (await clients.core.readNamespacedPod({ name: 'looper', namespace: ns })).status?.containerStatuses?.[0];
      return c && c.restartCount >= 2 ? c : undefined;
    });
    expect(cs.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    // Lifting the annotation ends the loop.
    await clients.core.patchNamespacedPod({ name: 'looper', namespace: ns, body: { metadata: { annotations: { [`${SIM_ANNOTATIONS.crashPrefix}app`]: null } } } }, mergePatch);
    await runningPod('looper');
  });

  it('a Deployment pod deleted on a simulated node is replaced by the real controllers', async () => {
    const labels = { app: 'sim-deploy' };
    const template = podOn('unused', nodeName(2), 'docker.io/library/counter:1.0');
    await clients.apps.createNamespacedDeployment({
      namespace: ns,
      body: { metadata: { name: 'sim-deploy' }, spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels, annotations: template.metadata!.annotations! }, spec: template.spec! } } },
    });
    const first = await eventually('a running replica', async () => {
      const pods = await clients.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=sim-deploy' });
      return pods.items.find((p) => p.status?.phase === 'Running');
    });
    await clients.core.deleteNamespacedPod({ name: first.metadata!.name!, namespace: ns });
    const second = await eventually('a running replacement', async () => {
      const pods = await clients.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=sim-deploy' });
      if (pods.items.some((p) => p.metadata!.uid === first.metadata!.uid)) return undefined;
      return pods.items.find((p) => p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.ready);
    }, 30_000);
    expect(second.spec?.nodeName).toBe(nodeName(2));
  });

  it('a deleted pod is stopped and removed by its node (grace 0), so controllers can replace it', async () => {
    await clients.core.deleteNamespacedPod({ name: 'restored', namespace: ns });
    await eventually(
      'pod gone',
      async () => {
        try {
          await clients.core.readNamespacedPod({ name: 'restored', namespace: ns });
          return undefined;
        } catch (err) {
          return apiCode(err) === 404 ? true : undefined;
        }
      },
      15_000,
    );
    expect(nodes.node(nodeName(2)).state(ns, 'restored', 'app').kind).toBe('no-pod');
  });
});
