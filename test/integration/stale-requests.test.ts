// Stuck CheckpointRequests against a real redis-server: a request whose job was deleted from its
// node's queue fails (JobLost, with an Event) once it looked so for the grace, and the next fire
// checkpoints its container instead of skipping it as "previous checkpoint still running"; the
// job states the decision reads are what BullMQ really leaves in Redis (a held lock is 'active',
// a dead agent's expired lock 'stalled'); an unreachable Redis fails nothing.
import { ApiException } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, type CheckpointRequest, type CheckpointSchedule } from '../../src/api/types.ts';
import { REQUEST_ANNOTATIONS } from '../../src/controller/checkpoint-request.ts';
import type { EventRecorder } from '../../src/controller/events.ts';
import { handleFire } from '../../src/controller/fire-handler.ts';
import { ObjectCache } from '../../src/controller/object-cache.ts';
import { failStaleRequests, type RequestKeeperDeps, type StaleRequestSettings } from '../../src/controller/request-keeper.ts';
import type { KubeJson } from '../../src/kube/kube-json.ts';
import { silentLogger } from '../../src/log.ts';
import { CheckpointQueues, createCheckpointWorker } from '../../src/queue/checkpoint-queues.ts';
import { createRedisConnection, waitForReady } from '../../src/queue/connection.ts';
import { closeWithDeadline } from '../../src/queue/shutdown.ts';
import type { ScheduleRef } from '../../src/schedule/desired.ts';
import { nodeQueueName } from '../../src/schedule/names.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';

const NS = 'shop';
const NODE = 'node-a';
const REF: ScheduleRef = { kind: 'CheckpointSchedule', namespace: NS, name: 'web', uid: 'sched-uid' };

let redis: RedisServer;
let n = 0;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

/**
 * An API server over the controller's cache, as the informers would show it: created objects get
 * a uid, a creation time and a resourceVersion; a status replace with a stale resourceVersion is
 * refused with 409, as the real one refuses it.
 */
function cachedApi(cache: ObjectCache, clock: () => Date) {
  let version = 0;
  const statusWrites: Array<{ name: string; status: CheckpointRequest['status'] }> = [];
  const nameOf = (path: string) => path.replace(/\/status$/, '').split('/').pop()!;
  const api: KubeJson = {
    get: async <T>(path: string) => {
      const found = cache.get<T>(path.includes('/checkpointschedules/') ? 'CheckpointSchedule' : 'CheckpointRequest', NS, nameOf(path));
      if (!found) throw new ApiException(404, 'not found', {}, {});
      return found;
    },
    create: async <T>(path: string, body: unknown) => {
      const r = body as CheckpointRequest;
      if (!path.endsWith('/checkpointrequests')) return body as T;
      if (cache.get('CheckpointRequest', NS, r.metadata.name!)) throw new ApiException(409, 'already exists', {}, {});
      const created = { ...r, metadata: { ...r.metadata, uid: `uid-${r.metadata.name}`, resourceVersion: String(++version), creationTimestamp: clock().toISOString().replace(/\.\d{3}Z$/, 'Z') } };
      cache.upsert('CheckpointRequest', created);
      return structuredClone(created) as T;
    },
    replace: async <T>(path: string, body: unknown) => {
      const r = body as CheckpointRequest;
      const current = cache.get<CheckpointRequest>('CheckpointRequest', NS, nameOf(path));
      if (!current) throw new ApiException(404, 'not found', {}, {});
      if (r.metadata.resourceVersion !== current.metadata.resourceVersion) throw new ApiException(409, 'conflict', {}, {});
      const next = { ...current, status: r.status, metadata: { ...current.metadata, resourceVersion: String(++version) } };
      cache.upsert('CheckpointRequest', next);
      statusWrites.push({ name: nameOf(path), status: r.status });
      return structuredClone(next) as T;
    },
    patch: async <T>(_path: string, body: unknown) => body as T,
    delete: async () => {},
  };
  return { api, statusWrites };
}

function recorder() {
  const seen: Array<{ name: string; type: string; reason: string; message: string }> = [];
  const events: EventRecorder = { event: async (obj, type, reason, message) => void seen.push({ name: obj.name, type, reason, message }) };
  return { events, seen };
}

function world(clock: () => Date) {
  const cache = new ObjectCache();
  const schedule: CheckpointSchedule = {
    apiVersion: API_VERSION,
    kind: 'CheckpointSchedule',
    metadata: { name: 'web', namespace: NS, uid: REF.uid },
    spec: { schedule: '* * * * *', selector: { matchLabels: { app: 'web' } } },
  };
  cache.upsert('CheckpointSchedule', schedule);
  cache.upsert('Pod', {
    metadata: { name: 'web-0', namespace: NS, uid: 'pod-uid', labels: { app: 'web' } },
    spec: { nodeName: NODE, containers: [{ name: 'app' }] },
    status: { phase: 'Running' },
  });
  cache.upsert('Node', { metadata: { name: NODE } });
  return { cache, ...cachedApi(cache, clock) };
}

async function withQueues<T>(fn: (queues: CheckpointQueues, producer: Redis, prefix: string) => Promise<T>): Promise<T> {
  const producer = createRedisConnection(redis.url, 'producer');
  await waitForReady(producer, 5000);
  const prefix = `stale${++n}`;
  const queues = new CheckpointQueues({ connection: producer, prefix });
  try {
    return await fn(queues, producer, prefix);
  } finally {
    await queues.close();
    producer.disconnect();
  }
}

const requestsOf = (cache: ObjectCache) => cache.list<CheckpointRequest>('CheckpointRequest', NS);

describe('a CheckpointRequest whose job is gone', () => {
  it('fails (JobLost, with an Event) after the grace, and the next fire checkpoints the container again', async () => {
    await withQueues(async (queues) => {
      let now = new Date('2026-11-24T10:00:00.000Z');
      const clock = () => now;
      const { cache, api, statusWrites } = world(clock);
      const { events, seen } = recorder();
      const keeper: RequestKeeperDeps & { queues: CheckpointQueues } = { api, cache, queues, events, logger: silentLogger(), defaultTtlSeconds: 3600, now: clock };
      const settings: StaleRequestSettings = { marginSeconds: 300, graceSeconds: 30, suspects: new Map() };
      const fireDeps = { api, cache, queues, events, logger: silentLogger(), ttlSecondsAfterFinished: 3600, now: clock };

      const first = await handleFire(fireDeps, REF, new Date('2026-11-24T10:00:00Z'));
      expect(first).toMatchObject({ created: 1, result: { skippedBusy: 0 } });
      const [request] = requestsOf(cache);
      expect(request!.status).toMatchObject({ phase: 'Pending', nodeName: NODE });
      expect(request!.status?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual(['Complete=False/Pending', 'Failed=False/Pending']);
      const jobId = request!.metadata.annotations![REQUEST_ANNOTATIONS.jobId]!;
      const queue = queues.queue(nodeQueueName(NODE));
      expect(await queues.jobState(nodeQueueName(NODE), jobId)).toEqual({ state: 'waiting' });

      // While its job waits, the request is the previous checkpoint still running: the next fire skips it.
      now = new Date('2026-11-24T10:01:00.100Z');
      const busy = await handleFire(fireDeps, REF, new Date('2026-11-24T10:01:00Z'));
      expect(busy).toMatchObject({ created: 0, result: { jobs: [], skippedBusy: 1 } });
      expect(await failStaleRequests(keeper, settings)).toBe(0);
      expect(settings.suspects.size).toBe(0);

      // Redis loses the job (FLUSHALL, an operator's delete): the request can never finish.
      await queue.remove(jobId);
      expect(await queues.jobState(nodeQueueName(NODE), jobId)).toEqual({ state: 'missing' });
      expect(await failStaleRequests(keeper, settings)).toBe(0);
      expect(settings.suspects.get(request!.metadata.uid!)).toEqual({ cause: 'job-missing', sinceMs: now.getTime() });
      now = new Date(now.getTime() + 29_000);
      expect(await failStaleRequests(keeper, settings)).toBe(0);
      now = new Date(now.getTime() + 1_000);
      expect(await failStaleRequests(keeper, settings)).toBe(1);

      const failed = cache.get<CheckpointRequest>('CheckpointRequest', NS, request!.metadata.name!)!;
      expect(failed.status).toMatchObject({ phase: 'Failed', nodeName: NODE, completionTime: '2026-11-24T10:01:30Z' });
      expect(failed.status?.message).toMatch(/^JobLost: its job is no longer in node node-a's queue \(Redis lost it, or it was deleted\); seen so for 30 s$/);
      // `kubectl wait --for=condition=Failed` returns, with the same reason as the Event; it became True when it failed.
      expect(failed.status?.conditions?.find((c) => c.type === 'Failed')).toMatchObject({ status: 'True', reason: 'JobLost', message: failed.status?.message, lastTransitionTime: '2026-11-24T10:01:30Z' });
      expect(failed.status?.conditions?.find((c) => c.type === 'Complete')).toMatchObject({ status: 'False', reason: 'JobLost' });
      expect(seen).toEqual([{ name: request!.metadata.name, type: 'Warning', reason: 'JobLost', message: expect.stringContaining('no longer in node node-a') }]);
      expect(settings.suspects.size).toBe(0);
      expect(statusWrites.filter((w) => w.status?.phase === 'Failed')).toHaveLength(1);

      // The next fire checkpoints the container: a new request, a new job on the node's queue.
      now = new Date('2026-11-24T10:02:00.100Z');
      const next = await handleFire(fireDeps, REF, new Date('2026-11-24T10:02:00Z'));
      expect(next).toMatchObject({ created: 1, result: { skippedBusy: 0 } });
      const fresh = requestsOf(cache).find((r) => r.metadata.name !== request!.metadata.name)!;
      expect(fresh.status).toMatchObject({ phase: 'Pending', nodeName: NODE });
      expect(await queues.jobState(nodeQueueName(NODE), fresh.metadata.annotations![REQUEST_ANNOTATIONS.jobId]!)).toEqual({ state: 'waiting' });
      // Failing again is a no-op: the failed request is finished, the new one is fine.
      expect(await failStaleRequests(keeper, settings)).toBe(0);
    });
  });

  it('a request that moved on since the cache saw it (409) is left alone', async () => {
    await withQueues(async (queues) => {
      const now = new Date('2026-11-24T10:00:00.000Z');
      const { cache, api } = world(() => now);
      const { events, seen } = recorder();
      await handleFire({ api, cache, queues, events, logger: silentLogger(), ttlSecondsAfterFinished: 3600, now: () => now }, REF, now);
      const [request] = requestsOf(cache);
      await queues.queue(nodeQueueName(NODE)).remove(request!.metadata.annotations![REQUEST_ANNOTATIONS.jobId]!);
      // The agent completed it meanwhile; the controller still judges the version it had cached.
      const stale = structuredClone(request!);
      cache.upsert('CheckpointRequest', { ...request, metadata: { ...request!.metadata, resourceVersion: '999' }, status: { ...request!.status, phase: 'Completed' } });
      const lying = new ObjectCache();
      lying.upsert('CheckpointRequest', stale);
      lying.upsert('Node', { metadata: { name: NODE } });
      const failed = await failStaleRequests(
        { api, cache: lying, queues, events, logger: silentLogger(), defaultTtlSeconds: 3600, now: () => now },
        { marginSeconds: 300, graceSeconds: 0, suspects: new Map() },
      );
      expect(failed).toBe(0);
      expect(cache.get<CheckpointRequest>('CheckpointRequest', NS, request!.metadata.name!)!.status?.phase).toBe('Completed');
      expect(seen).toEqual([]);
    });
  });
});

describe('job states as BullMQ leaves them in Redis', () => {
  it('active while its worker holds the lock; stalled once the worker died and the lock expired', async () => {
    await withQueues(async (queues, _producer, prefix) => {
      const now = new Date();
      const { cache, api } = world(() => now);
      const { events } = recorder();
      await handleFire({ api, cache, queues, events, logger: silentLogger(), ttlSecondsAfterFinished: 3600, now: () => now }, REF, now);
      const [request] = requestsOf(cache);
      const jobId = request!.metadata.annotations![REQUEST_ANNOTATIONS.jobId]!;
      const agentConn = createRedisConnection(redis.url, 'worker');
      let taken = false;
      const worker = createCheckpointWorker({
        nodeName: NODE,
        connection: agentConn,
        prefix,
        lockDurationMs: 1000,
        process: async () => {
          taken = true;
          await new Promise((r) => setTimeout(r, 60_000).unref());
        },
      });
      // The dead agent's lock renewals fail on its closed connection: expected here.
      worker.on('error', () => {});
      const deadline = Date.now() + 10_000;
      while (!taken && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(taken).toBe(true);
      // Longer than the lock: a living worker renews it.
      await new Promise((r) => setTimeout(r, 1500));
      expect(await queues.jobState(nodeQueueName(NODE), jobId)).toEqual({ state: 'active' });
      // The agent dies (OOM-killed): its connection is gone, nobody renews the lock.
      await closeWithDeadline(worker, 100, () => agentConn.disconnect());
      const until = Date.now() + 10_000;
      let state = (await queues.jobState(nodeQueueName(NODE), jobId)).state;
      while (state === 'active' && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 100));
        state = (await queues.jobState(nodeQueueName(NODE), jobId)).state;
      }
      expect(state).toBe('stalled');
    });
  });

  it('failed with the reason BullMQ recorded', async () => {
    await withQueues(async (queues, producer, prefix) => {
      const now = new Date();
      const { cache, api } = world(() => now);
      const { events } = recorder();
      // One attempt: the first failure is final.
      const q = new CheckpointQueues({ connection: producer, prefix, jobOptions: { attempts: 1 } });
      await handleFire({ api, cache, queues: q, events, logger: silentLogger(), ttlSecondsAfterFinished: 3600, now: () => now }, REF, now);
      const [request] = requestsOf(cache);
      const jobId = request!.metadata.annotations![REQUEST_ANNOTATIONS.jobId]!;
      const agentConn = createRedisConnection(redis.url, 'worker');
      const worker = createCheckpointWorker({ nodeName: NODE, connection: agentConn, prefix, process: async () => { throw new Error('kubelet said no'); } });
      try {
        const deadline = Date.now() + 10_000;
        while ((await queues.jobState(nodeQueueName(NODE), jobId)).state !== 'failed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect(await queues.jobState(nodeQueueName(NODE), jobId)).toEqual({ state: 'failed', failedReason: 'kubelet said no' });
      } finally {
        await closeWithDeadline(worker, 2000);
        agentConn.disconnect();
        await q.close();
      }
    });
  });

  it('Redis unreachable: unknown, and nothing fails, however late', async () => {
    const dead = createRedisConnection('redis://127.0.0.1:1', 'producer');
    const queues = new CheckpointQueues({ connection: dead, prefix: 'dead' });
    try {
      expect(await queues.jobState(nodeQueueName(NODE), 'any')).toEqual({ state: 'unknown' });
      const now = new Date('2026-11-24T12:00:00Z');
      const { cache, api } = world(() => now);
      const { events, seen } = recorder();
      cache.upsert('CheckpointRequest', {
        apiVersion: API_VERSION,
        kind: 'CheckpointRequest',
        metadata: { name: 'old', namespace: NS, uid: 'old-uid', resourceVersion: '1', creationTimestamp: '2026-11-24T09:00:00Z' },
        spec: { podReference: { name: 'web-0' }, containerName: 'app' },
        status: { phase: 'Pending', nodeName: NODE },
      } satisfies CheckpointRequest);
      const failed = await failStaleRequests({ api, cache, queues, events, logger: silentLogger(), defaultTtlSeconds: 3600, now: () => now }, { marginSeconds: 0, graceSeconds: 0, suspects: new Map() });
      expect(failed).toBe(0);
      expect(seen).toEqual([]);
    } finally {
      await queues.close().catch(() => undefined);
      dead.disconnect();
    }
  });
});
