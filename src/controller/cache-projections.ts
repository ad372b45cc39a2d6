// What the controller's informers keep of each object. Its readers (restore, fan-out, retention,
// status sync) read much of kcr's own CRs (and write some back whole: status replaces carry the
// cached object), so those stay whole but for managedFields, which nothing reads and an update
// without them leaves as they are. Pods, nodes and workloads shrink to what the readers' types
// (PodLike, RestorePod, NodeLike, WorkloadLike, statefulSetImages) name: a pod keeps its
// metadata, its containers' names and images, its ServiceAccount token facts, and its status
// but for IPs and the like. A bare pod's manifest to recreate it is read from the API server when
// it is kept (restore-request-runner.ts), never from this cache. Pure.
import type { KubernetesObject } from '@kubernetes/client-node';
import { compact, isWire, pick, type Wire } from '../kube/pick.ts';
import type { CachedKind } from './object-cache.ts';

export type CacheProjected = KubernetesObject & Wire;

/** The annotation kubectl apply writes: a second copy of the whole object, read by nothing in kcr. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

function slimMetadata(m: unknown): Wire | undefined {
  if (!isWire(m)) return undefined;
  const { managedFields: _managed, ...rest } = m;
  if (isWire(rest.annotations) && Object.hasOwn(rest.annotations, LAST_APPLIED_ANNOTATION)) {
    const { [LAST_APPLIED_ANNOTATION]: _applied, ...annotations } = rest.annotations;
    rest.annotations = annotations;
  }
  return rest;
}

const containers = (v: unknown) => (Array.isArray(v) ? v.map((c) => (isWire(c) ? pick(c, ['name', 'image']) : c)) : undefined);

/** Only volumes that mount a ServiceAccount token (mountsServiceAccountToken), reduced to that source. */
function tokenVolumes(v: unknown): Wire[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: Wire[] = [];
  for (const vol of v) {
    if (!isWire(vol) || !isWire(vol.projected) || !Array.isArray(vol.projected.sources)) continue;
    const sources = vol.projected.sources.filter((s) => isWire(s) && s.serviceAccountToken !== undefined && s.serviceAccountToken !== null);
    if (sources.length > 0) out.push({ name: vol.name, projected: { sources } });
  }
  return out.length > 0 ? out : undefined;
}

export function projectCachePod(obj: unknown): CacheProjected | undefined {
  if (!isWire(obj)) return undefined;
  const spec = isWire(obj.spec) ? obj.spec : undefined;
  const status = isWire(obj.status) ? obj.status : undefined;
  return compact({
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: slimMetadata(obj.metadata),
    spec: spec && compact({
      ...pick(spec, ['nodeName', 'serviceAccountName', 'serviceAccount', 'automountServiceAccountToken']),
      containers: containers(spec.containers),
      initContainers: containers(spec.initContainers),
      volumes: tokenVolumes(spec.volumes),
    }),
    status: status && pick(status, ['phase', 'conditions', 'containerStatuses', 'initContainerStatuses']),
  }) as CacheProjected;
}

export function projectCacheNode(obj: unknown): CacheProjected | undefined {
  if (!isWire(obj)) return undefined;
  return compact({
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: slimMetadata(obj.metadata),
    spec: isWire(obj.spec) ? pick(obj.spec, ['unschedulable']) : undefined,
    // Not status.images (the node's image list, often the largest part of a Node).
    status: isWire(obj.status) ? pick(obj.status, ['nodeInfo', 'addresses']) : undefined,
  }) as CacheProjected;
}

export function projectCacheDeployment(obj: unknown): CacheProjected | undefined {
  if (!isWire(obj)) return undefined;
  return compact({
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: slimMetadata(obj.metadata),
    spec: isWire(obj.spec) ? pick(obj.spec, ['selector']) : undefined,
  }) as CacheProjected;
}

export function projectCacheStatefulSet(obj: unknown): CacheProjected | undefined {
  if (!isWire(obj)) return undefined;
  const spec = isWire(obj.spec) ? obj.spec : undefined;
  const template = spec && isWire(spec.template) ? spec.template : undefined;
  const podSpec = template && isWire(template.spec) ? template.spec : undefined;
  return compact({
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: slimMetadata(obj.metadata),
    spec: spec && compact({
      ...pick(spec, ['selector', 'updateStrategy']),
      template: template && compact({ spec: podSpec && compact({ containers: containers(podSpec.containers) }) }),
    }),
  }) as CacheProjected;
}

/** kcr's CRs and Namespaces: the whole object but managedFields. */
export function projectCacheWhole(obj: unknown): CacheProjected | undefined {
  if (!isWire(obj)) return undefined;
  const m = isWire(obj.metadata) ? obj.metadata : undefined;
  if (m === undefined || !Object.hasOwn(m, 'managedFields')) return obj as CacheProjected;
  const { managedFields: _managed, ...metadata } = m;
  return { ...obj, metadata } as CacheProjected;
}

export const CACHE_PROJECTIONS: Record<CachedKind, (obj: unknown) => CacheProjected | undefined> = {
  Pod: projectCachePod,
  Node: projectCacheNode,
  Deployment: projectCacheDeployment,
  StatefulSet: projectCacheStatefulSet,
  Namespace: projectCacheWhole,
  CheckpointSchedule: projectCacheWhole,
  CheckpointRequest: projectCacheWhole,
  Checkpoint: projectCacheWhole,
  RestoreRequest: projectCacheWhole,
};
