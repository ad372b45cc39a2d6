// Per-node checkpoint queues. The controller adds one job per container with a deterministic job
// id (BullMQ adds a job id only once while it is kept; past the caps of job-retention.ts the
// CheckpointRequest's deterministic name still stops a double fire); each node's agent works its
// own queue with a concurrency limit, so a node never freezes too many containers at once.
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { explainRedisError } from './connection.ts';
import { DEFAULT_JOB_RETENTION, jobCaps, queueRetentionOptions, workerCaps, type JobRetention } from './job-retention.ts';
import type { CheckpointJob, CheckpointJobData } from '../schedule/fan-out.ts';
import { nodeQueueName } from '../schedule/names.ts';

export const CHECKPOINT_JOB = 'checkpoint';
export const DEFAULT_NODE_CONCURRENCY = 2;

export interface CheckpointJobOptions {
  attempts: number;
  backoffMs: number;
}

/**
 * A checkpoint job as Redis shows it. 'stalled': active, but no worker holds its lock (the agent
 * that took it died); 'missing': no such job; 'unknown': Redis could not be asked.
 */
export type CheckpointJobState = 'waiting' | 'active' | 'stalled' | 'delayed' | 'completed' | 'failed' | 'missing' | 'unknown';

export const DEFAULT_CHECKPOINT_JOB_OPTIONS: CheckpointJobOptions = {
  attempts: 5,
  backoffMs: 5000,
};

/** Producer side, in the controller: a Queue per node, made on first use. */
export class CheckpointQueues {
  readonly #connection: Redis;
  readonly #prefix: string;
  readonly #jobOptions: CheckpointJobOptions;
  readonly #retention: JobRetention;
  readonly #queues = new Map<string, Queue>();

  constructor(options: { connection: Redis; prefix: string; jobOptions?: Partial<CheckpointJobOptions>; retention?: JobRetention }) {
    this.#connection = options.connection;
    this.#prefix = options.prefix;
    this.#jobOptions = { ...DEFAULT_CHECKPOINT_JOB_OPTIONS, ...options.jobOptions };
    this.#retention = options.retention ?? DEFAULT_JOB_RETENTION;
  }

  queue(queueName: string): Queue {
    let q = this.#queues.get(queueName);
    if (!q) {
      // skipWaitingForReady: with a producer connection (no offline queue) a call fails at once
      // while Redis is down instead of waiting for it forever.
      q = new Queue(queueName, { connection: this.#connection, prefix: this.#prefix, skipWaitingForReady: true, ...queueRetentionOptions(this.#retention) });
      // Errors reach callers through rejected calls; keep the emitter from throwing.
      q.on('error', () => {});
      this.#queues.set(queueName, q);
    }
    return q;
  }

  /** Adds the job; adding an id that is already there (a double fire) leaves the queue unchanged. */
  async enqueue(job: CheckpointJob): Promise<Job<CheckpointJobData>> {
    const o = this.#jobOptions;
    try {
      return await this.queue(job.queueName).add(CHECKPOINT_JOB, job.data, {
        jobId: job.jobId,
        attempts: o.attempts,
        backoff: { type: 'exponential', delay: o.backoffMs },
        ...jobCaps(this.#retention),
      });
    } catch (err) {
      throw explainRedisError(this.#connection, err);
    }
  }

  /** What Redis holds for the job; never throws (Redis unreachable: 'unknown'). */
  async jobState(queueName: string, jobId: string): Promise<{ state: CheckpointJobState; failedReason?: string }> {
    try {
      const q = this.queue(queueName);
      const state = await q.getJobState(jobId);
      switch (state) {
        case 'unknown':
          return { state: 'missing' };
        case 'waiting':
        case 'prioritized':
        case 'waiting-children':
          return { state: 'waiting' };
        case 'delayed':
        case 'completed':
          return { state };
        case 'failed':
          return { state, failedReason: (await q.getJob(jobId))?.failedReason ?? '' };
        case 'active':
          // A worker renews its job's lock while it runs; an expired lock means it died.
          return { state: (await this.#connection.exists(`${q.toKey(jobId)}:lock`)) === 1 ? 'active' : 'stalled' };
      }
    } catch {
      return { state: 'unknown' };
    }
  }

  /** Jobs in the queue by state (one Redis round trip); throws while Redis is unreachable. */
  async jobCounts(queueName: string): Promise<Record<string, number>> {
    return this.queue(queueName).getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed');
  }

  async close(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((q) => q.close()));
    this.#queues.clear();
  }
}

export type CheckpointProcessor = (data: CheckpointJobData, job: Job<CheckpointJobData>) => Promise<unknown>;

/** Agent side: the worker of one node's queue. */
export function createCheckpointWorker(options: {
  nodeName: string;
  connection: Redis;
  prefix: string;
  process: CheckpointProcessor;
  concurrency?: number;
  /** How long a job may run without renewing its lock before it counts as stalled. */
  lockDurationMs?: number;
  autorun?: boolean;
  /** Caps for jobs that came without their own (e.g. queued by an older controller). */
  retention?: JobRetention;
}): Worker<CheckpointJobData> {
  const retention = options.retention ?? DEFAULT_JOB_RETENTION;
  return new Worker<CheckpointJobData>(
    nodeQueueName(options.nodeName),
    async (job) => {
      if (job.name !== CHECKPOINT_JOB) throw new Error(`unexpected job ${JSON.stringify(job.name)} on a node queue`);
      return options.process(job.data, job);
    },
    {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency ?? DEFAULT_NODE_CONCURRENCY,
      autorun: options.autorun ?? true,
      ...workerCaps(retention),
      ...(options.lockDurationMs !== undefined ? { lockDuration: options.lockDurationMs } : {}),
    },
  );
}
