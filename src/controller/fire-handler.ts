// What happens when a schedule fires (the schedule worker's onFire): Q's pure fanOut over the
// cached pods, then per (pod, container) a CheckpointRequest (deterministic name: a second fire
// of the same slot gets 409 and skips) and a job on the node's queue (deterministic id: BullMQ
// adds it once). The schedule's status records the run; problems become Events.
import { API_VERSION, GROUP, PLURALS, VERSION, type CheckpointRequest, type CheckpointSchedule, type LabelSelector } from '../api/types.ts';
import type { Logger } from '../log.ts';
import type { CheckpointQueues } from '../queue/checkpoint-queues.ts';
import type { ScheduleRef } from '../schedule/desired.ts';
import { fanOut, type CheckpointJob, type FanOutResult, type FiredSchedule, type PodLike, type RunningCheckpoint } from '../schedule/fan-out.ts';
import { nextRunTime } from '../schedule/cron.ts';
import { checkpointRequestFor, REQUEST_ANNOTATIONS, REQUEST_LABELS } from './checkpoint-request.ts';
import type { EventRecorder, InvolvedObject } from './events.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';
import type { ObjectCache } from './object-cache.ts';
import { CONDITION_LAST_RUN, REASONS, setCondition } from './schedule-status.ts';
import { checkpointRequestConditions, observedGeneration } from '../api/conditions.ts';
import type { WorkloadLike } from './workload-schedules.ts';
import { ANNOTATIONS } from '../api/types.ts';
import { DEFAULT_STUCK_MARGIN_SECONDS, overdue, unfinished } from './stale-request.ts';

export interface FireDeps {
  api: KubeJson;
  cache: ObjectCache;
  queues: Pick<CheckpointQueues, 'enqueue'>;
  events: EventRecorder;
  logger: Logger;
  ttlSecondsAfterFinished: number;
  /** A request unfinished past its timeout plus this margin no longer makes its container busy (stale-request.ts). */
  stuckMarginSeconds?: number;
  now?: () => Date;
}

export interface FireOutcome {
  result: FanOutResult;
  /** Requests this fire created (not found already there). */
  created: number;
  /** Jobs whose request or enqueue failed. */
  failed: number;
}

export const crPath = (plural: string, namespace: string, name?: string) =>
  `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${plural}${name !== undefined ? `/${name}` : ''}`;

function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The schedule's selector and options as they are now; undefined when it is gone, replaced, suspended or unannotated. */
async function resolveSchedule(deps: FireDeps, ref: ScheduleRef): Promise<{ fired: FiredSchedule; cps?: CheckpointSchedule } | undefined> {
  if (ref.kind === 'CheckpointSchedule') {
    let cps = deps.cache.get<CheckpointSchedule>('CheckpointSchedule', ref.namespace, ref.name);
    if (!cps) {
      try {
        cps = await deps.api.get<CheckpointSchedule>(crPath(PLURALS.CheckpointSchedule, ref.namespace, ref.name));
      } catch (err) {
        if (apiCode(err) === 404) return undefined;
        throw err;
      }
    }
    if ((ref.uid && cps.metadata.uid !== ref.uid) || cps.spec.suspend === true || cps.metadata.deletionTimestamp) return undefined;
    const fired: FiredSchedule = { ref, selector: cps.spec.selector ?? {} };
    if (cps.spec.containerNames) fired.containerNames = cps.spec.containerNames;
    if (cps.spec.timeoutSeconds !== undefined) fired.timeoutSeconds = cps.spec.timeoutSeconds;
    return { fired, cps };
  }
  const w = deps.cache.get<WorkloadLike>(ref.kind, ref.namespace, ref.name);
  if (!w || (ref.uid && w.metadata?.uid !== ref.uid) || w.metadata?.annotations?.[ANNOTATIONS.workloadSchedule] === undefined) return undefined;
  const selector: LabelSelector | undefined = w.spec?.selector;
  if (!selector) return undefined;
  return { fired: { ref, selector } };
}

function runningCheckpoints(cache: ObjectCache, namespace: string, ref: ScheduleRef, fireTime: Date, now: Date, marginSeconds: number): RunningCheckpoint[] {
  const fireIso = fireTime.toISOString();
  const out: RunningCheckpoint[] = [];
  for (const r of cache.list<CheckpointRequest>('CheckpointRequest', namespace)) {
    if (!unfinished(r)) continue;
    // Stuck past its timeout: the reconcile pass fails it; this fire need not wait for that.
    if (overdue(r, now, marginSeconds)) continue;
    // This very fire's own requests (a double fire) are not "the previous checkpoint".
    if (r.metadata.annotations?.[REQUEST_ANNOTATIONS.fireTime] === fireIso && r.metadata.labels?.[REQUEST_LABELS.scheduleUid] === ref.uid) continue;
    out.push({ namespace, podName: r.spec.podReference.name, containerName: r.spec.containerName });
  }
  return out;
}

/** Creates the request (409: already there) and queues its job; records the node on a request it created. */
async function submit(deps: FireDeps, job: CheckpointJob): Promise<boolean> {
  const body = checkpointRequestFor(job, deps.ttlSecondsAfterFinished);
  let created: CheckpointRequest | undefined;
  try {
    created = await deps.api.create<CheckpointRequest>(crPath(PLURALS.CheckpointRequest, job.data.namespace), body);
  } catch (err) {
    if (apiCode(err) !== 409) throw err;
  }
  await deps.queues.enqueue(job);
  if (created) await recordQueued(deps.api, created, job.data.nodeName, deps.now?.() ?? new Date());
  return created !== undefined;
}

/** status: Pending on `nodeName`. Written with the resourceVersion read: if the agent got there first (409), its status stands. */
export async function recordQueued(api: KubeJson, r: CheckpointRequest, nodeName: string, now: Date): Promise<void> {
  const phase = r.status?.phase ?? 'Pending';
  const generation = r.metadata.generation;
  const conditions = checkpointRequestConditions(r.status?.conditions, { phase, message: r.status?.message, generation, now });
  try {
    await api.replace(crPath(PLURALS.CheckpointRequest, r.metadata.namespace ?? '', r.metadata.name ?? '') + '/status', {
      ...r,
      status: { ...r.status, phase, nodeName, conditions, ...observedGeneration(generation) },
    });
  } catch (err) {
    if (apiCode(err) !== 409 && apiCode(err) !== 404) throw err;
  }
}

export function involved(ref: ScheduleRef): InvolvedObject {
  return {
    apiVersion: ref.kind === 'CheckpointSchedule' ? API_VERSION : 'apps/v1',
    kind: ref.kind,
    namespace: ref.namespace,
    name: ref.name,
    ...(ref.uid ? { uid: ref.uid } : {}),
  };
}

export function runSummary(result: FanOutResult, created: number, failed: number): string {
  const parts = [`${result.jobs.length} checkpoint(s) queued (${created} new)`];
  if (result.skippedBusy > 0) parts.push(`${result.skippedBusy} skipped: previous checkpoint still running`);
  if (result.skippedNotRunning > 0) parts.push(`${result.skippedNotRunning} pod(s) not running`);
  if (result.skippedOptedOut > 0) parts.push(`${result.skippedOptedOut} pod(s) opted out of checkpoints`);
  if (result.missingContainers.length > 0) parts.push(`missing containers: ${result.missingContainers.join(', ')}`);
  if (failed > 0) parts.push(`${failed} failed`);
  return parts.join('; ');
}

export async function handleFire(deps: FireDeps, ref: ScheduleRef, fireTime: Date): Promise<FireOutcome | undefined> {
  const { cache, logger, events } = deps;
  const now = deps.now?.() ?? new Date();
  const source = await resolveSchedule(deps, ref);
  if (!source) {
    logger.info({ namespace: ref.namespace, name: ref.name, kind: ref.kind }, 'fired schedule is gone, suspended or replaced: nothing to do');
    return undefined;
  }
  const result = fanOut({
    schedule: source.fired,
    pods: cache.list<PodLike>('Pod', ref.namespace),
    runningCheckpoints: runningCheckpoints(cache, ref.namespace, ref, fireTime, now, deps.stuckMarginSeconds ?? DEFAULT_STUCK_MARGIN_SECONDS),
    now,
    fireTime,
  });
  let created = 0;
  let failed = 0;
  let firstError: unknown;
  for (const job of result.jobs) {
    try {
      if (await submit(deps, job)) created++;
    } catch (err) {
      failed++;
      firstError ??= err;
      logger.error({ err, code: apiCode(err), namespace: job.data.namespace, pod: job.data.podName, container: job.data.containerName },
        'could not submit a checkpoint');
    }
  }
  logger.info({ namespace: ref.namespace, name: ref.name, kind: ref.kind, fireTime: fireTime.toISOString(), jobs: result.jobs.length, created,
    skippedBusy: result.skippedBusy, skippedNotRunning: result.skippedNotRunning, skippedOptedOut: result.skippedOptedOut, failed }, 'schedule fired');

  const summary = runSummary(result, created, failed);
  if (failed > 0) await events.event(involved(ref), 'Warning', 'CheckpointSubmitFailed', summary);
  else if (result.missingContainers.length > 0) await events.event(involved(ref), 'Warning', 'MissingContainers', summary);
  else if (result.jobs.length === 0 && result.skippedBusy === 0) {
    await events.event(involved(ref), 'Warning', REASONS.nothingSelected, `no running pod matches the selector; ${summary}`);
  }
  if (source.cps) await recordRun(deps, source.cps, fireTime, now, result, created, failed, summary);
  // BullMQ retries the fired job; every step above is idempotent.
  if (firstError !== undefined) throw firstError;
  return { result, created, failed };
}

async function recordRun(
  deps: FireDeps, cps: CheckpointSchedule, fireTime: Date, now: Date, result: FanOutResult, created: number, failed: number, summary: string,
): Promise<void> {
  const latest = deps.cache.get<CheckpointSchedule>('CheckpointSchedule', cps.metadata.namespace ?? '', cps.metadata.name ?? '') ?? cps;
  const old = latest.status ?? {};
  const ok = failed === 0 && result.missingContainers.length === 0;
  const reason = failed > 0 ? 'SubmitFailed' : result.skippedBusy > 0 ? REASONS.skippedBusy : REASONS.fired;
  const conditions = setCondition(old.conditions, {
    type: CONDITION_LAST_RUN, status: ok ? 'True' : 'False', reason, message: summary, lastTransitionTime: isoSeconds(now),
    ...observedGeneration(latest.metadata.generation),
  });
  const next = nextRunTime(cps.spec.schedule, cps.spec.timeZone || undefined, now);
  const lastRun = isoSeconds(fireTime);
  const prevRun = old.lastRunTime ? Date.parse(old.lastRunTime) : 0;
  const status = {
    lastRunTime: prevRun > fireTime.getTime() ? old.lastRunTime : lastRun,
    checkpointsCreated: (old.checkpointsCreated ?? 0) + created,
    ...(next ? { nextRunTime: isoSeconds(next) } : {}),
    conditions,
  };
  try {
    await deps.api.patch(crPath(PLURALS.CheckpointSchedule, cps.metadata.namespace ?? '', cps.metadata.name ?? '') + '/status', { status });
  } catch (err) {
    deps.logger.warn({ err, code: apiCode(err), namespace: cps.metadata.namespace, name: cps.metadata.name }, 'could not record the run in the schedule status');
  }
}
