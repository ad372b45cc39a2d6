// DESIGN.md restore rule 7: a restore that fails — the container never starts from its checkpoint
// — is judged by cause (restore-failure-cause.ts): a node that cannot restore never marks the
// checkpoint bad; CRIU's own failure or an image gone from the registry does, so the next
// replacement starts from the next older good checkpoint, or fresh. A checkpoint image that
// cannot be pulled (credentials, network) counts only once the container waited on it longer
// than the pull bound: the kubelet's retries may still succeed before. This module only
// recognises the failures; the shell acts and emits the Events. Pure: pods, checkpoints and
// `now` are passed in.
//
// Only a container that never ran from the checkpoint counts: one that started and crashed later
// was restored fine (its memory came back) and crashed for its own reasons.
import type { Checkpoint } from '../api/types.ts';
import { ANNOTATIONS } from '../api/types.ts';
import { historyAnnotation, lastInPlaceRestoreMs, readInPlaceHistory } from './in-place-restore.ts';
import type { ContainerStatusLike, PodLike } from './pod-like.ts';
import { restoreFailureCause, type RestoreFailureKind } from './restore-failure-cause.ts';

export type { PodLike } from './pod-like.ts';

export interface FailedRestore {
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  /** Name of the Checkpoint (in the pod's namespace) the container failed to start from. */
  checkpoint: string;
  /** For a user, e.g. "the container never started from checkpoint X: CreateContainerError: criu restore failed". */
  reason: string;
  /** Whose fault: the node's, CRIU's, the runtime's, the registry's (image gone), or a pull that did not succeed within the bound. */
  cause: RestoreFailureKind;
  /** The cause in a few words, without the runtime's message (e.g. for the node's annotation). */
  why: string;
  /** The node the pod is bound to ('' when none). */
  node: string;
}

/** Runtime messages can carry a whole CRIU log; a reason stays readable in an Event. */
const MAX_MESSAGE = 512;

export interface FailedRestoresInput {
  pods: readonly PodLike[];
  checkpoints: readonly Checkpoint[];
  now: Date;
  /** How long a container may wait on pulling its checkpoint image before it starts fresh instead. */
  pullTimeoutMs: number;
}

/** Restored containers that failed to start from their checkpoint: one per (pod uid, container), sorted. */
export function failedRestores({ pods, checkpoints, now, pullTimeoutMs }: FailedRestoresInput): FailedRestore[] {
  // A checkpoint listed twice (a stale copy) is bad when any copy says so: bad is never undone.
  const byKey = new Map<string, { bad: boolean; runtimeImages: Set<string> }>();
  for (const cp of checkpoints) {
    if (!isObject(cp) || !isObject(cp.metadata)) continue;
    const name = str(cp.metadata.name);
    const namespace = str(cp.metadata.namespace);
    if (name === undefined || namespace === undefined) continue;
    const status = isObject(cp.status) ? cp.status : undefined;
    const key = `${namespace}/${name}`;
    const facts = byKey.get(key) ?? { bad: false, runtimeImages: new Set<string>() };
    facts.bad ||= status?.bad === true;
    const runtimeImage = str(status?.runtimeImage);
    if (runtimeImage !== undefined) facts.runtimeImages.add(runtimeImage);
    byKey.set(key, facts);
  }

  const found: FailedRestore[] = [];
  for (const pod of pods) {
    if (!isObject(pod) || !isObject(pod.metadata) || isDeleting(pod)) continue;
    const namespace = str(pod.metadata.namespace);
    const name = str(pod.metadata.name);
    const uid = str(pod.metadata.uid);
    if (namespace === undefined || name === undefined || uid === undefined) continue;
    const annotations = isObject(pod.metadata.annotations) ? pod.metadata.annotations : {};
    const containers = Array.isArray(pod.spec?.containers) ? pod.spec.containers : [];
    const statuses = Array.isArray(pod.status?.containerStatuses) ? pod.status.containerStatuses : [];

    for (const c of containers) {
      const container = isObject(c) ? str(c.name) : undefined;
      const image = isObject(c) ? str(c.image) : undefined;
      if (container === undefined || image === undefined) continue;
      const checkpoint = str(annotations[`${ANNOTATIONS.restoredFromContainerPrefix}${container}`]);
      // Looked up in the pod's own namespace only: a name never refers to another namespace's checkpoint.
      const cp = checkpoint === undefined ? undefined : byKey.get(`${namespace}/${checkpoint}`);
      // Not (or no longer) running the checkpoint image: the image was changed since, nothing to blame.
      if (checkpoint === undefined || cp === undefined || cp.bad || !cp.runtimeImages.has(image)) continue;
      const status = statuses.find((s) => isObject(s) && s.name === container);
      if (status === undefined) continue;
      const failure = failureOf(status, checkpoint, pullTimeoutMs);
      if (failure === undefined) continue;
      const restoredInPlaceMs = lastInPlaceRestoreMs(readInPlaceHistory(annotations[historyAnnotation(container)]));
      if (!neverRanSinceRestore(status, restoredInPlaceMs)) continue;
      if (failure.cause === 'pull') {
        // Within the bound the kubelet's retries may still succeed; unmeasurable (no time on the pod) counts as within.
        const since = waitingSinceMs(pod, restoredInPlaceMs);
        if (since === undefined || now.getTime() - since <= pullTimeoutMs) continue;
      }
      found.push({ namespace, pod: name, podUid: uid, container, checkpoint, ...failure, node: str(pod.spec?.nodeName) ?? '' });
    }
  }
  // A pod listed twice (a stale copy next to a fresh one) reports once, the same whatever the input order.
  const sorted = found.sort(
    (a, b) => compare(a.namespace, b.namespace) || compare(a.pod, b.pod) || compare(a.podUid, b.podUid) ||
      compare(a.container, b.container) || compare(a.checkpoint, b.checkpoint) || compare(a.reason, b.reason),
  );
  const seen = new Set<string>();
  return sorted.filter((f) => {
    const key = `${f.namespace}\u0000${f.podUid}\u0000${f.container}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Why the container cannot start from the checkpoint, for a user, and whose fault; undefined when it is not that. */
function failureOf(status: ContainerStatusLike, checkpoint: string, pullTimeoutMs: number): Pick<FailedRestore, 'reason' | 'cause' | 'why'> | undefined {
  const waiting = isObject(status.state) && isObject(status.state.waiting) ? status.state.waiting : undefined;
  const reason = str(waiting?.reason);
  if (reason === undefined) return undefined;
  const message = typeof waiting?.message === 'string' ? waiting.message.trim() : '';
  const detail = `${reason}${message === '' ? '' : `: ${truncate(message)}`}`;
  const cause = restoreFailureCause(reason, message);
  if (cause === undefined) return undefined;
  const found = { cause: cause.kind, why: cause.why };
  // A pull that fails for credentials or the network says nothing about the checkpoint; the caller bounds the wait.
  if (cause.kind === 'pull') return { ...found, reason: `the image of checkpoint ${checkpoint} could not be pulled within ${Math.round(pullTimeoutMs / 1000)} s: ${detail}` };
  if (cause.kind === 'image-gone') return { ...found, reason: `the image of checkpoint ${checkpoint} is gone from the registry: ${detail}` };
  return { ...found, reason: `the container never started from checkpoint ${checkpoint}: ${cause.why}: ${detail}` };
}

/** When the pod was placed on its node: its PodScheduled condition, else its creation; undefined when it says neither. */
export function podPlacedMs(pod: PodLike): number | undefined {
  const conditions = isObject(pod.status) && Array.isArray(pod.status.conditions) ? pod.status.conditions : [];
  const scheduled = conditions.find((c) => isObject(c) && c.type === 'PodScheduled' && c.status === 'True');
  return timeMs(scheduled?.lastTransitionTime) ?? timeMs(isObject(pod.metadata) ? pod.metadata.creationTimestamp : undefined);
}

/** Since when the container has waited on its checkpoint image: the kubelet pulls once the pod is placed; a later in-place restore set the image only then. */
function waitingSinceMs(pod: PodLike, restoredInPlaceMs: number | undefined): number | undefined {
  const since = podPlacedMs(pod);
  if (since === undefined) return restoredInPlaceMs;
  return restoredInPlaceMs === undefined ? since : Math.max(since, restoredInPlaceMs);
}

/**
 * No run of the container began from the checkpoint image. Restored by the webhook, the pod was
 * created with that image: there must be no run at all (restart count 0, no earlier run that
 * started). Restored in place (the history annotation has a time), the run before is the crash
 * that triggered the restore: no run may have started since that time.
 */
function neverRanSinceRestore(status: ContainerStatusLike, restoredInPlaceMs: number | undefined): boolean {
  if (isObject(status.state) && isObject(status.state.running)) return false;
  const last = isObject(status.lastState) && isObject(status.lastState.terminated) ? status.lastState.terminated : undefined;
  // A run the runtime could not start has no start time (the kubelet reports startedAt: null).
  const lastStartedMs = timeMs(last?.startedAt);
  if (restoredInPlaceMs !== undefined) return lastStartedMs === undefined || lastStartedMs < restoredInPlaceMs;
  const restarts = status.restartCount;
  return (restarts === undefined || restarts === null || restarts === 0) && lastStartedMs === undefined;
}

function truncate(s: string): string {
  return s.length <= MAX_MESSAGE ? s : `${s.slice(0, MAX_MESSAGE - 1)}…`;
}

function isDeleting(pod: PodLike): boolean {
  const t = pod.metadata?.deletionTimestamp;
  return t !== undefined && t !== null && t !== '';
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A JSON object (typed wire objects may still hold anything: never trust their shape). */
function isObject<T>(v: T): v is T & object {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Milliseconds of an RFC 3339 string or a Date (client-node delivers Dates). */
function timeMs(v: unknown): number | undefined {
  const ms = v instanceof Date ? v.getTime() : typeof v === 'string' && v !== '' ? Date.parse(v) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}
