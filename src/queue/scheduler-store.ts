// Keeps BullMQ's job schedulers equal to the desired set computed from the CRs. Each scheduler's
// template data carries a fingerprint of what was written, so a reconcile that changes nothing
// only reads. A sentinel key marks that Redis still holds what kcr wrote: when it is missing (a
// fresh or flushed Redis, a restore from an old snapshot), every scheduler is rewritten.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { SCHEDULE_QUEUE } from '../schedule/names.ts';
import { explainRedisError } from './connection.ts';
import { cachedRepeatStrategy } from './repeat-strategy.ts';
import { DEFAULT_JOB_RETENTION, keepFailed, queueRetentionOptions, STACK_TRACES_KEPT, type JobRetention } from './job-retention.ts';
import type { DesiredScheduler, ScheduleRef } from '../schedule/desired.ts';
import { planReconcile, type ExistingScheduler, type ReconcilePlan } from '../schedule/plan.ts';

/** Template data of a scheduler: the schedule's references plus the fingerprint. */
export interface ScheduleJobData extends ScheduleRef {
  fingerprint: string;
}

export interface ReconcileReport {
  upserted: number;
  removed: number;
  unchanged: number;
  /** True when the sentinel was missing and every scheduler was rewritten. */
  rebuilt: boolean;
  failed: Array<{ id: string; error: Error }>;
}

export interface SchedulerStoreOptions {
  /** The scheduler queue (SCHEDULE_QUEUE), built on a producer or worker connection. */
  queue: Queue;
  /** The connection `queue` uses: for the sentinel key and to explain connection failures. */
  client: Redis;
  /** BullMQ prefix of `queue` (the sentinel lives beside its keys). */
  prefix: string;
  /** Writes in flight at once; Redis pipelines them over one connection. */
  concurrency?: number;
  /** Options of every fired job (the schedule-fired processor's retries). */
  firedJobOptions?: {
    attempts?: number;
    backoffMs?: number;
  };
  /** How long failed fired jobs are kept (completed ones are dropped at once). */
  retention?: JobRetention;
}

export class SchedulerStore {
  readonly #queue: Queue;
  readonly #client: Redis;
  readonly #sentinel: string;
  readonly #concurrency: number;
  readonly #attempts: number;
  readonly #backoffMs: number;
  readonly #retention: JobRetention;

  constructor(options: SchedulerStoreOptions) {
    this.#queue = options.queue;
    this.#client = options.client;
    this.#sentinel = `${options.prefix}:${options.queue.name}:kcr-epoch`;
    this.#concurrency = Math.max(1, options.concurrency ?? 200);
    this.#attempts = options.firedJobOptions?.attempts ?? 3;
    this.#backoffMs = options.firedJobOptions?.backoffMs ?? 2000;
    this.#retention = options.retention ?? DEFAULT_JOB_RETENTION;
  }

  /** Schedulers in Redis with the fingerprint kcr stored (undefined for foreign or legacy ones). */
  async readExisting(): Promise<ExistingScheduler[]> {
    const all = await this.#queue.getJobSchedulers(0, -1, true);
    return all.map((s) => {
      const data = s.template?.data as Partial<ScheduleJobData> | undefined;
      const fp = typeof data?.fingerprint === 'string' ? data.fingerprint : undefined;
      return { id: s.key, ...(fp !== undefined ? { fingerprint: fp } : {}) };
    });
  }

  /** Whether Redis still holds what kcr wrote (false after a flush or data loss). */
  async hasSentinel(): Promise<boolean> {
    return (await this.#client.exists(this.#sentinel)) === 1;
  }

  /** Computes the plan without writing anything. */
  async plan(desired: readonly DesiredScheduler[], options: { force?: boolean } = {}): Promise<ReconcilePlan & { rebuild: boolean }> {
    const rebuild = options.force === true || !(await this.hasSentinel());
    const existing = await this.readExisting();
    return { ...planReconcile(desired, existing, { force: rebuild }), rebuild };
  }

  /**
   * Applies the desired set. `force` rewrites every scheduler (the controller does this when it
   * becomes leader). Writes are issued concurrently; failures are collected, not thrown, so one
   * bad scheduler does not block the others. The sentinel is written only after a complete
   * rebuild, so an interrupted one is retried in full.
   */
  async reconcile(desired: readonly DesiredScheduler[], options: { force?: boolean } = {}): Promise<ReconcileReport> {
    let plan: Awaited<ReturnType<SchedulerStore['plan']>>;
    try {
      plan = await this.plan(desired, options);
    } catch (err) {
      throw explainRedisError(this.#client, err);
    }
    const failed: ReconcileReport['failed'] = [];
    const tasks: Array<() => Promise<unknown>> = [
      ...plan.upsert.map((d) => () => this.#upsert(d).catch((e: unknown) => failed.push({ id: d.id, error: asError(e) }))),
      ...plan.remove.map(
        (id) => () => this.#queue.removeJobScheduler(id).catch((e: unknown) => failed.push({ id, error: asError(e) })),
      ),
    ];
    await runLimited(tasks, this.#concurrency);
    if (plan.rebuild && failed.length === 0) await this.#client.set(this.#sentinel, new Date().toISOString());
    return {
      upserted: plan.upsert.length - failed.filter((f) => plan.upsert.some((u) => u.id === f.id)).length,
      removed: plan.remove.length - failed.filter((f) => plan.remove.includes(f.id)).length,
      unchanged: plan.unchanged,
      rebuilt: plan.rebuild,
      failed,
    };
  }

  async #upsert(d: DesiredScheduler): Promise<void> {
    const data: ScheduleJobData = { ...d.data, fingerprint: d.fingerprint };
    await this.#queue.upsertJobScheduler(d.id, { pattern: d.pattern, ...(d.tz ? { tz: d.tz } : {}) }, {
      name: d.jobName,
      data,
      opts: {
        attempts: this.#attempts,
        backoff: { type: 'exponential', delay: this.#backoffMs },
        // A fired job's outcome lives in the schedule's status; dropping it at once is cheaper.
        // The template is stored with the scheduler: a changed cap reaches it when the scheduler
        // is next rewritten (a new leader rewrites them all).
        removeOnComplete: true,
        removeOnFail: keepFailed(this.#retention),
        stackTraceLimit: STACK_TRACES_KEPT,
      },
    });
  }
}

/** The scheduler queue; with a producer connection its calls fail fast while Redis is down. */
export function createScheduleQueue(connection: Redis, prefix: string, name: string = SCHEDULE_QUEUE, retention: JobRetention = DEFAULT_JOB_RETENTION): Queue {
  const queue = new Queue(name, {
    connection, prefix, skipWaitingForReady: true, settings: { repeatStrategy: cachedRepeatStrategy() },
    ...queueRetentionOptions(retention),
  });
  queue.on('error', () => {});
  return queue;
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** Runs `tasks` with at most `limit` in flight. */
export async function runLimited(tasks: ReadonlyArray<() => Promise<unknown>>, limit: number): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) {
      const task = tasks[next++]!;
      await task();
    }
  });
  await Promise.all(lanes);
}
