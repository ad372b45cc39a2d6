// The agent's job processing on a node queue against a real redis-server (BullMQ retries and
// UnrecoverableError) and a real registry, with the Kubernetes API and the kubelet as in-memory
// fakes (the cluster test, test/cluster/agent.test.ts, runs the same against a real API server).
// Covers what the cluster cannot force: API failures at chosen steps and a resumed retry.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent, AgentKube } from '../../src/agent/agent-kube.ts';
import { ArchiveFolder } from '../../src/agent/archive-folder.ts';
import { ArchiveLedgerFile } from '../../src/agent/archive-ledger-file.ts';
import { ArchiveTurns } from '../../src/agent/archive-turns.ts';
import { createImagePushers } from '../../src/agent/image-pusher.ts';
import { processCheckpointJob } from '../../src/agent/process-checkpoint-job.ts';
import { startAgent } from '../../src/agent/start-agent.ts';
import { createAgentMetrics, type CheckpointJobMetrics } from '../../src/agent/agent-metrics.ts';
import { startMetricsServer } from '../../src/metrics/metrics-server.ts';
import type { Checkpoint, CheckpointRequest, CheckpointRequestStatus, CheckpointStatus, Condition } from '../../src/api/types.ts';
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
    if (this.checkpoints.has(cp.metadata.name!)) return { outcome: 'exists' as const };
    // As the API server does: a new object is generation 1, and create ignores status (a subresource).
    const stored = structuredClone(cp);
    delete stored.status;
    stored.metadata.generation = 1;
    this.checkpoints.set(cp.metadata.name!, stored);
    return { outcome: 'created' as const, generation: 1 };
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

function setup(opts: { attempts?: number; registry?: string; namespace?: string; pod?: string; container?: string; folder?: string } = {}) {
  const id = ++seq;
  const folder = opts.folder ?? mkdtempSync(join(dir, 'node-'));
  const ns = opts.namespace ?? NS;
  const podName = opts.pod ?? 'web-0';
  const container = opts.container ?? 'app';
  const pod: V1Pod = {
    metadata: { name: podName, namespace: ns, uid: `pod-uid-${id}`, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'ss', controller: true }] },
    spec: { nodeName: NODE, containers: [{ name: container, image: 'counter:1.0' }] },
    status: { containerStatuses: [{ name: container, image: 'counter:1.0', imageID: `docker.io/library/counter@sha256:${'c'.repeat(64)}`, ready: true, restartCount: 0 }] },
  };
  const kube = new FakeKube(pod);
  const requestName = `${podName}-${container}-${id}`;
  kube.requests.set(requestName, {
    apiVersion: 'checkpoint-restore.kcr.io/v1',
    kind: 'CheckpointRequest',
    metadata: { name: requestName, namespace: ns, uid: `req-uid-${id}`, generation: 1 },
    spec: { podReference: { name: podName }, containerName: container, timeoutSeconds: 20 },
  });
  const data: CheckpointJobData = {
    requestName,
    namespace: ns,
    podName,
    podUid: pod.metadata!.uid!,
    containerName: container,
    nodeName: NODE,
    timeoutSeconds: 20,
    schedule: { kind: 'CheckpointSchedule', namespace: ns, name: 'web', uid: 'sched' },
    fireTime: new Date().toISOString(),
  };
  const images = createImagePushers({ registry: opts.registry ?? reg.host, prefix: 'kcr', insecureRegistries: [{ host: opts.registry ?? reg.host, plainHttp: true }], compression: 'none' });
  return { id, folder, kube, data, requestName, images, attempts: opts.attempts ?? 4 };
}

/** One agent's turns for the single-job tests (made at load: its start is long past when they run). */
const soloTurns = new ArchiveTurns({ now: () => new Date() });

/** Runs one job through a real BullMQ worker of the node queue until it completes or fails for good. */
async function runJob(s: ReturnType<typeof setup>, kubelet: (c: CheckpointCall) => Promise<string>, metrics?: CheckpointJobMetrics): Promise<{ state: 'completed' | 'failed'; failedReason?: string; attemptsMade: number }> {
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
        ledger: new ArchiveLedgerFile(s.folder),
        turns: soloTurns,
        keepArchives: 1,
        registrySecret: 'kcr-system/kcr-registry',
        now: () => new Date(),
        log: silentLogger(),
        ...(metrics ? { metrics } : {}),
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

function conditionOf(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
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
    // What `kubectl wait --for=condition=Complete` and `--for=condition=Ready` read.
    expect(conditionOf(req.status?.conditions, 'Complete')).toMatchObject({ status: 'True', reason: 'CheckpointCreated', observedGeneration: 1 });
    expect(conditionOf(req.status?.conditions, 'Failed')).toMatchObject({ status: 'False', observedGeneration: 1 });
    expect(req.status?.observedGeneration).toBe(1);
    expect(conditionOf(cp!.status?.conditions, 'Ready')).toMatchObject({ status: 'True', reason: 'ImageBuilt', observedGeneration: 1 });
    expect(cp!.status?.observedGeneration).toBe(1);
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
    expect(conditionOf(cp!.status?.conditions, 'Ready')?.status).toBe('True');
    expect(await registryHas(cp!.status!.runtimeImage!)).toBe(true);
    expect(s.kube.requests.get(s.requestName)!.status).toMatchObject({ phase: 'Completed', attempts: 2 });
    expect(conditionOf(s.kube.requests.get(s.requestName)!.status?.conditions, 'Complete')?.status).toBe('True');
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
    expect(conditionOf(st.conditions, 'Failed')).toMatchObject({ status: 'True', reason: 'CheckpointFailed', message: st.message });
    expect(conditionOf(st.conditions, 'Complete')?.status).toBe('False');
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
    expect(conditionOf(s.kube.requests.get(s.requestName)!.status?.conditions, 'Failed')).toMatchObject({ status: 'True', reason: 'PodReplaced' });
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

/** The node's shared parts, as start-agent.ts makes them once for all its jobs. */
function nodeParts(folder: string) {
  return { folder, ledger: new ArchiveLedgerFile(folder), turns: new ArchiveTurns({ now: () => new Date() }) };
}

const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * A kubelet as the real one names archives: from its clock, in whole seconds, when the call
 * starts; the file is written `ms` later (the same name in the same second overwrites). Notes
 * every call's span and how many ran at once.
 */
function clockKubelet(folder: string, ms = 300) {
  const spans: Array<{ owner: string; start: number; end: number; name: string }> = [];
  let active = 0;
  let maxActive = 0;
  const kubelet = async (call: CheckpointCall): Promise<string> => {
    maxActive = Math.max(maxActive, ++active);
    const start = Date.now();
    const name = `checkpoint-${call.pod}_${call.namespace}-${call.container}-${rfc3339(start)}.tar`;
    try {
      await new Promise((r) => setTimeout(r, ms));
      writeFileSync(join(folder, name), await crioArchive({ namespace: call.namespace, pod: call.pod, container: call.container }), { mode: 0o600 });
      return `/var/lib/kubelet/checkpoints/${name}`;
    } finally {
      active--;
      spans.push({ owner: `${call.namespace}/${call.pod}/${call.container}`, start, end: Date.now(), name });
    }
  };
  return { kubelet, spans, maxActive: () => maxActive };
}

/** Runs the jobs on one worker of the node queue at KCR_AGENT_CONCURRENCY 2, sharing the node's folder, ledger and turns. */
async function runTogether(jobs: Array<ReturnType<typeof setup>>, kubelet: (c: CheckpointCall) => Promise<string>, node: ReturnType<typeof nodeParts>): Promise<string[]> {
  const prefix = `awt${++seq}`;
  const producer: Redis = createRedisConnection(redis.url, 'producer');
  const workerConn: Redis = createRedisConnection(redis.url, 'worker');
  await waitForReady(producer, 5000);
  const queues = new CheckpointQueues({ connection: producer, prefix, jobOptions: { attempts: 1, backoffMs: 50 } });
  const byRequest = new Map(jobs.map((j) => [j.requestName, j]));
  const archives = new ArchiveFolder(node.folder);
  const inUse = new Set<string>();
  const worker = createCheckpointWorker({
    nodeName: NODE,
    connection: workerConn,
    prefix,
    concurrency: 2,
    process: (data, job) => {
      const s = byRequest.get(data.requestName)!;
      return processCheckpointJob(data, { number: job.attemptsMade + 1, max: job.opts.attempts ?? 1 }, {
        node: NODE,
        kube: s.kube,
        kubelet,
        images: s.images,
        archives,
        ledger: node.ledger,
        turns: node.turns,
        keepArchives: 1,
        registrySecret: 'kcr-system/kcr-registry',
        now: () => new Date(),
        log: silentLogger(),
        inUse,
      });
    },
  });
  worker.on('error', () => {});
  try {
    const queued = await Promise.all(jobs.map((s) => queues.enqueue({ queueName: nodeQueueName(NODE), jobId: `j${s.id}`, requestName: s.requestName, data: s.data })));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const states = await Promise.all(queued.map((j) => j.getState()));
      if (states.every((st) => st === 'completed' || st === 'failed')) return states;
      if (Date.now() > deadline) throw new Error(`jobs still ${states.join(', ')}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    await worker.close();
    await queues.close();
    producer.disconnect();
    workerConn.disconnect();
    for (const s of jobs) s.images.close();
  }
}

/** The node's ledger file as owner strings by archive name. */
function ledgerOwners(folder: string): Record<string, string> {
  const doc = JSON.parse(readFileSync(join(folder, '.kcr-archives.json'), 'utf8')) as { archives: Record<string, { namespace: string; pod: string; container: string }> };
  return Object.fromEntries(Object.entries(doc.archives).map(([n, e]) => [n, `${e.namespace}/${e.pod}/${e.container}`]));
}

const archivesIn = (folder: string) => readdirSync(folder).filter((n) => n.endsWith('.tar')).sort();

describe('archives on a node shared by names that collide (team/a-x and team-a/x)', () => {
  const TEAM = { namespace: 'team', pod: 'app', container: 'a-x' };
  const TEAM_A = { namespace: 'team-a', pod: 'app', container: 'x' };
  const owner = (o: typeof TEAM) => `${o.namespace}/${o.pod}/${o.container}`;

  it('their checkpoints take turns in different seconds, each pushes its own archive, and retention leaves the other’s alone, across an agent restart', async () => {
    const folder = mkdtempSync(join(dir, 'node-'));
    const k = clockKubelet(folder);
    const round = async (node: ReturnType<typeof nodeParts>) => {
      const jobs = [setup({ ...TEAM, folder }), setup({ ...TEAM_A, folder })];
      expect(await runTogether(jobs, k.kubelet, node)).toEqual(['completed', 'completed']);
      return jobs.map((s) => [...s.kube.checkpoints.values()][0]!);
    };

    const first = await round(nodeParts(folder));
    // The kubelet calls never overlapped, and the second started in a later second than the first ended.
    expect(k.maxActive()).toBe(1);
    expect(k.spans).toHaveLength(2);
    const [a, b] = [...k.spans].sort((x, y) => x.start - y.start);
    expect(b!.start).toBeGreaterThanOrEqual(a!.end);
    expect(Math.floor(b!.start / 1000)).toBeGreaterThan(Math.floor(a!.end / 1000));
    // One prefix, two names, each Checkpoint pushed from its own container's archive.
    expect(a!.name.slice(0, 24)).toBe(b!.name.slice(0, 24));
    expect(a!.name).not.toBe(b!.name);
    const [teamCp, teamACp] = first;
    expect(teamCp!.spec).toMatchObject({ podName: 'app', containerName: 'a-x', checkpointData: k.spans.find((s) => s.owner === owner(TEAM))!.name });
    expect(teamACp!.spec).toMatchObject({ podName: 'app', containerName: 'x', checkpointData: k.spans.find((s) => s.owner === owner(TEAM_A))!.name });
    for (const cp of first) expect(await registryHas(cp.status!.runtimeImage!)).toBe(true);
    // Keep 1 each: neither job's retention deleted the other's archive.
    expect(archivesIn(folder)).toEqual([teamCp!.spec.checkpointData, teamACp!.spec.checkpointData].sort());
    expect(ledgerOwners(folder)).toEqual({ [teamCp!.spec.checkpointData!]: owner(TEAM), [teamACp!.spec.checkpointData!]: owner(TEAM_A) });

    // A restarted agent (a new ledger reader, new turns) reads the ledger from the node.
    const second = await round(nodeParts(folder));
    expect(k.maxActive()).toBe(1);
    const spans = [...k.spans].sort((x, y) => x.start - y.start);
    for (let i = 1; i < spans.length; i++) expect(Math.floor(spans[i]!.start / 1000)).toBeGreaterThan(Math.floor(spans[i - 1]!.end / 1000));
    // Each owner's older archive is gone, each owner's newest is kept: no more, no less.
    const [teamNew, teamANew] = second.map((cp) => cp.spec.checkpointData!);
    expect(archivesIn(folder)).toEqual([teamNew, teamANew].sort());
    expect(ledgerOwners(folder)).toEqual({ [teamNew!]: owner(TEAM), [teamANew!]: owner(TEAM_A) });
  });

  it('an archive the agent did not record stays, even named as the container’s; an unreadable ledger deletes nothing and is set aside', async () => {
    const folder = mkdtempSync(join(dir, 'node-'));
    const k = clockKubelet(folder, 10);
    // Older, named as team-a/x's (and team/a-x's) archive, but not written for this agent.
    const planted = 'checkpoint-app_team-a-x-2026-01-01T00:00:00Z.tar';
    writeFileSync(join(folder, planted), await crioArchive({ namespace: 'team', pod: 'app', container: 'a-x' }), { mode: 0o600 });
    const node = nodeParts(folder);
    const one = setup({ ...TEAM_A, folder });
    expect(await runTogether([one], k.kubelet, node)).toEqual(['completed']);
    const firstArchive = [...one.kube.checkpoints.values()][0]!.spec.checkpointData!;
    expect(archivesIn(folder)).toEqual([planted, firstArchive].sort());

    writeFileSync(join(folder, '.kcr-archives.json'), '{"version": 1, "archives": {"');
    const two = setup({ ...TEAM_A, folder });
    expect(await runTogether([two], k.kubelet, node)).toEqual(['completed']);
    const secondArchive = [...two.kube.checkpoints.values()][0]!.spec.checkpointData!;
    // What the lost ledger recorded is unknown now: kept. Recording starts anew from this archive.
    expect(archivesIn(folder)).toEqual([planted, firstArchive, secondArchive].sort());
    expect(existsSync(join(folder, '.kcr-archives.json.corrupt'))).toBe(true);
    expect(ledgerOwners(folder)).toEqual({ [secondArchive]: owner(TEAM_A) });
  });
});

describe('agent metrics, scraped from the metrics server (real Redis, real registry)', () => {
  /** One metrics registry served over HTTP for the whole block, as the agent serves it. */
  const metrics = createAgentMetrics();
  let scrapeUrl = '';
  let close: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const server = await startMetricsServer({ registry: metrics.registry, host: '127.0.0.1', port: 0 });
    scrapeUrl = `http://127.0.0.1:${server.port}/metrics`;
    close = server.close;
  });
  afterAll(() => close?.());
  const scrape = async () => (await fetch(scrapeUrl)).text();
  const sample = (text: string, series: string): number | undefined => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  it('a stored checkpoint: one completed attempt timed, its archive measured, its bytes pushed, nothing in flight', async () => {
    // A pod of its own: its archive is in no repository yet, so its layer is uploaded.
    const s = setup({ pod: 'metrics-0' });
    const before = await scrape();
    const r = await runJob(s, fakeKubelet(s.folder).kubelet, metrics);
    expect(r.state).toBe('completed');
    const after = await scrape();
    const delta = (series: string) => (sample(after, series) ?? 0) - (sample(before, series) ?? 0);
    expect(delta('kcr_checkpoint_duration_seconds_count{outcome="completed"}')).toBe(1);
    expect(delta('kcr_checkpoint_archive_bytes_count')).toBe(1);
    const size = [...s.kube.checkpoints.values()][0]!.spec.sizeBytes;
    expect(delta('kcr_checkpoint_archive_bytes_sum')).toBe(Number(size));
    expect(delta('kcr_push_bytes_total')).toBe(Number(size));
    expect(sample(after, 'kcr_jobs_in_flight')).toBe(0);
  });

  it('transient failures are timed as retried, the last one counted as a failure with the agent\'s reason', async () => {
    const s = setup({ attempts: 2 });
    const before = await scrape();
    const r = await runJob(s, fakeKubelet(s.folder, [503, 503]).kubelet, metrics);
    expect(r.state).toBe('failed');
    const after = await scrape();
    const delta = (series: string) => (sample(after, series) ?? 0) - (sample(before, series) ?? 0);
    expect(delta('kcr_checkpoint_duration_seconds_count{outcome="retried"}')).toBe(1);
    expect(delta('kcr_checkpoint_duration_seconds_count{outcome="failed"}')).toBe(1);
    expect(delta('kcr_checkpoint_failures_total{reason="KubeletUnavailable"}')).toBe(1);
  });

  it('a permanent failure is counted at once by its reason', async () => {
    const s = setup();
    const before = await scrape();
    const r = await runJob(s, fakeKubelet(s.folder, [404]).kubelet, metrics);
    expect(r.state).toBe('failed');
    const after = await scrape();
    expect((sample(after, 'kcr_checkpoint_failures_total{reason="ContainerNotFound"}') ?? 0) - (sample(before, 'kcr_checkpoint_failures_total{reason="ContainerNotFound"}') ?? 0)).toBe(1);
  });

  it('an unreachable registry counts push errors and fails as RegistryUnavailable', async () => {
    const s = setup({ registry: '127.0.0.1:1', attempts: 1 });
    const before = await scrape();
    const r = await runJob(s, fakeKubelet(s.folder).kubelet, metrics);
    expect(r.state).toBe('failed');
    const after = await scrape();
    expect((sample(after, 'kcr_registry_errors_total{operation="push"}') ?? 0) - (sample(before, 'kcr_registry_errors_total{operation="push"}') ?? 0)).toBe(1);
    expect(sample(after, 'kcr_checkpoint_failures_total{reason="RegistryUnavailable"}')).toBeGreaterThanOrEqual(1);
  });
});

describe('agent health', () => {
  it('serves its metrics on the metrics port, and /livez turns 503 once the queue worker\'s loop stopped', async () => {
    const own = await startRedis();
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: false }],
      users: [{ name: 'u', token: 'x' }],
      contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
      currentContext: 'c',
    });
    const config = parseAgentConfig({
      NODE_NAME: NODE, KCR_REDIS_URL: own.url, KCR_REGISTRY: reg.host, KCR_HEALTH_PORT: '0', KCR_HEALTH_HOST: '127.0.0.1',
      KCR_METRICS_PORT: '0', KCR_METRICS_HOST: '127.0.0.1', KCR_CHECKPOINT_DIR: dir, KCR_LIVENESS_TIMEOUT_SECONDS: '2',
    });
    const agent = await startAgent({ config, kc, log: silentLogger() });
    const get = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`);
    try {
      expect(agent.metricsServer.port).not.toBe(agent.health.port);
      const deadline = Date.now() + 15_000;
      let text = '';
      while (!/^kcr_redis_up 1$/m.test(text)) {
        if (Date.now() > deadline) throw new Error(`kcr_redis_up never 1:\n${text}`);
        await new Promise((r) => setTimeout(r, 50));
        text = await (await get(agent.metricsServer.port, '/metrics')).text();
      }
      expect(text).toMatch(/^kcr_jobs_in_flight 0$/m);
      expect(text).toMatch(/^# TYPE kcr_checkpoint_duration_seconds histogram$/m);
      expect(text).toMatch(/^process_resident_memory_bytes \d/m);
      expect((await get(agent.health.port, '/livez')).status).toBe(200);

      // The worker's loop ends (not a shutdown: the agent itself is still up).
      await agent.worker.close();
      const started = Date.now();
      let live = await get(agent.health.port, '/livez');
      while (live.status === 200) {
        if (Date.now() - started > 10_000) throw new Error('/livez stayed 200 after the worker loop stopped');
        await new Promise((r) => setTimeout(r, 100));
        live = await get(agent.health.port, '/livez');
      }
      expect(live.status).toBe(503);
      expect(await live.text()).toContain('queue worker');
      // Not before the bound: a loop that just stopped is not yet reported.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    } finally {
      await agent.close(2000);
      await own.stop().catch(() => undefined);
    }
  });

  it('/readyz is 200 while the worker is connected to Redis, 503 once Redis is gone; /livez stays 200', async () => {
    const own = await startRedis();
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: false }],
      users: [{ name: 'u', token: 'x' }],
      contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
      currentContext: 'c',
    });
    const config = parseAgentConfig({ NODE_NAME: NODE, KCR_REDIS_URL: own.url, KCR_REGISTRY: reg.host, KCR_HEALTH_PORT: '0', KCR_HEALTH_HOST: '127.0.0.1', KCR_METRICS_PORT: '0', KCR_METRICS_HOST: '127.0.0.1', KCR_CHECKPOINT_DIR: dir });
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
