// CheckpointRequests the controller looks after on every pass: unqueued ones (users' requests,
// or a fire interrupted between create and enqueue) are resolved to their pod's node and queued
// the same way a fire queues them, or failed with a message naming the pod; finished ones are
// deleted after their TTL (propagationPolicy Orphan: a Checkpoint never goes with its request).
import { PLURALS, type CheckpointRequest } from '../api/types.ts';
import type { Logger } from '../log.ts';
import type { CheckpointQueues } from '../queue/checkpoint-queues.ts';
import type { PodLike } from '../schedule/fan-out.ts';
import type { EventRecorder } from './events.ts';
import { crPath, recordQueued } from './fire-handler.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';
import type { ObjectCache } from './object-cache.ts';
import { decidePending } from './pending-requests.ts';
import { expiredRequests } from './request-ttl.ts';
import { API_VERSION } from '../api/types.ts';

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
        await recordQueued(deps.api, r, d.job.data.nodeName);
        queued++;
        logger.info({ ...who, node: d.job.data.nodeName, jobId: d.job.jobId }, 'checkpoint request queued');
      } else if (d.action === 'fail') {
        const now = isoSeconds(deps.now?.() ?? new Date());
        await deps.api.replace(crPath(PLURALS.CheckpointRequest, r.metadata.namespace ?? '', r.metadata.name ?? '') + '/status', {
          ...r,
          status: { ...r.status, phase: 'Failed', message: d.message, completionTime: now, startTime: r.status?.startTime ?? now },
        });
        failed++;
        logger.warn({ ...who, message: d.message }, 'checkpoint request failed');
        await deps.events.event(
          { apiVersion: API_VERSION, kind: 'CheckpointRequest', namespace: r.metadata.namespace ?? '', name: r.metadata.name ?? '', ...(r.metadata.uid ? { uid: r.metadata.uid } : {}) },
          'Warning', 'CheckpointFailed', d.message,
        );
      }
    } catch (err) {
      // 409: the request changed under us (the agent took it): the next pass sees the new state.
      if (apiCode(err) !== 409) logger.error({ ...who, err, code: apiCode(err) }, 'could not queue a checkpoint request');
    }
  }
  return { queued, failed };
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
