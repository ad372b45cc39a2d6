// A fired schedule becomes one checkpoint job per selected pod and container. Pure: pods and
// the running checkpoints are passed in; ids and names are deterministic, so a double fire
// (two controllers, a retry) produces the same jobs and BullMQ enqueues them once.
import type { LabelSelector } from '../api/types.ts';
import type { ScheduleRef } from './desired.ts';
import { selectorMatches } from '../rules/label-selector.ts';
import { checkpointJobId, checkpointRequestName, nodeQueueName } from './names.ts';
import { checkpointOptOut } from '../rules/opt-in.ts';

/** The parts of a Pod fan-out reads (structurally compatible with client-node's V1Pod). */
export interface PodLike {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string | Date | null;
  };
  spec?: { nodeName?: string; containers?: Array<{ name: string }> };
  status?: { phase?: string };
}

/** A fired schedule: what it is, which pods it selects, which containers. */
export interface FiredSchedule {
  ref: ScheduleRef;
  selector: LabelSelector;
  /** Unset or empty: every regular container of the pod. */
  containerNames?: string[];
  /** Passed to the kubelet; default 300. */
  timeoutSeconds?: number;
  /** When set, a fire older than this at `now` is skipped as missed (as CronJob does). */
  startingDeadlineSeconds?: number;
}

/** A checkpoint still running (its CheckpointRequest is Pending or InProgress). */
export interface RunningCheckpoint {
  namespace: string;
  podName: string;
  containerName: string;
}

/** Job data on a node queue: references only, never credentials. */
export interface CheckpointJobData {
  requestName: string;
  namespace: string;
  podName: string;
  podUid: string;
  containerName: string;
  nodeName: string;
  timeoutSeconds: number;
  schedule: ScheduleRef;
  /** ISO time of the scheduled slot. */
  fireTime: string;
}

export interface CheckpointJob {
  queueName: string;
  jobId: string;
  requestName: string;
  data: CheckpointJobData;
}

export interface FanOutResult {
  jobs: CheckpointJob[];
  /** Containers skipped because their previous checkpoint is still running. */
  skippedBusy: number;
  /** Selected pods that cannot be checkpointed now (not Running, not scheduled, terminating). */
  skippedNotRunning: number;
  /** Selected pods that opted out of checkpoints (kcr.io/checkpoint or kcr.io/restore: "false"). */
  skippedOptedOut: number;
  /** Requested container names that the pod does not have, as `pod/container`. */
  missingContainers: string[];
  /** True when the fire is older than startingDeadlineSeconds: nothing is queued. */
  missed: boolean;
}

export const DEFAULT_CHECKPOINT_TIMEOUT_SECONDS = 300;

function runningKey(namespace: string, podName: string, containerName: string): string {
  return `${namespace}\u0000${podName}\u0000${containerName}`;
}

export function fanOut(input: {
  schedule: FiredSchedule;
  pods: readonly PodLike[];
  runningCheckpoints: readonly RunningCheckpoint[];
  now: Date;
  fireTime: Date;
}): FanOutResult {
  const { schedule, pods, now, fireTime } = input;
  const result: FanOutResult = { jobs: [], skippedBusy: 0, skippedNotRunning: 0, skippedOptedOut: 0, missingContainers: [], missed: false };
  const deadline = schedule.startingDeadlineSeconds;
  if (deadline !== undefined && now.getTime() - fireTime.getTime() > deadline * 1000) {
    result.missed = true;
    return result;
  }
  const busy = new Set(input.runningCheckpoints.map((r) => runningKey(r.namespace, r.podName, r.containerName)));
  const fireMs = fireTime.getTime();
  const namespace = schedule.ref.namespace;
  const wanted = schedule.containerNames !== undefined && schedule.containerNames.length > 0 ? [...new Set(schedule.containerNames)] : undefined;

  const selected = pods
    .filter((p) => p.metadata?.namespace === namespace && p.metadata.name && p.metadata.uid)
    .filter((p) => selectorMatches(schedule.selector, p.metadata?.labels))
    .sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : a.metadata!.name! > b.metadata!.name! ? 1 : 0));

  for (const pod of selected) {
    const meta = pod.metadata!;
    const podName = meta.name!;
    const podUid = meta.uid!;
    const nodeName = pod.spec?.nodeName;
    if (checkpointOptOut(meta.annotations) !== undefined) {
      result.skippedOptedOut++;
      continue;
    }
    if (!nodeName || pod.status?.phase !== 'Running' || meta.deletionTimestamp) {
      result.skippedNotRunning++;
      continue;
    }
    const present = (pod.spec?.containers ?? []).map((c) => c.name);
    let containers = present;
    if (wanted) {
      containers = wanted.filter((c) => present.includes(c));
      for (const c of wanted) if (!present.includes(c)) result.missingContainers.push(`${podName}/${c}`);
    }
    for (const containerName of containers) {
      if (busy.has(runningKey(namespace, podName, containerName))) {
        result.skippedBusy++;
        continue;
      }
      const jobId = checkpointJobId(schedule.ref.uid, fireMs, podUid, containerName);
      const requestName = checkpointRequestName(podName, containerName, jobId);
      result.jobs.push({
        queueName: nodeQueueName(nodeName),
        jobId,
        requestName,
        data: {
          requestName,
          namespace,
          podName,
          podUid,
          containerName,
          nodeName,
          timeoutSeconds: schedule.timeoutSeconds ?? DEFAULT_CHECKPOINT_TIMEOUT_SECONDS,
          schedule: schedule.ref,
          fireTime: fireTime.toISOString(),
        },
      });
    }
  }
  return result;
}
