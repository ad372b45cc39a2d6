// kcr controller against the REAL kube-apiserver and a REAL redis-server: two controller
// processes (each as ServiceAccount kcr-controller, bound only by the manifests' RBAC plus a
// test-only grant for this run's Lease and registry Secret names), simulated nodes running the
// pods. Schedules fire on their real cron (every minute), so this file takes a few minutes.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api, RbacAuthorizationV1Api, type V1Pod } from '@kubernetes/client-node';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANNOTATIONS, API_VERSION, GROUP, PLURALS, VERSION, type Checkpoint, type CheckpointRequest, type CheckpointSchedule } from '../../src/api/types.ts';
import { REQUEST_ANNOTATIONS, REQUEST_LABELS } from '../../src/controller/checkpoint-request.ts';
import { CHECKPOINT_FINALIZER } from '../../src/rules/checkpoint-finalizer.ts';
import { pushCheckpointImage } from '../../src/images/push-checkpoint-image.ts';
import { RegistryClient } from '../../src/images/registry-client.ts';
import { SCHEDULE_FIRED_JOB, checkpointScheduleId } from '../../src/schedule/desired.ts';
import { nodeQueueName, SCHEDULE_QUEUE } from '../../src/schedule/names.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { inspectImage } from '../support/checkpoint-image.ts';
import { startRegistry, type RegistryServer } from '../support/registry.ts';
import { apiCode, clientsFor, createNamespace, deleteNamespace, eventually, installedKcr, setStatus, testCluster, type Clients } from './cluster-clients.ts';
import { KCR_NAMESPACE } from './kcr-in-cluster.ts';
import { CONTROLLER_SERVICE_ACCOUNT, controllerKubeconfig, startLocalController, type LocalController } from './kcr-controller-process.ts';
import { freePort } from './local-cluster.ts';
import type { LocalNodes } from './nodes/local-nodes.ts';
import { startTestNodes } from './nodes/test-nodes.ts';

const runId = randomBytes(3).toString('hex');
const leaseName = `kcr-controller-test-${runId}`;
const secretName = `kcr-registry-test-${runId}`;
const registryAuth = { username: 'kcr', password: `pw-${randomBytes(8).toString('hex')}` };
const node1 = `ctl-${runId}-1`;
const node2 = `ctl-${runId}-2`;

let admin: Clients;
let redis: RedisServer;
let reg: RegistryServer;
let nodes: LocalNodes;
let root: string;
let ns: string;
/** A second namespace the controllers reconcile, deleted by a test (its checkpoint images must go with it). */
let doomed: string;
let kubeconfig: string;
let redisClient: Redis;
const controllers: LocalController[] = [];

const custom = (plural: string) => ({ group: GROUP, version: VERSION, namespace: ns, plural });

async function listRequests(): Promise<CheckpointRequest[]> {
  const list = (await admin.custom.listNamespacedCustomObject(custom(PLURALS.CheckpointRequest))) as { items: CheckpointRequest[] };
  return list.items;
}

async function getSchedule(name: string): Promise<CheckpointSchedule> {
  return (await admin.custom.getNamespacedCustomObject({ ...custom(PLURALS.CheckpointSchedule), name })) as CheckpointSchedule;
}

async function createSchedule(name: string, spec: Partial<CheckpointSchedule['spec']>): Promise<CheckpointSchedule> {
  return (await admin.custom.createNamespacedCustomObject({
    ...custom(PLURALS.CheckpointSchedule),
    body: { apiVersion: API_VERSION, kind: 'CheckpointSchedule', metadata: { name }, spec: { schedule: '* * * * *', selector: { matchLabels: { app: 'web' } }, ...spec } },
  })) as CheckpointSchedule;
}

/** What an agent does at the end: mark the request Completed (the test plays the agent). */
async function complete(r: CheckpointRequest): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const fresh = (await admin.custom.getNamespacedCustomObject({ ...custom(PLURALS.CheckpointRequest), name: r.metadata.name! })) as CheckpointRequest;
  await admin.custom.replaceNamespacedCustomObjectStatus({
    ...custom(PLURALS.CheckpointRequest),
    name: r.metadata.name!,
    body: { ...fresh, status: { ...fresh.status, phase: 'Completed', startTime: now, completionTime: now } },
  });
}

function queue(name: string): Queue {
  const q = new Queue(name, { connection: redisClient, prefix: 'kcr' });
  q.on('error', () => {});
  return q;
}

async function leaseHolder(): Promise<string | undefined> {
  try {
    const l = await admin.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: leaseName, namespace: KCR_NAMESPACE });
    return l.spec?.holderIdentity ?? undefined;
  } catch (err) {
    if (apiCode(err) === 404) return undefined;
    throw err;
  }
}

function podBody(name: string, node: string, containers: string[]): V1Pod {
  return {
    metadata: { name, namespace: ns, labels: { app: 'web' } },
    // Bound directly: the scheduler is not what this file tests.
    spec: { nodeName: node, containers: containers.map((c) => ({ name: c, image: 'registry.example/web:1' })), terminationGracePeriodSeconds: 1 },
  };
}

async function running(name: string): Promise<void> {
  await eventually(`pod ${name} Running`, async () => ((await admin.core.readNamespacedPod({ name, namespace: ns })).status?.phase === 'Running' ? true : undefined), 60_000);
}

async function startController(identity: string, redisUrl = redis.url, env: Record<string, string> = {}): Promise<LocalController> {
  const c = await startLocalController({
    kubeconfig,
    identity,
    redisUrl,
    env: {
      KCR_LEASE_NAME: leaseName,
      KCR_LEASE_DURATION_SECONDS: '6',
      KCR_LEASE_RENEW_DEADLINE_MS: '4000',
      KCR_LEASE_RETRY_PERIOD_MS: '1000',
      KCR_CONTROLLER_RESYNC_MS: '1000',
      KCR_RETENTION_INTERVAL_MS: '1000',
      KCR_REGISTRY_SECRET: secretName,
      // Where this run's checkpoint images are (kcr/<namespace>/…): retention deletes images only there.
      KCR_REGISTRY: reg.host,
      KCR_REGISTRY_PREFIX: 'kcr',
      KCR_INSECURE_REGISTRIES: `http://${reg.host}`,
      KCR_CONTROLLER_NAMESPACES: `${ns},${doomed}`,
      // The registry sweep, quick: an unreferenced manifest goes 3 s after it is first seen.
      KCR_REGISTRY_SWEEP_INTERVAL_SECONDS: '1',
      KCR_REGISTRY_SWEEP_GRACE_SECONDS: '3',
      // A request whose job is gone fails 3 s after the leader first sees it so (default 120 s).
      KCR_REQUEST_LOST_GRACE_SECONDS: '3',
      ...env,
    },
  });
  controllers.push(c);
  return c;
}

/** This run's Lease and Secret names for the controller's ServiceAccount (the manifests grant only kcr-controller / kcr-registry). */
async function grantTestNames(): Promise<void> {
  const rbac = admin.kc.makeApiClient(RbacAuthorizationV1Api);
  const name = `kcr-test:controller-${runId}`;
  await rbac.createNamespacedRole({
    namespace: KCR_NAMESPACE,
    body: {
      metadata: { name },
      rules: [
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [leaseName], verbs: ['get', 'update'] },
        { apiGroups: [''], resources: ['secrets'], resourceNames: [secretName], verbs: ['get'] },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: KCR_NAMESPACE,
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name: CONTROLLER_SERVICE_ACCOUNT, namespace: KCR_NAMESPACE }],
    },
  });
}

beforeAll(async () => {
  const cluster = testCluster();
  installedKcr();
  admin = clientsFor(cluster.kubeconfig);
  redis = await startRedis();
  redisClient = new Redis(redis.url, { maxRetriesPerRequest: null });
  reg = await startRegistry({ auth: registryAuth });
  root = mkdtempSync(join(tmpdir(), 'kcr-ctl-nodes-'));
  nodes = await startTestNodes({ profiles: ['cri-o-1.34', 'cri-o-1.34'], namePrefix: `ctl-${runId}-`, netnsIndexOffset: 150 });
  ns = await createNamespace(admin.core, 'ctl');
  doomed = await createNamespace(admin.core, 'ctl-doomed');
  await grantTestNames();
  const auth = Buffer.from(`${registryAuth.username}:${registryAuth.password}`).toString('base64');
  writeFileSync(join(root, 'skopeo-auth.json'), JSON.stringify({ auths: { [reg.host]: { auth } } }), { mode: 0o600 });
  await admin.core.createNamespacedSecret({
    namespace: KCR_NAMESPACE,
    body: {
      metadata: { name: secretName },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { [reg.host]: { auth } } })).toString('base64') },
    },
  });
  kubeconfig = await controllerKubeconfig(cluster);
  await admin.core.createNamespacedPod({ namespace: ns, body: podBody('web-a', node1, ['app', 'sidecar']) });
  await admin.core.createNamespacedPod({ namespace: ns, body: podBody('web-b', node2, ['app']) });
  await running('web-a');
  await running('web-b');
});

afterAll(async () => {
  await Promise.allSettled(controllers.map((c) => c.stop(5000)));
  if (ns) await deleteNamespace(admin.core, ns);
  if (doomed) await deleteNamespace(admin.core, doomed);
  const rbac = admin?.kc.makeApiClient(RbacAuthorizationV1Api);
  const name = `kcr-test:controller-${runId}`;
  await rbac?.deleteNamespacedRoleBinding({ name, namespace: KCR_NAMESPACE }).catch(() => undefined);
  await rbac?.deleteNamespacedRole({ name, namespace: KCR_NAMESPACE }).catch(() => undefined);
  await admin?.core.deleteNamespacedSecret({ name: secretName, namespace: KCR_NAMESPACE }).catch(() => undefined);
  await admin?.kc.makeApiClient(CoordinationV1Api).deleteNamespacedLease({ name: leaseName, namespace: KCR_NAMESPACE }).catch(() => undefined);
  await nodes?.stop();
  redisClient?.disconnect();
  await redis?.stop();
  await reg?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('kcr controller in a real cluster with real Redis', () => {
  let a: LocalController;
  let b: LocalController;
  let schedule: CheckpointSchedule;
  let firstFire: string;

  it('without Redis: /readyz is 503 naming the unreachable Redis, the process stays up and never takes the lease', async () => {
    const deadPort = await freePort();
    const c = await startController(`ctl-noredis-${runId}`, `redis://127.0.0.1:${deadPort}`);
    const r = await eventually('readyz to name Redis', async () => {
      const res = await c.readyz();
      return res.body.reasons?.some((x) => x.includes(`Redis at 127.0.0.1:${deadPort} is unreachable`)) ? res : undefined;
    }, 30_000);
    expect(r.status).toBe(503);
    expect(r.body.leading).toBe(false);
    await sleep(3000);
    expect(c.exited()).toBeUndefined();
    expect(await leaseHolder()).not.toBe(c.identity);
    expect(c.logs.some((l) => l.level === 'error' && String(l.msg).includes(`Redis at 127.0.0.1:${deadPort} is unreachable`) && String(l.msg).includes('ECONNREFUSED'))).toBe(true);
    await c.stop();
    expect(c.exited()?.code).toBe(0);
  });

  it('two replicas: exactly one leads (the Lease holder), both are ready', async () => {
    [a, b] = await Promise.all([startController(`ctl-a-${runId}`), startController(`ctl-b-${runId}`)]);
    const holder = await eventually('a lease holder', async () => leaseHolder(), 30_000);
    expect([a.identity, b.identity]).toContain(holder);
    await eventually('both ready', async () => ((await a.readyz()).status === 200 && (await b.readyz()).status === 200) || undefined, 30_000);
    const leading = [(await a.readyz()).body.leading, (await b.readyz()).body.leading];
    expect(leading.filter(Boolean)).toHaveLength(1);
    expect((holder === a.identity ? leading[0] : leading[1])).toBe(true);
  });

  it('a schedule fires on its cron: one CheckpointRequest per pod and container, owned by the schedule, each job on its node’s queue', async () => {
    schedule = await createSchedule('every-minute', {});
    const sched = await eventually('the job scheduler', async () => (await queue(SCHEDULE_QUEUE).getJobScheduler(checkpointScheduleId(ns, 'every-minute'))) ?? undefined, 20_000);
    expect(sched.pattern).toBe('* * * * *');
    const reqs = await eventually('3 CheckpointRequests from the first fire', async () => {
      const r = (await listRequests()).filter((x) => x.metadata.labels?.[REQUEST_LABELS.scheduleUid] === schedule.metadata.uid);
      return r.length >= 3 ? r : undefined;
    }, 90_000, 500);
    expect(reqs.map((r) => `${r.spec.podReference.name}/${r.spec.containerName}`).sort()).toEqual(['web-a/app', 'web-a/sidecar', 'web-b/app']);
    firstFire = reqs[0]!.metadata.annotations![REQUEST_ANNOTATIONS.fireTime]!;
    expect(new Set(reqs.map((r) => r.metadata.annotations?.[REQUEST_ANNOTATIONS.fireTime]))).toEqual(new Set([firstFire]));
    expect(new Date(firstFire).getUTCSeconds()).toBe(0);
    for (const r of reqs) {
      expect(r.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'CheckpointSchedule', name: 'every-minute', uid: schedule.metadata.uid })]);
      expect(r.spec).toMatchObject({ checkpointScheduleRef: { name: 'every-minute' }, timeoutSeconds: 300, ttlSecondsAfterFinished: 3600 });
      const node = r.spec.podReference.name === 'web-a' ? node1 : node2;
      const job = await queue(nodeQueueName(node)).getJob(r.metadata.annotations![REQUEST_ANNOTATIONS.jobId]!);
      expect(job?.data).toMatchObject({ requestName: r.metadata.name, podName: r.spec.podReference.name, containerName: r.spec.containerName, nodeName: node, namespace: ns });
      // The other node's queue does not have it.
      const other = await queue(nodeQueueName(node === node1 ? node2 : node1)).getJob(r.metadata.annotations![REQUEST_ANNOTATIONS.jobId]!);
      expect(other).toBeUndefined();
    }
    await eventually('nodeName recorded on each request', async () => ((await listRequests()).filter((x) => x.metadata.labels?.[REQUEST_LABELS.scheduleUid] === schedule.metadata.uid).every((x) => x.status?.nodeName) || undefined), 15_000);
    const status = await eventually('schedule status of the run', async () => {
      const s = await getSchedule('every-minute');
      return s.status?.lastRunTime && s.status.checkpointsCreated === 3 ? s.status : undefined;
    }, 15_000);
    expect(Date.parse(status.lastRunTime!)).toBe(Date.parse(firstFire));
    expect(Date.parse(status.nextRunTime!)).toBeGreaterThan(Date.parse(firstFire));
    expect(status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Scheduled' });
  });

  it('a double fire of the same slot creates no duplicate request and no duplicate job', async () => {
    const waitingBefore = await Promise.all([node1, node2].map(async (n) => (await queue(nodeQueueName(n)).getJobCounts('waiting', 'active', 'completed', 'failed'))));
    const q = queue(SCHEDULE_QUEUE);
    const job = await q.add(SCHEDULE_FIRED_JOB, { kind: 'CheckpointSchedule', namespace: ns, name: 'every-minute', uid: schedule.metadata.uid, fingerprint: 'test' },
      { prevMillis: Date.parse(firstFire), jobId: `double-${runId}` });
    await eventually('the duplicate fire processed', async () => ((await job.isCompleted()) ? true : undefined), 20_000, 250);
    const reqs = (await listRequests()).filter((r) => r.metadata.annotations?.[REQUEST_ANNOTATIONS.fireTime] === firstFire);
    expect(reqs).toHaveLength(3);
    const waitingAfter = await Promise.all([node1, node2].map(async (n) => (await queue(nodeQueueName(n)).getJobCounts('waiting', 'active', 'completed', 'failed'))));
    expect(waitingAfter).toEqual(waitingBefore);
    // The agent's side, played by the test: the first run completes.
    for (const r of reqs) await complete(r);
    const s = await eventually('lastSuccessfulTime', async () => (await getSchedule('every-minute')).status?.lastSuccessfulTime, 15_000);
    expect(Date.parse(s)).toBeGreaterThanOrEqual(Date.parse(firstFire));
  });

  it('a request whose job was deleted from Redis fails (JobLost, an Event); the next fire checkpoints that container, the others stay busy', async () => {
    const mine = (r: CheckpointRequest) => r.metadata.labels?.[REQUEST_LABELS.scheduleUid] === schedule.metadata.uid;
    const fireOf = (r: CheckpointRequest) => r.metadata.annotations?.[REQUEST_ANNOTATIONS.fireTime] ?? '';
    // The fire after the first one (completed above) queued all three; no agent runs in this file, so they stay Pending.
    const queued = await eventually('a later fire with three queued requests', async () => {
      const pending = (await listRequests()).filter((r) => mine(r) && fireOf(r) !== firstFire && r.status?.phase === 'Pending' && r.status.nodeName);
      const slot = pending[0] ? fireOf(pending[0]) : undefined;
      const same = pending.filter((r) => fireOf(r) === slot);
      return same.length === 3 ? same : undefined;
    }, 90_000, 500);
    const slot = fireOf(queued[0]!);
    const lost = queued.find((r) => r.spec.podReference.name === 'web-b')!;
    const jobId = lost.metadata.annotations![REQUEST_ANNOTATIONS.jobId]!;
    expect(await queue(nodeQueueName(node2)).getJob(jobId)).toBeTruthy();
    await queue(nodeQueueName(node2)).remove(jobId);
    expect(await queue(nodeQueueName(node2)).getJob(jobId)).toBeUndefined();

    const failed = await eventually('the request with the deleted job Failed', async () => {
      const r = (await listRequests()).find((x) => x.metadata.name === lost.metadata.name);
      return r?.status?.phase === 'Failed' ? r : undefined;
    }, 30_000, 250);
    expect(failed.status?.message).toMatch(new RegExp(`^JobLost: its job is no longer in node ${node2}'s queue`));
    expect(failed.status?.completionTime).toBeTruthy();
    const ev = await eventually('JobLost Event on the request', async () => {
      const list = await admin.core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${lost.metadata.name}` });
      return list.items.find((e) => e.reason === 'JobLost');
    }, 20_000);
    expect(ev.type).toBe('Warning');
    // The others' jobs are still there: they are still the previous checkpoint, still running.
    for (const r of queued.filter((x) => x !== lost)) expect((await listRequests()).find((x) => x.metadata.name === r.metadata.name)?.status?.phase).toBe('Pending');

    const next = await eventually('the next fire', async () => {
      const later = (await listRequests()).filter((r) => mine(r) && Date.parse(fireOf(r)) > Date.parse(slot));
      return later.length > 0 ? later : undefined;
    }, 90_000, 500);
    await sleep(2000);
    const nextSlot = fireOf(next[0]!);
    const ofNext = (await listRequests()).filter((r) => mine(r) && fireOf(r) === nextSlot);
    // web-b/app is checkpointed again; web-a's two containers are skipped as busy.
    expect(ofNext.map((r) => `${r.spec.podReference.name}/${r.spec.containerName}`)).toEqual(['web-b/app']);
    const again = ofNext[0]!;
    await eventually('its job on node 2', async () => (await queue(nodeQueueName(node2)).getJob(again.metadata.annotations![REQUEST_ANNOTATIONS.jobId]!)) ?? undefined, 15_000);
    const lastRun = await eventually('LastRun condition of that fire', async () => {
      const c = (await getSchedule('every-minute')).status?.conditions?.find((x) => x.type === 'LastRun');
      return c?.message.includes('2 skipped: previous checkpoint still running') ? c : undefined;
    }, 15_000);
    expect(lastRun.reason).toBe('SkippedBusy');
  });

  it('Redis loses its data (FLUSHALL): the schedulers are rebuilt from the CRs, and no request is left stuck on a lost job', async () => {
    const unfinished = (await listRequests()).filter((r) => r.status?.phase !== 'Completed' && r.status?.phase !== 'Failed' && r.status?.nodeName);
    expect(unfinished.length).toBeGreaterThan(0);
    await redis.flushAll();
    expect(await queue(SCHEDULE_QUEUE).getJobScheduler(checkpointScheduleId(ns, 'every-minute'))).toBeFalsy();
    const sched = await eventually('scheduler rebuilt', async () => (await queue(SCHEDULE_QUEUE).getJobScheduler(checkpointScheduleId(ns, 'every-minute'))) ?? undefined, 20_000, 250);
    expect(sched.pattern).toBe('* * * * *');
    // Every request queued before the flush lost its job with it: each fails instead of blocking its container forever.
    const after = await eventually('the requests of the lost jobs Failed', async () => {
      const now = await listRequests();
      const them = unfinished.map((u) => now.find((r) => r.metadata.uid === u.metadata.uid));
      return them.every((r) => r === undefined || r.status?.phase === 'Failed' || r.status?.phase === 'Completed') ? them : undefined;
    }, 30_000, 250);
    for (const r of after) if (r?.status?.phase === 'Failed') expect(r.status.message).toMatch(/^JobLost: /);
  });

  it('an invalid time zone: Ready=False InvalidSchedule on the schedule, a Warning Event, no scheduler', async () => {
    await createSchedule('bad-zone', { timeZone: 'Mars/Olympus', suspend: false });
    const cond = await eventually('InvalidSchedule condition', async () =>
      (await getSchedule('bad-zone')).status?.conditions?.find((c) => c.type === 'Ready' && c.reason === 'InvalidSchedule'), 20_000);
    expect(cond.status).toBe('False');
    expect(cond.message).toContain('Mars/Olympus');
    const ev = await eventually('InvalidSchedule Event', async () => {
      const list = await admin.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=bad-zone' });
      return list.items.find((e) => e.reason === 'InvalidSchedule');
    }, 20_000);
    expect(ev.type).toBe('Warning');
    expect(ev.message).toContain('Mars/Olympus');
    expect(await queue(SCHEDULE_QUEUE).getJobScheduler(checkpointScheduleId(ns, 'bad-zone'))).toBeFalsy();
  });

  it('a user’s CheckpointRequest is queued on its pod’s node; one for a missing pod fails naming it; finished ones go after their TTL', async () => {
    const create = async (name: string, pod: string, ttl?: number) =>
      (await admin.custom.createNamespacedCustomObject({
        ...custom(PLURALS.CheckpointRequest),
        body: { apiVersion: API_VERSION, kind: 'CheckpointRequest', metadata: { name }, spec: { podReference: { name: pod }, containerName: 'app', ...(ttl !== undefined ? { ttlSecondsAfterFinished: ttl } : {}) } },
      })) as CheckpointRequest;
    const mine = await create('by-hand', 'web-b', 2);
    const missing = await create('no-such-pod', 'ghost-0');
    const queued = await eventually('by-hand queued', async () => {
      const r = (await listRequests()).find((x) => x.metadata.name === 'by-hand');
      return r?.status?.nodeName ? r : undefined;
    }, 20_000);
    expect(queued.status).toMatchObject({ phase: 'Pending', nodeName: node2 });
    const job = await queue(nodeQueueName(node2)).getJob(`req_${mine.metadata.uid}`);
    expect(job?.data).toMatchObject({ requestName: 'by-hand', podName: 'web-b', containerName: 'app', nodeName: node2, timeoutSeconds: 300 });
    const failed = await eventually('no-such-pod failed', async () => {
      const r = (await listRequests()).find((x) => x.metadata.name === missing.metadata.name);
      return r?.status?.phase === 'Failed' ? r : undefined;
    }, 20_000);
    expect(failed.status?.message).toContain(`pod ${ns}/ghost-0 not found`);
    await complete(queued);
    await eventually('by-hand deleted after its 2 s TTL', async () => ((await listRequests()).some((x) => x.metadata.name === 'by-hand') ? undefined : true), 20_000);
  });

  it('retention keeps exactly N per container, never a pinned one or one restored into a living pod, and deletes the images', async () => {
    await createSchedule('keep-two', { suspend: true, retention: { maxCheckpointsPerContainer: 2 }, selector: { matchLabels: { app: 'none' } } });
    const client = new RegistryClient({ endpoint: { host: reg.host, scheme: 'http', tlsVerify: false }, credentials: registryAuth });
    const dir = mkdtempSync(join(tmpdir(), 'kcr-ctl-archives-'));
    const names = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    const refs = new Map<string, { repository: string; digest: string }>();
    for (const [i, name] of names.entries()) {
      const archive = join(dir, `${name}.tar`);
      writeFileSync(archive, randomBytes(4096 + i));
      const at = new Date(Date.UTC(2026, 0, 1, 0, i));
      const pushed = await pushCheckpointImage(client, {
        archivePath: archive, repository: `kcr/${ns}/web-a`, tag: `app-${name}`, architecture: 'amd64',
        container: 'app', pod: 'web-a', namespace: ns, identity: 'web-a', originalImage: 'registry.example/web:1', createdAt: at,
      });
      refs.set(name, { repository: pushed.repository, digest: pushed.manifestDigest });
      const created = (await admin.custom.createNamespacedCustomObject({
        ...custom(PLURALS.Checkpoint),
        body: {
          apiVersion: API_VERSION, kind: 'Checkpoint',
          metadata: { name, ...(name === 'c1' ? { annotations: { 'kcr.io/pinned': 'true' } } : {}) },
          spec: { containerName: 'app', podName: 'web-a', identity: 'web-a', checkpointTimestamp: at.toISOString(), checkpointScheduleRef: { name: 'keep-two' }, sizeBytes: pushed.sizeBytes },
        },
      })) as Checkpoint;
      await setStatus(admin, { ...custom(PLURALS.Checkpoint), name: created.metadata.name! }, { phase: 'ImageBuilt', runtimeImage: pushed.reference });
      // c2 is what the living pod web-a was restored from.
      if (name === 'c2') {
        await admin.core.patchNamespacedPod({ name: 'web-a', namespace: ns, body: [{ op: 'add', path: '/metadata/annotations', value: { 'kcr.io/restored-from.app': 'c2' } }] });
      }
    }
    rmSync(dir, { recursive: true, force: true });
    const left = await eventually('retention applied', async () => {
      const list = (await admin.custom.listNamespacedCustomObject(custom(PLURALS.Checkpoint))) as { items: Checkpoint[] };
      const n = list.items.map((c) => c.metadata.name!).sort();
      return n.length === 4 ? n : undefined;
    }, 30_000, 500);
    // Newest two (c5, c6) by count, c1 pinned, c2 restored into a living pod.
    expect(left).toEqual(['c1', 'c2', 'c5', 'c6']);
    await eventually('deleted manifests gone from the registry', async () => {
      for (const gone of ['c3', 'c4']) if ((await client.manifestDigest(refs.get(gone)!.repository, refs.get(gone)!.digest)) !== undefined) return undefined;
      return true;
    }, 20_000);
    for (const kept of left) expect(await client.manifestDigest(refs.get(kept)!.repository, refs.get(kept)!.digest)).toBe(refs.get(kept)!.digest);
    // Still exactly these after more passes.
    await sleep(3000);
    const again = (await admin.custom.listNamespacedCustomObject(custom(PLURALS.Checkpoint))) as { items: Checkpoint[] };
    expect(again.items.map((c) => c.metadata.name!).sort()).toEqual(['c1', 'c2', 'c5', 'c6']);
    // Credentials came from the Secret and were never printed.
    for (const c of [a, b]) expect(c.output()).not.toContain(registryAuth.password);
    client.close();
  });

  /** A checkpoint image in the test registry and a Checkpoint (as the agent makes it, with the finalizer) pointing at it. */
  async function checkpointWithImage(namespace: string, name: string): Promise<{ repository: string; digest: string }> {
    const client = new RegistryClient({ endpoint: { host: reg.host, scheme: 'http', tlsVerify: false }, credentials: registryAuth });
    const dir = mkdtempSync(join(tmpdir(), 'kcr-ctl-fin-'));
    try {
      const archive = join(dir, `${name}.tar`);
      writeFileSync(archive, randomBytes(2048));
      const at = new Date();
      const pushed = await pushCheckpointImage(client, {
        archivePath: archive, repository: `kcr/${namespace}/web-z`, tag: `app-${name}`, architecture: 'amd64',
        container: 'app', pod: 'web-z', namespace, identity: 'web-z', originalImage: 'registry.example/web:1', createdAt: at,
      });
      const created = (await admin.custom.createNamespacedCustomObject({
        group: GROUP, version: VERSION, namespace, plural: PLURALS.Checkpoint,
        body: {
          apiVersion: API_VERSION, kind: 'Checkpoint',
          metadata: { name, finalizers: [CHECKPOINT_FINALIZER] },
          spec: { containerName: 'app', podName: 'web-z', identity: 'web-z', checkpointTimestamp: at.toISOString(), sizeBytes: pushed.sizeBytes },
        },
      })) as Checkpoint;
      await setStatus(admin, { group: GROUP, version: VERSION, namespace, plural: PLURALS.Checkpoint, name: created.metadata.name! }, { phase: 'ImageBuilt', runtimeImage: pushed.reference });
      return { repository: pushed.repository, digest: pushed.manifestDigest };
    } finally {
      client.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  // Asked with skopeo, an independent client: kcr's own registry code does not get to say its deletes worked.
  const imageThere = async (ref: { repository: string; digest: string }) => {
    const answer = await inspectImage(`${reg.host}/${ref.repository}@${ref.digest}`, { insecure: true, authFile: join(root, 'skopeo-auth.json') });
    if (answer.outcome === 'refused') throw new Error(`the registry refused kcr's own credentials: ${answer.message}`);
    return answer.outcome === 'found';
  };
  const getCheckpoint = (namespace: string, name: string) =>
    admin.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURALS.Checkpoint, name }).then((c) => c as Checkpoint, (err: unknown) => {
      if (apiCode(err) === 404) return undefined;
      throw err;
    });

  it('a Checkpoint a user deletes takes its image with it; with the registry down it waits, terminating, and goes once the registry is back', async () => {
    const first = await checkpointWithImage(ns, 'fin-1');
    await admin.custom.deleteNamespacedCustomObject({ ...custom(PLURALS.Checkpoint), name: 'fin-1' });
    await eventually('fin-1 gone', async () => ((await getCheckpoint(ns, 'fin-1')) === undefined ? true : undefined), 20_000, 250);
    expect(await imageThere(first)).toBe(false);

    const second = await checkpointWithImage(ns, 'fin-2');
    await reg.pause();
    try {
      await admin.custom.deleteNamespacedCustomObject({ ...custom(PLURALS.Checkpoint), name: 'fin-2' });
      await sleep(4000);
      const waiting = await getCheckpoint(ns, 'fin-2');
      expect(waiting?.metadata.deletionTimestamp).toBeDefined();
      expect(waiting?.metadata.finalizers).toContain(CHECKPOINT_FINALIZER);
    } finally {
      await reg.resume();
    }
    await eventually('fin-2 gone once the registry is back', async () => ((await getCheckpoint(ns, 'fin-2')) === undefined ? true : undefined), 60_000, 500);
    expect(await imageThere(second)).toBe(false);
  });

  it('a deleted namespace leaves no checkpoint image behind', async () => {
    const refs = [await checkpointWithImage(doomed, 'd-1'), await checkpointWithImage(doomed, 'd-2')];
    await admin.core.deleteNamespace({ name: doomed });
    await eventually('the namespace gone', async () => {
      const found = await admin.core.readNamespace({ name: doomed }).then(() => true, (err: unknown) => (apiCode(err) === 404 ? false : Promise.reject(err)));
      return found ? undefined : true;
    }, 90_000, 500);
    for (const r of refs) expect(await imageThere(r)).toBe(false);
  }, 120_000);

  it('the registry sweep deletes a manifest no Checkpoint refers to, after its grace; not one a Checkpoint names, nor another namespace’s', async () => {
    const client = new RegistryClient({ endpoint: { host: reg.host, scheme: 'http', tlsVerify: false }, credentials: registryAuth });
    const dir = mkdtempSync(join(tmpdir(), 'kcr-ctl-sweep-'));
    try {
      const push = async (repository: string, tag: string) => {
        const archive = join(dir, `${tag}.tar`);
        writeFileSync(archive, randomBytes(1024));
        const p = await pushCheckpointImage(client, {
          archivePath: archive, repository, tag, architecture: 'amd64',
          container: 'app', pod: 'web-s', namespace: ns, identity: 'web-s', originalImage: 'registry.example/web:1', createdAt: new Date(),
        });
        return { repository: p.repository, digest: p.manifestDigest };
      };
      const stray = await push(`kcr/${ns}/web-s`, 'stray');
      const unwatched = await push('kcr/some-other-namespace/web-s', 'theirs');
      const kept = await checkpointWithImage(ns, 'sweep-kept');
      await eventually('the stray manifest swept', async () => ((await imageThere(stray)) ? undefined : true), 30_000, 500);
      expect(await imageThere(kept)).toBe(true);
      expect(await imageThere(unwatched)).toBe(true);
    } finally {
      client.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('orphan re-apply keeps checkpoints: a StatefulSet deleted with --cascade=orphan and re-applied keeps them; without its pod they are only marked within the grace; past a short grace an orphan goes', async () => {
    await createSchedule('orphans', { suspend: true, selector: { matchLabels: { app: 'none' } } }); // orphanGraceSeconds: the default 3600
    await createSchedule('short-grace', { suspend: true, selector: { matchLabels: { app: 'none' } }, retention: { orphanGraceSeconds: 3 } });
    const statefulSet = (name: string) => ({
      metadata: { name },
      spec: {
        serviceName: name, replicas: 1, selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { nodeName: node1, terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: 'registry.example/web:1' }] } },
      },
    });
    const podOf = async (name: string): Promise<V1Pod | undefined> => {
      try {
        return await admin.core.readNamespacedPod({ name, namespace: ns });
      } catch (err) {
        if (apiCode(err) === 404) return undefined;
        throw err;
      }
    };
    const gone = async (read: () => Promise<unknown>): Promise<true | undefined> => {
      try {
        await read();
        return undefined;
      } catch (err) {
        if (apiCode(err) === 404) return true;
        throw err;
      }
    };
    const checkpoints = async (prefix: string) =>
      ((await admin.custom.listNamespacedCustomObject(custom(PLURALS.Checkpoint))) as { items: Checkpoint[] }).items.filter((c) => c.metadata.name!.startsWith(prefix));
    /** Two good checkpoints of <set>-0, as its agent would have recorded them. */
    const checkpointsOf = async (set: string, schedule: string, pod: V1Pod) => {
      for (const n of [1, 2]) {
        const name = `${set}-cp${n}`;
        const created = (await admin.custom.createNamespacedCustomObject({
          ...custom(PLURALS.Checkpoint),
          body: {
            apiVersion: API_VERSION, kind: 'Checkpoint', metadata: { name },
            spec: {
              containerName: 'app', podName: pod.metadata!.name, podUID: pod.metadata!.uid, identity: pod.metadata!.name,
              workload: { kind: 'StatefulSet', name: set }, checkpointTimestamp: new Date(Date.now() - (3 - n) * 1000).toISOString(),
              checkpointScheduleRef: { name: schedule }, sizeBytes: 1000,
            },
          },
        })) as Checkpoint;
        await setStatus(admin, { ...custom(PLURALS.Checkpoint), name: created.metadata.name! }, { phase: 'ImageBuilt' });
      }
    };
    const orphanDelete = async (set: string) => {
      await admin.apps.deleteNamespacedStatefulSet({ name: set, namespace: ns, propagationPolicy: 'Orphan' });
      await eventually(`StatefulSet ${set} gone`, () => gone(() => admin.apps.readNamespacedStatefulSet({ name: set, namespace: ns })), 30_000);
      // The garbage collector orphans the pod: its owner reference goes, the pod runs on.
      await eventually(`${set}-0 orphaned`, async () => ((await podOf(`${set}-0`))?.metadata?.ownerReferences?.length ?? 0) === 0 || undefined, 30_000);
    };
    const marks = async (prefix: string) => (await checkpoints(prefix)).map((c) => c.metadata.annotations?.[ANNOTATIONS.orphanedSince] ?? 'none');

    // A: the StatefulSet goes, its pod stays: its checkpoints are not orphans at all (the old code deleted them in one pass).
    await admin.apps.createNamespacedStatefulSet({ namespace: ns, body: statefulSet('db-a') });
    await running('db-a-0');
    const podA = (await podOf('db-a-0'))!;
    await checkpointsOf('db-a', 'orphans', podA);
    await orphanDelete('db-a');
    await sleep(5000); // five retention passes (KCR_RETENTION_INTERVAL_MS=1000)
    expect((await checkpoints('db-a-cp')).map((c) => c.metadata.name).sort()).toEqual(['db-a-cp1', 'db-a-cp2']);
    expect(await marks('db-a-cp')).toEqual(['none', 'none']);
    await admin.apps.createNamespacedStatefulSet({ namespace: ns, body: statefulSet('db-a') });
    await eventually('db-a-0 adopted by the re-applied StatefulSet', async () =>
      ((await podOf('db-a-0'))?.metadata?.ownerReferences?.some((o) => o.kind === 'StatefulSet' && o.name === 'db-a') ? true : undefined), 30_000);
    expect((await podOf('db-a-0'))?.metadata?.uid).toBe(podA.metadata?.uid);
    await sleep(3000);
    expect((await checkpoints('db-a-cp')).map((c) => c.metadata.name).sort()).toEqual(['db-a-cp1', 'db-a-cp2']);

    // B: the StatefulSet goes, and then its pod: orphaned, marked, kept within the grace; re-applied, the marks are cleared.
    await admin.apps.createNamespacedStatefulSet({ namespace: ns, body: statefulSet('db-b') });
    await running('db-b-0');
    await checkpointsOf('db-b', 'orphans', (await podOf('db-b-0'))!);
    await orphanDelete('db-b');
    await admin.core.deleteNamespacedPod({ name: 'db-b-0', namespace: ns, gracePeriodSeconds: 0 });
    await eventually('db-b-0 gone', async () => ((await podOf('db-b-0')) === undefined ? true : undefined), 30_000);
    const marked = await eventually('db-b’s checkpoints marked orphaned', async () => {
      const m = await marks('db-b-cp');
      return m.length === 2 && m.every((v) => v !== 'none') ? m : undefined;
    }, 15_000);
    for (const m of marked) expect(Math.abs(Date.parse(m) - Date.now())).toBeLessThan(30_000);
    await sleep(3000);
    expect(await marks('db-b-cp')).toEqual(marked); // kept, and the mark did not move
    await admin.apps.createNamespacedStatefulSet({ namespace: ns, body: statefulSet('db-b') });
    await eventually('the marks cleared once db-b is back', async () => ((await marks('db-b-cp')).join() === 'none,none' ? true : undefined), 30_000);
    expect((await checkpoints('db-b-cp')).map((c) => c.metadata.name).sort()).toEqual(['db-b-cp1', 'db-b-cp2']);

    // C: the rule still deletes real orphans, after their grace (3 s here), not before.
    await admin.apps.createNamespacedStatefulSet({ namespace: ns, body: statefulSet('db-c') });
    await running('db-c-0');
    await checkpointsOf('db-c', 'short-grace', (await podOf('db-c-0'))!);
    await admin.apps.deleteNamespacedStatefulSet({ name: 'db-c', namespace: ns, propagationPolicy: 'Background' });
    // A terminating pod is no longer alive: the grace starts when the garbage collector deletes db-c-0.
    await eventually('db-c-0 terminating', async () => {
      const p = await podOf('db-c-0');
      return p === undefined || p.metadata?.deletionTimestamp ? true : undefined;
    }, 30_000, 100);
    const podGoingAt = Date.now();
    expect((await checkpoints('db-c-cp')).length).toBe(2);
    await eventually('db-c’s checkpoints deleted as orphans', async () => ((await checkpoints('db-c-cp')).length === 0 ? true : undefined), 30_000, 250);
    // Marked at the first pass after the controller saw the pod go (at most a poll before this test did), deleted 3 s later.
    expect(Date.now() - podGoingAt).toBeGreaterThanOrEqual(2000);

    for (const set of ['db-a', 'db-b']) await admin.apps.deleteNamespacedStatefulSet({ name: set, namespace: ns });
  });

  it('the leader killed (SIGKILL): the other replica takes the lease and the schedule keeps firing, once per slot', async () => {
    // Finish whatever ran so far so no container counts as busy.
    for (const r of await listRequests()) if (r.status?.phase !== 'Completed' && r.status?.phase !== 'Failed') await complete(r);
    const holder = await leaseHolder();
    const leader = holder === a.identity ? a : b;
    const standby = leader === a ? b : a;
    leader.kill('SIGKILL');
    const killedAt = Date.now();
    await eventually('the standby leads', async () => ((await leaseHolder()) === standby.identity && (await standby.readyz()).body.leading) || undefined, 30_000, 250);
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(15_000);
    const later = await eventually('a fire after the takeover', async () => {
      const r = (await listRequests()).filter((x) => x.metadata.labels?.[REQUEST_LABELS.scheduleUid] === schedule.metadata.uid
        && Date.parse(x.metadata.annotations?.[REQUEST_ANNOTATIONS.fireTime] ?? '') > killedAt);
      return r.length >= 3 ? r : undefined;
    }, 90_000, 500);
    await sleep(2000);
    const all = (await listRequests()).filter((x) => x.metadata.labels?.[REQUEST_LABELS.scheduleUid] === schedule.metadata.uid);
    const perSlot = new Map<string, number>();
    for (const r of all) {
      const k = `${r.metadata.annotations?.[REQUEST_ANNOTATIONS.fireTime]}/${r.spec.podReference.name}/${r.spec.containerName}`;
      perSlot.set(k, (perSlot.get(k) ?? 0) + 1);
    }
    expect([...perSlot.values()].every((n) => n === 1)).toBe(true);
    const slot = later[0]!.metadata.annotations![REQUEST_ANNOTATIONS.fireTime]!;
    expect(later.filter((r) => r.metadata.annotations?.[REQUEST_ANNOTATIONS.fireTime] === slot)).toHaveLength(3);
    for (const r of later) {
      const node = r.spec.podReference.name === 'web-a' ? node1 : node2;
      expect(await queue(nodeQueueName(node)).getJob(r.metadata.annotations![REQUEST_ANNOTATIONS.jobId]!)).toBeTruthy();
    }
    console.error(`[controller] takeover after SIGKILL of the leader: ${takeoverMs} ms`);
  });

  it('SIGTERM: the leader stops its worker, releases the lease and exits 0', async () => {
    const leader = controllers.find((c) => c.exited() === undefined && c.identity === a.identity) ?? controllers.find((c) => c.exited() === undefined && c.identity === b.identity)!;
    expect(await leaseHolder()).toBe(leader.identity);
    await leader.stop(15_000);
    expect(leader.exited()?.code).toBe(0);
    expect(await leaseHolder()).toBeFalsy();
  });
});

