// SchedulerStore and the schedule worker against a real redis-server.
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { API_VERSION, type CheckpointSchedule } from '../../src/api/types.ts';
import { createRedisConnection, RedisUnavailableError } from '../../src/queue/connection.ts';
import { readWriteStats, writesBetween } from '../../src/queue/redis-write-stats.ts';
import { createScheduleWorker } from '../../src/queue/schedule-worker.ts';
import { createScheduleQueue, SchedulerStore } from '../../src/queue/scheduler-store.ts';
import { closeWithDeadline } from '../../src/queue/shutdown.ts';
import { desiredSchedulers, schedulerFingerprint, SCHEDULE_FIRED_JOB, type DesiredScheduler, type ScheduleRef } from '../../src/schedule/desired.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';

function cps(name: string, schedule: string, extra: Partial<CheckpointSchedule['spec']> = {}): CheckpointSchedule {
  return {
    apiVersion: API_VERSION,
    kind: 'CheckpointSchedule',
    metadata: { name, namespace: 'apps', uid: `uid-${name}` },
    spec: { schedule, selector: { matchLabels: { app: name } }, ...extra },
  };
}

let redis: RedisServer;
let conn: Redis;
let queue: Queue;
let store: SchedulerStore;
let prefix: string;
let n = 0;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
beforeEach(() => {
  prefix = `t${++n}`;
  conn = createRedisConnection(redis.url, 'worker');
  queue = createScheduleQueue(conn, prefix);
  store = new SchedulerStore({ queue, client: conn, prefix });
});
afterEach(async () => {
  await queue.close();
  conn.disconnect();
});

async function schedulersInRedis() {
  const all = await queue.getJobSchedulers(0, -1, true);
  return Object.fromEntries(all.map((s) => [s.key, { pattern: s.pattern, tz: s.tz, data: s.template?.data }]));
}

describe('SchedulerStore', () => {
  const three = [cps('a', '*/5 * * * *', { timeZone: 'Europe/Berlin' }), cps('b', '0 * * * *'), cps('c', '0 3 * * *', { timeZone: 'UTC' })];

  it('upserts schedules; a second reconcile writes nothing; a changed cron rewrites only that one', async () => {
    const first = await store.reconcile(desiredSchedulers(three, []).schedulers);
    expect(first).toMatchObject({ upserted: 3, removed: 0, unchanged: 0, rebuilt: true, failed: [] });
    const inRedis = await schedulersInRedis();
    expect(Object.keys(inRedis).sort()).toEqual(['cps:apps/a', 'cps:apps/b', 'cps:apps/c']);
    expect(inRedis['cps:apps/a']).toMatchObject({ pattern: '*/5 * * * *', tz: 'Europe/Berlin' });
    expect(inRedis['cps:apps/b']).toMatchObject({ pattern: '0 * * * *' });
    expect(inRedis['cps:apps/c']!.data).toMatchObject({ kind: 'CheckpointSchedule', namespace: 'apps', name: 'c', uid: 'uid-c' });

    const before = await readWriteStats(conn);
    const again = await store.reconcile(desiredSchedulers(three, []).schedulers);
    const writes = writesBetween(before, await readWriteStats(conn));
    expect(again).toMatchObject({ upserted: 0, removed: 0, unchanged: 3, rebuilt: false });
    expect(writes).toEqual({ total: 0, dirty: 0, byCommand: {} });

    const changed = [three[0]!, cps('b', '30 * * * *'), three[2]!];
    const nextA = (await queue.getJobScheduler('cps:apps/a'))?.next;
    const third = await store.reconcile(desiredSchedulers(changed, []).schedulers);
    expect(third).toMatchObject({ upserted: 1, unchanged: 2, removed: 0 });
    const after = await schedulersInRedis();
    expect(after['cps:apps/b']).toMatchObject({ pattern: '30 * * * *' });
    expect((await queue.getJobScheduler('cps:apps/a'))?.next).toBe(nextA);
  });

  it('removes deleted and suspended schedules, and leaves schedulers kcr did not make', async () => {
    await store.reconcile(desiredSchedulers(three, []).schedulers);
    await queue.upsertJobScheduler('someone-elses', { every: 60_000 }, { name: 'other' });
    const r = await store.reconcile(desiredSchedulers([three[0]!, cps('c', '0 3 * * *', { suspend: true })], []).schedulers);
    expect(r).toMatchObject({ upserted: 0, removed: 2, unchanged: 1 });
    expect(Object.keys(await schedulersInRedis()).sort()).toEqual(['cps:apps/a', 'someone-elses']);
  });

  it('rebuilds every scheduler after Redis lost its data (FLUSHALL)', async () => {
    await store.reconcile(desiredSchedulers(three, []).schedulers);
    await redis.flushAll();
    expect(await queue.getJobSchedulers()).toEqual([]);
    const r = await store.reconcile(desiredSchedulers(three, []).schedulers);
    expect(r).toMatchObject({ upserted: 3, rebuilt: true });
    expect(Object.keys(await schedulersInRedis()).sort()).toEqual(['cps:apps/a', 'cps:apps/b', 'cps:apps/c']);
    // And the rebuild is remembered: the next reconcile is a no-op again.
    expect(await store.reconcile(desiredSchedulers(three, []).schedulers)).toMatchObject({ upserted: 0, rebuilt: false });
  });

  it('rewrites everything when forced (leader start), even with matching fingerprints', async () => {
    await store.reconcile(desiredSchedulers(three, []).schedulers);
    expect(await store.reconcile(desiredSchedulers(three, []).schedulers, { force: true })).toMatchObject({ upserted: 3, unchanged: 0 });
  });

  it('fails with a clear error, quickly, when Redis is unreachable', async () => {
    const dead = createRedisConnection('redis://127.0.0.1:1', 'producer');
    const q = createScheduleQueue(dead, prefix);
    const s = new SchedulerStore({ queue: q, client: dead, prefix });
    const started = Date.now();
    const err = await s.reconcile(desiredSchedulers(three, []).schedulers).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisUnavailableError);
    expect(String((err as Error).message)).toMatch(/127\.0\.0\.1:1 is unreachable/);
    expect(Date.now() - started).toBeLessThan(10_000);
    await closeWithDeadline(q, 2000);
    dead.disconnect();
  });
});

describe('schedule worker', () => {
  it('a scheduler fires and onFire receives its schedule reference and slot time', async () => {
    // Tests use a 6-field (seconds) pattern so it fires within a second; user schedules are 5-field.
    const ref: ScheduleRef = { kind: 'StatefulSet', namespace: 'db', name: 'redis', uid: 'uid-sts' };
    const base = { pattern: '* * * * * *', jobName: SCHEDULE_FIRED_JOB, data: ref };
    const everySecond: DesiredScheduler = { id: 'wl:StatefulSet/db/redis', ...base, fingerprint: schedulerFingerprint(base) };
    await store.reconcile([everySecond]);

    const fired: Array<{ ref: ScheduleRef; fireTime: Date; at: number }> = [];
    const workerConn = createRedisConnection(redis.url, 'worker');
    const worker = createScheduleWorker({
      connection: workerConn,
      prefix,
      onFire: async (r, fireTime) => {
        fired.push({ ref: r, fireTime, at: Date.now() });
      },
    });
    try {
      const deadline = Date.now() + 15_000;
      while (fired.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(fired.length).toBeGreaterThanOrEqual(2);
      for (const f of fired) {
        expect(f.ref).toEqual(ref);
        expect(f.fireTime.getTime() % 1000).toBe(0);
        // The slot the job was made for, not some other timestamp (generous: the machine may be busy).
        expect(f.at - f.fireTime.getTime()).toBeLessThan(15_000);
      }
      expect(new Set(fired.map((f) => f.fireTime.getTime())).size).toBe(fired.length);
    } finally {
      await closeWithDeadline(worker, 5000);
      workerConn.disconnect();
    }
  });
});
