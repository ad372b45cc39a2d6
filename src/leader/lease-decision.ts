// Whether this replica may take (or keep) the leader Lease. Pure: the Lease as read, who we
// are and `now` go in; what to do comes out. The Lease is the only truth: a holder whose
// renewTime + leaseDurationSeconds has passed is dead (or partitioned) and may be replaced.

/** The parts of a coordination.k8s.io/v1 Lease the decision reads (wire form). */
export interface LeaseLike {
  metadata?: { resourceVersion?: string };
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number | null;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number | null;
  };
}

export type LeaseAction =
  /** No Lease yet: create it with us as holder. */
  | { action: 'create' }
  /** We hold it: renew. */
  | { action: 'renew' }
  /** Free or expired: take it over (a transition). */
  | { action: 'acquire'; previousHolder: string | undefined }
  /** Someone else holds a live Lease: wait and look again. */
  | { action: 'wait'; holder: string; expiresAt: Date };

export function leaseExpiry(lease: LeaseLike): Date | undefined {
  const renew = lease.spec?.renewTime ?? lease.spec?.acquireTime;
  const duration = lease.spec?.leaseDurationSeconds;
  if (!renew || duration === undefined || duration === null) return undefined;
  const t = Date.parse(renew);
  if (Number.isNaN(t)) return undefined;
  return new Date(t + duration * 1000);
}

export function shouldAcquire(lease: LeaseLike | undefined, me: string, now: Date): LeaseAction {
  if (lease === undefined) return { action: 'create' };
  const holder = lease.spec?.holderIdentity ?? '';
  if (holder === me) return { action: 'renew' };
  if (holder === '') return { action: 'acquire', previousHolder: undefined };
  const expiresAt = leaseExpiry(lease);
  // A Lease without a usable renewTime or duration cannot prove its holder alive.
  if (expiresAt === undefined || expiresAt.getTime() <= now.getTime()) return { action: 'acquire', previousHolder: holder };
  return { action: 'wait', holder, expiresAt };
}

/** RFC 3339 with microseconds, as the API server writes MicroTime (it rejects milliseconds). */
export function microTime(at: Date): string {
  return at.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The Lease spec to write for `action` (create, renew or acquire). */
export function nextLeaseSpec(
  lease: LeaseLike | undefined,
  me: string,
  now: Date,
  leaseDurationSeconds: number,
): NonNullable<LeaseLike['spec']> {
  const t = microTime(now);
  const old = lease?.spec ?? {};
  if (lease !== undefined && old.holderIdentity === me) {
    return { ...old, holderIdentity: me, leaseDurationSeconds, renewTime: t, acquireTime: old.acquireTime ?? t };
  }
  const transitions = (old.leaseTransitions ?? 0) + (lease !== undefined && old.holderIdentity ? 1 : 0);
  return { holderIdentity: me, leaseDurationSeconds, acquireTime: t, renewTime: t, leaseTransitions: transitions };
}
