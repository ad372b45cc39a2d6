// One checkpoint per replacement (DESIGN.md restore rule 3): before the webhook hands a checkpoint
// to a new pod it writes a claim on the Checkpoint with a conditional write (resourceVersion), so
// two webhook replicas admitting replacements at the same moment never give one pod's memory to
// two pods. A claim holds until the pod it was made for shows up in the informers (from then on
// "restored into a living pod" decides) or until it expires (the pod was never created: another
// webhook denied it, the API server timed out). Pure: parsing and judging claims.
export const CLAIM_ANNOTATION = 'kcr.io/claim';
/** On the restored pod: the holder of the claims made for it (the admission request's uid). */
export const CLAIM_HOLDER_ANNOTATION = 'kcr.io/claim-holder';

export interface CheckpointClaim {
  /** The admission request uid the claim was made for. */
  holder: string;
  /** The pod's name when it had one at admission (StatefulSet pods): a retry of the same pod may take it. */
  pod?: string | undefined;
  untilMs: number;
}

/** The claim annotation's value (JSON); undefined when absent or unreadable (an unreadable claim binds nobody). */
export function parseClaim(value: string | undefined): CheckpointClaim | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    const v = JSON.parse(value) as { holder?: unknown; pod?: unknown; until?: unknown };
    const untilMs = typeof v.until === 'string' ? Date.parse(v.until) : NaN;
    if (typeof v.holder !== 'string' || v.holder === '' || !Number.isFinite(untilMs)) return undefined;
    return { holder: v.holder, ...(typeof v.pod === 'string' && v.pod !== '' ? { pod: v.pod } : {}), untilMs };
  } catch {
    return undefined;
  }
}

export function claimValue(holder: string, pod: string | undefined, until: Date): string {
  return JSON.stringify({ holder, ...(pod !== undefined ? { pod } : {}), until: until.toISOString() });
}

/** Who asks: the holder its claims carry and the pod's name, when it has one. */
export interface Claimant {
  holder: string;
  pod: string | undefined;
}

/**
 * The claim keeps this checkpoint from `claimant`: it is someone else's, unexpired, and the pod it
 * was made for has not appeared yet (`holderSeen`; once it has, that pod's liveness decides).
 */
export function claimBlocks(claim: CheckpointClaim | undefined, claimant: Claimant, now: Date, holderSeen: (holder: string) => boolean): boolean {
  if (claim === undefined || claim.untilMs <= now.getTime()) return false;
  if (claim.holder === claimant.holder) return false;
  if (claim.pod !== undefined && claim.pod === claimant.pod) return false;
  return !holderSeen(claim.holder);
}
