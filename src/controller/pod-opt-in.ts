// Whether a pod opted in to restore, seen from the controller's cache: the webhook's own opt-in
// checks (webhooks/opt-in.ts: same surfaces, the pod's "false" wins), fed with the cache's
// objects trimmed as the webhook's index trims them. The controller asks before it acts on a pod
// of its own accord (a RestoreRequest, an in-place restore after a crash). Pure over the cache.
import { optIn, type OptInLookup } from '../rules/opt-in.ts';
import { podIdentity, type PodIdentity } from '../rules/identity.ts';
import { trimNamespace, trimSchedule, trimWorkload, type IndexedSchedule } from '../rules/indexed-objects.ts';
import type { ObjectCache } from './object-cache.ts';

export interface OptInPod {
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ kind?: string; name?: string; controller?: boolean }>;
  };
}

/** The identity of a pod as the webhook computes it (ReplicaSets resolved by their pod-template-hash), with its kind. */
export function podIdentityOf(pod: OptInPod): PodIdentity | undefined {
  return podIdentity(pod.metadata, pod.metadata?.namespace ?? '', { replicaSet: () => undefined });
}

/** The identity string of a pod (podIdentityOf). */
export function identityOfPod(pod: OptInPod): string | undefined {
  return podIdentityOf(pod)?.identity;
}

function cacheLookup(cache: ObjectCache): OptInLookup {
  return {
    namespace: (name) => trimNamespace(cache.get('Namespace', '', name)),
    schedulesIn: (namespace) => cache.list('CheckpointSchedule', namespace).map(trimSchedule).filter((s): s is IndexedSchedule => s !== undefined),
    workload: (kind, namespace, name) => trimWorkload(kind, cache.get(kind, namespace, name)),
  };
}

export function podOptedIn(cache: ObjectCache, pod: OptInPod): boolean {
  const m = pod.metadata ?? {};
  const ns = m.namespace ?? '';
  return optIn(cacheLookup(cache), ns, m.labels ?? {}, m.annotations ?? {}, podIdentity(m, ns, { replicaSet: () => undefined })).optedIn;
}
