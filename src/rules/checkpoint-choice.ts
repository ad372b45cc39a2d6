// Which checkpoint, if any, a new container may start from (DESIGN.md restore rules 3-5).
// Every rule here protects against restoring the wrong memory: another pod's (cloning),
// another program's (image changed), or another CPU's (architecture).
import { claimBlocks, type Claimant } from './checkpoint-claim.ts';
import { inNamespaceRepositories, type CheckpointRepositories } from './checkpoint-image-ref.ts';
import type { PodIdentity } from './identity.ts';
import type { RestoreIndex } from '../../webhooks/restore-index.ts';
import type { IndexedCheckpoint, IndexedPod } from './indexed-objects.ts';

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
export function sourceAlive(index: RestoreIndex, cp: IndexedCheckpoint): boolean {
  if (cp.podUID !== undefined) return isLiving(index.podByUid(cp.podUID));
  if (cp.podName !== undefined) return isLiving(index.podByName(cp.namespace, cp.podName));
  return false;
}

/** A living pod already started from this checkpoint: using it again would clone that pod. */
export function restoredIntoLivingPod(index: RestoreIndex, cp: IndexedCheckpoint): boolean {
  for (const pod of index.podsRestoredFrom(cp.namespace, cp.name)) if (isLiving(pod)) return true;
  return false;
}

export interface Candidates {
  /** Checkpoints this container may start from, best first (pinned, then newest). */
  eligible: IndexedCheckpoint[];
  /** Why there is none, when eligible is empty. */
  rejection: Rejection;
}

/** Eligible checkpoints for one container of a new pod, ignoring architecture (decided pod-wide). */
export function candidatesFor(
  index: RestoreIndex,
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
    // The index groups by namespace already; checked again because restoring across namespaces must never happen.
    if (cp.namespace !== namespace || !isReady(cp) || !sameIdentityKind(identity, cp)) continue;
    // A status naming another namespace's image (or another registry's) is never trusted.
    if (!inNamespaceRepositories(cp.runtimeImage, repositories, namespace)) {
      rejection = furthest(rejection, 'foreign-image');
      continue;
    }
    if (!imageMatches(image, cp)) {
      rejection = furthest(rejection, 'image-changed');
      continue;
    }
    if (sourceAlive(index, cp)) {
      rejection = furthest(rejection, 'source-alive');
      continue;
    }
    if (restoredIntoLivingPod(index, cp) || claimBlocks(cp.claim, claimant, now, (h) => index.holderSeen(namespace, h))) {
      rejection = furthest(rejection, 'checkpoint-in-use');
      continue;
    }
    eligible.push(cp);
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
