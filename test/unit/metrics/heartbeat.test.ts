// The liveness decision: a main loop quiet for longer than its bound makes the process not live;
// a loop not expected to run never does.
import { describe, expect, it } from 'vitest';
import { Heartbeat, liveness, livenessOf, type HeartbeatState } from '../../../src/metrics/heartbeat.ts';

const beat = (b: Partial<HeartbeatState>): HeartbeatState => ({ name: 'loop', boundMs: 10_000, lastBeatMs: undefined, expectedSinceMs: 0, ...b });

describe('liveness', () => {
  it.each([
    ['beaten within its bound', [beat({ lastBeatMs: 95_000 })], 100_000, []],
    ['beaten exactly at its bound', [beat({ lastBeatMs: 90_000 })], 100_000, []],
    ['quiet past its bound', [beat({ lastBeatMs: 89_999 })], 100_000, [{ name: 'loop', quietMs: 10_001 }]],
    ['never beaten, expected only just now', [beat({ expectedSinceMs: 95_000 })], 100_000, []],
    ['never beaten since it was expected, past the bound', [beat({ expectedSinceMs: 80_000 })], 100_000, [{ name: 'loop', quietMs: 20_000 }]],
    ['a beat from before it was last expected does not count', [beat({ lastBeatMs: 10_000, expectedSinceMs: 95_000 })], 100_000, []],
    ['not expected to run (a standby\'s reconcile pass)', [beat({ expectedSinceMs: undefined, lastBeatMs: 0 })], 100_000, []],
    ['one stale among fresh ones', [beat({ name: 'a', lastBeatMs: 99_000 }), beat({ name: 'b', lastBeatMs: 1_000 })], 100_000, [{ name: 'b', quietMs: 99_000 }]],
    ['no loops at all', [], 100_000, []],
  ] as const)('%s', (_what, beats, now, stale) => {
    const got = liveness(beats, now);
    expect(got.stale).toEqual(stale);
    expect(got.live).toBe(stale.length === 0);
  });
});

describe('Heartbeat', () => {
  it('goes stale once not beaten for its bound, live again at the next beat, and is idle while not expected', () => {
    let now = 1_000;
    const clock = () => now;
    const h = new Heartbeat('worker', 5_000, { now: clock });
    expect(livenessOf([h], clock).live).toBe(true);
    now = 6_001;
    expect(livenessOf([h], clock).stale).toEqual([{ name: 'worker', quietMs: 5_001 }]);
    h.beat();
    expect(livenessOf([h], clock).live).toBe(true);
    h.idle();
    now = 60_000;
    expect(livenessOf([h], clock).live).toBe(true);
    h.expect();
    now = 64_000;
    expect(livenessOf([h], clock).live).toBe(true);
    now = 65_001;
    expect(livenessOf([h], clock).live).toBe(false);
  });

  it('can start idle (expected: false)', () => {
    let now = 0;
    const h = new Heartbeat('reconcile', 1_000, { now: () => now, expected: false });
    now = 100_000;
    expect(livenessOf([h], () => now).live).toBe(true);
  });
});
