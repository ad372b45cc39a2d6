// When a checkpoint is an orphan, and since when. Pure: the caller passes the candidates, what is
// alive, and `now`.
//
// A checkpoint is orphaned while its Deployment/StatefulSet is gone AND no living pod has its
// identity (a workload deleted with --cascade=orphan leaves its pods running: their checkpoints
// are still needed). It is deleted as an orphan only once it has been orphaned for the grace.
//
// "Since when" cannot be read from the cluster: the workload and the pods are gone, and with them
// any timestamp. So the controller records it: the first pass that sees a checkpoint orphaned
// marks it (ANNOTATIONS.orphanedSince = now), a pass that sees it needed again clears the mark.
// The mark lives on the Checkpoint, so it survives controller restarts and leader changes; a
// controller that was down only makes the grace longer. The grace counts from the later of the
// mark and the identity's newest checkpoint (a pod was alive when that was taken), so a stale
// mark (its clearing lost) cannot shorten it, and a mark in the future is replaced by now.
import type { RetentionCandidate } from './choose.ts';
import { candidateIdentityKey, sourceAlive, type LivingPods } from './source-pod.ts';

export const DEFAULT_ORPHAN_GRACE_SECONDS = 3600;

export interface OrphanInput {
  checkpoints: readonly RetentionCandidate[];
  living: LivingPods;
  /** Whether the checkpoint's workload still exists; checkpoints without a workload are never orphans. */
  workloadExists: (c: RetentionCandidate) => boolean;
  graceSeconds: number;
  now: Date;
}

export interface OrphanState {
  /** Orphaned now (workload gone, no living pod of the identity). */
  orphaned: boolean;
  /** Orphaned for at least the grace: may be deleted as an orphan. */
  graceOver: boolean;
  /** The mark to write, when it differs from the one the checkpoint carries: a Date to set, null to clear. */
  mark?: Date | null;
}

export function orphanStates(input: OrphanInput): Map<RetentionCandidate, OrphanState> {
  const now = input.now.getTime();
  const graceMs = Math.max(0, input.graceSeconds) * 1000;
  // Per identity (namespace, kind, name): whether a pod of it lives, and its newest checkpoint.
  const alive = new Set<string>();
  const newest = new Map<string, number>();
  for (const c of input.checkpoints) {
    const key = candidateIdentityKey(c);
    if (input.living.identities.has(key) || sourceAlive(c, input.living)) alive.add(key);
    newest.set(key, Math.max(newest.get(key) ?? -Infinity, c.timestampMs));
  }
  const out = new Map<RetentionCandidate, OrphanState>();
  for (const c of input.checkpoints) {
    const key = candidateIdentityKey(c);
    const orphaned = c.workload !== undefined && !alive.has(key) && !input.workloadExists(c);
    const marked = c.orphanedSinceMs !== undefined;
    if (!orphaned) {
      out.set(c, marked ? { orphaned, graceOver: false, mark: null } : { orphaned, graceOver: false });
      continue;
    }
    // A missing, malformed (NaN) or future mark: orphaned from now on.
    const valid = marked && Number.isFinite(c.orphanedSinceMs) && c.orphanedSinceMs! <= now;
    const since = Math.max(valid ? c.orphanedSinceMs! : now, newest.get(key)!);
    const state: OrphanState = { orphaned, graceOver: now - since >= graceMs };
    if (!valid) state.mark = input.now;
    out.set(c, state);
  }
  return out;
}
