// The agent's job processing on a node queue against a real redis-server (BullMQ retries and
// UnrecoverableError) and a real registry, with the Kubernetes API and the kubelet as in-memory
// fakes (the cluster test, test/cluster/agent.test.ts, runs the same against a real API server).
// Covers what the cluster cannot force: API failures at chosen steps and a resumed retry.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent, AgentKube } from '../../src/agent/agent-kube.ts';
import { ArchiveFolder } from '../../src/agent/archive-folder.ts';
import { createImagePushers } from '../../src/agent/image-pusher.ts';
import { processCheckpointJob } from '../../src/agent/process-checkpoint-job.ts';
import { startAgent } from '../../src/agent/start-agent.ts';
import type { Checkpoint, CheckpointRequest, CheckpointRequestStatus, CheckpointStatus } from '../../src/api/types.ts';
import { parseAgentConfig } from '../../src/config.ts';
import { KubeletCheckpointError } from '../../src/kubelet/checkpoint-error.ts';
import type { CheckpointCall } from '../../src/kubelet/checkpoint-call.ts';
import { silentLogger } from '../../src/log.ts';
import { CheckpointQueues, createCheckpointWorker } from '../../src/queue/checkpoint-queues.ts';
import { createRedisConnection, waitForReady } from '../../src/queue/connection.ts';
import type { CheckpointJobData } from '../../src/schedule/fan-out.ts';
import { nodeQueueName } from '../../src/schedule/names.ts';
import { crioArchive } from '../support/crio-archive.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { startRegistry, type RegistryServer } from '../support/registry.ts';

const NODE = 'node-a';
const NS = 'apps';
let redis: RedisServer;
let reg: RegistryServer;
let dir: string;
let seq = 0;

beforeAll(async () => {
  [redis, reg] = await Promise.all([startRedis(), startRegistry()]);
  dir = mkdtempSync(join(tmpdir(), 'kcr-agent-worker-'));
});
afterAll(async () => {
  await Promise.all([redis?.stop(), reg?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const apiError = (code: number) => new ApiException(code, `HTTP ${code}`, JSON.stringify({ kind: 'Status', message: `injected ${code}` }), {});

/** The API server as the agent sees it: plain maps, with failures injected per call. */
class FakeKube implements AgentKube {
  requests = new Map<string, CheckpointRequest>();
  checkpoints = new Map<string, Checkpoint>();
  events: AgentEvent[] = [];
  failures: Partial<Record<keyof AgentKube, number[]>> = {};
  pod: V1Pod;

  constructor(pod: V1Pod) {
    this.pod = pod;
  }

  #maybeFail(call: keyof AgentKube): void {
    const codes = this.failures[call];
    const code = codes?.shift();
    if (code !== undefined) throw apiError(code);
  }

  async getRequest(_ns: string, name: string) {
    this.#maybeFail('getRequest');
    return structuredClone(this.requests.get(name));
  }
  async patchRequestStatus(_ns: string, name: string, status: CheckpointRequestStatus) {
    this.#maybeFail('patchRequestStatus');
    const r = this.requests.get(name);
    if (!r) throw apiError(404);
    r.status = { ...r.status, ...status };
  }
  async getPod() {
    this.#maybeFail('getPod');
    return structuredClone(this.pod);
  }
  async getNode(): Promise<V1Node> {
    return { metadata: { name: NODE, labels: { 'kubernetes.io/arch': 'arm64' } } };
  }
  readonly nodePatches: object[] = [];
  async patchNodeMetadata(_name: string, metadata: object) {
    this.nodePatches.push(metadata);
  }
  async getCheckpoint(_ns: string, name: string) {
    this.#maybeFail('getCheckpoint');
    return structuredClone(this.checkpoints.get(name));
  }
  async createCheckpoint(cp: Checkpoint) {
    this.#maybeFail('createCheckpoint');
    if (this.checkpoints.has(cp.metadata.name!)) return 'exists' as const;
    this.checkpoints.set(cp.metadata.name!, structuredClone(cp));
    return 'created' as const;
  }
  async patchCheckpointStatus(_ns: string, name: string, status: CheckpointStatus) {
    this.#maybeFail('patchCheckpointStatus');
    const cp = this.checkpoints.get(name);
    if (!cp) throw apiError(404);
    cp.status = { ...cp.status, ...status };
  }
  async event(e: AgentEvent) {
    this.events.push(e);
  }
  async registryDockerConfig() {
    return undefined;
  }
}

/** A kubelet that writes an archive into the node folder, or fails as told. */
function fakeKubelet(folder: string, failures: Array<number | undefined> = []) {
  const calls: CheckpointCall[] = [];
  const kubelet = async (call: CheckpointCall): Promise<string> => {
    calls.push(call);
    const failure = failures.shift();
    if (failure !== undefined) {
      throw new KubeletCheckpointError(`HTTP ${failure}`, { node: call.node, status: failure, detail: 'injected' });
    }
    const at = new Date(Date.UTC(2026, 10, 24, 8, 0, calls.length)).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const name = `checkpoint-${call.pod}_${call.namespace}-${call.container}-${at}.tar`;
    writeFileSync(join(folder, name), await crioArchive({ namespace: call.namespace, pod: call.pod, container: call.container }), { mode: 0o600 });
    return `/var/lib/kubelet/checkpoints/${name}`;
  };
  return { kubelet, calls };
}

function setup(opts: { attempts?: number; registry?: string } = {}) {
  const id = ++seq;
  const folder = mkdtempSync(join(dir, 'node-'));
  const pod: V1Pod = {
    metadata: { name: 'web-0', namespace: NS, uid: `pod-uid-${id}`, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'ss', controller: true }] },
    spec: { nodeName: NODE, containers: [{ name: 'app', image: 'counter:1.0' }] },
    status: { containerStatuses: [{ name: 'app', image: 'counter:1.0', imageID: `docker.io/library/counter@sha256:${'c'.repeat(64)}`, ready: true, restartCount: 0 }] },
  };
  const kube = new FakeKube(pod);
  const requestName = `web-0-app-${id}`;
  kube.requests.set(requestName, {
    apiVersion: 'checkpoint-restore.kcr.io/v1',
    kind: 'CheckpointRequest',
    metadata: { name: requestName, namespace: NS, uid: `req-uid-${id}` },
    spec: { podReference: { name: 'web-0' }, containerName: 'app', timeoutSeconds: 20 },
  });
  const data: CheckpointJobData = {
    requestName,
    namespace: NS,
    podName: 'web-0',
    podUid: pod.metadata!.uid!,
    containerName: 'app',
    nodeName: NODE,
    timeoutSeconds: 20,
    schedule: { kind: 'CheckpointSchedule', namespace: NS, name: 'web', uid: 'sched' },
    fireTime: new Date().toISOString(),
  };
  const images = createImagePushers({ registry: opts.registry ?? reg.host, prefix: 'kcr', insecureRegistries: [{ host: opts.registry ?? reg.host, plainHttp: true }], compression: 'none' });
  return { id, folder, kube, data, requestName, images, attempts: opts.attempts ?? 4 };
}

/** Runs one job through a real BullMQ worker of the node queue until it completes or fails for good. */
async function runJob(s: ReturnType<typeof setup>, kubelet: (c: CheckpointCall) => Promise<string>): Promise<{ state: 'completed' | 'failed'; failedReason?: string; attemptsMade: number }> {
  const prefix = `aw${s.id}`;
  const producer: Redis = createRedisConnection(redis.url, 'producer');
  const workerConn: Redis = createRedisConnection(redis.url, 'worker');
  await waitForReady(producer, 5000);
  const queues = new CheckpointQueues({ connection: producer, prefix, jobOptions: { attempts: s.attempts, backoffMs: 50 } });
  const worker = createCheckpointWorker({
    nodeName: NODE,
    connection: workerConn,
    prefix,
    process: (data, job) =>
      processCheckpointJob(data, { number: job.attemptsMade + 1, max: job.opts.attempts ?? 1 }, {
        node: NODE,
        kube: s.kube,
        kubelet,
        images: s.images,
        archives: new ArchiveFolder(s.folder),
        keepArchives: 1,
        registrySecret: 'kcr-system/kcr-registry',
        now: () => new Date(),
        log: silentLogger(),
      }),
  });
  worker.on('error', () => {});
  try {
    const job = await queues.enqueue({ queueName: nodeQueueName(NODE), jobId: `j${s.id}`, requestName: s.requestName, data: s.data });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const state = await job.getState();
      if (state === 'completed' || state === 'failed') {
        const fresh = (await queues.queue(nodeQueueName(NODE)).getJob(job.id!))!;
        return { state, failedReason: fresh.failedReason, attemptsMade: fresh.attemptsMade };
      }
      if (Date.now() > deadline) throw new Error(`job still ${state}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    await worker.close();
    await queues.close();
    producer.disconnect();
    workerConn.disconnect();
    s.images.close();
  }
}

async function registryHas(reference: string): Promise<boolean> {
  const m = /^[^/]+\/(.+)@(sha256:[a-f0-9]{64})$/.exec(reference)!;
  const res = await fetch(`${reg.url}/v2/${m[1]}/manifests/${m[2]}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  return res.status === 200;
}

describe('agent job processing (real Redis, real registry)', () => {
  it('a job becomes an image, then a Checkpoint, then a Completed request; identity and architecture come from the pod and node', async () => {
    const s = setup();
    const k = fakeKubelet(s.folder);
    const r = await runJob(s, k.kubelet);
    expect(r.state).toBe('completed');
    const req = s.kube.requests.get(s.requestName)!;
    expect(req.status).toMatchObject({ phase: 'Completed', nodeName: NODE, attempts: 1 });
    const [cp] = [...s.kube.checkpoints.values()];
    expect(req.status?.checkpoint?.name).toBe(cp!.metadata.name);
    expect(cp!.spec).toMatchObject({ identity: 'web-0', workload: { kind: 'StatefulSet', name: 'web' }, architecture: 'arm64', checkpointTimestamp: '2026-11-24T08:00:01Z' });
    expect(cp!.spec.checkpointScheduleRef).toEqual({ name: 'web' });
    expect(cp!.status?.runtimeImage).toMatch(new RegExp(`^${reg.host}/kcr/apps/web-0@sha256:`));
    expect(await registryHas(cp!.status!.runtimeImage!)).toBe(true);
    expect(k.calls).toEqual([{ node: NODE, namespace: NS, pod: 'web-0', container: 'app', timeoutSeconds: 20 }]);
    expect(s.kube.events.map((e) => `${e.type}/${e.reason}`)).toEqual(['Normal/CheckpointCreated']);
  });

  it('a retry after the Checkpoint was recorded but its status write failed resumes it: one kubelet call, one Checkpoint', async () => {
    const s = setup();
    s.kube.failures.patchCheckpointStatus = [500];
    const k = fakeKubelet(s.folder);
    const r = await runJob(s, k.kubelet);
    expect(r.state).toBe('completed');
    // BullMQ counts every finished attempt: the failed one and the resumed one.
    expect(r.attemptsMade).toBe(2);
    expect(k.calls).toHaveLength(1);
    expect(s.kube.checkpoints.size).toBe(1);
    const [cp] = [...s.kube.checkpoints.values()];
    expect(cp!.status?.phase).toBe('ImageBuilt');
    expect(await registryHas(cp!.status!.runtimeImage!)).toBe(true);
    expect(s.kube.requests.get(s.requestName)!.status).toMatchObject({ phase: 'Completed', attempts: 2 });
  });

  it('transient kubelet failures are retried with backoff; the last failed attempt marks the request Failed', async () => {
    const s = setup({ attempts: 3 });
    const k = fakeKubelet(s.folder, [500, 503, 500]);
    const r = await runJob(s, k.kubelet);
    expect(r.state).toBe('failed');
    expect(k.calls).toHaveLength(3);
    const st = s.kube.requests.get(s.requestName)!.status!;
    expect(st.phase).toBe('Failed');
    expect(st.attempts).toBe(3);
    expect(st.message).toMatch(/^CheckpointFailed: the container runtime on node node-a failed to checkpoint container app of pod apps\/web-0/);
    expect(s.kube.checkpoints.size).toBe(0);
    expect(s.kube.events.map((e) => `${e.type}/${e.reason}`)).toEqual(['Warning/CheckpointFailed']);
  });

  it('a transient failure that clears is retried to success; the request said it was retrying meanwhile', async () => {
    const s = setup();
    const k = fakeKubelet(s.folder, [503]);
    s.kube.failures.createCheckpoint = [429];
    const r = await runJob(s, k.kubelet);
    expect(r.state).toBe('completed');
    expect(r.attemptsMade).toBe(3);
    expect(k.calls).toHaveLength(2);
    expect(s.kube.checkpoints.size).toBe(1);
    expect(s.kube.requests.get(s.requestName)!.status).toMatchObject({ phase: 'Completed', attempts: 3 });
  });

  it('a permanent failure ends the request at the first attempt (UnrecoverableError), with no Checkpoint', async () => {
    const s = setup({ attempts: 5 });
    const k = fakeKubelet(s.folder, [403]);
    const r = await runJob(s, k.kubelet);
    expect(r.state).toBe('failed');
    expect(k.calls).toHaveLength(1);
    expect(r.failedReason).toContain('Forbidden');
    const st = s.kube.requests.get(s.requestName)!.status!;
    expect(st).toMatchObject({ phase: 'Failed', attempts: 1 });
    expect(st.message).toContain('nodes/checkpoint');
    expect(s.kube.checkpoints.size).toBe(0);
  });

  it('a replaced pod (same name, new UID) fails the request instead of checkpointing the new pod', async () => {
    const s = setup();
    s.kube.pod.metadata!.uid = 'someone-else';
    const k = fakeKubelet(s.folder);
    const r = await runJob(s, k.kubelet);
    expect(r.state).toBe('failed');
    expect(k.calls).toHaveLength(0);
    expect(s.kube.requests.get(s.requestName)!.status?.message).toMatch(/^PodReplaced: /);
  });

  it('a pod that opted out after its request was queued is not dumped: no kubelet call, no archive, Failed OptedOut', async () => {
    const s = setup();
    s.kube.pod.metadata!.annotations = { ...s.kube.pod.metadata!.annotations, 'kcr.io/checkpoint': 'false' };
    const k = fakeKubelet(s.folder);
    const r = await runJob(s, k.kubelet);
    expect(r.state).toBe('failed');
    expect(k.calls).toHaveLength(0);
    expect(s.kube.requests.get(s.requestName)!.status?.message).toMatch(/^OptedOut: .*its memory is not dumped/);
    expect(s.kube.checkpoints.size).toBe(0);
  });

  it('an unreachable registry is retried (pushing the same archive, no second freeze) and then fails the request; no Checkpoint is recorded', async () => {
    const s = setup({ attempts: 2, registry: '127.0.0.1:1' });
    const k = fakeKubelet(s.folder);
    const r = await runJob(s, k.kubelet);
    expect(r.state).toBe('failed');
    expect(r.attemptsMade).toBe(2);
    expect(k.calls).toHaveLength(1);
    expect(s.kube.checkpoints.size).toBe(0);
    expect(s.kube.requests.get(s.requestName)!.status?.message).toMatch(/^RegistryUnavailable: registry 127\.0\.0\.1:1 unreachable/);
  });

  it('a status.archive naming another pod’s archive (as a forged status would) is refused: nothing pushed, no Checkpoint', async () => {
    const s = setup();
    // The other namespace's archive is really there on the node.
    const other = 'checkpoint-vault-0_bank-app-2026-11-24T08:00:00Z.tar';
    writeFileSync(join(s.folder, other), await crioArchive({ namespace: 'bank', pod: 'vault-0', container: 'app' }), { mode: 0o600 });
    const req = s.kube.requests.get(s.requestName)!;
    req.status = { phase: 'InProgress', nodeName: NODE, archive: other };
    const k = fakeKubelet(s.folder);
    const r = await runJob(s, k.kubelet);
    expect(r.state).toBe('failed');
    expect(k.calls).toHaveLength(0);
    expect(s.kube.checkpoints.size).toBe(0);
    expect(s.kube.requests.get(s.requestName)!.status?.message).toMatch(/^ArchiveMismatch: status\.archive "checkpoint-vault-0_bank-app-.*" is not an archive of container app of pod apps\/web-0: refused, nothing pushed/);
  });

  it('a deleted request drops its job without calling the kubelet', async () => {
    const s = setup();
    s.kube.requests.clear();
    const k = fakeKubelet(s.folder);
    expect((await runJob(s, k.kubelet)).state).toBe('completed');
    expect(k.calls).toHaveLength(0);
  });
});

describe('agent health', () => {
  it('/readyz is 200 while the worker is connected to Redis, 503 once Redis is gone; /livez stays 200', async () => {
    const own = await startRedis();
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: false }],
      users: [{ name: 'u', token: 'x' }],
      contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
      currentContext: 'c',
    });
    const config = parseAgentConfig({ NODE_NAME: NODE, KCR_REDIS_URL: own.url, KCR_REGISTRY: reg.host, KCR_HEALTH_PORT: '0', KCR_HEALTH_HOST: '127.0.0.1', KCR_CHECKPOINT_DIR: dir });
    const agent = await startAgent({ config, kc, log: silentLogger() });
    const status = async (path: string) => (await fetch(`http://127.0.0.1:${agent.health.port}${path}`)).status;
    try {
      const until = async (path: string, want: number) => {
        const deadline = Date.now() + 15_000;
        while ((await status(path)) !== want) {
          if (Date.now() > deadline) throw new Error(`${path} never answered ${want}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await until('/readyz', 200);
      await own.stop();
      await until('/readyz', 503);
      expect(await status('/livez')).toBe(200);
      expect(await status('/nope')).toBe(404);
    } finally {
      expect(await agent.close(2000)).toMatch(/closed|deadline/);
      await own.stop().catch(() => undefined);
    }
  });
});
