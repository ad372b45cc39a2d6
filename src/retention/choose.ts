// Which checkpoints to delete under a schedule's retention policy. Pure: the caller passes the
// checkpoints (one schedule's, usually), what protects them, and `now`.
//
// Rules, per (namespace, identity, container) group:
//  - protected checkpoints (restored into a living pod, or pinned by a RestoreRequest) and
//    in-flight ones (not yet ImageBuilt nor Failed) are always kept, unless an in-flight one is
//    older than `staleInFlightMs` at `now` (its agent died): that one counts as failed;
//  - orphans (their workload is gone) are deleted unless retainOrphan;
//  - failed/bad checkpoints older than the group's newest good one are deleted;
//  - at most maxCheckpointsPerContainer settled checkpoints are kept, newest good first, then
//    failed ones newer than every good one (the latest failures, for diagnosis);
//  - then, per namespace, while the kept total exceeds maxTotalSize, the oldest unprotected
//    settled checkpoint is deleted, failed ones before good ones.
import type { RetentionPolicy, WorkloadReference } from '../api/types.ts';
import { parseQuantity } from './quantity.ts';

export const DEFAULT_MAX_CHECKPOINTS_PER_CONTAINER = 3;
/** An in-flight checkpoint this old is treated as failed. */
export const DEFAULT_STALE_IN_FLIGHT_MS = 6 * 3600 * 1000;

export type CheckpointState = 'good' | 'failed' | 'inflight';

export interface RetentionCandidate {
  namespace: string;
  name: string;
  identity: string;
  containerName: string;
  /** Checkpoint time, ms since the epoch. */
  timestampMs: number;
  sizeBytes: number;
  /** good: ImageBuilt and not bad; failed: Failed or marked bad; inflight: still being built. */
  state: CheckpointState;
  workload?: WorkloadReference;
}

export type DeleteReason = 'orphan' | 'failed' | 'count' | 'size';

export interface RetentionInput {
  checkpoints: readonly RetentionCandidate[];
  policy: RetentionPolicy | undefined;
  /** Keys (`namespace/name`) of checkpoints restored into pods that are alive. */
  livingRestoredFrom: ReadonlySet<string>;
  /** Keys (`namespace/name`) of checkpoints a RestoreRequest refers to. */
  pinned: ReadonlySet<string>;
  /** Whether the checkpoint's workload still exists; checkpoints without a workload are never orphans. */
  workloadExists: (namespace: string, workload: WorkloadReference) => boolean;
  now: Date;
  /** Default DEFAULT_STALE_IN_FLIGHT_MS. */
  staleInFlightMs?: number;
}

export interface RetentionDecision {
  delete: Array<{ checkpoint: RetentionCandidate; reason: DeleteReason }>;
  keep: RetentionCandidate[];
}

export function checkpointKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

// Newest first; ties broken by name so the choice never depends on input order.
function newestFirst(a: RetentionCandidate, b: RetentionCandidate): number {
  if (a.timestampMs !== b.timestampMs) return b.timestampMs - a.timestampMs;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function chooseRetention(input: RetentionInput): RetentionDecision {
  const policy = input.policy ?? {};
  const max = Math.max(0, Math.floor(policy.maxCheckpointsPerContainer ?? DEFAULT_MAX_CHECKPOINTS_PER_CONTAINER));
  const cap = policy.maxTotalSize !== undefined && policy.maxTotalSize !== '' ? parseQuantity(policy.maxTotalSize) : undefined;
  const isProtected = (c: RetentionCandidate) =>
    input.livingRestoredFrom.has(checkpointKey(c.namespace, c.name)) || input.pinned.has(checkpointKey(c.namespace, c.name));

  // Duplicate names (the same object listed twice) are considered once.
  const staleBefore = input.now.getTime() - (input.staleInFlightMs ?? DEFAULT_STALE_IN_FLIGHT_MS);
  const unique = new Map<string, RetentionCandidate>();
  for (const c of input.checkpoints) unique.set(checkpointKey(c.namespace, c.name), c);
  // Decisions use the effective state; the caller gets its own objects back.
  const state = new Map<RetentionCandidate, CheckpointState>();
  for (const c of unique.values()) state.set(c, c.state === 'inflight' && c.timestampMs < staleBefore ? 'failed' : c.state);
  const stateOf = (c: RetentionCandidate) => state.get(c)!;
  const all = [...unique.values()].sort(newestFirst);

  const reasons = new Map<RetentionCandidate, DeleteReason>();
  const groups = new Map<string, RetentionCandidate[]>();
  for (const c of all) {
    const key = JSON.stringify([c.namespace, c.identity, c.containerName]);
    const g = groups.get(key);
    if (g) g.push(c);
    else groups.set(key, [c]);
  }

  for (const group of groups.values()) {
    const newestGood = group.find((c) => stateOf(c) === 'good');
    let settledKept = 0;
    // Good ones first (newest first), then failed ones newer than every good one.
    const ordered = [...group.filter((c) => stateOf(c) === 'good'), ...group.filter((c) => stateOf(c) === 'failed')];
    for (const c of ordered) {
      if (isProtected(c)) continue;
      if (!policy.retainOrphan && c.workload !== undefined && !input.workloadExists(c.namespace, c.workload)) {
        reasons.set(c, 'orphan');
      } else if (stateOf(c) === 'failed' && newestGood !== undefined && newestFirst(c, newestGood) > 0) {
        reasons.set(c, 'failed');
      } else if (settledKept >= max) {
        reasons.set(c, 'count');
      } else {
        settledKept++;
      }
    }
  }

  if (cap !== undefined) {
    const namespaces = new Set(all.map((c) => c.namespace));
    for (const ns of namespaces) {
      const inNs = all.filter((c) => c.namespace === ns && !reasons.has(c));
      let total = inNs.reduce((sum, c) => sum + Math.max(0, c.sizeBytes), 0);
      const victims = inNs
        .filter((c) => !isProtected(c) && stateOf(c) !== 'inflight')
        .sort((a, b) => (stateOf(a) === stateOf(b) ? newestFirst(b, a) : stateOf(a) === 'failed' ? -1 : 1));
      for (const v of victims) {
        if (total <= cap) break;
        reasons.set(v, 'size');
        total -= Math.max(0, v.sizeBytes);
      }
    }
  }

  const decision: RetentionDecision = { delete: [], keep: [] };
  for (const c of all) {
    const reason = reasons.get(c);
    if (reason === undefined) decision.keep.push(c);
    else decision.delete.push({ checkpoint: c, reason });
  }
  return decision;
}
