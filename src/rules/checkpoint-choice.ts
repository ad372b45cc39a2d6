// Which checkpoint, if any, a new container may start from (DESIGN.md restore rules 3-5).
// Every rule here protects against restoring the wrong memory: another pod's (cloning),
// another program's (image changed), or another CPU's (architecture).
import { claimBlocks, type Claimant } from './checkpoint-claim.ts';
import { inNamespaceRepositories, type CheckpointRepositories } from './checkpoint-image-ref.ts';
import type { PodIdentity } from './identity.ts';
import type { RestoreIndex } from '../../webhooks/restore-index.ts';
import type { IndexedCheckpoint, IndexedPod } from './indexed-objects.ts';

/**
 * What the choice reads: the webhook's RestoreIndex; the controller hands in one built from its
 * cache, seen as the webhook will see it when the replacement of a RestoreRequest's pod comes.
 */
export type ChoiceIndex = Pick<RestoreIndex, 'checkpointsFor' | 'podByUid' | 'podByName' | 'podsRestoredFrom' | 'holderSeen' | 'restoreNodeExists'>;

/** Why a container gets no checkpoint, in the order a candidate gets further: the last wins. */
export const REJECTIONS = ['no-checkpoint', 'foreign-image', 'image-changed', 'source-alive', 'checkpoint-in-use', 'arch-mismatch', 'no-capable-node'] as const;
export type Rejection = (typeof REJECTIONS)[number];

export const furthest = (a: Rejection, b: Rejection): Rejection =>
  REJECTIONS.indexOf(a) >= REJECTIONS.indexOf(b) ? a : b;

/** Best first: pinned before all, then newest (checkpointTimestamp, then creation); names break ties. */
export function compareByPreference(a: IndexedCheckpoint, b: IndexedCheckpoint): number {
  if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
  if (a.takenMs !== b.takenMs) return a.takenMs > b.takenMs ? -1 : 1;
  if (a.createdMs !== b.createdMs) return a.createdMs > b.createdMs ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** A pod whose containers run or may run: indexed, not terminating, not Succeeded/Failed. */
export function isLiving(pod: IndexedPod | undefined): boolean {
  return pod !== undefined && !pod.terminating && !pod.terminal;
}

/** Restorable at all: image built and pullable, never marked bad, not being deleted. */
export function isReady(cp: IndexedCheckpoint): boolean {
  return cp.phase === 'ImageBuilt' && cp.runtimeImage !== undefined && !cp.bad && !cp.deleting;
}

const DIGEST = /@(sha256:[0-9a-f]{64}|[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)$/;

/** The digest of an image reference by digest (repo@sha256:…), else undefined. */
export function imageDigest(image: string): string | undefined {
  return DIGEST.exec(image)?.[1];
}

/** Same software: the exact original image, or the same digest when both are known. */
export function imageMatches(image: string, cp: IndexedCheckpoint): boolean {
  if (cp.originalImage !== undefined && image === cp.originalImage) return true;
  const digest = imageDigest(image);
  return digest !== undefined && cp.originalImageDigest !== undefined && digest === cp.originalImageDigest;
}

/**
 * An identity is a name AND the kind of workload it names: a Job or Deployment called web-0 is
 * not the StatefulSet pod web-0. A checkpoint that recorded no workload (taken by the original
 * kcr) is matched by name alone.
 */
export function sameIdentityKind(identity: PodIdentity, cp: IndexedCheckpoint): boolean {
  return cp.workloadKind === undefined || cp.workloadKind === identity.kind;
}

/** The pod the checkpoint was taken from is still running (by uid, else by name). */
export function sourceAlive(index: ChoiceIndex, cp: IndexedCheckpoint): boolean {
  if (cp.podUID !== undefined) return isLiving(index.podByUid(cp.podUID));
  if (cp.podName !== undefined) return isLiving(index.podByName(cp.namespace, cp.podName));
  return false;
}

/** A living pod already started from this checkpoint: using it again would clone that pod. */
export function restoredIntoLivingPod(index: ChoiceIndex, cp: IndexedCheckpoint): boolean {
  for (const pod of index.podsRestoredFrom(cp.namespace, cp.name)) if (isLiving(pod)) return true;
  return false;
}

export interface Candidates {
  /** Checkpoints this container may start from, best first (pinned, then newest). */
  eligible: IndexedCheckpoint[];
  /** Why there is none, when eligible is empty. */
  rejection: Rejection;
}

/**
 * Why one checkpoint may not start one container (image `image`) of a new pod of `identity`;
 * undefined when it may. The first three are not rejections a pod is told about: such a
 * checkpoint is no candidate at all (another namespace's, unfinished or bad, another kind's).
 */
export type Misfit = 'other-namespace' | 'not-ready' | 'other-kind' | 'foreign-image' | 'image-changed' | 'source-alive' | 'checkpoint-in-use';

export function checkpointMisfit(
  index: ChoiceIndex,
  namespace: string,
  identity: PodIdentity,
  claimant: Claimant,
  image: string,
  repositories: CheckpointRepositories,
  now: Date,
  cp: IndexedCheckpoint,
): Misfit | undefined {
  // The index groups by namespace already; checked again because restoring across namespaces must never happen.
  if (cp.namespace !== namespace) return 'other-namespace';
  if (!isReady(cp)) return 'not-ready';
  if (!sameIdentityKind(identity, cp)) return 'other-kind';
  // A status naming another namespace's image (or another registry's) is never trusted.
  if (!inNamespaceRepositories(cp.runtimeImage, repositories, namespace)) return 'foreign-image';
  if (!imageMatches(image, cp)) return 'image-changed';
  if (sourceAlive(index, cp)) return 'source-alive';
  if (restoredIntoLivingPod(index, cp) || claimBlocks(cp.claim, claimant, now, (h) => index.holderSeen(namespace, h))) return 'checkpoint-in-use';
  return undefined;
}

/** The rejection a misfit counts as; undefined for checkpoints that are no candidates. */
export function misfitRejection(m: Misfit): Rejection | undefined {
  return m === 'other-namespace' || m === 'not-ready' || m === 'other-kind' ? undefined : m;
}

/** Eligible checkpoints for one container of a new pod, ignoring architecture (decided pod-wide). */
export function candidatesFor(
  index: ChoiceIndex,
  namespace: string,
  identity: PodIdentity,
  claimant: Claimant,
  container: string,
  image: string,
  repositories: CheckpointRepositories,
  now: Date,
): Candidates {
  const eligible: IndexedCheckpoint[] = [];
  let rejection: Rejection = 'no-checkpoint';
  for (const cp of index.checkpointsFor(namespace, identity.identity, container)) {
    const misfit = checkpointMisfit(index, namespace, identity, claimant, image, repositories, now, cp);
    if (misfit === undefined) {
      eligible.push(cp);
      continue;
    }
    const why = misfitRejection(misfit);
    if (why !== undefined) rejection = furthest(rejection, why);
  }
  return { eligible, rejection };
}

/** A checkpoint without a recorded architecture fits any node. */
export function archFits(cp: IndexedCheckpoint, arch: string | undefined): boolean {
  return arch === undefined || cp.architecture === undefined || cp.architecture === arch;
}

/** Every container of a pod restores on one node, hence one runtime; a checkpoint that did not record its own fits the pod's. */
export function runtimeFits(cp: IndexedCheckpoint, runtime: string | undefined): boolean {
  return runtime === undefined || cp.runtime === undefined || cp.runtime === runtime;
}
