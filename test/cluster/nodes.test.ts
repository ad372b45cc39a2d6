// Local nodes in the real control plane: the REAL kubelet on each, only the container runtime
// simulated behind its CRI socket with a CRI-O or containerd profile. What the kubelet does —
// registering, pulling with a pod's pull secrets, the checkpoint endpoint and its authorization,
// reporting a container that cannot be created, restarting one whose image changed — is
// Kubernetes' own code. Everything is read as a user reads it: pod status, Events, `kubectl logs`.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import { dirname } from 'node:path';
import { PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions, type KubeConfig, type V1ContainerStatus, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpointArchive } from '../support/checkpoint-archive.ts';
import { pushAppImage, pushCheckpointImage, type PushTarget } from '../support/push-image.ts';
import { startRegistry, type RegistryServer } from '../support/registry.ts';
import { apiCode, clientsFor, createNamespace, deleteNamespace, eventually, testCluster, type Clients } from './cluster-clients.ts';
import { appState } from './nodes/app-log.ts';
import type { LocalNodes } from './nodes/local-nodes.ts';
import { startTestNodes } from './nodes/test-nodes.ts';
import { APISERVER_KUBELET_CLIENT_USER, clusterPkiDir, issueClientCert, pkiPaths } from './pki.ts';

const runId = randomBytes(3).toString('hex');
const nodeSetLabel = 'test.kcr.io/node-set';
const PROFILES = ['cri-o-1.34', 'cri-o-1.34', 'cri-o-1.29', 'containerd-2.1'];
const BASE = 'docker.io/library/counter:1.0';
const creds = { username: 'tester', password: `pw-${randomBytes(6).toString('hex')}` };
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
let clients: Clients;
let kc: KubeConfig;
let pkiDir: string;
let nodes: LocalNodes;
let reg: RegistryServer;
let target: PushTarget;
let ns: string;

interface Reply {
  status: number;
  body: string;
}

const nodeName = (i: number) => `ckpt-${runId}-${i}`;

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

function podOn(name: string, node: number, image: string, opts: { annotations?: Record<string, string>; pullSecret?: boolean; command?: string[] } = {}): V1Pod {
  return {
    metadata: { name, namespace: ns, annotations: { 'sim.kcr.io/memory-bytes': String(384 * 1024), ...opts.annotations } },
    // Placed by the real scheduler: the nodeSelector only narrows it to one of this file's nodes.
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': nodeName(node) },
      containers: [{ name: 'app', image, ...(opts.command ? { command: opts.command } : {}) }],
      terminationGracePeriodSeconds: 5,
      ...(opts.pullSecret ? { imagePullSecrets: [{ name: 'pull' }] } : {}),
    },
  };
}

async function createPod(p: V1Pod): Promise<void> {
  await clients.core.createNamespacedPod({ namespace: ns, body: p });
}

async function readPod(name: string): Promise<V1Pod> {
  return clients.core.readNamespacedPod({ name, namespace: ns });
}

async function runningPod(name: string, timeoutMs = 60_000): Promise<V1Pod> {
  return eventually(
    `pod ${name} Running and Ready`,
    async () => {
      const p = await readPod(name);
      const ready = p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      return p.status?.phase === 'Running' && ready ? p : undefined;
    },
    timeoutMs,
    250,
  );
}

/** The container status once `pred` holds. */
async function containerWhen(pod: string, what: string, pred: (c: V1ContainerStatus) => boolean, timeoutMs = 60_000): Promise<V1ContainerStatus> {
  let last: V1ContainerStatus | undefined;
  return eventually(what, async () => {
    last = (await readPod(pod)).status?.containerStatuses?.[0];
    return last && pred(last) ? last : undefined;
  }, timeoutMs, 250).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; last seen ${JSON.stringify(last?.state)}`, { cause: err });
  });
}

async function checkpointViaProxy(node: number, pod: string, container: string, query = '?timeout=30'): Promise<Reply> {
  return apiCall('POST', `/api/v1/nodes/${nodeName(node)}/proxy/checkpoint/${ns}/${pod}/${container}${query}`);
}

/** Checkpoints `pod` on `node` through the kubelet and returns the archive's bytes. */
async function checkpointArchive(node: number, pod: string): Promise<Buffer> {
  const r = await checkpointViaProxy(node, pod, 'app');
  expect(r.status, r.body).toBe(200);
  return readFile((JSON.parse(r.body) as { items: string[] }).items[0]!);
}

async function podEvents(pod: string): Promise<string[]> {
  const list = await clients.core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.kind=Pod,involvedObject.name=${pod}` });
  return list.items.map((e) => `${e.reason}: ${e.message}`);
}

/** The API server's kubelet-client user must hold nodes/proxy and nodes/checkpoint (kcr's manifests grant the latter). */
async function ensureKubeletClientRbac(): Promise<void> {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const ignoreExists = (err: unknown) => {
    if (apiCode(err) !== 409) throw err;
  };
  await rbac
    .createClusterRole({ body: { metadata: { name: 'kcr-test:kubelet-client' }, rules: [{ apiGroups: [''], resources: ['nodes/checkpoint', 'nodes/proxy'], verbs: ['create', 'get'] }] } })
    .catch(ignoreExists);
  await rbac
    .createClusterRoleBinding({
      body: {
        metadata: { name: 'kcr-test:kubelet-client' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kcr-test:kubelet-client' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: APISERVER_KUBELET_CLIENT_USER }],
      },
    })
    .catch(ignoreExists);
}

beforeAll(async () => {
  const cluster = testCluster();
  clients = clientsFor(cluster.kubeconfig);
  kc = clients.kc;
  pkiDir = clusterPkiDir(cluster.kubeconfig);
  await ensureKubeletClientRbac();
  reg = await startRegistry({ auth: creds });
  target = { url: reg.url, host: reg.host, auth: creds };
  nodes = await startTestNodes({
    profiles: PROFILES,
    namePrefix: `ckpt-${runId}-`,
    labels: { [nodeSetLabel]: runId },
    // Clear of the other node sets of the run's node network (stacks start at 0 and 40).
    netnsIndexOffset: 100,
    insecureRegistries: [reg.host],
  });
  ns = await createNamespace(clients.core, 'nodes');
  const auths = { [reg.host]: { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') } };
  await clients.core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'pull' }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths })).toString('base64') } },
  });
});

afterAll(async () => {
  if (ns) await deleteNamespace(clients.core, ns);
  await nodes?.stop();
  await reg?.stop();
});

describe('local nodes: the real kubelet, a simulated runtime', () => {
  it('register Ready with the real kubelet and the profile’s runtime name and version', async () => {
    const list = await clients.core.listNode({ labelSelector: `${nodeSetLabel}=${runId}` });
    expect(list.items.map((n) => n.metadata!.name).sort()).toEqual(PROFILES.map((_, i) => nodeName(i + 1)));
    const runtimes = list.items.sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!)).map((n) => n.status?.nodeInfo?.containerRuntimeVersion);
    expect(runtimes).toEqual(['cri-o://1.34.0', 'cri-o://1.34.0', 'cri-o://1.29.0', 'containerd://2.1.0']);
    for (const n of list.items) {
      expect(n.status?.nodeInfo).toMatchObject({ kubeletVersion: 'v1.37.2', architecture: 'amd64', operatingSystem: 'linux' });
      expect(n.status?.daemonEndpoints?.kubeletEndpoint?.Port).toBe(10250);
      const internalIp = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
      expect(internalIp).toBe(nodes.node(n.metadata!.name!).ip);
      expect(internalIp).not.toMatch(/^127\./); // the node proxy would refuse it
    }
    // Only the real kubelet serves /configz: its configuration as this harness wrote it.
    const configz = await apiCall('GET', `/api/v1/nodes/${nodeName(1)}/proxy/configz`);
    expect(configz.status).toBe(200);
    expect(JSON.parse(configz.body)).toMatchObject({ kubeletconfig: { failCgroupV1: false, cgroupsPerQOS: false, authorization: { mode: 'Webhook' } } });
  });

  it('run a pod: Running, Ready, pod IP, imageID; `kubectl logs` shows the counter counting from 0', async () => {
    await createPod(podOn('counter', 1, BASE));
    const p = await runningPod('counter');
    const cs = p.status!.containerStatuses![0]!;
    expect(cs).toMatchObject({ name: 'app', ready: true, restartCount: 0, started: true });
    expect(cs.imageID).toMatch(/^docker\.io\/library\/counter@sha256:[0-9a-f]{64}$/);
    expect(p.status?.podIP).toMatch(/^10\.244\.\d+\.\d+$/);
    expect(p.status?.hostIP).toBe(nodes.node(nodeName(1)).ip);
    const first = await eventually('app output', async () => appState(clients.core, ns, 'counter').catch(() => undefined));
    expect(first.restoredFrom).toBeUndefined();
    const later = await eventually('the counter to grow', async () => {
      const s = await appState(clients.core, ns, 'counter');
      return s.counter > first.counter ? s : undefined;
    }, 15_000);
    expect(later.startedAt).toBe(first.startedAt);
  });

  it('checkpoint through the API server’s node proxy: 200 with the kubelet’s archive name; CRI-O layout on the node', async () => {
    const before = await appState(clients.core, ns, 'counter');
    const r = await checkpointViaProxy(1, 'counter', 'app');
    expect(r.status, r.body).toBe(200);
    const { items } = JSON.parse(r.body) as { items: string[] };
    expect(items).toHaveLength(1);
    const path = items[0]!;
    const node = nodes.node(nodeName(1));
    expect(dirname(path)).toBe(node.checkpointDir);
    // The kubelet names it: checkpoint-<pod>_<namespace>-<container>-<RFC3339>.tar
    expect(path.slice(node.checkpointDir.length + 1)).toMatch(new RegExp(`^checkpoint-counter_${ns}-app-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(Z|[+-]\\d\\d:\\d\\d)\\.tar$`));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(node.checkpointDir)).mode & 0o777).toBe(0o700);
    const archive = await readCheckpointArchive(await readFile(path));
    const names = archive.entries.map((e) => e.name);
    for (const want of ['config.dump', 'spec.dump', 'checkpoint/inventory.img', 'checkpoint/pages-1.img', 'rootfs-diff.tar', 'bind.mounts']) expect(names).toContain(want);
    expect(names).not.toContain('status.dump'); // containerd's, not CRI-O's
    expect(archive.entries.find((e) => e.name === 'checkpoint/pages-1.img')!.size).toBe(384 * 1024);
    expect(archive.state.counter).toBeGreaterThanOrEqual(before.counter);
    expect(archive.config).toMatchObject({ rootfsImageName: BASE });
    const annotations = (archive.spec as { annotations: Record<string, string> }).annotations;
    expect(annotations).toMatchObject({ 'io.kubernetes.pod.namespace': ns, 'io.kubernetes.pod.name': 'counter', 'io.kubernetes.container.name': 'app' });
    expect(annotations['io.kubernetes.cri-o.Annotations']).toBeDefined();
  });

  it('the kubelet’s own answers: 404 for a missing container, pod or timeout; 500 with the runtime’s error', async () => {
    const unknownContainer = await checkpointViaProxy(1, 'counter', 'nope');
    expect(unknownContainer.status).toBe(404);
    expect(unknownContainer.body).toContain('container nope does not exist');
    const unknownPod = await checkpointViaProxy(1, 'no-such-pod', 'app');
    expect(unknownPod.status).toBe(404);
    expect(unknownPod.body).toContain('pod does not exist');
    const badTimeout = await checkpointViaProxy(1, 'counter', 'app', '?timeout=soon');
    expect(badTimeout.status).toBe(404);
    expect(badTimeout.body).toContain('cannot parse value of timeout parameter');
    await nodes.node(nodeName(1)).control.failNextCheckpoints(1);
    const failed = await checkpointViaProxy(1, 'counter', 'app');
    expect(failed.status).toBe(500);
    expect(failed.body).toContain(`checkpointing of ${ns}/counter/app failed`);
    expect((await checkpointViaProxy(1, 'counter', 'app')).status).toBe(200);
  });

  it('the kubelet authorises callers itself (SubjectAccessReview): without nodes/checkpoint, 403 in its words', async () => {
    const node = nodes.node(nodeName(1));
    const jane = issueClientCert(`jane-${runId}`, ['developers'], pkiDir);
    const r = await new Promise<Reply>((resolve, reject) => {
      const req = request(
        { host: node.ip, port: 10250, method: 'POST', path: `/checkpoint/${ns}/counter/app`, ca: readFileSync(pkiPaths(pkiDir).kubeletCaCert, 'utf8'), cert: jane.cert, key: jane.key },
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

  it('CRI-O restores only with the base image on the node: missing, the container cannot be created; once pulled, it restores', async () => {
    const archive = await checkpointArchive(1, 'counter');
    const saved = (await readCheckpointArchive(archive)).state;
    const image = (await pushCheckpointImage(target, `${ns}/counter`, 'ckpt-1', archive, 'app', BASE)).byTag;
    // Node 2 never ran the base image.
    await createPod(podOn('restored', 2, image, { pullSecret: true }));
    const stuck = await containerWhen('restored', 'CreateContainerError for the missing base image', (c) => c.state?.waiting?.reason === 'CreateContainerError');
    // CRI-O looks the base image up by the id in config.dump's rootfsImageRef, locally only.
    expect(stuck.state!.waiting!.message).toMatch(/^reading image "[0-9a-f]{64}": image not known/);
    expect(stuck.ready).toBe(false);
    // A pod of the base image puts it on the node; the kubelet's next attempt restores.
    await createPod(podOn('base-puller', 2, BASE));
    await runningPod('base-puller');
    const p = await runningPod('restored', 90_000);
    // The runtime creates the restored container from the base image, and reports that.
    expect(p.status!.containerStatuses![0]!.imageID).toBe((await readPod('counter')).status!.containerStatuses![0]!.imageID);
    const s = await appState(clients.core, ns, 'restored');
    expect(s.restoredFrom).toBe(image);
    expect(s.restoredAt).toBe(saved.counter);
    // A checkpoint of the restored container names the original image, not the checkpoint image.
    expect((await readCheckpointArchive(await checkpointArchive(2, 'restored'))).config).toMatchObject({ rootfsImageName: BASE });
  });

  it('every restart of a container on a checkpoint image restores that checkpoint again', async () => {
    const first = await appState(clients.core, ns, 'restored');
    await nodes.node(nodeName(2)).control.crash({ namespace: ns, pod: 'restored', container: 'app' }, 'now');
    await containerWhen('restored', 'restarted after the crash', (c) => c.restartCount === 1 && c.state?.running !== undefined, 60_000);
    const again = await eventually('output of the new run', async () => {
      const s = await appState(clients.core, ns, 'restored').catch(() => undefined);
      return s && s.startedAt !== first.startedAt ? s : undefined;
    });
    expect(again.restoredFrom).toBe(first.restoredFrom);
    expect(again.restoredAt).toBe(first.restoredAt);
  });

  it('restore switched off (CRI-O 1.29 default): the checkpoint image is an ordinary image and never starts, fresh or restored', async () => {
    const image = `${reg.host}/${ns}/counter:ckpt-1`;
    await createPod(podOn('base-on-3', 3, BASE));
    await runningPod('base-on-3');
    await createPod(podOn('switched-off', 3, image, { pullSecret: true }));
    const c = await containerWhen('switched-off', 'the container to fail', (s) => s.state?.waiting?.reason === 'CreateContainerError' || s.state?.waiting?.reason === 'RunContainerError' || s.state?.waiting?.reason === 'CrashLoopBackOff');
    expect(c.ready).toBe(false);
    const events = (await podEvents('switched-off')).join('\n');
    expect(events).toMatch(/no command specified/);
    await new Promise((r) => setTimeout(r, 3000));
    expect((await readPod('switched-off')).status?.containerStatuses?.[0]?.state?.running).toBeUndefined();
  });

  it('containerd refuses an archive CRI-O wrote; it restores its own, pulling the base image itself', async () => {
    await createPod(podOn('cross', 4, `${reg.host}/${ns}/counter:ckpt-1`, { pullSecret: true }));
    await containerWhen('cross', 'the CRI-O archive refused', (s) => s.state?.waiting?.reason === 'CreateContainerError' || s.state?.waiting?.reason === 'RunContainerError' || s.state?.waiting?.reason === 'CrashLoopBackOff');
    // containerd's own checkpoint, restored on a containerd node.
    await createPod(podOn('on-containerd', 4, BASE));
    await runningPod('on-containerd');
    const archive = await checkpointArchive(4, 'on-containerd');
    const read = await readCheckpointArchive(archive);
    expect(read.entries.map((e) => e.name)).toContain('status.dump');
    const image = (await pushCheckpointImage(target, `${ns}/on-containerd`, 'ckpt-1', archive, 'app', BASE)).byTag;
    await nodes.node(nodeName(4)).control.removeImage(BASE);
    await createPod(podOn('containerd-restored', 4, image, { pullSecret: true }));
    await runningPod('containerd-restored');
    const s = await appState(clients.core, ns, 'containerd-restored');
    expect(s.restoredFrom).toBe(image);
    expect(s.restoredAt).toBe(read.state.counter);
  });

  it('a running container whose image changes is restarted by the kubelet from the new image (in-place restore)', async () => {
    // The pod's own pull secret pulls the checkpoint image (imagePullSecrets cannot change later).
    await createPod(podOn('inplace', 2, BASE, { pullSecret: true }));
    const before = (await runningPod('inplace')).status!.containerStatuses![0]!.containerID;
    const image = `${reg.host}/${ns}/counter:ckpt-1`;
    await clients.core.patchNamespacedPod({ name: 'inplace', namespace: ns, body: { spec: { containers: [{ name: 'app', image }] } } }, strategic);
    // A new container (CRI-O gives a restored one the checkpointed container's annotations, so
    // its restartCount is that container's, not this pod's).
    await containerWhen('inplace', 'a new container after the image change', (c) => c.containerID !== before && c.ready === true, 60_000);
    const s = await eventually('restored output', async () => {
      const st = await appState(clients.core, ns, 'inplace').catch(() => undefined);
      return st?.restoredFrom === image ? st : undefined;
    });
    expect(s.restoredAt).toBeGreaterThan(0);
  });

  it('a restore CRIU fails (injected): the container cannot start; other checkpoints still restore; lifted, the retry restores', async () => {
    const good = (await pushCheckpointImage(target, `${ns}/counter`, 'ckpt-2', await checkpointArchive(1, 'counter'), 'app', BASE)).byTag;
    const control = nodes.node(nodeName(2)).control;
    await control.failRestoresOf(['ckpt-1']);
    try {
      await createPod(podOn('badrestore', 2, `${reg.host}/${ns}/counter:ckpt-1`, { pullSecret: true }));
      await createPod(podOn('goodrestore', 2, good, { pullSecret: true }));
      const cs = await containerWhen('badrestore', 'the restore to fail', (c) => ['CreateContainerError', 'RunContainerError', 'CrashLoopBackOff'].includes(c.state?.waiting?.reason ?? ''));
      expect(cs.ready).toBe(false);
      expect((await podEvents('badrestore')).join('\n')).toMatch(/criu/i);
      await runningPod('goodrestore');
      expect((await appState(clients.core, ns, 'goodrestore')).restoredFrom).toBe(good);
    } finally {
      await control.failRestoresOf([]);
    }
    await runningPod('badrestore', 90_000);
  });

  it('pulls from a private registry with the pod’s pull secret; without it: ErrImagePull, then ImagePullBackOff', async () => {
    const image = (await pushAppImage(target, `${ns}/private-app`, '1')).byTag;
    await createPod(podOn('with-secret', 1, image, { pullSecret: true }));
    await runningPod('with-secret');
    // Elsewhere: on node 1 the image is there now, and IfNotPresent would not pull it again.
    await createPod(podOn('no-secret', 3, image));
    const reasons = new Set<string>();
    const c = await containerWhen('no-secret', 'ImagePullBackOff', (s) => {
      const reason = s.state?.waiting?.reason;
      if (reason) reasons.add(reason);
      return reason === 'ImagePullBackOff';
    }, 60_000);
    expect(c.state!.waiting!.message).toContain(image);
    expect((await podEvents('no-secret')).join('\n')).toMatch(/Failed to pull image|ErrImagePull/);
  });

  it('an image volume is pulled with the pod’s pull secret before the containers start, mounted or not', async () => {
    const image = `${reg.host}/${ns}/private-app:1`;
    const control = nodes.node(nodeName(4)).control;
    const has = async () => (await control.images()).some((i) => (i.repoTags ?? []).includes(image));
    expect(await has()).toBe(false);
    const p = podOn('with-volume', 4, BASE, { pullSecret: true });
    p.spec!.volumes = [{ name: 'base', image: { reference: image, pullPolicy: 'IfNotPresent' } }];
    await createPod(p);
    await runningPod('with-volume');
    expect(await has()).toBe(true);
    // A volume that cannot be pulled does not hold back a container that does not mount it.
    const q = podOn('missing-volume', 4, BASE);
    q.spec!.volumes = [{ name: 'base', image: { reference: `${reg.host}/${ns}/absent:1`, pullPolicy: 'IfNotPresent' } }];
    await createPod(q);
    await runningPod('missing-volume');
  });

  it('a container told to crash exits 1 and the kubelet restarts it; a crash loop backs off and ends when lifted', async () => {
    const control = nodes.node(nodeName(1)).control;
    await control.crash({ namespace: ns, pod: 'counter', container: 'app' }, 'now');
    const cs = await containerWhen('counter', 'restart after the crash', (c) => c.restartCount === 1 && c.state?.running !== undefined);
    expect(cs.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    await createPod(podOn('looper', 1, BASE));
    await runningPod('looper');
    await control.crash({ namespace: ns, pod: 'looper', container: 'app' }, 'loop');
    const looping = await containerWhen('looper', 'two restarts', (c) => c.restartCount >= 2, 90_000);
    expect(looping.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    await control.crash({ namespace: ns, pod: 'looper', container: 'app' }, 'off');
    await runningPod('looper', 60_000);
  });

  it('a deleted pod is stopped and removed by its kubelet, so controllers can replace it', async () => {
    await clients.core.deleteNamespacedPod({ name: 'restored', namespace: ns });
    await eventually('pod gone', async () => {
      try {
        await readPod('restored');
        return undefined;
      } catch (err) {
        return apiCode(err) === 404 ? true : undefined;
      }
    }, 30_000);
  });
});
