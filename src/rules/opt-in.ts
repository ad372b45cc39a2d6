// Opt-in: whether a pod may be restored at all. Each surface of DESIGN.md "Who uses it" is a
// small named check; the pod annotation kcr.io/restore: "false" wins over all of them.
import { ANNOTATIONS, NAMESPACE_LABEL } from '../api/types.ts';
import type { PodIdentity } from './identity.ts';
import { selectorMatches } from './label-selector.ts';
import type { RestoreIndex } from '../../webhooks/restore-index.ts';

/**
 * What the opt-in checks read: the webhook's RestoreIndex, or the controller's cache seen
 * through the same trimmed objects (src/controller/pod-opt-in.ts).
 */
export type OptInLookup = Pick<RestoreIndex, 'namespace' | 'schedulesIn' | 'workload'>;

export type OptInSurface = 'pod-annotation' | 'namespace-label' | 'schedule' | 'workload-annotation';

export type OptIn = { optedIn: true; via: OptInSurface } | { optedIn: false; reason: 'opted-out' | 'not-opted-in' };

/** The pod's own word: 'in' for "true", 'out' for "false" (case and spaces ignored), else undefined. */
export function podAnnotationChoice(annotations: Record<string, string>): 'in' | 'out' | undefined {
  const v = annotations[ANNOTATIONS.restore]?.trim().toLowerCase();
  return v === 'true' ? 'in' : v === 'false' ? 'out' : undefined;
}

/**
 * The annotation by which a pod refuses to be checkpointed at all, as `key: "false"`, else
 * undefined: kcr.io/checkpoint: "false", or kcr.io/restore: "false" (a pod that is never
 * restored has no use for a memory dump). A teammate's CheckpointRequest cannot dump it.
 */
export function checkpointOptOut(annotations: Record<string, string> | undefined): string | undefined {
  for (const key of [ANNOTATIONS.checkpoint, ANNOTATIONS.restore]) {
    if (annotations?.[key]?.trim().toLowerCase() === 'false') return `${key}: "false"`;
  }
  return undefined;
}

export function namespaceOptedIn(index: OptInLookup, namespace: string): boolean {
  return index.namespace(namespace)?.restoreLabel === NAMESPACE_LABEL.value;
}

/** A CheckpointSchedule of the namespace selects the pod and does not say restore.mode: Never. */
export function scheduleOptedIn(index: OptInLookup, namespace: string, labels: Record<string, string>): boolean {
  for (const s of index.schedulesIn(namespace)) {
    if (s.restoreMode !== 'Never' && selectorMatches(s.selector, labels)) return true;
  }
  return false;
}

/** The owning Deployment or StatefulSet carries kcr.io/checkpoint-restore-schedule. */
export function workloadOptedIn(index: OptInLookup, namespace: string, identity: PodIdentity | undefined): boolean {
  if (identity === undefined) return false;
  if (identity.kind !== 'Deployment' && identity.kind !== 'StatefulSet') return false;
  const schedule = index.workload(identity.kind, namespace, identity.workload)?.schedule;
  return schedule !== undefined && schedule.trim() !== '';
}

export function optIn(
  index: OptInLookup,
  namespace: string,
  labels: Record<string, string>,
  annotations: Record<string, string>,
  identity: PodIdentity | undefined,
): OptIn {
  const own = podAnnotationChoice(annotations);
  if (own === 'out') return { optedIn: false, reason: 'opted-out' };
  if (own === 'in') return { optedIn: true, via: 'pod-annotation' };
  if (namespaceOptedIn(index, namespace)) return { optedIn: true, via: 'namespace-label' };
  if (scheduleOptedIn(index, namespace, labels)) return { optedIn: true, via: 'schedule' };
  if (workloadOptedIn(index, namespace, identity)) return { optedIn: true, via: 'workload-annotation' };
  return { optedIn: false, reason: 'not-opted-in' };
}
