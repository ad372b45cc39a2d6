// The informers `kcr controller` runs (all namespaces): kcr's schedules, requests and
// checkpoints, restore requests, the workloads carrying the schedule annotation, pods (fan-out,
// restored-from, crashes), namespaces (the opt-in label) and nodes (migration targets).
// They reuse the webhook's InformerSet (restart with backoff, synced tracking) with the
// controller's ObjectCache as the sink. Each keeps a projection of its kind (cache-projections.ts):
// the cache never holds a full pod.
import type { ClusterAccess } from '../kube/cluster-access.ts';
import { GROUP, PLURALS, VERSION } from '../api/types.ts';
import { ProjectedInformer } from '../kube/projected-informer.ts';
import type { Logger } from '../log.ts';
import type { IndexFeed } from '../../webhooks/informers.ts';
import type { IndexedKind } from '../../webhooks/restore-index.ts';
import { CACHE_PROJECTIONS } from './cache-projections.ts';
import type { CachedKind } from './object-cache.ts';

export function controllerFeeds(kc: ClusterAccess, options: { pageSize?: number; silentMs?: number; logger?: Logger } = {}): IndexFeed[] {
  const kcr = `/apis/${GROUP}/${VERSION}`;
  const feeds: Array<[name: string, kind: CachedKind, path: string]> = [
    ['pods', 'Pod', '/api/v1/pods'],
    ['deployments', 'Deployment', '/apis/apps/v1/deployments'],
    ['statefulsets', 'StatefulSet', '/apis/apps/v1/statefulsets'],
    [PLURALS.CheckpointSchedule, 'CheckpointSchedule', `${kcr}/${PLURALS.CheckpointSchedule}`],
    [PLURALS.CheckpointRequest, 'CheckpointRequest', `${kcr}/${PLURALS.CheckpointRequest}`],
    [PLURALS.Checkpoint, 'Checkpoint', `${kcr}/${PLURALS.Checkpoint}`],
    [PLURALS.RestoreRequest, 'RestoreRequest', `${kcr}/${PLURALS.RestoreRequest}`],
    ['namespaces', 'Namespace', '/api/v1/namespaces'],
    ['nodes', 'Node', '/api/v1/nodes'],
  ];
  return feeds.map(([name, kind, path]) => {
    const informer = new ProjectedInformer({ kc, name, path, project: CACHE_PROJECTIONS[kind], ...options });
    return {
      name,
      // The InformerSet passes the kind through to the sink untouched; the controller's cache
      // knows CheckpointRequest, which the webhook's index type does not list.
      kind: kind as IndexedKind,
      informer,
      connection: informer,
    };
  });
}
