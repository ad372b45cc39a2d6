// The webhook's informers store projections (index-projections.ts): for every kind, whatever the
// object holds besides, the index reads the same from the projection as from the full object
// (its trims are equal), and the projection holds nothing the index does not read.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePullSecretRecord } from '../../../src/registry-access/pull-secret-plan.ts';
import { trimCheckpoint, trimNamespace, trimNode, trimPod, trimReplicaSet, trimSchedule, trimWorkload } from '../../../src/rules/indexed-objects.ts';
import { stringMap } from '../../../src/rules/shape.ts';
import { INDEX_PROJECTIONS } from '../../../webhooks/index-projections.ts';

const junk = fc.jsonValue({ maxDepth: 2 });
/** A value of the expected type mostly, sometimes anything (the index must read both alike). */
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: arb }, { weight: 1, arbitrary: junk }, { weight: 1, arbitrary: fc.constant(undefined) });
const time = fc.constantFrom('2026-11-24T06:00:00Z', '2026-11-24T06:00:00.123456Z', 'not a time', '');
const KEYS = ['kcr.io/restored-from', 'kcr.io/restored-from.app', 'kcr.io/restored-from.db', 'kcr.io/claim-holder', 'kcr.io/claim', 'kcr.io/pinned', 'kcr.io/target-node',
  'kcr.io/checkpoint-restore-schedule', 'kcr.io/restore', 'restore.kcr.io/runtime', 'restore.kcr.io/capable', 'kubernetes.io/arch', 'app', 'kubectl.kubernetes.io/last-applied-configuration'];
const stringDict = fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 10 })), fc.oneof(fc.constantFrom('true', 'cp-1, cp-2', 'cri-o', 'amd64', '', 'enabled', '{"holder":"h","until":"2026-11-24T06:00:00Z"}'), fc.string({ maxLength: 8 })), { maxKeys: 6 });

const metadata = fc.record({
  name: maybe(fc.constantFrom('a', 'b', '')),
  namespace: maybe(fc.constantFrom('shop', '')),
  uid: maybe(fc.constantFrom('u1', 'u2', '')),
  resourceVersion: maybe(fc.constantFrom('1', '42')),
  creationTimestamp: maybe(time),
  deletionTimestamp: fc.oneof(time, fc.constant(null), fc.constant(undefined)),
  labels: maybe(stringDict),
  annotations: maybe(stringDict),
  ownerReferences: maybe(fc.array(fc.record({ kind: fc.constantFrom('Deployment', 'StatefulSet', 'Node'), name: fc.constantFrom('web', 'db'), uid: fc.constant('o'), controller: maybe(fc.boolean()) }), { maxLength: 3 })),
  managedFields: junk,
  extra: junk,
}, { requiredKeys: [] });

const spec = fc.record({
  identity: maybe(fc.constantFrom('db-0', '')), podName: maybe(fc.constantFrom('db-0', 'web-1')), containerName: maybe(fc.constantFrom('app', '')),
  podUID: maybe(fc.string({ maxLength: 4 })), originalImage: maybe(fc.constantFrom('redis:7', 'img@sha256:aa')), originalImageDigest: maybe(fc.constant('sha256:aa')),
  architecture: maybe(fc.constantFrom('amd64', 'arm64')), checkpointTimestamp: maybe(time),
  workload: maybe(fc.record({ kind: maybe(fc.constantFrom('Deployment', 'StatefulSet')), name: maybe(fc.constantFrom('web', '')), extra: junk }, { requiredKeys: [] })),
  runtime: maybe(fc.record({ name: maybe(fc.constantFrom('cri-o', 'containerd')), version: junk }, { requiredKeys: [] })),
  unschedulable: maybe(fc.boolean()),
  selector: maybe(fc.record({ matchLabels: maybe(stringDict), matchExpressions: maybe(fc.array(fc.record({ key: fc.constant('app'), operator: fc.constantFrom('In', 'Exists', 'Bogus'), values: maybe(fc.array(fc.string({ maxLength: 3 }))) }), { maxLength: 2 })) }, { requiredKeys: [] })),
  restore: maybe(fc.record({ mode: maybe(fc.constantFrom('Replacement', 'Never')), other: junk }, { requiredKeys: [] })),
  containers: junk, volumes: junk,
}, { requiredKeys: [] });

const status = fc.record({
  phase: maybe(fc.constantFrom('Running', 'Succeeded', 'Failed', 'ImageBuilt')), runtimeImage: maybe(fc.constant('reg/x@sha256:bb')), bad: maybe(fc.boolean()),
  conditions: junk, containerStatuses: junk,
}, { requiredKeys: [] });

const object = fc.oneof(
  { weight: 12, arbitrary: fc.record({ apiVersion: fc.constant('v1'), kind: fc.string({ maxLength: 5 }), metadata: maybe(metadata), spec: maybe(spec), status: maybe(status), data: maybe(stringDict) }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: junk },
);

const READS: Array<[string, (o: unknown) => unknown]> = [
  ['Pod', trimPod],
  ['Checkpoint', trimCheckpoint],
  ['Namespace', trimNamespace],
  ['Node', trimNode],
  ['CheckpointSchedule', trimSchedule],
  ['ReplicaSet', trimReplicaSet],
  ['Deployment', (o) => trimWorkload('Deployment', o)],
  ['StatefulSet', (o) => trimWorkload('StatefulSet', o)],
  ['PullSecretRecord', (o) => [(o as { metadata?: { name?: unknown } } | null)?.metadata?.name, [...parsePullSecretRecord(stringMap((o as { data?: unknown } | null)?.data))]]],
];

describe('index projections', () => {
  it.each(READS)('%s: the index reads the same from the projection as from the full object', (kind, read) => {
    const project = INDEX_PROJECTIONS[kind as keyof typeof INDEX_PROJECTIONS];
    fc.assert(fc.property(object, (full) => {
      const projected = project(full);
      expect(read(projected)).toEqual(read(full));
      // Idempotent: projecting a projection keeps it as it is.
      if (projected !== undefined) expect(project(projected)).toEqual(projected);
    }), { numRuns: 1500 });
  });

  it('keeps nothing the index does not read (no managedFields, unrelated labels, annotations or fields)', () => {
    const full = {
      metadata: { name: 'p', namespace: 'shop', uid: 'u', labels: { app: 'x' }, annotations: { 'kcr.io/restored-from.app': 'cp-1', other: 'y' }, managedFields: [{}] },
      spec: { containers: [{ name: 'app', image: 'x' }], nodeName: 'n' },
      status: { phase: 'Running', conditions: [], containerStatuses: [] },
    };
    expect(INDEX_PROJECTIONS.Pod(full)).toEqual({ metadata: { name: 'p', namespace: 'shop', uid: 'u', annotations: { 'kcr.io/restored-from.app': 'cp-1' } }, status: { phase: 'Running' } });
  });
});
