// npm run bench:redis — what a finished checkpoint job costs in Redis, measured on a real
// redis-server this script starts: N jobs are queued exactly as the controller queues them
// (CheckpointQueues.enqueue, a fan-out job of the same data shape) on one node's queue, worked by
// the agent's worker (createCheckpointWorker) with a result of the agent's shape, and kept (the
// caps raised above N for the measurement). INFO memory before and after, after a settle, gives
// the bytes per completed job; the same for failed jobs (every attempt kcr makes failed, with an
// error of the agent's kind). The queue's event stream is capped as kcr caps it and reported on its own: it does not
// grow with N past its cap. Last, the schedules' own keys: SCHEDULES job schedulers upserted as the
// controller does (SchedulerStore), each with its next slot's delayed job. Sizing then is, per
// queue (per node): completed cap × bytes_per_job + failed cap × failed_bytes_per_job + stream,
// plus bytes_per_schedule per schedule (README "Redis: memory and sizing").
// Last line: RESULT jobs=… bytes_per_job=… failed_bytes_per_job=… events_stream_kib=… bytes_per_schedule=… used_memory_mib=…
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { API_VERSION, type CheckpointSchedule } from '../../src/api/types.ts';
import { CheckpointQueues, createCheckpointWorker, DEFAULT_CHECKPOINT_JOB_OPTIONS } from '../../src/queue/checkpoint-queues.ts';
import { createRedisConnection, waitForReady } from '../../src/queue/connection.ts';
import { DEFAULT_JOB_RETENTION, type JobRetention } from '../../src/queue/job-retention.ts';
import { createScheduleQueue, SchedulerStore } from '../../src/queue/scheduler-store.ts';
import { closeWithDeadline } from '../../src/queue/shutdown.ts';
import { desiredSchedulers } from '../../src/schedule/desired.ts';
import type { CheckpointJob } from '../../src/schedule/fan-out.ts';
import { checkpointJobId, checkpointRequestName, nodeQueueName } from '../../src/schedule/names.ts';
import { startRedis } from '../support/redis.ts';

const N = Number(process.env.KCR_BENCH_JOBS ?? 10_000);
const FAILED = Number(process.env.KCR_BENCH_FAILED_JOBS ?? Math.min(N, 2000));
const SCHEDULES = Number(process.env.KCR_BENCH_SCHEDULES ?? 2000);
const PREFIX = 'kcr';

// Keep every job for the measurement; the event stream as kcr caps it.
const keepAll: JobRetention = {
  completed: { ageSeconds: 86_400, count: N + FAILED + 1 },
  failed: { ageSeconds: 86_400, count: N + FAILED + 1 },
  eventsMaxLen: DEFAULT_JOB_RETENTION.eventsMaxLen,
};

/** A fired schedule's job for pod i, as fanOut makes it (realistic name lengths: UIDs, a StatefulSet pod, a slot). */
function job(node: string, i: number, scheduleUid: string, fireMs: number): CheckpointJob {
  const podName = `orders-db-${i}`;
  const podUid = randomUUID();
  const containerName = 'postgres';
  const jobId = checkpointJobId(scheduleUid, fireMs, podUid, containerName);
  const requestName = checkpointRequestName(podName, containerName, jobId);
  return {
    queueName: nodeQueueName(node),
    jobId,
    requestName,
    data: {
      requestName, namespace: 'shop-production', podName, podUid, containerName, nodeName: node, timeoutSeconds: 300,
      schedule: { kind: 'CheckpointSchedule', namespace: 'shop-production', name: 'orders-db-every-5-minutes', uid: scheduleUid },
      fireTime: new Date(fireMs).toISOString(),
    },
  };
}

async function usedMemory(client: Redis): Promise<number> {
  // Let lazy frees and the allocator settle before reading.
  await new Promise((r) => setTimeout(r, 300));
  const info = await client.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
}

async function run(conn: Redis, workerConn: Redis, node: string, count: number, fail: boolean): Promise<void> {
  // kcr's attempts; no backoff, so the measurement does not wait for it.
  const queues = new CheckpointQueues({ connection: conn, prefix: PREFIX, retention: keepAll, jobOptions: { attempts: DEFAULT_CHECKPOINT_JOB_OPTIONS.attempts, backoffMs: 1 } });
  let done = 0;
  let finished!: () => void;
  const all = new Promise<void>((resolve) => (finished = resolve));
  const worker = createCheckpointWorker({
    nodeName: node, connection: workerConn, prefix: PREFIX, concurrency: 50, retention: keepAll,
    process: async (data) => {
      if (fail) {
        // The agent's kind of failure: a classified message naming the pod.
        throw new Error(`KubeletCheckpointFailed: the kubelet on ${data.nodeName} answered 500 for ${data.namespace}/${data.podName}/${data.containerName}: checkpointing container failed: criu failed: type NOTIFY errno 0`);
      }
      return { result: 'completed', checkpoint: `${data.podName}-${data.containerName}-20261124t060000z`, image: `kcr-registry.kcr-system.svc:5000/kcr/${data.namespace}/${data.podName}@sha256:${'ab'.repeat(32)}`, resumed: false };
    },
  });
  const end = () => {
    if (++done === count) finished();
  };
  worker.on('completed', end);
  // 'failed' comes once per attempt; the job is finished after its last.
  worker.on('failed', (j) => {
    if (j !== undefined && j.attemptsMade >= (j.opts.attempts ?? 1)) end();
  });
  const scheduleUid = randomUUID();
  const t0 = Date.now();
  for (let start = 0; start < count; start += 500) {
    const batch = Array.from({ length: Math.min(500, count - start) }, (_, k) => job(node, start + k, scheduleUid, t0 - (start + k) * 60_000));
    await Promise.all(batch.map((j) => queues.enqueue(j)));
  }
  await all;
  await closeWithDeadline(worker, 10_000);
  await queues.close();
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const conn = createRedisConnection(redis.url, 'worker');
  const workerConn = createRedisConnection(redis.url, 'worker');
  try {
    await waitForReady(conn, 5000);
    // Warm up: the scripts loaded, the queue's own keys (meta, event stream at its cap) made.
    await run(conn, workerConn, 'warmup', DEFAULT_JOB_RETENTION.eventsMaxLen * 2, false);
    const streamKey = `${PREFIX}:${nodeQueueName('node-1')}:events`;

    const before = await usedMemory(conn);
    let t = performance.now();
    await run(conn, workerConn, 'node-1', N, false);
    const afterCompleted = await usedMemory(conn);
    const stream = Number(await conn.call('MEMORY', 'USAGE', streamKey, 'SAMPLES', '0'));
    const bytesPerJob = (afterCompleted - before - stream) / N;
    console.log(`completed: ${N} jobs in ${((performance.now() - t) / 1000).toFixed(1)} s; used_memory +${((afterCompleted - before) / 2 ** 20).toFixed(2)} MiB, of it the event stream ${(stream / 1024).toFixed(0)} KiB (cap ${DEFAULT_JOB_RETENTION.eventsMaxLen}): ${bytesPerJob.toFixed(0)} bytes per completed job`);

    const failedStream = `${PREFIX}:${nodeQueueName('node-2')}:events`;
    const beforeFailed = await usedMemory(conn);
    t = performance.now();
    await run(conn, workerConn, 'node-2', FAILED, true);
    const afterFailed = await usedMemory(conn);
    const stream2 = Number(await conn.call('MEMORY', 'USAGE', failedStream, 'SAMPLES', '0'));
    const failedBytesPerJob = (afterFailed - beforeFailed - stream2) / FAILED;
    console.log(`failed: ${FAILED} jobs in ${((performance.now() - t) / 1000).toFixed(1)} s: ${failedBytesPerJob.toFixed(0)} bytes per failed job`);

    const schedules: CheckpointSchedule[] = Array.from({ length: SCHEDULES }, (_, i) => ({
      apiVersion: API_VERSION, kind: 'CheckpointSchedule',
      metadata: { name: `orders-db-every-5-minutes-${i}`, namespace: 'shop-production', uid: randomUUID() },
      spec: { schedule: '*/5 * * * *', timeZone: 'Europe/Berlin', selector: { matchLabels: { 'app.kubernetes.io/name': `orders-db-${i}` } } },
    }));
    const scheduleQueue = createScheduleQueue(conn, PREFIX);
    const beforeSchedules = await usedMemory(conn);
    const report = await new SchedulerStore({ queue: scheduleQueue, client: conn, prefix: PREFIX }).reconcile(desiredSchedulers(schedules, []).schedulers);
    if (report.upserted !== SCHEDULES) throw new Error(`upserted ${report.upserted} of ${SCHEDULES} schedulers`);
    const afterSchedules = await usedMemory(conn);
    await scheduleQueue.close();
    const bytesPerSchedule = (afterSchedules - beforeSchedules) / SCHEDULES;
    console.log(`schedules: ${SCHEDULES} job schedulers with their next slot's job: ${bytesPerSchedule.toFixed(0)} bytes per schedule`);

    const d = DEFAULT_JOB_RETENTION;
    const perQueue = d.completed.count * bytesPerJob + d.failed.count * failedBytesPerJob + stream;
    console.log(`with the default caps (${d.completed.count} completed, ${d.failed.count} failed, ${d.eventsMaxLen} events per queue): at most ${(perQueue / 2 ** 20).toFixed(2)} MiB per node's queue`);
    console.log(`RESULT jobs=${N} bytes_per_job=${bytesPerJob.toFixed(0)} failed_bytes_per_job=${failedBytesPerJob.toFixed(0)} events_stream_kib=${(stream / 1024).toFixed(0)} bytes_per_schedule=${bytesPerSchedule.toFixed(0)} used_memory_mib=${(afterSchedules / 2 ** 20).toFixed(1)} per_queue_at_default_caps_mib=${(perQueue / 2 ** 20).toFixed(2)}`);
  } finally {
    conn.disconnect();
    workerConn.disconnect();
    await redis.stop();
  }
}

await main();
