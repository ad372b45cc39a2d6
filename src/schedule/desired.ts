// From CheckpointSchedule CRs and annotated workloads to the set of BullMQ job schedulers that
// should exist. Pure: the CRs are the truth, Redis is derived from them.
import { createHash } from 'node:crypto';
import type { CheckpointSchedule, LabelSelector } from '../api/types.ts';
import { normaliseCron, validateCron } from './cron.ts';

/** What a scheduler refers to. Only references: job data is stored in clear in Redis. */
export interface ScheduleRef {
  kind: 'CheckpointSchedule' | 'Deployment' | 'StatefulSet';
  namespace: string;
  name: string;
  uid: string;
}

/** A Deployment or StatefulSet carrying `kcr.io/checkpoint-restore-schedule`, as plain data. */
export interface WorkloadSchedule {
  kind: 'Deployment' | 'StatefulSet';
  namespace: string;
  name: string;
  uid: string;
  cron: string;
  timeZone?: string;
  /** The workload's spec.selector: its pods. */
  selector: LabelSelector;
}

export interface DesiredScheduler {
  /** Deterministic: `cps:<ns>/<name>` or `wl:<kind>/<ns>/<name>`. */
  id: string;
  pattern: string;
  tz?: string;
  /** BullMQ job name of each fired job. */
  jobName: string;
  data: ScheduleRef;
  /** Hash of pattern, tz, job name and data: equal fingerprints mean nothing to write. */
  fingerprint: string;
}

export interface ScheduleError {
  ref: ScheduleRef;
  message: string;
}

export interface DesiredResult {
  schedulers: DesiredScheduler[];
  /** Schedules left out because their cron or time zone is invalid (for a condition/Event). */
  errors: ScheduleError[];
}

/** The BullMQ job name of a fired schedule. */
export const SCHEDULE_FIRED_JOB = 'schedule-fired';

export function checkpointScheduleId(namespace: string, name: string): string {
  return `cps:${namespace}/${name}`;
}

export function workloadScheduleId(kind: string, namespace: string, name: string): string {
  return `wl:${kind}/${namespace}/${name}`;
}

/** Stable hash of what a scheduler stores; key order of `data` does not matter. */
export function schedulerFingerprint(s: { pattern: string; tz?: string; jobName: string; data: ScheduleRef }): string {
  const canonical = JSON.stringify([
    s.pattern,
    s.tz ?? '',
    s.jobName,
    [s.data.kind, s.data.namespace, s.data.name, s.data.uid],
  ]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}

function scheduler(id: string, cron: string, tz: string | undefined, data: ScheduleRef): DesiredScheduler {
  const pattern = normaliseCron(cron);
  const base = { pattern, ...(tz ? { tz } : {}), jobName: SCHEDULE_FIRED_JOB, data };
  return { id, ...base, fingerprint: schedulerFingerprint(base) };
}

export function desiredSchedulers(
  schedules: readonly CheckpointSchedule[],
  workloads: readonly WorkloadSchedule[],
): DesiredResult {
  const out = new Map<string, DesiredScheduler>();
  const errors: ScheduleError[] = [];

  for (const cps of schedules) {
    const namespace = cps.metadata.namespace;
    const name = cps.metadata.name;
    if (!namespace || !name) continue;
    if (cps.metadata.deletionTimestamp) continue;
    const ref: ScheduleRef = { kind: 'CheckpointSchedule', namespace, name, uid: cps.metadata.uid ?? '' };
    if (cps.spec.suspend === true) continue;
    const tz = cps.spec.timeZone || undefined;
    const check = validateCron(cps.spec.schedule ?? '', tz);
    if (!check.ok) {
      errors.push({ ref, message: check.message });
      continue;
    }
    const id = checkpointScheduleId(namespace, name);
    out.set(id, scheduler(id, cps.spec.schedule, tz, ref));
  }

  for (const wl of workloads) {
    const ref: ScheduleRef = { kind: wl.kind, namespace: wl.namespace, name: wl.name, uid: wl.uid };
    const tz = wl.timeZone || undefined;
    const check = validateCron(wl.cron, tz);
    if (!check.ok) {
      errors.push({ ref, message: check.message });
      continue;
    }
    const id = workloadScheduleId(wl.kind, wl.namespace, wl.name);
    out.set(id, scheduler(id, wl.cron, tz, ref));
  }

  const schedulers = [...out.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { schedulers, errors };
}
