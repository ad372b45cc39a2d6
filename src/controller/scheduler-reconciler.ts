// Keeps BullMQ's job schedulers equal to the CRs and annotated workloads in the cache, through
// Q's SchedulerStore (fingerprints: a pass that changes nothing only reads; a missing sentinel,
// i.e. Redis lost its data, rewrites everything). Invalid crons and zones are reported as
// Warning Events; the schedule's Ready condition is the status sync's job.
import { API_VERSION, type CheckpointSchedule } from '../api/types.ts';
import type { Logger } from '../log.ts';
import type { ReconcileReport, SchedulerStore } from '../queue/scheduler-store.ts';
import { desiredSchedulers, type ScheduleError } from '../schedule/desired.ts';
import type { EventRecorder } from './events.ts';
import type { ObjectCache } from './object-cache.ts';
import { workloadSchedules, type WorkloadLike } from './workload-schedules.ts';
import { REASONS } from './schedule-status.ts';

export interface SchedulerPass {
  report: ReconcileReport;
  /** Invalid schedules by `<kind>/<namespace>/<name>`. */
  invalid: Map<string, string>;
  /** Valid schedules whose job scheduler could not be written this pass, by the same key: why. */
  unregistered: Map<string, string>;
}

export function invalidKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export async function reconcileSchedulers(deps: {
  cache: ObjectCache;
  store: Pick<SchedulerStore, 'reconcile'>;
  events: EventRecorder;
  logger: Logger;
  force?: boolean;
}): Promise<SchedulerPass> {
  const { cache, store, events, logger } = deps;
  const schedules = cache.list<CheckpointSchedule>('CheckpointSchedule');
  const workloads = [
    ...workloadSchedules('Deployment', cache.list<WorkloadLike>('Deployment')),
    ...workloadSchedules('StatefulSet', cache.list<WorkloadLike>('StatefulSet')),
  ];
  const { schedulers, errors } = desiredSchedulers(schedules, workloads);
  const report = await store.reconcile(schedulers, { force: deps.force === true });
  if (report.upserted > 0 || report.removed > 0 || report.rebuilt) {
    logger.info({ upserted: report.upserted, removed: report.removed, unchanged: report.unchanged, rebuilt: report.rebuilt },
      report.rebuilt ? 'job schedulers rebuilt from the CRs' : 'job schedulers reconciled');
  }
  const unregistered = new Map<string, string>();
  for (const f of report.failed) {
    logger.error({ err: f.error, scheduler: f.id }, 'writing a job scheduler failed');
    const ref = schedulers.find((d) => d.id === f.id)?.data;
    if (ref) unregistered.set(invalidKey(ref.kind, ref.namespace, ref.name), f.error.message);
  }
  const invalid = new Map<string, string>();
  for (const e of errors) {
    invalid.set(invalidKey(e.ref.kind, e.ref.namespace, e.ref.name), e.message);
    await reportInvalid(events, e);
  }
  return { report, invalid, unregistered };
}

async function reportInvalid(events: EventRecorder, e: ScheduleError): Promise<void> {
  await events.event(
    {
      apiVersion: e.ref.kind === 'CheckpointSchedule' ? API_VERSION : 'apps/v1',
      kind: e.ref.kind,
      namespace: e.ref.namespace,
      name: e.ref.name,
      ...(e.ref.uid ? { uid: e.ref.uid } : {}),
    },
    'Warning',
    REASONS.invalidSchedule,
    e.message,
  );
}
