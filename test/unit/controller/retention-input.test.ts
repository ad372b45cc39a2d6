import { describe, expect, it } from 'vitest';
import type { Checkpoint, CheckpointSchedule } from '../../../src/api/types.ts';
import { checkpointState, groupForRetention, livingRestoredFrom, pinnedCheckpoints, workloadExistsIn } from '../../../src/controller/retention-input.ts';
import { chooseRetention } from '../../../src/retention/choose.ts';

const cp = (name: string, at: string, extra: Partial<Checkpoint['spec']> = {}, status: Checkpoint['status'] = { phase: 'ImageBuilt' }, annotations?: Record<string, string>): Checkpoint => ({
  apiVersion: 'checkpoint-restore.kcr.io/v1',
  kind: 'Checkpoint',
  metadata: { name, namespace: 'ns', ...(annotations ? { annotations } : {}) },
  spec: { containerName: 'app', identity: 'web-0', checkpointTimestamp: at, checkpointScheduleRef: { name: 's' }, ...extra },
  status,
});
const schedule: CheckpointSchedule = {
  apiVersion: 'checkpoint-restore.kcr.io/v1', kind: 'CheckpointSchedule',
  metadata: { name: 's', namespace: 'ns' }, spec: { schedule: '* * * * *', selector: {}, retention: { maxCheckpointsPerContainer: 2 } },
};

describe('retention inputs', () => {
  it('a schedule’s checkpoints follow its policy; others the default', () => {
    const groups = groupForRetention([cp('a', '2026-01-01T00:00:00Z'), cp('b', '2026-01-01T00:01:00Z', { checkpointScheduleRef: { name: 'gone' } })], [schedule]);
    expect(groups.map((g) => [g.key, g.policy, g.checkpoints.map((c) => c.name)])).toEqual([
      ['cps:ns/s', { maxCheckpointsPerContainer: 2 }, ['a']],
      ['default', undefined, ['b']],
    ]);
  });

  it('keeps exactly N newest, plus the pinned and the living-restored ones', () => {
    const cps = [1, 2, 3, 4, 5, 6].map((i) => cp(`c${i}`, `2026-01-01T00:0${i}:00Z`, {}, { phase: 'ImageBuilt' }, i === 1 ? { 'kcr.io/pinned': 'true' } : undefined));
    const living = livingRestoredFrom([
      { metadata: { name: 'web-0', namespace: 'ns', annotations: { 'kcr.io/restored-from.app': 'c2' } }, status: { phase: 'Running' } },
      { metadata: { name: 'dead', namespace: 'ns', annotations: { 'kcr.io/restored-from.app': 'c3' }, deletionTimestamp: 'x' } },
    ]);
    const [group] = groupForRetention(cps, [schedule]);
    const d = chooseRetention({ checkpoints: group!.checkpoints, policy: group!.policy, livingRestoredFrom: living, pinned: pinnedCheckpoints(cps),
      workloadExists: workloadExistsIn(() => true), now: new Date() });
    expect(d.keep.map((c) => c.name).sort()).toEqual(['c1', 'c2', 'c5', 'c6']);
    expect(d.delete.map((x) => x.checkpoint.name).sort()).toEqual(['c3', 'c4']);
  });

  it('state: ImageBuilt good, Failed or bad failed, anything else in flight', () => {
    expect(checkpointState(cp('a', 't'))).toBe('good');
    expect(checkpointState(cp('a', 't', {}, { phase: 'ImageBuilt', bad: true }))).toBe('failed');
    expect(checkpointState(cp('a', 't', {}, { phase: 'Failed' }))).toBe('failed');
    expect(checkpointState(cp('a', 't', {}, { phase: 'Processing' }))).toBe('inflight');
  });

  it('a bare pod’s checkpoint is never an orphan; a gone Deployment’s is', () => {
    const exists = workloadExistsIn(() => false);
    expect(exists('ns', { kind: 'Pod', name: 'p' })).toBe(true);
    expect(exists('ns', { kind: 'Deployment', name: 'd' })).toBe(false);
  });
});
