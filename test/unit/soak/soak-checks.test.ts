// The soak's judgement over what it observed: each count rises for the failure it names, and
// only for it.
import { describe, expect, it } from 'vitest';
import { missedSlots, soakCounts, type CheckpointSample, type PodSample, type Sample } from '../../soak/soak-checks.ts';

const pod = (uid: string, identity: string, createdMs: number, restoredFrom: Record<string, string> = {}, living = true): PodSample => ({ uid, name: uid, identity, createdMs, living, restoredFrom });
const cp = (name: string, identity: string, podUID: string, ready = true): CheckpointSample => ({ name, identity, container: 'app', podUID, ready, createdMs: 0 });
const at = (atMs: number, pods: PodSample[], checkpoints: CheckpointSample[]): Sample => ({ atMs, pods, checkpoints });

describe('soakCounts', () => {
  it('a replacement restored from its checkpoint: a restore, nothing wrong', () => {
    const c = soakCounts([at(0, [pod('a', 'db-0', -1)], [cp('c1', 'db-0', 'a')]), at(10, [pod('b', 'db-0', 5, { app: 'c1' })], [cp('c1', 'db-0', 'a')])], [], [], 20);
    expect(c).toEqual({ duplicates: 0, clones: 0, lost: 0, stuck: 0, restores: 1, freshWithReason: 0 });
  });

  it('two living pods from one checkpoint: a duplicate; one from a checkpoint whose source lives: a clone', () => {
    const s = at(10, [pod('a', 'api', -1), pod('b', 'api', 5, { app: 'c1' }), pod('c', 'api', 6, { app: 'c1' })], [cp('c1', 'api', 'a')]);
    const c = soakCounts([at(0, [pod('a', 'api', -1)], [cp('c1', 'api', 'a')]), s], [], [], 20);
    expect(c.duplicates).toBe(1);
    expect(c.clones).toBe(2);
  });

  it('a fresh start with a usable checkpoint is lost, unless the webhook logged a reason near it', () => {
    const samples = [at(0, [pod('a', 'db-0', -1, {}, false)], [cp('c1', 'db-0', 'a')]), at(10, [pod('b', 'db-0', 5)], [cp('c1', 'db-0', 'a')])];
    expect(soakCounts(samples, [], [], 20).lost).toBe(1);
    expect(soakCounts(samples, [{ identity: 'db-0', atMs: 6, reason: 'claim-conflict' }], [], 20)).toMatchObject({ lost: 0, freshWithReason: 1 });
    expect(soakCounts(samples, [{ identity: 'db-1', atMs: 6, reason: 'claim-conflict' }], [], 20).lost).toBe(1);
  });

  it('a fresh start is not lost when nothing was usable: no checkpoint, not ready, or its source alive', () => {
    for (const checkpoints of [[], [cp('c1', 'db-0', 'a', false)], [cp('c1', 'db-0', 'x')]]) {
      const samples = [at(0, [pod('x', 'db-1', -1)], checkpoints), at(10, [pod('b', 'db-0', 5), pod('x', 'db-1', -1)], checkpoints)];
      expect(soakCounts(samples, [], [], 20).lost).toBe(0);
    }
  });

  it('a request Pending or InProgress past its timeout plus the margin is stuck; finished ones never', () => {
    const r = (phase: string, createdMs: number) => ({ name: phase, phase, createdMs, timeoutSeconds: 60, slotMs: undefined, pod: 'db-0' });
    expect(soakCounts([], [], [r('Pending', 0), r('InProgress', 0), r('Completed', 0), r('Failed', 0), r('Pending', 170_000)], 181_000).stuck).toBe(2);
  });
});

describe('missedSlots', () => {
  it('counts the minutes no request was made for', () => {
    const r = (slotMs: number | undefined) => ({ name: 'r', phase: 'Completed', createdMs: 0, timeoutSeconds: 60, slotMs, pod: 'db-0' });
    const m = 60_000;
    expect(missedSlots([r(m), r(2 * m), r(3 * m)], m, 3 * m)).toBe(0);
    expect(missedSlots([r(m), r(3 * m), r(undefined)], m, 3 * m)).toBe(1);
    expect(missedSlots([], m + 1, 3 * m)).toBe(2);
  });
});
