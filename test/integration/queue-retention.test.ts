// Finished jobs are capped by count AND age, and event streams by length, on a real redis-server:
// what kcr leaves in Redis stays bounded however many checkpoints run (Redis runs noeviction).
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, type CheckpointSchedule } from '../../src/api/types.ts';
import { CheckpointQueues, createCheckpointWorker } from '../../src/queue/checkpoint-queues.ts';
import { createRedisConnection, waitForReady } from '../../src/queue/connection.ts';
import type { JobRetention } from '../../src/queue/job-retention.ts';
import { createScheduleQueue, SchedulerStore } from '../../src/queue/scheduler-store.ts';
import { closeWithDeadline } from '../../src/queue/shutdown.ts';
import { desiredSchedulers } from '../../src/schedule/desired.ts';
import { fanOut, type PodLike } from '../../src/schedule/fan-out.ts';
import { SCHEDULE_QUEUE } from '../../src/schedule/names.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';

let redis: RedisServer;
let producer: Redis;
let workerConn: Redis;
let n = 0;
beforeAll(async () => {
  redis = await startRedis();
  producer = createRedisConnection(redis.url, 'producer');
  workerConn = createRedisConnection(redis.url, 'worker');
  await waitForReady(producer, 5000);
});
afterAll(async () => {
  producer?.disconnect();
  workerConn?.disconnect();
  await redis?.stop();
});

const NODE = 'node-a';

function jobs(count: number, minute: number) {
  const pods: PodLike[] = Array.from({ length: count }, (_, i) => ({
    metadata: { name: `web-${i}`, namespace: 'apps', uid: `uid-${i}`, labels: { app: 'web' } },
    spec: { nodeName: NODE, containers: [{ name: 'app' }] },
    status: { phase: 'Running' },
  }));
  const fireTime = new Date(Date.UTC(2026, 2, 10, 10, minute));
  return fanOut({
    schedule: { ref: { kind: 'CheckpointSchedule', namespace: 'apps', name: 'web', uid: 'sched' }, selector: { matchLabels: { app: 'web' } } },
    pods, runningCheckpoints: [], now: fireTime, fireTime,
  }).jobs;
}

/** Queues `count` jobs the controller's way and lets the agent's worker finish them (all fail when `fail`). */
async function finish(retention: JobRetention, count: number, options: { fail?: boolean; minute?: number } = {}): Promise<{ queues: CheckpointQueues; queue: Queue; prefix: string }> {
  const prefix = `r${++n}`;
  const queues = new CheckpointQueues({ connection: producer, prefix, retention, jobOptions: { attempts: 1 } });
  let done = 0;
  let all!: () => void;
  const finished = new Promise<void>((resolve) => (all = resolve));
  const worker = createCheckpointWorker({
    nodeName: NODE, connection: workerConn, prefix, retention, concurrency: 5,
    process: async () => {
      if (options.fail) throw new Error('KubeletCheckpointFailed: criu failed');
      return { result: 'completed' };
    },
  });
  const end = () => ++done === count && all();
  worker.on('completed', end);
  worker.on('failed', end);
  for (const j of jobs(count, options.minute ?? 0)) await queues.enqueue(j);
  await finished;
  await closeWithDeadline(worker, 5000);
  return { queues, queue: queues.queue(`kcr-node-${NODE}`), prefix };
}

const wide = { ageSeconds: 3600, count: 1000 };

describe('finished checkpoint jobs are capped', () => {
  it('by count: only the newest completed and failed jobs stay', async () => {
    const retention: JobRetention = { completed: { ageSeconds: 3600, count: 5 }, failed: { ageSeconds: 3600, count: 3 }, eventsMaxLen: 1000 };
    const ok = await finish(retention, 20);
    expect(await ok.queue.getCompletedCount()).toBe(5);
    const kept = await ok.queue.getJob(jobs(20, 0)[19]!.jobId);
    expect(kept?.opts).toMatchObject({ removeOnComplete: { age: 3600, count: 5 }, removeOnFail: { age: 3600, count: 3 }, stackTraceLimit: 1 });
    await ok.queues.close();

    const bad = await finish(retention, 10, { fail: true });
    expect(await bad.queue.getFailedCount()).toBe(3);
    await bad.queues.close();
  });

  it('by age: a job finished longer ago than the cap is gone once the next one finishes', async () => {
    const retention: JobRetention = { completed: { ageSeconds: 1, count: 1000 }, failed: wide, eventsMaxLen: 1000 };
    const first = await finish(retention, 3);
    expect(await first.queue.getCompletedCount()).toBe(3);
    await new Promise((r) => setTimeout(r, 1500));
    // BullMQ trims when a job finishes: a second round on the same queue.
    const queues = new CheckpointQueues({ connection: producer, prefix: first.prefix, retention, jobOptions: { attempts: 1 } });
    const worker = createCheckpointWorker({ nodeName: NODE, connection: workerConn, prefix: first.prefix, retention, process: async () => 'ok' });
    const done = new Promise<void>((resolve) => worker.once('completed', () => resolve()));
    await queues.enqueue(jobs(1, 1)[0]!);
    await done;
    await closeWithDeadline(worker, 5000);
    expect(await first.queue.getCompletedCount()).toBe(1);
    await Promise.all([first.queues.close(), queues.close()]);
  });

  it('the event stream stays near its cap however many jobs ran', async () => {
    const retention: JobRetention = { completed: wide, failed: wide, eventsMaxLen: 100 };
    const { queues, prefix } = await finish(retention, 60);
    const length = await producer.xlen(`${prefix}:kcr-node-${NODE}:events`);
    // 60 jobs make about 4 events each; Redis trims whole stream nodes (100 entries) with MAXLEN ~.
    expect(length).toBeLessThanOrEqual(200);
    await queues.close();
  });

  it('the worker caps jobs that arrive without caps of their own (queued by an older controller)', async () => {
    const prefix = `r${++n}`;
    const bare = new Queue(`kcr-node-${NODE}`, { connection: producer, prefix, skipWaitingForReady: true });
    for (let i = 0; i < 8; i++) await bare.add('checkpoint', jobs(8, 2)[i]!.data, { jobId: `old-${i}` });
    const retention: JobRetention = { completed: { ageSeconds: 3600, count: 2 }, failed: wide, eventsMaxLen: 1000 };
    let done = 0;
    const worker = createCheckpointWorker({ nodeName: NODE, connection: workerConn, prefix, retention, process: async () => 'ok' });
    await new Promise<void>((resolve) => worker.on('completed', () => ++done === 8 && resolve()));
    await closeWithDeadline(worker, 5000);
    expect(await bare.getCompletedCount()).toBe(2);
    await bare.close();
  });
});

describe('fired schedule jobs are capped', () => {
  it('a scheduler\'s template drops completed fires at once and caps failed ones by count and age', async () => {
    const prefix = `s${++n}`;
    const retention: JobRetention = { completed: wide, failed: { ageSeconds: 600, count: 4 }, eventsMaxLen: 300 };
    const queue = createScheduleQueue(producer, prefix, SCHEDULE_QUEUE, retention);
    const cps: CheckpointSchedule = { apiVersion: API_VERSION, kind: 'CheckpointSchedule', metadata: { name: 'web', namespace: 'apps', uid: 'u1' },
      spec: { schedule: '*/5 * * * *', selector: { matchLabels: { app: 'web' } } } };
    await new SchedulerStore({ queue, client: producer, prefix, retention }).reconcile(desiredSchedulers([cps], []).schedulers);
    const [scheduler] = await queue.getJobSchedulers(0, -1, true);
    expect(scheduler?.template?.opts).toMatchObject({ removeOnComplete: true, removeOnFail: { age: 600, count: 4 }, stackTraceLimit: 1 });
    // The queue's own meta: the event stream cap Lua scripts read.
    expect(await producer.hget(`${prefix}:${SCHEDULE_QUEUE}:meta`, 'opts.maxLenEvents')).toBe('300');
    await queue.close();
  });
});
