import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { leaseExpiry, microTime, nextLeaseSpec, shouldAcquire, type LeaseLike } from '../../../src/leader/lease-decision.ts';

const now = new Date('2026-11-24T10:00:00.000Z');
const lease = (holder: string | null | undefined, renewAgoMs: number | undefined, duration: number | undefined = 15): LeaseLike => ({
  metadata: { resourceVersion: '7' },
  spec: {
    holderIdentity: holder,
    leaseDurationSeconds: duration,
    ...(renewAgoMs !== undefined ? { renewTime: microTime(new Date(now.getTime() - renewAgoMs)) } : {}),
    leaseTransitions: 2,
  },
});

describe('shouldAcquire', () => {
  it.each<[string, LeaseLike | undefined, string]>([
    ['no Lease yet', undefined, 'create'],
    ['we hold it (fresh)', lease('me', 1000), 'renew'],
    ['we hold it (expired: still ours to renew)', lease('me', 60_000), 'renew'],
    ['other holder, renewed 1 s ago', lease('other', 1000), 'wait'],
    ['other holder, renewed 14.9 s ago', lease('other', 14_900), 'wait'],
    ['other holder, expired exactly now', lease('other', 15_000), 'acquire'],
    ['other holder, expired long ago', lease('other', 120_000), 'acquire'],
    ['released (holder empty)', lease('', 1000), 'acquire'],
    ['released (holder null)', lease(null, 1000), 'acquire'],
    ['other holder, no renewTime', lease('other', undefined), 'acquire'],
    ['other holder, no duration', { spec: { holderIdentity: 'other', renewTime: microTime(now) } }, 'acquire'],
    ['other holder, renew in the future (clock skew)', lease('other', -5000), 'wait'],
  ])('%s -> %s', (_what, l, action) => {
    expect(shouldAcquire(l, 'me', now).action).toBe(action);
  });

  it('reports who holds it and until when while waiting', () => {
    const d = shouldAcquire(lease('other', 5000), 'me', now);
    expect(d).toEqual({ action: 'wait', holder: 'other', expiresAt: new Date(now.getTime() + 10_000) });
  });

  it('property: a live foreign Lease is never taken, an expired one always is', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3600 }), fc.integer({ min: -10_000, max: 7_200_000 }), (duration, ago) => {
        const d = shouldAcquire(lease('other', ago, duration), 'me', now);
        expect(d.action).toBe(ago >= duration * 1000 ? 'acquire' : 'wait');
      }),
    );
  });
});

describe('nextLeaseSpec', () => {
  it('renewing keeps acquireTime and transitions, moves renewTime', () => {
    const old = lease('me', 3000);
    old.spec!.acquireTime = '2026-11-24T09:00:00.000000Z';
    const spec = nextLeaseSpec(old, 'me', now, 15);
    expect(spec).toMatchObject({ holderIdentity: 'me', acquireTime: '2026-11-24T09:00:00.000000Z', renewTime: '2026-11-24T10:00:00.000000Z', leaseTransitions: 2 });
  });

  it('taking over from another holder counts a transition; creating does not', () => {
    expect(nextLeaseSpec(lease('other', 60_000), 'me', now, 15).leaseTransitions).toBe(3);
    expect(nextLeaseSpec(undefined, 'me', now, 15).leaseTransitions).toBe(0);
    expect(nextLeaseSpec(lease('', 60_000), 'me', now, 15).leaseTransitions).toBe(2);
  });

  it('writes MicroTime with six fractional digits (the API server rejects three)', () => {
    expect(microTime(new Date('2026-01-02T03:04:05.678Z'))).toBe('2026-01-02T03:04:05.678000Z');
    expect(leaseExpiry({ spec: { renewTime: microTime(now), leaseDurationSeconds: 15 } })).toEqual(new Date(now.getTime() + 15_000));
  });
});
