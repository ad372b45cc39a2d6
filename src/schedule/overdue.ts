// Which CheckpointSchedules missed a slot: the next run the schedule's status names (written
// after each fire), or for one that never fired the first slot after its creation, passed more
// than `graceMs` ago. Suspended, deleting and invalid schedules are never overdue. Pure.
import type { CheckpointSchedule } from '../api/types.ts';
import { nextRunTime } from './cron.ts';

export const OVERDUE_GRACE_MS = 2 * 60_000;

export function overdueSchedules(schedules: readonly CheckpointSchedule[], now: Date, graceMs: number = OVERDUE_GRACE_MS): CheckpointSchedule[] {
  return schedules.filter((cps) => {
    if (cps.spec?.suspend === true || cps.metadata?.deletionTimestamp) return false;
    const recorded = cps.status?.nextRunTime ? Date.parse(cps.status.nextRunTime) : Number.NaN;
    const created = cps.metadata?.creationTimestamp ? new Date(cps.metadata.creationTimestamp) : undefined;
    const due = Number.isFinite(recorded)
      ? recorded
      : created === undefined || Number.isNaN(created.getTime()) ? undefined : nextRunTime(cps.spec.schedule, cps.spec.timeZone || undefined, created)?.getTime();
    return due !== undefined && now.getTime() - due > graceMs;
  });
}
