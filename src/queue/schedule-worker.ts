// The controller's "schedule fired" processor: a worker on the scheduler queue that turns each job
// BullMQ's job scheduler produces into a call of the injected `onFire`.
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { SCHEDULE_FIRED_JOB, type ScheduleRef } from '../schedule/desired.ts';
import { SCHEDULE_QUEUE } from '../schedule/names.ts';
import { cachedRepeatStrategy } from './repeat-strategy.ts';
import { DEFAULT_JOB_RETENTION, workerCaps, type JobRetention } from './job-retention.ts';
import type { ScheduleJobData } from './scheduler-store.ts';

export type OnFire = (ref: ScheduleRef, fireTime: Date, job: Job) => Promise<void>;

export interface ScheduleWorkerOptions {
  /** A worker connection (maxRetriesPerRequest: null); BullMQ duplicates it for blocking calls. */
  connection: Redis;
  prefix: string;
  onFire: OnFire;
  /** Fired schedules processed at once (fan-out is mostly API calls). */
  concurrency?: number;
  queueName?: string;
  /** Start with `worker.run()` yourself (e.g. only once elected leader). */
  autorun?: boolean;
  /**
   * Seconds an idle worker blocks before polling again. Only the worker that popped the
   * delayed-job marker wakes exactly at a slot; with several workers (controller replicas) the
   * others would wait BullMQ's default 5 s, so kcr uses 1.
   */
  drainDelaySeconds?: number;
  /** Caps for fired jobs whose template carries none (a scheduler an older kcr wrote). */
  retention?: JobRetention;
}

/** The slot a scheduler job was made for (BullMQ stores it as prevMillis); falls back to its timestamp. */
export function fireTimeOf(job: Pick<Job, 'opts' | 'timestamp'>): Date {
  return new Date(job.opts.prevMillis ?? job.timestamp);
}

export function scheduleRefOf(data: Partial<ScheduleJobData>): ScheduleRef {
  const { kind, namespace, name, uid } = data;
  if ((kind !== 'CheckpointSchedule' && kind !== 'Deployment' && kind !== 'StatefulSet') || !namespace || !name) {
    throw new Error(`schedule job data is not a schedule reference: ${JSON.stringify(data)}`);
  }
  return { kind, namespace, name, uid: uid ?? '' };
}

export function createScheduleWorker(options: ScheduleWorkerOptions): Worker {
  const processor = async (job: Job) => {
    if (job.name !== SCHEDULE_FIRED_JOB) throw new Error(`unexpected job ${JSON.stringify(job.name)} on the schedule queue`);
    await options.onFire(scheduleRefOf(job.data as Partial<ScheduleJobData>), fireTimeOf(job), job);
  };
  return new Worker(options.queueName ?? SCHEDULE_QUEUE, processor, {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency ?? 50,
    autorun: options.autorun ?? true,
    drainDelay: options.drainDelaySeconds ?? 1,
    ...workerCaps(options.retention ?? DEFAULT_JOB_RETENTION),
    // The worker schedules each scheduler's next slot when it takes a fired job.
    settings: { repeatStrategy: cachedRepeatStrategy() },
  });
}
