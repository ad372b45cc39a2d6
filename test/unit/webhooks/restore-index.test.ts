// RestoreIndex: what informers feed in is trimmed, replaced by uid, removed, and counted.
import { describe, expect, it } from 'vitest';
import { RestoreIndex, INDEXED_KINDS } from '../../../webhooks/restore-index.ts';
import { checkpoint, livePod, namespace, replicaSet, schedule, workload } from './builders.ts';

const cp = (name: string, extra: Partial<Parameters<typeof checkpoint>[0]> = {}) =>
  checkpoint({ name, identity: 'db-0', container: 'redis', podName: 'db-0', podUID: 'p1', originalImage: 'redis:7.4', ...extra });

describe('RestoreIndex', () => {
  it('trims a Checkpoint to the fields the decision reads', () => {
    const index = new RestoreIndex();
    const full = cp('db-a', { architecture: 'arm64', originalImageDigest: 'sha256:abc', takenAt: '2026-11-24T06:00:00Z', pinned: true });
    full.spec.checkpointData = 'checkpoint-db-0_shop-redis-2026.tar';
    full.status!.conditions = [{ type: 'Ready', status: 'True', reason: 'Built', message: 'x'.repeat(500), lastTransitionTime: 'now' }];
    index.upsert('Checkpoint', full);
    const stored = index.checkpoint('shop', 'db-a');
    expect(stored).toEqual({
      key: full.metadata.uid,
      namespace: 'shop',
      deleting: false,
      name: 'db-a',
      identity: 'db-0',
      container: 'redis',
      workloadKind: undefined,
      podUID: 'p1',
      podName: 'db-0',
      originalImage: 'redis:7.4',
      originalImageDigest: 'sha256:abc',
      architecture: 'arm64',
      phase: 'ImageBuilt',
      runtimeImage: full.status!.runtimeImage,
      bad: false,
      pinned: true,
      takenMs: Date.parse('2026-11-24T06:00:00Z'),
      createdMs: Date.parse('2026-11-24T06:00:00Z'),
    });
    expect(JSON.stringify(stored)).not.toContain('checkpointData');
    expect(JSON.stringify(stored)).not.toContain('xxxx');
  });

  it('trims a client-node Pod (Date timestamps) to identity, liveness and restored-from names', () => {
    const index = new RestoreIndex();
    index.upsert('Pod', livePod({ name: 'db-0', uid: 'u1', terminating: true, annotations: { 'kcr.io/restored-from': 'a, b', 'kcr.io/restored-from.redis': 'a', other: 'x' } }));
    const pod = index.podByUid('u1');
    expect(pod).toEqual({ key: 'u1', uid: 'u1', namespace: 'shop', name: 'db-0', terminating: true, terminal: false, restoredFrom: ['a', 'b'] });
    expect(index.podByName('shop', 'db-0')).toBe(pod);
    expect([...index.podsRestoredFrom('shop', 'b')].map((p) => p.uid)).toEqual(['u1']);
    expect([...index.podsRestoredFrom('other', 'b')]).toEqual([]);
  });

  it('trims namespaces, schedules, ReplicaSets and workloads', () => {
    const index = new RestoreIndex();
    index.upsert('Namespace', namespace('shop', { 'kcr.io/restore': 'enabled', team: 'a' }));
    index.upsert('CheckpointSchedule', schedule('s', 'shop', { matchLabels: { app: 'db' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a'] }] }, 'Never'));
    index.upsert('ReplicaSet', replicaSet('api-1', 'shop', 'api'));
    index.upsert('Deployment', workload('Deployment', 'api', 'shop', '*/5 * * * *'));
    index.upsert('StatefulSet', workload('StatefulSet', 'api', 'shop'));
    expect(index.namespace('shop')).toEqual({ key: 'shop', name: 'shop', restoreLabel: 'enabled' });
    expect([...index.schedulesIn('shop')]).toEqual([
      { key: 'sched-shop-s', namespace: 'shop', name: 's', restoreMode: 'Never', selector: { matchLabels: { app: 'db' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a'] }] } },
    ]);
    expect(index.replicaSet('shop', 'api-1')).toEqual({ key: 'rs-shop-api-1', namespace: 'shop', name: 'api-1', deployment: 'api' });
    expect(index.workload('Deployment', 'shop', 'api')?.schedule).toBe('*/5 * * * *');
    expect(index.workload('StatefulSet', 'shop', 'api')?.schedule).toBeUndefined();
    expect(index.sizes()).toEqual({ Checkpoint: 0, Pod: 0, Namespace: 1, Node: 0, CheckpointSchedule: 1, ReplicaSet: 1, Deployment: 1, StatefulSet: 1, PullSecretRecord: 0 });
  });

  it('upsert of the same uid replaces, including every secondary lookup', () => {
    const index = new RestoreIndex();
    const first = cp('db-a', { takenAt: '2026-11-24T06:00:00Z' });
    index.upsert('Checkpoint', first);
    index.upsert('Checkpoint', cp('db-b', { takenAt: '2026-11-24T05:00:00Z' }));
    expect(index.checkpointsFor('shop', 'db-0', 'redis').map((c) => c.name)).toEqual(['db-a', 'db-b']);
    // The same object, now marked bad and moved to an older timestamp.
    const updated = structuredClone(first);
    updated.status!.bad = true;
    updated.spec.checkpointTimestamp = '2026-11-24T04:00:00Z';
    index.upsert('Checkpoint', updated);
    expect(index.checkpointsFor('shop', 'db-0', 'redis').map((c) => [c.name, c.bad])).toEqual([['db-b', false], ['db-a', true]]);
    expect(index.sizes().Checkpoint).toBe(2);

    // A pod whose restored-from annotation changes leaves the old reverse entry.
    index.upsert('Pod', livePod({ name: 'x', uid: 'u', annotations: { 'kcr.io/restored-from.redis': 'db-a' } }));
    index.upsert('Pod', livePod({ name: 'x', uid: 'u', annotations: { 'kcr.io/restored-from.redis': 'db-b' } }));
    expect([...index.podsRestoredFrom('shop', 'db-a')]).toEqual([]);
    expect([...index.podsRestoredFrom('shop', 'db-b')].map((p) => p.uid)).toEqual(['u']);
    expect(index.sizes().Pod).toBe(1);
  });

  it('remove forgets an object by its last known state, and only that object', () => {
    const index = new RestoreIndex();
    const a = cp('db-a');
    index.upsert('Checkpoint', a);
    index.upsert('Checkpoint', cp('db-b'));
    index.upsert('Pod', livePod({ name: 'db-0', uid: 'old', annotations: { 'kcr.io/restored-from': 'db-a' } }));
    index.upsert('Pod', livePod({ name: 'db-0', uid: 'new' }));
    index.remove('Checkpoint', a);
    index.remove('Pod', livePod({ name: 'db-0', uid: 'old' }));
    expect(index.checkpoint('shop', 'db-a')).toBeUndefined();
    expect(index.checkpointsFor('shop', 'db-0', 'redis').map((c) => c.name)).toEqual(['db-b']);
    expect(index.podByUid('old')).toBeUndefined();
    // The newer pod of the same name keeps its name lookup.
    expect(index.podByName('shop', 'db-0')?.uid).toBe('new');
    expect([...index.podsRestoredFrom('shop', 'db-a')]).toEqual([]);
    index.remove('Pod', livePod({ name: 'db-0', uid: 'new' }));
    index.remove('Checkpoint', cp('never-added'));
    index.remove('Namespace', namespace('nope'));
    expect(index.podByName('shop', 'db-0')).toBeUndefined();
    expect(index.sizes()).toEqual({ Checkpoint: 1, Pod: 0, Namespace: 0, Node: 0, CheckpointSchedule: 0, ReplicaSet: 0, Deployment: 0, StatefulSet: 0, PullSecretRecord: 0 });
  });

  it('groups checkpoints by namespace, identity and container', () => {
    const index = new RestoreIndex();
    index.upsert('Checkpoint', cp('a'));
    index.upsert('Checkpoint', cp('b', { namespace: 'staging' }));
    index.upsert('Checkpoint', cp('c', { identity: 'db-1' }));
    index.upsert('Checkpoint', cp('d', { container: 'sidecar' }));
    // No spec.identity: a Deployment's checkpoint falls back to the workload name, a bare pod's to podName.
    index.upsert('Checkpoint', checkpoint({ name: 'e', container: 'app', podName: 'api-x', workloadKind: 'Deployment', identity: undefined }));
    index.upsert('Checkpoint', { ...checkpoint({ name: 'f', container: 'app', podName: 'api-x' }), spec: { containerName: 'app', podName: 'api-x', workload: { kind: 'Deployment', name: 'api' } } });
    index.upsert('Checkpoint', checkpoint({ name: 'g', container: 'app', podName: 'scratch' }));
    expect(index.checkpointsFor('shop', 'db-0', 'redis').map((c) => c.name)).toEqual(['a']);
    expect(index.checkpointsFor('staging', 'db-0', 'redis').map((c) => c.name)).toEqual(['b']);
    expect(index.checkpointsFor('shop', 'db-1', 'redis').map((c) => c.name)).toEqual(['c']);
    expect(index.checkpointsFor('shop', 'db-0', 'sidecar').map((c) => c.name)).toEqual(['d']);
    expect(index.checkpointsFor('shop', 'api', 'app').map((c) => c.name)).toEqual(['f']);
    expect(index.checkpointsFor('shop', 'scratch', 'app').map((c) => c.name)).toEqual(['g']);
  });

  it('ignores objects it cannot key and shapes it does not know, without throwing', () => {
    const index = new RestoreIndex();
    for (const kind of INDEXED_KINDS) {
      for (const junk of [null, undefined, 42, 'pod', [], {}, { metadata: null }, { metadata: { uid: 7 } }, { metadata: { name: 'x' }, spec: 'no' }]) {
        expect(() => index.upsert(kind, junk)).not.toThrow();
        expect(() => index.remove(kind, junk)).not.toThrow();
      }
    }
    // Whatever was keyable (by namespace/name when there is no uid) was removed again.
    expect(Object.values(index.sizes()).every((n) => n === 0)).toBe(true);
    // A checkpoint without containerName cannot be restored: never indexed.
    index.upsert('Checkpoint', { metadata: { name: 'x', namespace: 'shop', uid: 'u' }, spec: { identity: 'db-0' } });
    expect(index.sizes().Checkpoint).toBe(0);
  });

  it('keeps a Deployment and a StatefulSet of the same name apart even without uids', () => {
    const index = new RestoreIndex();
    const dep = { metadata: { name: 'x', namespace: 'shop', annotations: { 'kcr.io/checkpoint-restore-schedule': '@daily' } } };
    const sts = { metadata: { name: 'x', namespace: 'shop' } };
    index.upsert('Deployment', dep);
    index.upsert('StatefulSet', sts);
    expect(index.sizes()).toMatchObject({ Deployment: 1, StatefulSet: 1, PullSecretRecord: 0 });
    expect(index.workload('Deployment', 'shop', 'x')?.schedule).toBe('@daily');
    index.remove('StatefulSet', sts);
    expect(index.sizes()).toMatchObject({ Deployment: 1, StatefulSet: 0, PullSecretRecord: 0 });
  });
});

describe('RestoreIndex: nodes and claim holders', () => {
  const nodeObj = (name: string, labels: Record<string, string>, unschedulable = false) =>
    ({ apiVersion: 'v1', kind: 'Node', metadata: { name, uid: `u-${name}`, labels }, spec: unschedulable ? { unschedulable: true } : {} });
  const capable = { 'restore.kcr.io/runtime': 'cri-o', 'restore.kcr.io/capable': 'true', 'kubernetes.io/arch': 'amd64' };

  it('knows whether a schedulable node can take a restore, following node updates and deletes', () => {
    const index = new RestoreIndex();
    expect(index.restoreNodeExists({ runtime: 'cri-o', architecture: 'amd64' })).toBe(false);
    index.upsert('Node', nodeObj('a', capable));
    expect(index.restoreNodeExists({ runtime: 'cri-o', architecture: 'amd64' })).toBe(true);
    expect(index.restoreNodeExists({ runtime: undefined, architecture: undefined })).toBe(true);
    expect(index.restoreNodeExists({ runtime: 'containerd', architecture: 'amd64' })).toBe(false);
    expect(index.restoreNodeExists({ runtime: 'cri-o', architecture: 'arm64' })).toBe(false);
    index.upsert('Node', nodeObj('a', capable, true)); // cordoned
    expect(index.restoreNodeExists({ runtime: 'cri-o', architecture: 'amd64' })).toBe(false);
    index.upsert('Node', nodeObj('a', { ...capable, 'restore.kcr.io/capable': 'false' }));
    expect(index.restoreNodeExists({ runtime: 'cri-o', architecture: 'amd64' })).toBe(false);
    index.upsert('Node', nodeObj('a', capable));
    index.upsert('Node', nodeObj('b', capable));
    index.remove('Node', nodeObj('a', capable));
    expect(index.restoreNodeExists({ runtime: 'cri-o', architecture: 'amd64' })).toBe(true);
    index.remove('Node', nodeObj('b', capable));
    expect(index.restoreNodeExists({ runtime: 'cri-o', architecture: 'amd64' })).toBe(false);
    expect(index.sizes().Node).toBe(0);
  });

  it('remembers claim holders of pods it saw, also after they are deleted, per namespace', () => {
    const index = new RestoreIndex();
    const pod = { metadata: { name: 'p', namespace: 'shop', uid: 'u1', annotations: { 'kcr.io/claim-holder': 'req-1' } }, status: { phase: 'Running' } };
    expect(index.holderSeen('shop', 'req-1')).toBe(false);
    index.upsert('Pod', pod);
    expect(index.holderSeen('shop', 'req-1')).toBe(true);
    expect(index.holderSeen('other', 'req-1')).toBe(false);
    index.remove('Pod', pod);
    expect(index.holderSeen('shop', 'req-1')).toBe(true);
  });
});
