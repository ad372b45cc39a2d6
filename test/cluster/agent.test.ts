// `kcr agent` end to end: the real binary (node src/main.ts agent) runs as the kcr-agent
// ServiceAccount against the real API server, works its node's queue in a real Redis, calls a
// simulated kubelet through the API server's node proxy, pushes into a real registry that
// requires Basic auth (credentials from the kcr-registry dockerconfigjson Secret), and records
// the Checkpoint. Jobs are enqueued here the way the controller does (CheckpointQueues).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { copyFile, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, PLURALS, VERSION, type Checkpoint, type CheckpointRequest } from '../../src/api/types.ts';
import { CheckpointQueues } from '../../src/queue/checkpoint-queues.ts';
import { createRedisConnection } from '../../src/queue/connection.ts';
import type { CheckpointJobData } from '../../src/schedule/fan-out.ts';
import { nodeQueueName } from '../../src/schedule/names.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { startRegistry, type RegistryServer } from '../support/registry.ts';
import { apiCode, clientsFor, createNamespace, deleteNamespace, eventually, installedKcr, testCluster, type Clients } from './cluster-clients.ts';
import { KCR_NAMESPACE, serviceAccountKubeconfig } from './kcr-in-cluster.ts';
import { kubectl } from './local-cluster.ts';
import type { LocalNodes } from './nodes/local-nodes.ts';
import { startTestNodes } from './nodes/test-nodes.ts';
import { clusterPkiDir, ensureClusterPki } from './pki.ts';

const run = promisify(execFile);
const runId = randomBytes(3).toString('hex');
const creds = { username: 'kcr-agent', password: `pw-${randomBytes(6).toString('hex')}` };
const queuePrefix = `kcr-agent-test-${runId}`;
let clients: Clients;
let nodes: LocalNodes;
let node: string;
let reg: RegistryServer;
let redis: RedisServer;
let queues: CheckpointQueues;
let producer: ReturnType<typeof createRedisConnection>;
let ns: string;
/** Namespaces a test made besides `ns`, deleted at the end. */
const moreNamespaces: string[] = [];
let root: string;
let agent: ChildProcess;
let agentLog = '';
let healthPort = 0;
let jobSeq = 0;

function dockerConfig(password: string): string {
  const auth = Buffer.from(`${creds.username}:${password}`).toString('base64');
  return JSON.stringify({ auths: { [reg.host]: { auth } } });
}

async function putRegistrySecret(password: string): Promise<void> {
  const body = {
    metadata: { name: 'kcr-registry', namespace: KCR_NAMESPACE },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(dockerConfig(password)).toString('base64') },
  };
  try {
    await clients.core.replaceNamespacedSecret({ name: 'kcr-registry', namespace: KCR_NAMESPACE, body });
  } catch (err) {
    if (apiCode(err) !== 404) throw err;
    await clients.core.createNamespacedSecret({ namespace: KCR_NAMESPACE, body });
  }
}

function podOn(name: string, memoryBytes = 256 * 1024, where: { namespace: string; container: string } = { namespace: ns, container: 'app' }): V1Pod {
  return {
    metadata: { name, namespace: where.namespace, annotations: { 'sim.kcr.io/memory-bytes': String(memoryBytes) } },
    spec: { nodeSelector: { 'kubernetes.io/hostname': node }, containers: [{ name: where.container, image: 'docker.io/library/counter:1.0' }], terminationGracePeriodSeconds: 1 },
  };
}

async function runningPod(name: string, namespace = ns): Promise<V1Pod> {
  return eventually(`pod ${name} Running`, async () => {
    const p = await clients.core.readNamespacedPod({ name, namespace });
    return p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.imageID ? p : undefined;
  });
}

const obj = (plural: string, name: string, namespace = ns) => ({ group: GROUP, version: VERSION, namespace, plural, name });

async function createRequest(name: string, pod: string, container = 'app', namespace = ns): Promise<CheckpointRequest> {
  return (await clients.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURALS.CheckpointRequest,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'CheckpointRequest', metadata: { name, namespace }, spec: { podReference: { name: pod }, containerName: container, timeoutSeconds: 30 } },
  })) as CheckpointRequest;
}

async function getRequest(name: string, namespace = ns): Promise<CheckpointRequest> {
  return (await clients.custom.getNamespacedCustomObject(obj(PLURALS.CheckpointRequest, name, namespace))) as CheckpointRequest;
}

/** Enqueues the job the controller would for `request` (fast retries for the test), in the pod's namespace. */
async function enqueue(request: string, pod: V1Pod, container = 'app'): Promise<void> {
  const namespace = pod.metadata!.namespace ?? ns;
  const data: CheckpointJobData = {
    requestName: request,
    namespace,
    podName: pod.metadata!.name!,
    podUid: pod.metadata!.uid!,
    containerName: container,
    nodeName: node,
    timeoutSeconds: 30,
    schedule: { kind: 'CheckpointSchedule', namespace, name: '', uid: '' },
    fireTime: new Date().toISOString(),
  };
  await queues.enqueue({ queueName: nodeQueueName(node), jobId: `${request}_${++jobSeq}`, requestName: request, data });
}

async function finished(name: string, timeoutMs = 60_000, namespace = ns): Promise<CheckpointRequest> {
  return eventually(
    `CheckpointRequest ${name} to finish`,
    async () => {
      const r = await getRequest(name, namespace);
      return r.status?.phase === 'Completed' || r.status?.phase === 'Failed' ? r : undefined;
    },
    timeoutMs,
  );
}

async function checkpointsOf(requestUid: string): Promise<Checkpoint[]> {
  const list = (await clients.custom.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural: PLURALS.Checkpoint,
    labelSelector: `kcr.io/checkpoint-request-uid=${requestUid}`,
  })) as { items: Checkpoint[] };
  return list.items;
}

async function skopeoInspect(ref: string, raw = false): Promise<Record<string, unknown>> {
  const args = ['inspect', ...(raw ? ['--raw'] : []), '--tls-verify=false', '--creds', `${creds.username}:${creds.password}`, `docker://${ref}`];
  return JSON.parse((await run('skopeo', args)).stdout) as Record<string, unknown>;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

async function eventsFor(name: string): Promise<Array<{ type?: string; reason?: string; message?: string }>> {
  const list = await clients.core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${name}` });
  return list.items;
}

beforeAll(async () => {
  const cluster = testCluster();
  installedKcr();
  clients = clientsFor(cluster.kubeconfig);
  [reg, redis] = await Promise.all([startRegistry({ auth: creds }), startRedis()]);
  await putRegistrySecret(creds.password);
  root = mkdtempSync(join(tmpdir(), 'kcr-agent-nodes-'));
  nodes = await startTestNodes({
    profiles: ['cri-o-1.34'],
    namePrefix: `agent-${runId}-`,
    netnsIndexOffset: 140,
    insecureRegistries: [reg.host],
  });
  node = nodes.nodes[0]!.name;
  ns = await createNamespace(clients.core, 'agent');
  producer = createRedisConnection(redis.url, 'producer');
  queues = new CheckpointQueues({ connection: producer, prefix: queuePrefix, jobOptions: { attempts: 6, backoffMs: 500 } });

  const kubeconfig = await serviceAccountKubeconfig(cluster, KCR_NAMESPACE, 'kcr-agent', join(root, 'agent.kubeconfig'));
  agent = spawn(process.execPath, ['src/main.ts', 'agent'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: kubeconfig,
      NODE_NAME: node,
      KCR_NAMESPACE: KCR_NAMESPACE,
      KCR_REDIS_URL: redis.url,
      KCR_QUEUE_PREFIX: queuePrefix,
      KCR_CHECKPOINT_DIR: nodes.nodes[0]!.checkpointDir,
      // Directly to its kubelet, whose serving certificate the local kubelet CA signed.
      KCR_KUBELET_CA: ensureClusterPki(clusterPkiDir(cluster.kubeconfig)).kubeletCaCert,
      KCR_HEALTH_PORT: '0',
      KCR_HEALTH_HOST: '127.0.0.1',
      KCR_METRICS_PORT: '0',
      KCR_METRICS_HOST: '127.0.0.1',
      KCR_REGISTRY: reg.host,
      KCR_INSECURE_REGISTRIES: `http://${reg.host}`,
      KCR_LOG_LEVEL: 'debug',
      KCR_AGENT_SHUTDOWN_DEADLINE_MS: '5000',
    },
  });
  const keep = (b: Buffer) => {
    agentLog += b.toString();
    const m = /"healthPort":(\d+)/.exec(agentLog);
    if (m) healthPort = Number(m[1]);
  };
  agent.stdout!.on('data', keep);
  agent.stderr!.on('data', keep);
  await eventually('the agent to be ready', async () => {
    if (agent.exitCode !== null) throw new Error(`agent exited ${agent.exitCode}: ${agentLog.slice(-2000)}`);
    if (healthPort === 0) return undefined;
    const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
    return res.status === 200 ? true : undefined;
  }, 30_000);
}, 180_000);

afterAll(async () => {
  if (agent && agent.exitCode === null) agent.kill('SIGKILL');
  // KCR_AGENT_TEST_LOG=<file> keeps the agent's JSON log for a look afterwards.
  if (process.env.KCR_AGENT_TEST_LOG) writeFileSync(process.env.KCR_AGENT_TEST_LOG, agentLog);
  await queues?.close();
  producer?.disconnect();
  if (ns) await deleteNamespace(clients.core, ns);
  for (const n of moreNamespaces) await deleteNamespace(clients.core, n);
  await nodes?.stop();
  await Promise.all([reg?.stop(), redis?.stop()]);
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('kcr agent', () => {
  it('turns a CheckpointRequest job into an image in the registry and a Checkpoint pointing at it', async () => {
    const pod = await (async () => {
      await clients.core.createNamespacedPod({ namespace: ns, body: podOn('counter') });
      return runningPod('counter');
    })();
    const req = await createRequest('counter-now', 'counter');
    await enqueue('counter-now', pod);
    const done = await finished('counter-now');
    expect(done.status, agentLog.slice(-3000)).toMatchObject({ phase: 'Completed', nodeName: node, attempts: 1 });
    expect(done.status?.startTime).toBeDefined();
    expect(done.status?.completionTime).toBeDefined();

    const cps = await checkpointsOf(req.metadata.uid!);
    expect(cps).toHaveLength(1);
    const cp = cps[0]!;
    expect(done.status?.checkpoint?.name).toBe(cp.metadata.name);
    expect(cp.metadata.ownerReferences ?? []).toEqual([]);
    const imageDigest = /sha256:[a-f0-9]{64}/.exec(pod.status!.containerStatuses![0]!.imageID!)![0];
    expect(cp.spec).toMatchObject({
      containerName: 'app',
      nodeName: node,
      podName: 'counter',
      podUID: pod.metadata!.uid,
      workload: { kind: 'Pod', name: 'counter' },
      identity: 'counter',
      originalImage: 'docker.io/library/counter:1.0',
      originalImageDigest: imageDigest,
      architecture: 'amd64',
      checkpointID: req.metadata.uid,
      // Read from the archive itself, and the node's version of that runtime.
      runtime: { name: 'cri-o', version: '1.34.0' },
      baseImage: { name: 'docker.io/library/counter:1.0' },
      originalImageID: pod.status!.containerStatuses![0]!.imageID,
    });
    // CRI-O's rootfsImageRef is the base image's id on the node.
    expect(cp.spec.baseImage?.ref).toMatch(/^[0-9a-f]{64}$/);
    expect(cp.spec.checkpointData).toMatch(new RegExp(`^checkpoint-counter_${ns}-app-.*\\.tar$`));
    expect(cp.status?.phase).toBe('ImageBuilt');
    expect(cp.status?.runtimeImage).toMatch(new RegExp(`^${reg.host}/kcr/${ns}/counter@sha256:[a-f0-9]{64}$`));

    // An independent client reads the image: annotations, and the layer is the archive itself.
    const raw = (await skopeoInspect(cp.status!.runtimeImage!, true)) as { layers: Array<{ digest: string; size: number }>; annotations: Record<string, string> };
    expect(raw.annotations).toMatchObject({
      'io.kubernetes.cri-o.annotations.checkpoint.name': 'app',
      'org.criu.checkpoint.container.name': 'app',
      'org.criu.checkpoint.rootfsImageName': 'docker.io/library/counter:1.0',
      'org.criu.checkpoint.rootfsImageRef': cp.spec.baseImage!.ref!,
      'org.criu.checkpoint.runtime.name': 'cri-o',
      'kcr.io/pod': 'counter',
      'kcr.io/namespace': ns,
      'kcr.io/identity': 'counter',
    });
    expect(raw.layers).toHaveLength(1);
    const archive = join(nodes.nodes[0]!.checkpointDir, cp.spec.checkpointData!);
    const archiveDigest = await sha256File(archive);
    expect(raw.layers[0]!.digest).toBe(archiveDigest);
    expect(cp.spec.archiveDigest).toBe(archiveDigest);
    expect(cp.spec.sizeBytes).toBe(raw.layers[0]!.size);
    const inspected = (await skopeoInspect(cp.status!.runtimeImage!)) as { Architecture: string };
    expect(inspected.Architecture).toBe('amd64');

    expect((await eventsFor('counter-now')).some((e) => e.type === 'Normal' && e.reason === 'CheckpointCreated')).toBe(true);

    // A second delivery of the job (another job id, same request) creates nothing new.
    await enqueue('counter-now', pod);
    await eventually('the duplicate job to be processed', async () => (agentLog.includes('request already Completed') || (await queues.queue(nodeQueueName(node)).getCompletedCount()) >= 2 ? true : undefined), 20_000);
    expect(await checkpointsOf(req.metadata.uid!)).toHaveLength(1);
  });

  it('keeps only the newest archive of a container on the node once pushed', async () => {
    const pod = await runningPod('counter');
    for (const name of ['counter-again-1', 'counter-again-2']) {
      await createRequest(name, 'counter');
      await enqueue(name, pod);
      expect((await finished(name)).status?.phase).toBe('Completed');
      // The kubelet names archives by the second.
      await new Promise((r) => setTimeout(r, 1100));
    }
    const files = (await readdir(nodes.nodes[0]!.checkpointDir)).filter((f) => f.startsWith(`checkpoint-counter_${ns}-app-`));
    const latest = await getRequest('counter-again-2');
    const cp = (await clients.custom.getNamespacedCustomObject(obj(PLURALS.Checkpoint, latest.status!.checkpoint!.name))) as Checkpoint;
    expect(files).toEqual([cp.spec.checkpointData]);
  });

  it('`kubectl wait --for=condition=Complete` on a CheckpointRequest returns 0 once the agent finishes; its Checkpoint is Ready=True', async () => {
    const pod = await runningPod('counter');
    const cluster = testCluster();
    const k = (args: string[]) => kubectl(cluster.binDir, cluster.kubeconfig, args);
    const req = await createRequest('counter-wait', 'counter');
    // Started before the job is queued: it watches until the agent's status write turns Complete True.
    // kubectl rejects (non-zero exit: timed out, or an error) with its stderr in the message.
    // Its outcome is caught at once: a rejection while the job is being queued is not an unhandled one.
    const waited = k(['wait', '--for=condition=Complete', 'checkpointrequest/counter-wait', '-n', ns, '--timeout=90s']).then(
      (out) => ({ exit: 0, out }),
      (err: unknown) => ({ exit: 1, out: err instanceof Error ? err.message : String(err) }),
    );
    await enqueue('counter-wait', pod);
    const result = await waited;
    expect(result, agentLog.slice(-3000)).toEqual({ exit: 0, out: expect.stringMatching(/counter-wait condition met/) });

    const done = await getRequest('counter-wait');
    expect(done.status?.phase).toBe('Completed');
    const byType = Object.fromEntries((done.status?.conditions ?? []).map((c) => [c.type, c]));
    expect(byType.Complete).toMatchObject({ status: 'True', reason: 'CheckpointCreated', observedGeneration: req.metadata.generation });
    expect(byType.Failed).toMatchObject({ status: 'False' });
    expect(done.status?.observedGeneration).toBe(done.metadata.generation);

    const name = done.status!.checkpoint!.name;
    const readyOut = await k(['wait', '--for=condition=Ready', `checkpoint/${name}`, '-n', ns, '--timeout=30s']);
    expect(readyOut).toContain('condition met');
    const cp = (await clients.custom.getNamespacedCustomObject(obj(PLURALS.Checkpoint, name))) as Checkpoint;
    expect(cp.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'ImageBuilt', observedGeneration: cp.metadata.generation });
    expect(cp.status?.conditions?.find((c) => c.type === 'ImageBuilt')).toMatchObject({ status: 'True', reason: 'Pushed' });
    // Already met: a second wait returns at once.
    expect(await k(['wait', '--for=condition=Complete', 'checkpointrequest/counter-wait', '-n', ns, '--timeout=5s'])).toContain('condition met');
    // The kubelet names archives by the second: the next checkpoint of counter is taken in a later one.
    await new Promise((r) => setTimeout(r, 1100));
  });

  it('two pods whose archive names collide (team/a-x and team-a/x) take turns: each pushes its own archive, and retention keeps each one’s newest', async () => {
    // `team-<h1>` and `team-<h1>-<h2>`: pod app, container `<h2>-x` in the first, `x` in the second.
    const short = await createNamespace(clients.core, 'team');
    moreNamespaces.push(short);
    const long = await createNamespace(clients.core, short);
    moreNamespaces.push(long);
    const owners = [
      { namespace: short, container: `${long.slice(short.length + 1)}-x` },
      { namespace: long, container: 'x' },
    ];
    const prefix = `checkpoint-app_${long}-x-`;
    for (const o of owners) await clients.core.createNamespacedPod({ namespace: o.namespace, body: podOn('app', 256 * 1024, o) });
    const pods = await Promise.all(owners.map((o) => runningPod('app', o.namespace)));
    const dir = nodes.nodes[0]!.checkpointDir;
    let latest: string[] = [];
    for (const round of [1, 2]) {
      const name = `app-round-${round}`;
      for (const o of owners) await createRequest(name, 'app', o.container, o.namespace);
      // Both at once: the agent works two jobs at a time (KCR_AGENT_CONCURRENCY 2).
      await Promise.all(owners.map((o, i) => enqueue(name, pods[i]!, o.container)));
      const done = await Promise.all(owners.map((o) => finished(name, 60_000, o.namespace)));
      expect(done.map((r) => r.status?.phase), agentLog.slice(-3000)).toEqual(['Completed', 'Completed']);
      const cps = await Promise.all(
        done.map(async (r, i) => (await clients.custom.getNamespacedCustomObject(obj(PLURALS.Checkpoint, r.status!.checkpoint!.name, owners[i]!.namespace))) as Checkpoint),
      );
      latest = cps.map((cp) => cp.spec.checkpointData!);
      // One prefix, two files: the kubelet never wrote both in one second.
      for (const a of latest) expect(a.startsWith(prefix)).toBe(true);
      expect(new Set(latest).size).toBe(2);
      // Each image is its own container's archive, byte for byte.
      for (const cp of cps) {
        expect(cp.spec.containerName).toBe(owners.find((o) => o.namespace === cp.metadata.namespace)!.container);
        const raw = (await skopeoInspect(cp.status!.runtimeImage!, true)) as { layers: Array<{ digest: string }> };
        expect(raw.layers[0]!.digest).toBe(await sha256File(join(dir, cp.spec.checkpointData!)));
      }
    }
    // Retention (keep 1) removed each owner's round-1 archive and neither owner's round-2 one.
    expect((await readdir(dir)).filter((f) => f.startsWith(prefix)).sort()).toEqual([...latest].sort());
    const ledger = JSON.parse(await readFile(join(dir, '.kcr-archives.json'), 'utf8')) as { archives: Record<string, { namespace: string; container: string }> };
    for (const [i, o] of owners.entries()) expect(ledger.archives[latest[i]!]).toMatchObject(o);
  });

  it('refuses to push an archive of another pod, by its name or by its contents: the request fails, nothing is pushed', async () => {
    const pod = await runningPod('counter');
    await clients.core.createNamespacedPod({ namespace: ns, body: podOn('victim') });
    await runningPod('victim');
    const taken = (await clients.core.connectPostNodeProxyWithPath({ name: node, path: `checkpoint/${ns}/victim/app` })) as unknown;
    const victimArchive = basename((typeof taken === 'string' ? (JSON.parse(taken) as { items: string[] }) : (taken as { items: string[] })).items[0]!);
    const tags = async () => {
      const res = await fetch(`${reg.url}/v2/kcr/${ns}/counter/tags/list`, { headers: { authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` } });
      return ((await res.json()) as { tags?: string[] }).tags ?? [];
    };
    const before = await tags();
    // An earlier attempt's archive, as the agent would resume it (a status someone else wrote):
    // first the other pod's archive by its own name, then the same bytes under counter's name.
    const disguised = `checkpoint-counter_${ns}-app-2026-01-01T00:00:00Z.tar`;
    await copyFile(join(nodes.nodes[0]!.checkpointDir, victimArchive), join(nodes.nodes[0]!.checkpointDir, disguised));
    const cases: Array<[string, string, string]> = [
      ['counter-steal', victimArchive, `ArchiveMismatch: status.archive "${victimArchive}" is not an archive of container app of pod ${ns}/counter: refused, nothing pushed`],
      ['counter-disguised', disguised, `ArchiveMismatch: archive ${disguised} was not pushed: the archive belongs to ${ns}/victim container app, not to ${ns}/counter container app`],
    ];
    for (const [name, archive, message] of cases) {
      const req = await createRequest(name, 'counter');
      await clients.custom.patchNamespacedCustomObjectStatus(
        { ...obj(PLURALS.CheckpointRequest, name), body: { status: { nodeName: node, archive } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await enqueue(name, pod);
      const done = await finished(name);
      expect(done.status?.phase).toBe('Failed');
      expect(done.status?.message).toBe(message);
      expect(await checkpointsOf(req.metadata.uid!)).toEqual([]);
    }
    expect(await tags()).toEqual(before);
  });

  it('fails a request at once, with a reason a user understands, when the kubelet has no such container (404)', async () => {
    const pod = await runningPod('counter');
    const req = await createRequest('counter-nope', 'counter', 'nope');
    await enqueue('counter-nope', pod, 'nope');
    const done = await finished('counter-nope');
    expect(done.status?.phase).toBe('Failed');
    expect(done.status?.attempts).toBe(1);
    expect(done.status?.message).toMatch(/^ContainerNotFound: .*container nope of pod .*\/counter.*gone/);
    // `kubectl wait --for=condition=Failed` returns for it; Complete stays False.
    expect(done.status?.conditions?.find((c) => c.type === 'Failed')).toMatchObject({ status: 'True', reason: 'ContainerNotFound', message: done.status?.message });
    expect(done.status?.conditions?.find((c) => c.type === 'Complete')).toMatchObject({ status: 'False' });
    expect(await checkpointsOf(req.metadata.uid!)).toEqual([]);
    const events = await eventually('a Warning Event', async () => {
      const ev = (await eventsFor('counter-nope')).filter((e) => e.type === 'Warning');
      return ev.length > 0 ? ev : undefined;
    });
    expect(events[0]!.reason).toBe('ContainerNotFound');
    expect(await queues.queue(nodeQueueName(node)).getFailedCount()).toBeGreaterThanOrEqual(1);
  });

  it('fails at once when the registry refuses the credentials in the Secret, and names the Secret', async () => {
    const pod = await runningPod('counter');
    await putRegistrySecret('wrong-password');
    try {
      const req = await createRequest('counter-badcreds', 'counter');
      await enqueue('counter-badcreds', pod);
      const done = await finished('counter-badcreds');
      expect(done.status?.phase).toBe('Failed');
      expect(done.status?.attempts).toBe(1);
      expect(done.status?.message).toContain('RegistryUnauthorized');
      expect(done.status?.message).toContain(`${KCR_NAMESPACE}/kcr-registry`);
      expect(done.status?.message).not.toContain('wrong-password');
      expect(agentLog).not.toContain('wrong-password');
      expect(agentLog).not.toContain(creds.password);
      expect(await checkpointsOf(req.metadata.uid!)).toEqual([]);
    } finally {
      await putRegistrySecret(creds.password);
    }
  });

  it('retries when the registry stops mid-push, and never records a Checkpoint for an image that is not there', async () => {
    // A big archive keeps the upload running long enough to stop the registry during it.
    await clients.core.createNamespacedPod({ namespace: ns, body: podOn('big', 192 * 1024 * 1024) });
    const pod = await runningPod('big');
    const req = await createRequest('big-now', 'big');
    const uploads = join(reg.storageDir, 'docker/registry/v2/repositories', 'kcr', ns, 'big', '_uploads');
    await enqueue('big-now', pod);
    await eventually('an upload in progress', async () => ((await readdir(uploads).catch(() => [])).length > 0 ? true : undefined), 60_000, 5);
    await reg.pause();
    try {
      await eventually('the failed attempt to be recorded', async () => {
        const r = await getRequest('big-now');
        return r.status?.message?.includes('retrying') ? r : undefined;
      }, 60_000);
      expect(await checkpointsOf(req.metadata.uid!)).toEqual([]);
    } finally {
      await reg.resume();
    }
    const done = await finished('big-now', 120_000);
    expect(done.status?.phase, done.status?.message).toBe('Completed');
    expect(done.status?.attempts).toBeGreaterThanOrEqual(2);
    // Every Checkpoint in the namespace points at an image the registry has.
    const all = (await clients.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURALS.Checkpoint })) as { items: Checkpoint[] };
    expect(all.items.length).toBeGreaterThanOrEqual(2);
    for (const cp of all.items) await skopeoInspect(cp.status!.runtimeImage!, true);
    const [cp] = await checkpointsOf(req.metadata.uid!);
    const raw = (await skopeoInspect(cp!.status!.runtimeImage!, true)) as { layers: Array<{ digest: string }> };
    expect(raw.layers[0]!.digest).toBe(await sha256File(join(nodes.nodes[0]!.checkpointDir, cp!.spec.checkpointData!)));
  }, 240_000);

  it('drains and exits on SIGTERM within its deadline', async () => {
    expect((await fetch(`http://127.0.0.1:${healthPort}/livez`)).status).toBe(200);
    const exited = new Promise<number | null>((resolve) => agent.once('exit', (code) => resolve(code)));
    agent.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
    expect(code).toBe(0);
    expect(agentLog).toContain('agent stopped');
  });
});
