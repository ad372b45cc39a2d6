// Per-node checkpoint queues, the agent's worker and graceful shutdown, against a real redis-server.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointQueues, createCheckpointWorker } from '../../src/queue/checkpoint-queues.ts';
import { createRedisConnection, RedisUnavailableError, waitForReady } from '../../src/queue/connection.ts';
import { closeWithDeadline } from '../../src/queue/shutdown.ts';
import { fanOut, type PodLike } from '../../src/schedule/fan-out.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';

let redis: RedisServer;
let n = 0;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

function pods(count: number, nodeName: string): PodLike[] {
  return Array.from({ length: count }, (_, i) => ({
    metadata: { name: `web-${i}`, namespace: 'apps', uid: `uid-${i}`, labels: { app: 'web' } },
    spec: { nodeName, containers: [{ name: 'app' }] },
    status: { phase: 'Running' },
  }));
}

function fire(podList: PodLike[], fireTime = new Date('2026-03-10T10:20:00Z')) {
  return fanOut({
    schedule: { ref: { kind: 'CheckpointSchedule', namespace: 'apps', name: 'web', uid: 'sched' }, selector: { matchLabels: { app: 'web' } } },
    pods: podList,
    runningCheckpoints: [],
    now: fireTime,
    fireTime,
  });
}

async function withConnections<T>(fn: (producer: Redis, worker: Redis, prefix: string) => Promise<T>): Promise<T> {
  const producer = createRedisConnection(redis.url, 'producer');
  const worker = createRedisConnection(redis.url, 'worker');
  await waitForReady(producer, 5000);
  try {
    return await fn(producer, worker, `c${++n}`);
  } finally {
    producer.disconnect();
    worker.disconnect();
  }
}

describe('checkpoint queues', () => {
  it('a double fire (same job ids) enqueues each checkpoint once', async () => {
    await withConnections(async (producer, _w, prefix) => {
      const queues = new CheckpointQueues({ connection: producer, prefix });
      const { jobs } = fire(pods(3, 'node-a'));
      for (const j of jobs) await queues.enqueue(j);
      for (const j of fire(pods(3, 'node-a')).jobs) await queues.enqueue(j);
      const q = queues.queue('kcr-node-node-a');
      const counts = await q.getJobCounts('wait', 'delayed', 'active');
      expect((counts.wait ?? 0) + (counts.delayed ?? 0) + (counts.active ?? 0)).toBe(3);
      const stored = await q.getJob(jobs[0]!.jobId);
      expect(stored?.data).toEqual(jobs[0]!.data);
      expect(stored?.opts).toMatchObject({ attempts: 5, backoff: { type: 'exponential', delay: 5000 } });
      // A later fire is a new job.
      for (const j of fire(pods(3, 'node-a'), new Date('2026-03-10T10:21:00Z')).jobs) await queues.enqueue(j);
      expect(await q.getJobCountByTypes('wait')).toBe(6);
      await queues.close();
    });
  });

  it('the node worker runs at most `concurrency` checkpoints at once and only its node\'s jobs', async () => {
    await withConnections(async (producer, workerConn, prefix) => {
      const queues = new CheckpointQueues({ connection: producer, prefix });
      for (const j of [...fire(pods(6, 'node-a')).jobs, ...fire(pods(2, 'node-b')).jobs]) await queues.enqueue(j);
      let running = 0;
      let peak = 0;
      const seen: string[] = [];
      const worker = createCheckpointWorker({
        nodeName: 'node-a',
        connection: workerConn,
        prefix,
        concurrency: 2,
        process: async (data) => {
          running++;
          peak = Math.max(peak, running);
          seen.push(`${data.nodeName}/${data.podName}`);
          await new Promise((r) => setTimeout(r, 150));
          running--;
          return { ok: true };
        },
      });
      try {
        const deadline = Date.now() + 15_000;
        while (seen.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        await new Promise((r) => setTimeout(r, 300));
        expect(seen.sort()).toEqual(['node-a/web-0', 'node-a/web-1', 'node-a/web-2', 'node-a/web-3', 'node-a/web-4', 'node-a/web-5']);
        expect(peak).toBe(2);
        expect(await queues.queue('kcr-node-node-b').getJobCountByTypes('wait')).toBe(2);
      } finally {
        await closeWithDeadline(worker, 5000);
        await queues.close();
      }
    });
  });

  it('retries a failing checkpoint with backoff until it succeeds', async () => {
    await withConnections(async (producer, workerConn, prefix) => {
      const queues = new CheckpointQueues({ connection: producer, prefix, jobOptions: { attempts: 3, backoffMs: 50 } });
      const [job] = fire(pods(1, 'node-a')).jobs;
      await queues.enqueue(job!);
      const attempts: number[] = [];
      const worker = createCheckpointWorker({
        nodeName: 'node-a',
        connection: workerConn,
        prefix,
        process: async (_data, j) => {
          attempts.push(j.attemptsMade);
          if (attempts.length < 3) throw new Error('kubelet 500');
          return 'done';
        },
      });
      try {
        const deadline = Date.now() + 15_000;
        const q = queues.queue('kcr-node-node-a');
        while ((await q.getJobCountByTypes('completed')) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect(attempts).toEqual([0, 1, 2]);
        expect((await q.getJob(job!.jobId))?.returnvalue).toBe('done');
      } finally {
        await closeWithDeadline(worker, 5000);
        await queues.close();
      }
    });
  });

  it('enqueue fails fast with a clear error when Redis is unreachable', async () => {
    const dead = createRedisConnection('redis://127.0.0.1:1', 'producer');
    const queues = new CheckpointQueues({ connection: dead, prefix: 'x' });
    await expect(waitForReady(dead, 300)).rejects.toThrow(/not reachable after 300 ms: connect ECONNREFUSED 127\.0\.0\.1:1/);
    const started = Date.now();
    const err = await queues.enqueue(fire(pods(1, 'node-a')).jobs[0]!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisUnavailableError);
    expect((err as Error).message).toMatch(/Redis at 127\.0\.0\.1:1 is unreachable .*ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(2000);
    await closeWithDeadline(queues, 1000);
    dead.disconnect();
  });
});

describe('graceful shutdown', () => {
  it('close waits for a short job, and gives up at the deadline for a long one', async () => {
    await withConnections(async (producer, workerConn, prefix) => {
      const queues = new CheckpointQueues({ connection: producer, prefix });
      const [short, long] = fire(pods(2, 'node-a')).jobs;
      let finished = 0;
      const started: string[] = [];
      const worker = createCheckpointWorker({
        nodeName: 'node-a',
        connection: workerConn,
        prefix,
        process: async (data) => {
          started.push(data.podName);
          await new Promise((r) => setTimeout(r, data.podName === 'web-0' ? 200 : 30_000));
          finished++;
        },
      });
      await queues.enqueue(short!);
      let deadline = Date.now() + 10_000;
      while (started.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // close() waits for the running short job and resolves before the deadline.
      expect(await closeWithDeadline(worker, 5000)).toBe('closed');
      expect(finished).toBe(1);

      // A long job outlives the deadline: close gives up, the job stays active (stalled later).
      const conn2 = createRedisConnection(redis.url, 'worker');
      const worker2 = createCheckpointWorker({
        nodeName: 'node-a',
        connection: conn2,
        prefix,
        process: async (data) => {
          started.push(data.podName);
          await new Promise((r) => setTimeout(r, 30_000));
        },
      });
      await queues.enqueue(long!);
      deadline = Date.now() + 10_000;
      while (started.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const t0 = Date.now();
      expect(await closeWithDeadline(worker2, 500, () => conn2.disconnect())).toBe('deadline');
      expect(Date.now() - t0).toBeLessThan(5000);
      await queues.close();
    });
  });
});
