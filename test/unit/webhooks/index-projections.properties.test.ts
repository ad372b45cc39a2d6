// The webhook's informers store projections (index-projections.ts): for every kind, whatever the
// object holds besides, the index reads the same from the projection as from the full object
// (its trims are equal), and the projection holds nothing the index does not read.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePullSecretRecord } from '../../../src/registry-access/pull-secret-plan.ts';
import { trimCheckpoint, trimNamespace, trimNode, trimPod, trimReplicaSet, trimSchedule, trimWorkload } from '../../../src/rules/indexed-objects.ts';
import { stringMap } from '../../../src/rules/shape.ts';
import { isLiving } from '../../../src/rules/checkpoint-choice.ts';
import { INDEX_FIELD_SELECTORS, INDEX_METADATA_ONLY, INDEX_PROJECTIONS } from '../../../webhooks/index-projections.ts';
import { RestoreIndex } from '../../../webhooks/restore-index.ts';

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

  it('pods watched as metadata only and while not terminal: every pod lookup the choice makes answers as with all pods whole', () => {
    const phases = fc.constantFrom('Pending', 'Running', 'Unknown', 'Succeeded', 'Failed', undefined);
    const pod = fc.record({
      name: fc.constantFrom('db-0', 'db-1', 'web-x'), generation: fc.constantFrom('a', 'b'), phase: phases, deleting: fc.boolean(),
      restoredFrom: fc.option(fc.constantFrom('cp-1', 'cp-2'), { nil: undefined }),
    });
    // As the API server holds them: one pod per name at a time, uids never reused.
    fc.assert(fc.property(fc.uniqueArray(pod, { selector: (p) => p.name, maxLength: 3 }), (pods) => {
      const whole = new RestoreIndex();
      const watched = new RestoreIndex();
      for (const p of pods) {
        const full = {
          apiVersion: 'v1', kind: 'Pod',
          metadata: { name: p.name, namespace: 'shop', uid: `${p.name}-${p.generation}`, ...(p.deleting ? { deletionTimestamp: '2026-12-04T06:00:00Z' } : {}), ...(p.restoredFrom ? { annotations: { 'kcr.io/restored-from.app': p.restoredFrom } } : {}) },
          spec: { containers: [{ name: 'app', image: 'redis:7' }] },
          status: p.phase === undefined ? {} : { phase: p.phase },
        };
        whole.upsert('Pod', INDEX_PROJECTIONS.Pod(full));
        // The API server's side: the field selector, then PartialObjectMetadata (no spec, no status).
        if (p.phase !== 'Succeeded' && p.phase !== 'Failed') watched.upsert('Pod', INDEX_PROJECTIONS.Pod({ apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadata', metadata: full.metadata }));
      }
      for (const uid of ['db-0-a', 'db-0-b', 'db-1-a', 'web-x-b']) expect(isLiving(watched.podByUid(uid))).toBe(isLiving(whole.podByUid(uid)));
      for (const name of ['db-0', 'db-1', 'web-x']) expect(isLiving(watched.podByName('shop', name))).toBe(isLiving(whole.podByName('shop', name)));
      for (const cp of ['cp-1', 'cp-2']) {
        const living = (index: RestoreIndex) => [...index.podsRestoredFrom('shop', cp)].filter(isLiving).map((p) => p.uid ?? '').sort();
        expect(living(watched)).toEqual(living(whole));
      }
    }), { numRuns: 500 });
    expect(INDEX_FIELD_SELECTORS.Pod).toBe('status.phase!=Succeeded,status.phase!=Failed');
    expect(INDEX_METADATA_ONLY.has('Pod')).toBe(true);
  });
});
