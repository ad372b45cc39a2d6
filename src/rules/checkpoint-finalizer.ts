// Every Checkpoint carries a finalizer, so its image leaves the registry before the object goes,
// however it goes (retention, a user, the namespace's deletion) and whoever leads when it does:
// the state lives in the API server, not in a leader's memory. What to do with one Checkpoint is
// decided here; the controller's shell carries it out. Pure.
import { inNamespaceRepositories, parseDigestReference, type CheckpointRepositories, type DigestReference } from './checkpoint-image-ref.ts';

export const CHECKPOINT_FINALIZER = 'checkpoint-restore.kcr.io/registry-image';

export interface FinalizableCheckpoint {
  namespace: string;
  finalizers: readonly string[];
  deleting: boolean;
  runtimeImage: string | undefined;
}

export type FinalizerStep =
  | { kind: 'none' }
  /** An older Checkpoint (made before the finalizer existed): add it. */
  | { kind: 'add' }
  /** Delete the image, then release. */
  | { kind: 'delete-image'; ref: DigestReference }
  /** Nothing kcr may delete (no image yet, or one outside the namespace's repositories): release at once. */
  | { kind: 'release'; why: 'no-image' | 'foreign-image' };

export function finalizerStep(cp: FinalizableCheckpoint, repositories: CheckpointRepositories): FinalizerStep {
  const has = cp.finalizers.includes(CHECKPOINT_FINALIZER);
  if (!cp.deleting) return has ? { kind: 'none' } : { kind: 'add' };
  if (!has) return { kind: 'none' };
  const ref = parseDigestReference(cp.runtimeImage);
  if (ref === undefined) return { kind: 'release', why: 'no-image' };
  // A status naming another namespace's image: the Checkpoint goes, that image stays.
  if (!inNamespaceRepositories(cp.runtimeImage, repositories, cp.namespace)) return { kind: 'release', why: 'foreign-image' };
  return { kind: 'delete-image', ref };
}
