// The CheckpointRequest that records one job of a fired schedule. Pure. Its name is the
// fan-out's deterministic request name, so a double fire finds it already there (409).
//
// Owner: a CheckpointSchedule owns the requests it fired; for a workload-annotation schedule
// the Deployment/StatefulSet owns them. Either way the garbage collector removes them only with
// their schedule, never while it exists. Checkpoints must never be owned by a request (they
// outlive it: the TTL deletes requests, and does so with propagationPolicy Orphan as well).
import { API_VERSION, type CheckpointRequest, type OwnerReference } from '../api/types.ts';
import type { CheckpointJob } from '../schedule/fan-out.ts';
import type { ScheduleRef } from '../schedule/desired.ts';

/** Labels and annotations kcr puts on the requests it creates. */
export const REQUEST_LABELS = {
  /** UID of the CheckpointSchedule or workload that fired (always a valid label value). */
  scheduleUid: 'kcr.io/schedule-uid',
  scheduleKind: 'kcr.io/schedule-kind',
  /** Name of the schedule, when it fits a label value. */
  schedule: 'kcr.io/schedule',
  pod: 'kcr.io/pod',
  container: 'kcr.io/container',
} as const;

export const REQUEST_ANNOTATIONS = {
  /** The BullMQ job id of the request: re-enqueueing it (after a crash) is a no-op. */
  jobId: 'kcr.io/job-id',
  /** ISO time of the scheduled slot that produced the request. */
  fireTime: 'kcr.io/fire-time',
} as const;

export const DEFAULT_TTL_SECONDS_AFTER_FINISHED = 3600;

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function labelValue(v: string): string | undefined {
  return v.length <= 63 && LABEL_VALUE.test(v) ? v : undefined;
}

const OWNER_API_VERSION: Record<ScheduleRef['kind'], string> = {
  CheckpointSchedule: API_VERSION,
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
};

export function scheduleOwner(ref: ScheduleRef): OwnerReference | undefined {
  if (ref.uid === '') return undefined;
  // blockOwnerDeletion stays off: deleting a schedule must not wait for its requests.
  return { apiVersion: OWNER_API_VERSION[ref.kind], kind: ref.kind, name: ref.name, uid: ref.uid, controller: true };
}

export function checkpointRequestFor(job: CheckpointJob, ttlSecondsAfterFinished: number): CheckpointRequest {
  const d = job.data;
  const labels: Record<string, string> = {
    [REQUEST_LABELS.scheduleKind]: d.schedule.kind,
  };
  const put = (k: string, v: string) => {
    const ok = labelValue(v);
    if (ok !== undefined && ok !== '') labels[k] = ok;
  };
  put(REQUEST_LABELS.scheduleUid, d.schedule.uid);
  put(REQUEST_LABELS.schedule, d.schedule.name);
  put(REQUEST_LABELS.pod, d.podName);
  put(REQUEST_LABELS.container, d.containerName);
  const owner = scheduleOwner(d.schedule);
  return {
    apiVersion: API_VERSION,
    kind: 'CheckpointRequest',
    metadata: {
      name: job.requestName,
      namespace: d.namespace,
      labels,
      annotations: { [REQUEST_ANNOTATIONS.jobId]: job.jobId, [REQUEST_ANNOTATIONS.fireTime]: d.fireTime },
      ...(owner ? { ownerReferences: [owner] } : {}),
    },
    spec: {
      podReference: { name: d.podName, namespace: d.namespace },
      containerName: d.containerName,
      ...(d.schedule.kind === 'CheckpointSchedule' ? { checkpointScheduleRef: { name: d.schedule.name } } : {}),
      timeoutSeconds: d.timeoutSeconds,
      ttlSecondsAfterFinished,
    },
  };
}
