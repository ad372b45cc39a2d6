// What the chaos soak checks, over what it observed. Pure: samples in, counts out.
//   duplicates: two living pods restored from one checkpoint (container) at the same moment
//   clones:     a living pod restored from a checkpoint whose source pod is alive at that moment
//   lost:       a pod that started fresh although its identity had a usable checkpoint, and the
//               webhook recorded no reason for it (a "pod starts fresh" line for the identity
//               around the pod's creation)
//   stuck:      a CheckpointRequest still Pending/InProgress past its timeout plus a margin
//   missedSlots: a schedule minute whose fire left no CheckpointRequest for a pod that ran through it

export interface PodSample {
  uid: string;
  name: string;
  identity: string;
  createdMs: number;
  living: boolean;
  /** container -> checkpoint name (kcr.io/restored-from.<container>) */
  restoredFrom: Record<string, string>;
}

export interface CheckpointSample {
  name: string;
  identity: string;
  container: string;
  podUID: string | undefined;
  ready: boolean;
  createdMs: number;
}

export interface Sample {
  atMs: number;
  pods: PodSample[];
  checkpoints: CheckpointSample[];
}

export interface FreshRecord {
  identity: string;
  atMs: number;
  reason: string;
}

export interface RequestSample {
  name: string;
  phase: string;
  createdMs: number;
  timeoutSeconds: number;
  /** The schedule slot it belongs to (kcr.io/scheduled-time), if scheduled. */
  slotMs: number | undefined;
  pod: string;
}

export interface SoakCounts {
  duplicates: number;
  clones: number;
  lost: number;
  stuck: number;
  restores: number;
  freshWithReason: number;
}

/** How far from a pod's creation the webhook's line about it may be. */
const FRESH_WINDOW_MS = 15_000;
/** A request counts as stuck this long past its own timeout. */
const STUCK_MARGIN_MS = 120_000;

export function soakCounts(samples: readonly Sample[], fresh: readonly FreshRecord[], requests: readonly RequestSample[], endMs: number): SoakCounts {
  const duplicateKeys = new Set<string>();
  const cloneKeys = new Set<string>();
  const podsByUid = new Map<string, PodSample>();
  for (const s of samples) {
    const living = s.pods.filter((p) => p.living);
    const livingUids = new Set(living.map((p) => p.uid));
    const byCheckpoint = new Map<string, string>();
    for (const p of living) {
      for (const [container, cp] of Object.entries(p.restoredFrom)) {
        const key = `${container}/${cp}`;
        const other = byCheckpoint.get(key);
        if (other !== undefined && other !== p.uid) duplicateKeys.add(key);
        byCheckpoint.set(key, p.uid);
        const source = s.checkpoints.find((c) => c.name === cp)?.podUID;
        if (source !== undefined && source !== p.uid && livingUids.has(source)) cloneKeys.add(`${p.uid}/${cp}`);
      }
    }
    for (const p of s.pods) if (!podsByUid.has(p.uid)) podsByUid.set(p.uid, p);
  }

  let lost = 0;
  let restores = 0;
  let freshWithReason = 0;
  for (const p of podsByUid.values()) {
    if (Object.keys(p.restoredFrom).length > 0) {
      restores++;
      continue;
    }
    // The view nearest before the pod existed: was there a checkpoint it could have used?
    const before = [...samples].reverse().find((s) => s.atMs <= p.createdMs);
    if (!before) continue;
    const livingUids = new Set(before.pods.filter((x) => x.living && x.uid !== p.uid).map((x) => x.uid));
    const inUse = new Set(before.pods.filter((x) => x.living).flatMap((x) => Object.values(x.restoredFrom)));
    const usable = before.checkpoints.some((c) => c.identity === p.identity && c.ready && !inUse.has(c.name) && (c.podUID === undefined || !livingUids.has(c.podUID)));
    if (!usable) continue;
    const recorded = fresh.some((f) => f.identity === p.identity && Math.abs(f.atMs - p.createdMs) <= FRESH_WINDOW_MS);
    if (recorded) freshWithReason++;
    else lost++;
  }

  const stuck = requests.filter((r) => (r.phase === 'Pending' || r.phase === 'InProgress' || r.phase === '') && endMs - r.createdMs > r.timeoutSeconds * 1000 + STUCK_MARGIN_MS).length;
  return { duplicates: duplicateKeys.size, clones: cloneKeys.size, lost, stuck, restores, freshWithReason };
}

/**
 * Schedule minutes between `fromMs` and `toMs` (whole minutes, the schedule is every minute) for
 * which no CheckpointRequest carries that fire time: a slot that ended in neither a checkpoint nor
 * a recorded failure. (A request that exists ended in one or the other, or counts as stuck.)
 */
export function missedSlots(requests: readonly RequestSample[], fromMs: number, toMs: number): number {
  const fired = new Set(requests.map((r) => r.slotMs).filter((t): t is number => t !== undefined));
  let missed = 0;
  for (let t = Math.ceil(fromMs / 60_000) * 60_000; t <= toMs; t += 60_000) if (!fired.has(t)) missed++;
  return missed;
}
