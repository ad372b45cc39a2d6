// Keeps each CheckpointSchedule's status in step: Ready (Scheduled / Suspended / InvalidSchedule / NotRegistered),
// nextRunTime, lastSuccessfulTime, observedGeneration. Writes only when something differs.
import { PLURALS, type CheckpointRequest, type CheckpointSchedule } from '../api/types.ts';
import type { Logger } from '../log.ts';
import { crPath } from './fire-handler.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';
import type { ObjectCache } from './object-cache.ts';
import { REQUEST_LABELS } from './checkpoint-request.ts';
import { desiredScheduleStatus, sameStatus } from './schedule-status.ts';
import { invalidKey } from './scheduler-reconciler.ts';

export async function syncScheduleStatuses(deps: {
  api: KubeJson;
  cache: ObjectCache;
  logger: Logger;
  invalid: ReadonlyMap<string, string>;
  /** Schedules whose job scheduler could not be written this pass (scheduler-reconciler.ts). */
  unregistered?: ReadonlyMap<string, string>;
  now?: () => Date;
}): Promise<number> {
  const { cache, api, logger } = deps;
  const now = deps.now?.() ?? new Date();
  const requestsByUid = new Map<string, CheckpointRequest[]>();
  for (const r of cache.list<CheckpointRequest>('CheckpointRequest')) {
    const uid = r.metadata.labels?.[REQUEST_LABELS.scheduleUid];
    if (uid === undefined) continue;
    const g = requestsByUid.get(uid);
    if (g) g.push(r);
    else requestsByUid.set(uid, [r]);
  }
  let written = 0;
  for (const s of cache.list<CheckpointSchedule>('CheckpointSchedule')) {
    const ns = s.metadata.namespace ?? '';
    const name = s.metadata.name ?? '';
    if (s.metadata.deletionTimestamp) continue;
    const status = desiredScheduleStatus({
      schedule: s,
      invalid: deps.invalid.get(invalidKey('CheckpointSchedule', ns, name)),
      unregistered: deps.unregistered?.get(invalidKey('CheckpointSchedule', ns, name)),
      requests: requestsByUid.get(s.metadata.uid ?? '') ?? [],
      now,
    });
    if (sameStatus(s.status, status)) continue;
    try {
      // resourceVersion: a status written from a stale cache copy is refused (409) and redone next pass.
      await api.replace(crPath(PLURALS.CheckpointSchedule, ns, name) + '/status', { ...s, status });
      written++;
    } catch (err) {
      if (apiCode(err) !== 409 && apiCode(err) !== 404) logger.warn({ err, code: apiCode(err), namespace: ns, name }, 'could not update schedule status');
    }
  }
  return written;
}
