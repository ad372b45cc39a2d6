// CheckpointRequests the controller looks after on every pass: unqueued ones (users' requests,
// or a fire interrupted between create and enqueue) are resolved to their pod's node and queued
// the same way a fire queues them, or failed with a message naming the pod; stuck ones (past
// their timeout, or lost with their node, agent or job: stale-request.ts) are failed; finished
// ones are deleted after their TTL (propagationPolicy Orphan: a Checkpoint never goes with its request).
import { PLURALS, type CheckpointRequest } from '../api/types.ts';
import type { Logger } from '../log.ts';
import type { CheckpointQueues } from '../queue/checkpoint-queues.ts';
import type { PodLike } from '../schedule/fan-out.ts';
import type { EventRecorder } from './events.ts';
import { crPath, recordQueued } from './fire-handler.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';
import type { ObjectCache } from './object-cache.ts';
import { decidePending, requestJobId } from './pending-requests.ts';
import { staleRequestDecision, unfinished, type Suspect } from './stale-request.ts';
import { nodeQueueName } from '../schedule/names.ts';
import { expiredRequests } from './request-ttl.ts';
import { API_VERSION } from '../api/types.ts';
import { checkpointRequestConditions, observedGeneration } from '../api/conditions.ts';

export interface RequestKeeperDeps {
  api: KubeJson;
  cache: ObjectCache;
  queues: Pick<CheckpointQueues, 'enqueue'>;
  events: EventRecorder;
  logger: Logger;
  defaultTtlSeconds: number;
  now?: () => Date;
}

function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export async function queuePendingRequests(deps: RequestKeeperDeps): Promise<{ queued: number; failed: number }> {
  const { cache, logger } = deps;
  let queued = 0;
  let failed = 0;
  for (const r of cache.list<CheckpointRequest>('CheckpointRequest')) {
    const namespace = r.spec?.podReference?.namespace || r.metadata.namespace || '';
    const pod = cache.get<PodLike>('Pod', namespace, r.spec?.podReference?.name ?? '');
    const d = decidePending(r, pod);
    const who = { namespace: r.metadata.namespace, request: r.metadata.name, pod: r.spec?.podReference?.name, container: r.spec?.containerName };
    try {
      if (d.action === 'enqueue') {
        await deps.queues.enqueue(d.job);
        await recordQueued(deps.api, r, d.job.data.nodeName, deps.now?.() ?? new Date());
        queued++;
        logger.info({ ...who, node: d.job.data.nodeName, jobId: d.job.jobId }, 'checkpoint request queued');
      } else if (d.action === 'fail') {
        await failRequest(deps, r, 'CheckpointFailed', d.message, d.message);
        failed++;
        logger.warn({ ...who, message: d.message }, 'checkpoint request failed');
      }
    } catch (err) {
      // 409: the request changed under us (the agent took it): the next pass sees the new state.
      if (apiCode(err) !== 409) logger.error({ ...who, err, code: apiCode(err) }, 'could not queue a checkpoint request');
    }
  }
  return { queued, failed };
}

/**
 * status: Failed with `message`, then a Warning Event. Written with the resourceVersion the cache
 * holds: a request that changed since (the agent got further) answers 409 and stays as it is.
 */
async function failRequest(deps: RequestKeeperDeps, r: CheckpointRequest, reason: string, statusMessage: string, eventMessage: string): Promise<void> {
  const at = deps.now?.() ?? new Date();
  const now = isoSeconds(at);
  const generation = r.metadata.generation;
  const conditions = checkpointRequestConditions(r.status?.conditions, { phase: 'Failed', reason, message: statusMessage, generation, now: at });
  await deps.api.replace(crPath(PLURALS.CheckpointRequest, r.metadata.namespace ?? '', r.metadata.name ?? '') + '/status', {
    ...r,
    status: { ...r.status, phase: 'Failed', message: statusMessage, completionTime: now, startTime: r.status?.startTime ?? now, conditions, ...observedGeneration(generation) },
  });
  await deps.events.event(
    { apiVersion: API_VERSION, kind: 'CheckpointRequest', namespace: r.metadata.namespace ?? '', name: r.metadata.name ?? '', ...(r.metadata.uid ? { uid: r.metadata.uid } : {}) },
    'Warning', reason, eventMessage,
  );
}

export interface StaleRequestSettings {
  /** Seconds past spec.timeoutSeconds before an unfinished request fails. */
  marginSeconds: number;
  /** Seconds a request must look lost (node, agent or job gone) before it fails. */
  graceSeconds: number;
  /** Requests seen lost on earlier passes, by uid; kept by the caller across passes. */
  suspects: Map<string, Suspect>;
}

/**
 * Fails every unfinished request that will never finish (stale-request.ts): one Redis look per
 * queued request (its job's state on its node's queue), the node from the cache. Returns how many failed.
 */
export async function failStaleRequests(
  deps: RequestKeeperDeps & { queues: Pick<CheckpointQueues, 'jobState'> },
  settings: StaleRequestSettings,
): Promise<number> {
  const { cache, logger } = deps;
  const now = deps.now?.() ?? new Date();
  const seen = new Set<string>();
  let failed = 0;
  for (const r of cache.list<CheckpointRequest>('CheckpointRequest')) {
    if (!unfinished(r)) continue;
    const key = r.metadata.uid ?? `${r.metadata.namespace ?? ''}/${r.metadata.name ?? ''}`;
    seen.add(key);
    const nodeName = r.status?.nodeName;
    const job = nodeName ? await deps.queues.jobState(nodeQueueName(nodeName), requestJobId(r)) : undefined;
    const d = staleRequestDecision({
      request: r,
      now,
      job: job?.state,
      jobFailedReason: job?.failedReason,
      nodeExists: nodeName ? cache.get('Node', '', nodeName) !== undefined : undefined,
      suspect: settings.suspects.get(key),
      marginSeconds: settings.marginSeconds,
      graceSeconds: settings.graceSeconds,
    });
    if (d.action === 'keep') {
      if (d.suspect) settings.suspects.set(key, d.suspect);
      else settings.suspects.delete(key);
      continue;
    }
    const who = { namespace: r.metadata.namespace, request: r.metadata.name, pod: r.spec?.podReference?.name, container: r.spec?.containerName, uid: r.metadata.uid, node: nodeName };
    try {
      await failRequest(deps, r, d.reason, `${d.reason}: ${d.message}`, d.message);
      settings.suspects.delete(key);
      failed++;
      logger.warn({ ...who, reason: d.reason, jobState: job?.state, message: d.message }, 'stuck checkpoint request failed');
    } catch (err) {
      // 409: the request moved on since the cache saw it: the next pass judges it anew.
      if (apiCode(err) !== 409 && apiCode(err) !== 404) logger.error({ ...who, err, code: apiCode(err) }, 'could not fail a stuck checkpoint request');
    }
  }
  for (const key of settings.suspects.keys()) if (!seen.has(key)) settings.suspects.delete(key);
  return failed;
}

export async function deleteExpiredRequests(deps: RequestKeeperDeps): Promise<number> {
  const expired = expiredRequests(deps.cache.list<CheckpointRequest>('CheckpointRequest'), deps.now?.() ?? new Date(), deps.defaultTtlSeconds);
  let deleted = 0;
  for (const { namespace, name } of expired) {
    try {
      await deps.api.delete(crPath(PLURALS.CheckpointRequest, namespace, name), { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Orphan' });
      deleted++;
      deps.logger.debug({ namespace, request: name }, 'finished checkpoint request deleted after its TTL');
    } catch (err) {
      if (apiCode(err) !== 404) deps.logger.warn({ err, code: apiCode(err), namespace, request: name }, 'could not delete an expired checkpoint request');
    }
  }
  return deleted;
}
