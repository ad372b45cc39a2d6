// Whether a pod opted in to restore, seen from the controller's cache: the same surfaces and
// precedence as the webhook's webhooks/opt-in.ts (the pod's "false" wins over everything).
// The controller asks before it acts on a pod of its own accord (a RestoreRequest, an in-place
// restore after a crash). Pure over the cache's contents.
import { ANNOTATIONS, NAMESPACE_LABEL, type CheckpointSchedule } from '../api/types.ts';
import { podAnnotationChoice } from '../../webhooks/opt-in.ts';
import { podIdentity } from '../../webhooks/identity.ts';
import { matchesSelector } from '../schedule/label-selector.ts';
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

interface Annotated {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
}

/** The identity of a pod as the webhook computes it (ReplicaSets resolved by their pod-template-hash). */
export function identityOfPod(pod: OptInPod): string | undefined {
  return podIdentity(pod.metadata, pod.metadata?.namespace ?? '', { replicaSet: () => undefined })?.identity;
}

export function podOptedIn(cache: ObjectCache, pod: OptInPod): boolean {
  const m = pod.metadata ?? {};
  const ns = m.namespace ?? '';
  const own = podAnnotationChoice(m.annotations ?? {});
  if (own !== undefined) return own === 'in';
  const namespace = cache.get<Annotated>('Namespace', '', ns);
  if (namespace?.metadata?.labels?.[NAMESPACE_LABEL.key] === NAMESPACE_LABEL.value) return true;
  const labels = m.labels ?? {};
  for (const s of cache.list<CheckpointSchedule>('CheckpointSchedule', ns)) {
    if (s.spec?.restore?.mode !== 'Never' && s.spec?.selector && matchesSelector(s.spec.selector, labels)) return true;
  }
  const id = podIdentity(m, ns, { replicaSet: () => undefined });
  if (id && (id.kind === 'Deployment' || id.kind === 'StatefulSet')) {
    const w = cache.get<Annotated>(id.kind, ns, id.workload);
    if ((w?.metadata?.annotations?.[ANNOTATIONS.workloadSchedule] ?? '').trim() !== '') return true;
  }
  return false;
}
