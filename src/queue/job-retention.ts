// How many finished BullMQ jobs Redis keeps. Redis runs with noeviction, so anything kcr leaves
// behind grows until Redis refuses writes and checkpointing stops: every finished job is capped
// by age AND count (per queue, i.e. per node), and so is each queue's event stream. A job's
// outcome lives in its CheckpointRequest and the schedule's status, so the copies in Redis are
// only for debugging; a double fire is caught by the request's deterministic name, not by a kept
// job id.
import type { KeepJobs } from 'bullmq';

export interface JobRetention {
  /** Completed jobs per queue: at most `count`, none older than `ageSeconds`. */
  completed: { ageSeconds: number; count: number };
  /** Failed jobs per queue (kept longer: they explain what went wrong). */
  failed: { ageSeconds: number; count: number };
  /** Approximate entries of each queue's event stream (BullMQ's default is 10,000). */
  eventsMaxLen: number;
}

export const DEFAULT_JOB_RETENTION: JobRetention = {
  completed: { ageSeconds: 3600, count: 100 },
  failed: { ageSeconds: 7 * 24 * 3600, count: 200 },
  eventsMaxLen: 1000,
};

export function keepCompleted(r: JobRetention): KeepJobs {
  return { age: r.completed.ageSeconds, count: r.completed.count };
}

export function keepFailed(r: JobRetention): KeepJobs {
  return { age: r.failed.ageSeconds, count: r.failed.count };
}

/**
 * Stack traces kept per job: BullMQ keeps one per failed attempt unless told otherwise, and the
 * failedReason already carries kcr's classified message; the last one is enough to debug.
 */
export const STACK_TRACES_KEPT = 1;

export interface JobCaps {
  removeOnComplete: KeepJobs;
  removeOnFail: KeepJobs;
  stackTraceLimit: number;
}

/** Options of every job kcr adds (and of every scheduler's template). */
export function jobCaps(r: JobRetention): JobCaps {
  return { removeOnComplete: keepCompleted(r), removeOnFail: keepFailed(r), stackTraceLimit: STACK_TRACES_KEPT };
}

/** Worker options: the caps for jobs that carry none (e.g. added by an older kcr). */
export function workerCaps(r: JobRetention): Pick<JobCaps, 'removeOnComplete' | 'removeOnFail'> {
  return { removeOnComplete: keepCompleted(r), removeOnFail: keepFailed(r) };
}

/** Queue options: the event stream's cap, and the caps for any job added without its own. */
export function queueRetentionOptions(r: JobRetention): { streams: { events: { maxLen: number } }; defaultJobOptions: JobCaps } {
  return { streams: { events: { maxLen: r.eventsMaxLen } }, defaultJobOptions: jobCaps(r) };
}
