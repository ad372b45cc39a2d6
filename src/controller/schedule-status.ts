// The status a CheckpointSchedule should show, from its spec, its validation result, the requests
// it fired and `now`. Pure. The controller patches status only when this differs from what the
// object has, so a steady state writes nothing.
import type { CheckpointRequest, CheckpointSchedule, CheckpointScheduleStatus, Condition } from '../api/types.ts';
import { nextRunTime } from '../schedule/cron.ts';
import { setCondition } from '../api/conditions.ts';
import { REQUEST_ANNOTATIONS } from './checkpoint-request.ts';

export { setCondition };

export const CONDITION_READY = 'Ready';
export const CONDITION_LAST_RUN = 'LastRun';

export const REASONS = {
  scheduled: 'Scheduled',
  suspended: 'Suspended',
  invalidSchedule: 'InvalidSchedule',
  notRegistered: 'NotRegistered',
  fired: 'Fired',
  skippedBusy: 'SkippedBusy',
  nothingSelected: 'NothingSelected',
} as const;

function finished(r: CheckpointRequest): boolean {
  return r.status?.phase === 'Completed' || r.status?.phase === 'Failed';
}

/**
 * The newest time a whole run (all requests of one fire time) finished with every request
 * Completed: that run's last completionTime. Undefined when no run fully succeeded.
 */
export function lastSuccessfulRun(requests: readonly CheckpointRequest[]): string | undefined {
  const runs = new Map<string, CheckpointRequest[]>();
  for (const r of requests) {
    const fire = r.metadata.annotations?.[REQUEST_ANNOTATIONS.fireTime];
    if (fire === undefined) continue;
    const g = runs.get(fire);
    if (g) g.push(r);
    else runs.set(fire, [r]);
  }
  let best: string | undefined;
  for (const group of runs.values()) {
    if (!group.every(finished) || !group.every((r) => r.status?.phase === 'Completed')) continue;
    const times = group.map((r) => r.status?.completionTime).filter((t): t is string => typeof t === 'string');
    if (times.length === 0) continue;
    const done = times.reduce((a, b) => (Date.parse(a) >= Date.parse(b) ? a : b));
    if (best === undefined || Date.parse(done) > Date.parse(best)) best = done;
  }
  return best;
}

function later(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Date.parse(b) > Date.parse(a) ? b : a;
}

/**
 * The status fields the periodic sync owns: Ready, nextRunTime, lastSuccessfulTime, observedGeneration.
 *
 * Ready says "this schedule will fire": True (Scheduled) when its cron and zone are valid, it is
 * not suspended and its job scheduler is registered in Redis; False with reason InvalidSchedule
 * (the message names the field), Suspended, or NotRegistered (writing the job scheduler failed;
 * retried every pass). Whether the last fire took every checkpoint is LastRun's, not Ready's.
 */
export function desiredScheduleStatus(input: {
  schedule: CheckpointSchedule;
  /** The validation error from desiredSchedulers, if the cron or zone is invalid. */
  invalid: string | undefined;
  /** Why its job scheduler could not be written this pass, if it could not. */
  unregistered?: string | undefined;
  requests: readonly CheckpointRequest[];
  now: Date;
}): CheckpointScheduleStatus {
  const { schedule, invalid, now } = input;
  const old = schedule.status ?? {};
  const at = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const generation = schedule.metadata.generation;
  let ready: Condition;
  let next: string | undefined;
  if (invalid !== undefined) {
    ready = { type: CONDITION_READY, status: 'False', reason: REASONS.invalidSchedule, message: invalid, lastTransitionTime: at };
  } else if (schedule.spec.suspend === true) {
    ready = { type: CONDITION_READY, status: 'False', reason: REASONS.suspended, message: 'spec.suspend is true: no checkpoints are taken', lastTransitionTime: at };
  } else if (input.unregistered !== undefined) {
    ready = { type: CONDITION_READY, status: 'False', reason: REASONS.notRegistered, message: `the job scheduler could not be written: ${input.unregistered}`, lastTransitionTime: at };
  } else {
    const n = nextRunTime(schedule.spec.schedule, schedule.spec.timeZone || undefined, now);
    next = n?.toISOString().replace(/\.\d{3}Z$/, 'Z');
    ready = {
      type: CONDITION_READY,
      status: 'True',
      reason: REASONS.scheduled,
      message: `checkpoints are taken on "${schedule.spec.schedule}"${schedule.spec.timeZone ? ` (${schedule.spec.timeZone})` : ' (UTC)'}`,
      lastTransitionTime: at,
    };
  }
  if (generation !== undefined) ready.observedGeneration = generation;
  const status: CheckpointScheduleStatus = {
    ...old,
    conditions: setCondition(old.conditions, ready),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  if (next !== undefined) status.nextRunTime = next;
  else delete status.nextRunTime;
  const success = later(old.lastSuccessfulTime, lastSuccessfulRun(input.requests));
  if (success !== undefined) status.lastSuccessfulTime = success;
  return status;
}

/** Equal for the purpose of "is a write needed" (field order and condition order ignored). */
export function sameStatus(a: CheckpointScheduleStatus | undefined, b: CheckpointScheduleStatus): boolean {
  return canonical(a ?? {}) === canonical(b);
}

function canonical(s: CheckpointScheduleStatus): string {
  const sorted = (s.conditions ?? []).map((c) => JSON.stringify(Object.fromEntries(Object.entries(c).sort())));
  sorted.sort();
  const rest = Object.fromEntries(Object.entries(s).filter(([k, v]) => k !== 'conditions' && v !== undefined).sort());
  return JSON.stringify([rest, sorted]);
}
