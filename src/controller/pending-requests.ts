// What to do with a CheckpointRequest nobody has queued yet (a user's, or one of a fire whose
// controller died between creating it and recording its node). Pure: the request and the pod it
// names go in, a decision comes out. A request is "unqueued" while it has no status.nodeName and
// no phase past Pending.
import type { CheckpointRequest } from '../api/types.ts';
import type { PodLike } from '../schedule/fan-out.ts';
import type { CheckpointJob } from '../schedule/fan-out.ts';
import { DEFAULT_CHECKPOINT_TIMEOUT_SECONDS } from '../schedule/fan-out.ts';
import { nodeQueueName } from '../schedule/names.ts';
import { REQUEST_ANNOTATIONS, REQUEST_LABELS } from './checkpoint-request.ts';
import { checkpointOptOut } from '../rules/opt-in.ts';

export type PendingDecision =
  | { action: 'none' }
  | { action: 'enqueue'; job: CheckpointJob }
  /** The pod is not scheduled or not running yet: look again later. */
  | { action: 'wait'; message: string }
  | { action: 'fail'; message: string };

export function needsQueueing(r: CheckpointRequest): boolean {
  if (r.metadata.deletionTimestamp) return false;
  const phase = r.status?.phase;
  return (phase === undefined || phase === 'Pending') && !r.status?.nodeName;
}

/** The job id of a request: the fire's (annotation) or one derived from the request's UID. */
export function requestJobId(r: CheckpointRequest): string {
  return r.metadata.annotations?.[REQUEST_ANNOTATIONS.jobId] ?? `req_${r.metadata.uid ?? r.metadata.name ?? ''}`;
}

export function decidePending(r: CheckpointRequest, pod: PodLike | undefined): PendingDecision {
  if (!needsQueueing(r)) return { action: 'none' };
  const requestNamespace = r.metadata.namespace ?? '';
  const namespace = r.spec.podReference.namespace || requestNamespace;
  const podName = r.spec.podReference.name;
  const container = r.spec.containerName;
  if (namespace !== requestNamespace) {
    return { action: 'fail', message: `pod ${namespace}/${podName} is in another namespace than the request (${requestNamespace}); only same-namespace checkpoints are allowed` };
  }
  if (pod === undefined || pod.metadata?.deletionTimestamp) {
    return { action: 'fail', message: `pod ${namespace}/${podName} not found` };
  }
  const containers = (pod.spec?.containers ?? []).map((c) => c.name);
  if (!containers.includes(container)) {
    return { action: 'fail', message: `pod ${namespace}/${podName} has no container ${JSON.stringify(container)} (it has ${containers.join(', ') || 'none'})` };
  }
  const optOut = checkpointOptOut(pod.metadata?.annotations);
  if (optOut !== undefined) {
    return { action: 'fail', message: `pod ${namespace}/${podName} opted out of checkpoints (${optOut}): its memory is not dumped` };
  }
  const nodeName = pod.spec?.nodeName;
  if (!nodeName || pod.status?.phase !== 'Running') {
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') {
      return { action: 'fail', message: `pod ${namespace}/${podName} is not running (phase ${pod.status.phase})` };
    }
    return { action: 'wait', message: `waiting for pod ${namespace}/${podName} to run on a node` };
  }
  const jobId = requestJobId(r);
  const fireTime = r.metadata.annotations?.[REQUEST_ANNOTATIONS.fireTime] ?? r.metadata.creationTimestamp ?? new Date(0).toISOString();
  const scheduleKind = r.metadata.labels?.[REQUEST_LABELS.scheduleKind];
  const scheduleName = r.spec.checkpointScheduleRef?.name ?? r.metadata.labels?.[REQUEST_LABELS.schedule] ?? '';
  return {
    action: 'enqueue',
    job: {
      queueName: nodeQueueName(nodeName),
      jobId,
      requestName: r.metadata.name ?? '',
      data: {
        requestName: r.metadata.name ?? '',
        namespace,
        podName,
        podUid: pod.metadata?.uid ?? '',
        containerName: container,
        nodeName,
        timeoutSeconds: r.spec.timeoutSeconds ?? DEFAULT_CHECKPOINT_TIMEOUT_SECONDS,
        // A user's request has no schedule: an empty reference (name '' and uid '').
        schedule: {
          kind: scheduleKind === 'Deployment' || scheduleKind === 'StatefulSet' ? scheduleKind : 'CheckpointSchedule',
          namespace,
          name: scheduleName,
          uid: r.metadata.labels?.[REQUEST_LABELS.scheduleUid] ?? '',
        },
        fireTime,
      },
    },
  };
}
