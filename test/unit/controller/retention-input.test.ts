import { describe, expect, it } from 'vitest';
import type { Checkpoint, CheckpointSchedule } from '../../../src/api/types.ts';
import { checkpointState, groupForRetention, livingPods, livingRestoredFrom, pinnedCheckpoints, workloadExistsIn } from '../../../src/controller/retention-input.ts';
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

describe('retention inputs: source pods, living pods, orphan marks', () => {
  it('a candidate carries its source pod and its orphan mark (NaN when malformed)', () => {
    const base = cp('a', '2026-01-01T00:00:00Z', { podName: 'web-0', podUID: 'u1', workload: { kind: 'StatefulSet', name: 'web' } });
    const [g] = groupForRetention([base], [schedule]);
    expect(g!.checkpoints[0]).toMatchObject({ podName: 'web-0', podUID: 'u1', workload: { kind: 'StatefulSet', name: 'web' } });
    expect(g!.checkpoints[0]!.orphanedSinceMs).toBeUndefined();
    const marked = (v: string) => groupForRetention([{ ...base, metadata: { ...base.metadata, annotations: { 'kcr.io/orphaned-since': v } } }], [schedule])[0]!.checkpoints[0]!;
    expect(marked('2026-01-01T01:00:00.000Z').orphanedSinceMs).toBe(Date.parse('2026-01-01T01:00:00Z'));
    expect(marked('yesterday').orphanedSinceMs).toBeNaN();
  });

  it('living pods: by uid, name and identity (kind included); terminating and finished pods are not alive', () => {
    const rsOwner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'api-5d8f7', uid: 'rs', controller: true };
    const stsOwner = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'sts', controller: true };
    const living = livingPods([
      { metadata: { name: 'api-5d8f7-x1', namespace: 'ns', uid: 'p1', ownerReferences: [rsOwner], labels: { 'pod-template-hash': '5d8f7' } }, status: { phase: 'Running' } },
      { metadata: { name: 'web-0', namespace: 'ns', uid: 'p2', ownerReferences: [stsOwner] }, status: { phase: 'Pending' } },
      // A StatefulSet pod after `kubectl delete sts --cascade=orphan`: no owner any more.
      { metadata: { name: 'db-0', namespace: 'ns', uid: 'p3' }, status: { phase: 'Running' } },
      { metadata: { name: 'going', namespace: 'ns', uid: 'p4', deletionTimestamp: '2026-01-01T00:00:00Z' }, status: { phase: 'Running' } },
      { metadata: { name: 'done', namespace: 'ns', uid: 'p5' }, status: { phase: 'Succeeded' } },
    ]);
    expect([...living.uids].sort()).toEqual(['p1', 'p2', 'p3']);
    expect([...living.names].sort()).toEqual(['ns/api-5d8f7-x1', 'ns/db-0', 'ns/web-0']);
    expect([...living.identities].map((k) => JSON.parse(k) as string[]).sort()).toEqual([
      ['ns', 'Deployment', 'api'], ['ns', 'Pod', 'db-0'], ['ns', 'StatefulSet', 'web-0'],
    ]);
  });
});
