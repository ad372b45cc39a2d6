// The controller's informers store projections (cache-projections.ts): what its readers read of a
// pod (the PodLike/RestorePod fields, the ServiceAccount token facts, placement time, identity)
// and what its decisions over pods conclude (fan-out) is the same from the projection as from
// the full object; kcr's CRs lose only managedFields; nodes and workloads keep what is read.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CACHE_PROJECTIONS, LAST_APPLIED_ANNOTATION, projectCacheNode, projectCachePod, projectCacheStatefulSet, projectCacheWhole } from '../../../src/controller/cache-projections.ts';
import { podIdentityOf } from '../../../src/controller/pod-opt-in.ts';
import { podPlacedMs } from '../../../src/restore/failed-restore.ts';
import { statefulSetImages } from '../../../src/restore/replacement-choice.ts';
import { controllerCreateRefusal, mountsServiceAccountToken, serviceAccountOf, type ServiceAccountSpec } from '../../../src/restore/service-account-token.ts';
import { nodeRestoreFacts } from '../../../src/rules/restore-fit.ts';
import { fanOut } from '../../../src/schedule/fan-out.ts';
import type { PodLike } from '../../../src/restore/pod-like.ts';

const junk = fc.jsonValue({ maxDepth: 2 });
const time = fc.constantFrom('2026-11-24T06:00:00Z', '2026-11-24T06:05:00Z');
const container = fc.record({ name: fc.constantFrom('app', 'sidecar', 'db'), image: fc.constantFrom('redis:7', 'reg/x@sha256:aa'), env: junk, resources: junk }, { requiredKeys: ['name'] });
const state = fc.oneof(
  fc.record({ running: fc.record({ startedAt: time }) }),
  fc.record({ terminated: fc.record({ exitCode: fc.integer({ min: 0, max: 2 }), reason: fc.constantFrom('Error', 'Completed'), startedAt: time, finishedAt: time }) }),
  fc.record({ waiting: fc.record({ reason: fc.constantFrom('CrashLoopBackOff', 'ImagePullBackOff') }) }),
);
const pod = fc.record({
  apiVersion: fc.constant('v1'),
  kind: fc.constant('Pod'),
  metadata: fc.record({
    name: fc.constantFrom('db-0', 'web-7d9-x'),
    namespace: fc.constantFrom('shop', 'lab'),
    uid: fc.constantFrom('u1', 'u2'),
    resourceVersion: fc.constant('9'),
    creationTimestamp: time,
    deletionTimestamp: fc.option(time, { nil: undefined }),
    labels: fc.dictionary(fc.constantFrom('app', 'tier', 'statefulset.kubernetes.io/pod-name'), fc.constantFrom('db', 'web', 'db-0'), { maxKeys: 3 }),
    annotations: fc.dictionary(fc.constantFrom('kcr.io/restore', 'kcr.io/checkpoint', 'kcr.io/restored-from.app', LAST_APPLIED_ANNOTATION, 'x'), fc.constantFrom('true', 'false', 'cp-1'), { maxKeys: 4 }),
    ownerReferences: fc.option(fc.array(fc.record({ apiVersion: fc.constant('apps/v1'), kind: fc.constantFrom('ReplicaSet', 'StatefulSet'), name: fc.constantFrom('web-7d9', 'db'), uid: fc.constant('o'), controller: fc.boolean() }), { maxLength: 2 }), { nil: undefined }),
    managedFields: junk,
  }, { requiredKeys: ['name', 'namespace', 'uid'] }),
  spec: fc.record({
    nodeName: fc.constantFrom('node-1', 'node-2'),
    containers: fc.uniqueArray(container, { minLength: 1, maxLength: 3, selector: (c) => c.name }),
    initContainers: fc.option(fc.array(container, { maxLength: 1 }), { nil: undefined }),
    serviceAccountName: fc.option(fc.constantFrom('default', 'reader'), { nil: undefined }),
    automountServiceAccountToken: fc.option(fc.boolean(), { nil: undefined }),
    volumes: fc.array(fc.oneof(
      fc.record({ name: fc.constant('kube-api-access'), projected: fc.record({ sources: fc.array(fc.oneof(fc.record({ serviceAccountToken: fc.record({ path: fc.constant('token') }) }), fc.record({ configMap: junk })), { maxLength: 3 }) }) }),
      fc.record({ name: fc.constant('data'), emptyDir: fc.constant({}) }),
    ), { maxLength: 3 }),
    affinity: junk,
    tolerations: junk,
  }, { requiredKeys: ['containers'] }),
  status: fc.record({
    phase: fc.constantFrom('Running', 'Pending', 'Failed'),
    podIP: fc.constant('10.0.0.1'),
    conditions: fc.array(fc.record({ type: fc.constantFrom('PodScheduled', 'Ready'), status: fc.constantFrom('True', 'False'), lastTransitionTime: time }), { maxLength: 2 }),
    containerStatuses: fc.array(fc.record({ name: fc.constantFrom('app', 'sidecar'), image: fc.constant('redis:7'), imageID: fc.constant('sha256:cc'), ready: fc.boolean(), restartCount: fc.nat(5), state, lastState: state }), { maxLength: 2 }),
  }, { requiredKeys: [] }),
});

/** Every field the controller's pod readers name (PodLike, RestorePod, OptInPod, ServiceAccountSpec). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- reads generated JSON of any shape
function podReads(p: Record<string, any>) {
  const m = p.metadata ?? {};
  const { [LAST_APPLIED_ANNOTATION]: _ignored, ...annotations } = m.annotations ?? {};
  const images = (cs: Array<{ name?: string; image?: string }> | undefined) => cs?.map((c) => ({ name: c.name, image: c.image }));
  return {
    meta: { name: m.name, namespace: m.namespace, uid: m.uid, labels: m.labels, annotations, creationTimestamp: m.creationTimestamp, deletionTimestamp: m.deletionTimestamp, ownerReferences: m.ownerReferences },
    nodeName: p.spec?.nodeName,
    containers: images(p.spec?.containers),
    initContainers: images(p.spec?.initContainers),
    status: { phase: p.status?.phase, conditions: p.status?.conditions, containerStatuses: p.status?.containerStatuses, initContainerStatuses: p.status?.initContainerStatuses },
    serviceAccount: serviceAccountOf(p.spec as ServiceAccountSpec),
    token: mountsServiceAccountToken(p.spec as ServiceAccountSpec),
    refusal: controllerCreateRefusal(p.spec as ServiceAccountSpec),
    placed: podPlacedMs(p as PodLike),
    identity: podIdentityOf(p as never),
  };
}

describe('controller cache projections', () => {
  it('a pod: every field the controller reads is the same in the projection, and the big parts are gone', () => {
    fc.assert(fc.property(pod, (full) => {
      const projected = projectCachePod(full)!;
      expect(podReads(projected)).toEqual(podReads(full));
      const text = JSON.stringify(projected);
      expect(projected.metadata).not.toHaveProperty('managedFields');
      expect(text).not.toContain(LAST_APPLIED_ANNOTATION);
      expect(text).not.toMatch(/"env"|"affinity"|"podIP"|"emptyDir"/);
      expect(projectCachePod(projected)).toEqual(projected);
    }), { numRuns: 1000 });
  });

  it('fan-out over pods concludes the same from projections as from full pods', () => {
    const schedule = { ref: { kind: 'CheckpointSchedule' as const, namespace: 'shop', name: 's', uid: 'x' }, selector: { matchLabels: { app: 'db' } } };
    const now = new Date('2026-11-24T07:00:00Z');
    fc.assert(fc.property(fc.array(pod, { maxLength: 8 }), (pods) => {
      const input = { schedule, runningCheckpoints: [], now, fireTime: now };
      expect(fanOut({ ...input, pods: pods.map((p) => projectCachePod(p) as PodLike) })).toEqual(fanOut({ ...input, pods: pods as PodLike[] }));
    }), { numRuns: 500 });
  });

  it('a node keeps its restore facts and runtime version, not its image list; a StatefulSet its template images', () => {
    const node = { metadata: { name: 'n', uid: 'u', labels: { 'restore.kcr.io/capable': 'true' }, managedFields: [{}] }, spec: { unschedulable: true, podCIDR: 'x' },
      status: { nodeInfo: { containerRuntimeVersion: 'cri-o://1.31' }, addresses: [{ type: 'InternalIP', address: '10.0.0.2' }], images: [{ names: ['a'], sizeBytes: 1 }] } };
    const p = projectCacheNode(node)!;
    expect(nodeRestoreFacts(p as never)).toEqual(nodeRestoreFacts(node));
    expect(p).toEqual({ metadata: { name: 'n', uid: 'u', labels: { 'restore.kcr.io/capable': 'true' } }, spec: { unschedulable: true },
      status: { nodeInfo: { containerRuntimeVersion: 'cri-o://1.31' }, addresses: [{ type: 'InternalIP', address: '10.0.0.2' }] } });
    const sts = { metadata: { name: 'db', namespace: 'shop', annotations: { 'kcr.io/checkpoint-restore-schedule': '*/5 * * * *' } },
      spec: { selector: { matchLabels: { app: 'db' } }, updateStrategy: { rollingUpdate: { partition: 0 } }, template: { metadata: { labels: {} }, spec: { containers: [{ name: 'redis', image: 'redis:7', env: [] }] } } } };
    const s = projectCacheStatefulSet(sts) as typeof sts;
    expect(statefulSetImages(s)).toEqual(statefulSetImages(sts));
    expect(s.spec.selector).toEqual(sts.spec.selector);
    expect(s.metadata.annotations).toEqual(sts.metadata.annotations);
  });

  it("kcr's CRs are kept whole but for managedFields", () => {
    fc.assert(fc.property(fc.record({ metadata: fc.record({ name: fc.string(), managedFields: junk, annotations: fc.dictionary(fc.string(), fc.string()) }), spec: junk, status: junk }), (cr) => {
      const { managedFields: _m, ...metadata } = cr.metadata;
      expect(projectCacheWhole(cr)).toEqual({ ...cr, metadata });
    }));
    expect(CACHE_PROJECTIONS.Checkpoint).toBe(projectCacheWhole);
  });
});
