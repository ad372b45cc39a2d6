// From the controller's cache to the inputs of the pure retention choice: Checkpoints grouped
// by the policy that governs them, and what protects a checkpoint. Pure.
//
// A Checkpoint whose spec.checkpointScheduleRef names an existing CheckpointSchedule follows that
// schedule's spec.retention; every other one (workload-annotation schedules, users' requests,
// schedules since deleted) follows the default policy.
import { ANNOTATIONS, type Checkpoint, type CheckpointSchedule, type RetentionPolicy, type WorkloadReference } from '../api/types.ts';
import { checkpointKey, type CheckpointState, type RetentionCandidate } from '../retention/choose.ts';
import { identityKey, podNameKey, type LivingPods } from '../retention/source-pod.ts';
import { podIdentity } from '../rules/identity.ts';
import type { PodLike } from '../schedule/fan-out.ts';

export interface RetentionGroup {
  /** `cps:<ns>/<name>` or `default`. */
  key: string;
  policy: RetentionPolicy | undefined;
  checkpoints: RetentionCandidate[];
}

export function checkpointState(cp: Checkpoint): CheckpointState {
  const phase = cp.status?.phase;
  if (phase === 'Failed' || cp.status?.bad === true) return 'failed';
  if (phase === 'ImageBuilt') return 'good';
  return 'inflight';
}

export function toCandidate(cp: Checkpoint): RetentionCandidate {
  const ts = Date.parse(cp.spec.checkpointTimestamp ?? cp.metadata.creationTimestamp ?? '');
  const c: RetentionCandidate = {
    namespace: cp.metadata.namespace ?? '',
    name: cp.metadata.name ?? '',
    identity: cp.spec.identity ?? cp.spec.podName ?? cp.metadata.name ?? '',
    containerName: cp.spec.containerName,
    timestampMs: Number.isNaN(ts) ? 0 : ts,
    sizeBytes: cp.spec.sizeBytes ?? 0,
    state: checkpointState(cp),
  };
  if (cp.spec.workload) c.workload = cp.spec.workload;
  if (cp.spec.podName) c.podName = cp.spec.podName;
  if (cp.spec.podUID) c.podUID = cp.spec.podUID;
  const mark = cp.metadata.annotations?.[ANNOTATIONS.orphanedSince];
  // A malformed mark stays visible (NaN) so the decision replaces it.
  if (mark !== undefined) c.orphanedSinceMs = Date.parse(mark);
  return c;
}

export function groupForRetention(checkpoints: readonly Checkpoint[], schedules: readonly CheckpointSchedule[]): RetentionGroup[] {
  const byName = new Map<string, CheckpointSchedule>();
  for (const s of schedules) byName.set(checkpointKey(s.metadata.namespace ?? '', s.metadata.name ?? ''), s);
  const groups = new Map<string, RetentionGroup>();
  for (const cp of checkpoints) {
    if (cp.metadata.deletionTimestamp || !cp.metadata.name || !cp.metadata.namespace) continue;
    const ref = cp.spec.checkpointScheduleRef?.name;
    const schedule = ref ? byName.get(checkpointKey(cp.metadata.namespace, ref)) : undefined;
    const key = schedule ? `cps:${cp.metadata.namespace}/${ref}` : 'default';
    let g = groups.get(key);
    if (!g) {
      g = { key, policy: schedule?.spec.retention, checkpoints: [] };
      groups.set(key, g);
    }
    g.checkpoints.push(toCandidate(cp));
  }
  return [...groups.values()];
}

/** Checkpoints restored into pods that are alive (kcr.io/restored-from.<container> on a pod not being deleted). */
export function livingRestoredFrom(pods: ReadonlyArray<PodLike & { metadata?: { annotations?: Record<string, string> } }>): Set<string> {
  const out = new Set<string>();
  for (const p of pods) {
    const meta = p.metadata;
    if (!meta?.namespace || !isLivingPod(p)) continue;
    for (const [k, v] of Object.entries(meta.annotations ?? {})) {
      if (k.startsWith(ANNOTATIONS.restoredFromContainerPrefix) && v !== '') out.add(checkpointKey(meta.namespace, v));
    }
  }
  return out;
}

type CachedPod = PodLike & { metadata?: { ownerReferences?: unknown; labels?: Record<string, string> } };

/** A pod whose containers run or may run: not terminating, not Succeeded/Failed (as the webhook's isLiving). */
function isLivingPod(p: CachedPod): boolean {
  return !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
}

/**
 * The living pods, by uid, name and identity. The identity is computed as the webhook does, without
 * the ReplicaSet index the controller does not keep: a Deployment replica's ReplicaSet name minus
 * its pod-template-hash names the Deployment, which still holds after the Deployment was deleted
 * with --cascade=orphan. A StatefulSet pod orphaned the same way loses its owner and becomes a
 * bare pod of the same name; the decision finds it by name (source-pod.ts).
 */
export function livingPods(pods: readonly CachedPod[]): LivingPods {
  const uids = new Set<string>();
  const names = new Set<string>();
  const identities = new Set<string>();
  for (const p of pods) {
    const meta = p.metadata;
    if (!meta?.namespace || !meta.name || !isLivingPod(p)) continue;
    if (meta.uid) uids.add(meta.uid);
    names.add(podNameKey(meta.namespace, meta.name));
    const id = podIdentity(meta, meta.namespace, { replicaSet: () => undefined });
    if (id !== undefined) identities.add(identityKey(meta.namespace, id.kind, id.identity));
  }
  return { uids, names, identities };
}

export function pinnedCheckpoints(checkpoints: readonly Checkpoint[]): Set<string> {
  const out = new Set<string>();
  for (const cp of checkpoints) {
    if (cp.metadata.annotations?.[ANNOTATIONS.pinned] === 'true') out.add(checkpointKey(cp.metadata.namespace ?? '', cp.metadata.name ?? ''));
  }
  return out;
}

/**
 * Whether a checkpoint's workload still exists. Only Deployments and StatefulSets can be known
 * gone; a bare pod's checkpoint is exactly what restores its replacement, so it is never an orphan.
 */
export function workloadExistsIn(exists: (kind: 'Deployment' | 'StatefulSet', namespace: string, name: string) => boolean) {
  return (namespace: string, workload: WorkloadReference): boolean => {
    if (workload.kind === 'Deployment' || workload.kind === 'StatefulSet') return exists(workload.kind, namespace, workload.name);
    return true;
  };
}

