import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sameIdentityKind } from '../../../src/rules/checkpoint-choice.ts';
import { podIdentity } from '../../../src/rules/identity.ts';
import type { IndexedCheckpoint } from '../../../src/rules/indexed-objects.ts';
import { indexOf, replicaSet } from '../webhooks/builders.ts';

const owner = (kind: string, name: string, controller = true) => ({ apiVersion: 'apps/v1', kind, name, uid: `${kind}-${name}`, controller });

describe('podIdentity', () => {
  const index = indexOf([['ReplicaSet', replicaSet('web-abc', 'shop', 'web')], ['ReplicaSet', replicaSet('solo-1', 'shop', undefined)]]);

  it.each([
    ['StatefulSet pod: its stable name', { name: 'db-2', ownerReferences: [owner('StatefulSet', 'db')] }, { identity: 'db-2', kind: 'StatefulSet', workload: 'db' }],
    ['ReplicaSet pod: the Deployment of the indexed ReplicaSet', { generateName: 'web-abc-', ownerReferences: [owner('ReplicaSet', 'web-abc')] }, { identity: 'web', kind: 'Deployment', workload: 'web' }],
    ['ReplicaSet pod, ReplicaSet unknown: Deployment from pod-template-hash', { labels: { 'pod-template-hash': '5f7d' }, ownerReferences: [owner('ReplicaSet', 'shop-api-5f7d')] }, { identity: 'shop-api', kind: 'Deployment', workload: 'shop-api' }],
    ['ReplicaSet pod, unknown ReplicaSet without hash: the ReplicaSet', { ownerReferences: [owner('ReplicaSet', 'x-1')] }, { identity: 'x-1', kind: 'ReplicaSet', workload: 'x-1' }],
    ['ReplicaSet without Deployment: the ReplicaSet', { ownerReferences: [owner('ReplicaSet', 'solo-1')] }, { identity: 'solo-1', kind: 'ReplicaSet', workload: 'solo-1' }],
    ['bare pod: its name', { name: 'scratch' }, { identity: 'scratch', kind: 'Pod', workload: 'scratch' }],
    ['non-controller owner is ignored', { name: 'p', ownerReferences: [owner('ConfigMap', 'c', false)] }, { identity: 'p', kind: 'Pod', workload: 'p' }],
    ['Job pod: the Job', { generateName: 'j-', ownerReferences: [owner('Job', 'nightly')] }, { identity: 'nightly', kind: 'Job', workload: 'nightly' }],
  ])('%s', (_name, metadata, expected) => {
    expect(podIdentity(metadata, 'shop', index)).toEqual(expected);
  });

  it('has none for a pod without a name that needs one', () => {
    expect(podIdentity({ generateName: 'x-' }, 'shop', index)).toBeUndefined();
    expect(podIdentity({ ownerReferences: [owner('StatefulSet', 'db')] }, 'shop', index)).toBeUndefined();
    expect(podIdentity(null, 'shop', index)).toBeUndefined();
  });

  it('looks the ReplicaSet up in the pod\'s namespace only', () => {
    expect(podIdentity({ ownerReferences: [owner('ReplicaSet', 'web-abc')] }, 'other', index)).toEqual({ identity: 'web-abc', kind: 'ReplicaSet', workload: 'web-abc' });
  });
});

describe('identity includes the workload kind (property)', () => {
  const index = indexOf([]);
  const kinds = ['Pod', 'StatefulSet', 'Deployment', 'Job', 'DaemonSet', 'CronJob'] as const;
  /** A pod of `kind` whose identity name is `name`. */
  const podOf = (kind: (typeof kinds)[number], name: string): object => {
    switch (kind) {
      case 'Pod':
        return { name };
      case 'StatefulSet':
        return { name, ownerReferences: [owner('StatefulSet', 'set')] };
      case 'Deployment':
        return { generateName: `${name}-h1-`, labels: { 'pod-template-hash': 'h1' }, ownerReferences: [owner('ReplicaSet', `${name}-h1`)] };
      default:
        return { generateName: `${name}-`, ownerReferences: [owner(kind, name)] };
    }
  };
  const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/);

  it('pods of different workload kinds never share an identity: one’s checkpoint is never the other’s', () => {
    fc.assert(
      fc.property(fc.constantFrom(...kinds), fc.constantFrom(...kinds), name, (a, b, n) => {
        const ia = podIdentity(podOf(a, n), 'shop', index)!;
        const ib = podIdentity(podOf(b, n), 'shop', index)!;
        expect(ia.identity).toBe(n);
        expect(ib.identity).toBe(n);
        const checkpointOfA = { workloadKind: ia.kind } as IndexedCheckpoint;
        expect(sameIdentityKind(ib, checkpointOfA)).toBe(a === b);
      }),
    );
  });
});
