// Which checkpoints to delete under a schedule's retention policy. Pure: the caller passes the
// checkpoints (one schedule's, usually), what protects them, what is alive, and `now`.
//
// Rules, per (namespace, workload kind, identity, container) group:
//  - protected checkpoints (restored into a living pod, or pinned by a RestoreRequest) and
//    in-flight ones (not yet ImageBuilt nor Failed) are always kept, unless an in-flight one is
//    older than `staleInFlightMs` at `now` (its agent died): that one counts as failed;
//  - the newest good checkpoint of every living source pod is always kept (it is what that pod's
//    replacement starts from), and counts towards maxCheckpointsPerContainer;
//  - orphans (workload gone and no living pod of the identity, for orphanGraceSeconds:
//    orphan-grace.ts) are deleted unless retainOrphan;
//  - counting is per source pod (source-pod.ts): each living replica of a Deployment keeps its own
//    maxCheckpointsPerContainer; the replicas that are gone share one allowance of that many, the
//    newest checkpoint of each gone replica first (what their replacements may still start from);
//    a StatefulSet or bare pod is one source whatever its uid;
//  - within each, failed/bad checkpoints older than the source's newest good one are deleted;
//    at most maxCheckpointsPerContainer settled checkpoints are kept, newest good first, then
//    failed ones newer than every good one (the latest failures, for diagnosis);
//  - then, per namespace, while the kept total exceeds maxTotalSize, the oldest unprotected
//    settled checkpoint is deleted, failed ones before good ones.
// The decision also says which orphan marks (ANNOTATIONS.orphanedSince) to write or clear.
import type { RetentionPolicy, WorkloadReference } from '../api/types.ts';
import { DEFAULT_ORPHAN_GRACE_SECONDS, orphanStates } from './orphan-grace.ts';
import { parseQuantity } from './quantity.ts';
import { NO_LIVING_PODS, sourceAlive, sourcePodOf, type LivingPods } from './source-pod.ts';

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
  /** The pod it was taken from (spec.podName, spec.podUID). */
  podName?: string;
  podUID?: string;
  /** ANNOTATIONS.orphanedSince, ms since the epoch; NaN when the annotation is malformed. */
  orphanedSinceMs?: number;
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
  /** The pods that are alive. Default: none. */
  living?: LivingPods;
  now: Date;
  /** Default DEFAULT_STALE_IN_FLIGHT_MS. */
  staleInFlightMs?: number;
}

export interface RetentionDecision {
  delete: Array<{ checkpoint: RetentionCandidate; reason: DeleteReason }>;
  keep: RetentionCandidate[];
  /** Kept checkpoints whose orphan mark changes: orphanedSince to write, or null to clear it. */
  marks: Array<{ checkpoint: RetentionCandidate; orphanedSince: Date | null }>;
}

export function checkpointKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

// Newest first; ties broken by namespace, then name (together unique), so the choice and the
// order of its lists never depend on input order.
function newestFirst(a: RetentionCandidate, b: RetentionCandidate): number {
  if (a.timestampMs !== b.timestampMs) return b.timestampMs - a.timestampMs;
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

// Orders one source's (or the gone replicas' shared) checkpoints for counting: good before failed;
// within each, by rank inside their own source pod (so the newest of every gone replica comes
// before the second newest of any), then newest first.
function countingOrder(list: readonly RetentionCandidate[], stateOf: (c: RetentionCandidate) => CheckpointState): RetentionCandidate[] {
  const rank = new Map<RetentionCandidate, number>();
  const seen = new Map<string, number>();
  for (const c of list) {
    const k = JSON.stringify([stateOf(c), sourcePodOf(c) ?? '']);
    const n = seen.get(k) ?? 0;
    rank.set(c, n);
    seen.set(k, n + 1);
  }
  const byRank = (a: RetentionCandidate, b: RetentionCandidate) => rank.get(a)! - rank.get(b)! || newestFirst(a, b);
  return [...list.filter((c) => stateOf(c) === 'good').sort(byRank), ...list.filter((c) => stateOf(c) === 'failed').sort(byRank)];
}

export function chooseRetention(input: RetentionInput): RetentionDecision {
  const policy = input.policy ?? {};
  const max = Math.max(0, Math.floor(policy.maxCheckpointsPerContainer ?? DEFAULT_MAX_CHECKPOINTS_PER_CONTAINER));
  const cap = policy.maxTotalSize !== undefined && policy.maxTotalSize !== '' ? parseQuantity(policy.maxTotalSize) : undefined;
  const living = input.living ?? NO_LIVING_PODS;
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
  const orphans = orphanStates({
    checkpoints: all,
    living,
    workloadExists: (c) => c.workload === undefined || input.workloadExists(c.namespace, c.workload),
    graceSeconds: policy.orphanGraceSeconds ?? DEFAULT_ORPHAN_GRACE_SECONDS,
    now: input.now,
  });

  const reasons = new Map<RetentionCandidate, DeleteReason>();
  /** The newest good checkpoint of each living source pod: what its replacement would start from. */
  const needed = new Set<RetentionCandidate>();
  // Per (namespace, kind, identity, container), then per source pod: a living one each, the gone ones together.
  const groups = new Map<string, RetentionCandidate[]>();
  for (const c of all) {
    const alive = sourceAlive(c, living);
    const source = sourcePodOf(c);
    const sub = source === undefined ? 'identity' : alive ? source : 'gone';
    const key = JSON.stringify([c.namespace, c.workload?.kind ?? '', c.identity, c.containerName, sub]);
    const g = groups.get(key) ?? [];
    // Newest first: the first good one met in a living source's group is its newest.
    if (alive && stateOf(c) === 'good' && !g.some((o) => stateOf(o) === 'good')) needed.add(c);
    g.push(c);
    groups.set(key, g);
  }

  for (const group of groups.values()) {
    const newestGood = new Map<string, RetentionCandidate>();
    for (const c of group) if (stateOf(c) === 'good' && !newestGood.has(sourcePodOf(c) ?? '')) newestGood.set(sourcePodOf(c) ?? '', c);
    let settledKept = 0;
    for (const c of countingOrder(group, stateOf)) {
      if (isProtected(c)) continue;
      const good = newestGood.get(sourcePodOf(c) ?? '');
      if (needed.has(c)) {
        settledKept++;
      } else if (!policy.retainOrphan && orphans.get(c)!.graceOver) {
        reasons.set(c, 'orphan');
      } else if (stateOf(c) === 'failed' && good !== undefined && newestFirst(c, good) > 0) {
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
        .filter((c) => !isProtected(c) && !needed.has(c) && stateOf(c) !== 'inflight')
        .sort((a, b) => (stateOf(a) === stateOf(b) ? newestFirst(b, a) : stateOf(a) === 'failed' ? -1 : 1));
      for (const v of victims) {
        if (total <= cap) break;
        reasons.set(v, 'size');
        total -= Math.max(0, v.sizeBytes);
      }
    }
  }

  const decision: RetentionDecision = { delete: [], keep: [], marks: [] };
  for (const c of all) {
    const reason = reasons.get(c);
    if (reason !== undefined) {
      decision.delete.push({ checkpoint: c, reason });
      continue;
    }
    decision.keep.push(c);
    const mark = orphans.get(c)!.mark;
    if (mark !== undefined) decision.marks.push({ checkpoint: c, orphanedSince: mark });
  }
  return decision;
}
