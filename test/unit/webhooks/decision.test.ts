// Restore rules 1-6 as a table over AdmissionReview fixtures: each row is an index state,
// a (possibly edited) admission request, and what the user would see on the created pod.
import jsonpatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../../webhooks/admission.ts';
import { decide, REASONS, type Decision, type RestorePolicy } from '../../../webhooks/decision.ts';
import { decideAndClaim } from '../../../webhooks/checkpoint-claims.ts';
import { RestoreIndex, type IndexedKind } from '../../../webhooks/restore-index.ts';
import { MemoryClaimApi } from '../../support/memory-claim-api.ts';
import {
  checkpoint,
  digest,
  fixture,
  indexOf,
  livePod,
  namespace,
  node,
  podOf,
  REPOSITORIES,
  replicaSet,
  runtimeImage,
  schedule,
  workload,
  type PodJson,
} from './builders.ts';

const NOW = new Date('2026-11-24T08:00:00Z');
const POLICY: RestorePolicy = { excludedNamespaces: ['kube-system', 'kcr-system'], repositories: REPOSITORIES };

const STS = 'statefulset-pod-create';
const DEP = 'deployment-pod-create';
const MULTI = 'multi-container-pod-create';
const BARE = 'bare-pod-create';

const optInPod = (req: AdmissionRequest): void => {
  const pod = podOf(req);
  pod.metadata.annotations = { ...pod.metadata.annotations, 'kcr.io/restore': 'true' };
};

/** A good checkpoint of the StatefulSet pod db-0 whose source pod is gone. */
const dbCp = (name: string, extra: Partial<Parameters<typeof checkpoint>[0]> = {}) =>
  checkpoint({ name, identity: 'db-0', container: 'redis', podName: 'db-0', podUID: `old-${name}`, originalImage: 'redis:7.4', ...extra });
/** A good checkpoint of the Deployment api (one of its replicas). */
const apiCp = (name: string, extra: Partial<Parameters<typeof checkpoint>[0]> = {}) =>
  checkpoint({ name, identity: 'api', container: 'app', podName: `api-6d4cf56db6-${name}`, podUID: `uid-${name}`, originalImage: 'ghcr.io/acme/api:2.3.1', ...extra });

const apiRs = replicaSet('api-6d4cf56db6', 'shop', 'api');

interface Row {
  name: string;
  fixture: string;
  edit?: (req: AdmissionRequest) => void;
  index: [IndexedKind, unknown][];
  policy?: RestorePolicy;
  /** Expected reason; for 'restored', container -> checkpoint name of the patched pod. */
  reason: string;
  restored?: Record<string, string>;
  /** Expected kubernetes.io/arch node selector after the patch (null: none). */
  arch?: string | null;
}

const rows: Row[] = [
  // ---- rule 1: opt-in surfaces ----
  { name: 'pod annotation kcr.io/restore=true opts in', fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('db-a')]], reason: 'restored', restored: { redis: 'db-a' } },
  { name: 'namespace label kcr.io/restore=enabled opts in', fixture: STS, index: [['Namespace', namespace('shop', { 'kcr.io/restore': 'enabled' })], ['Checkpoint', dbCp('db-a')]], reason: 'restored', restored: { redis: 'db-a' } },
  { name: 'namespace label with another value does not opt in', fixture: STS, index: [['Namespace', namespace('shop', { 'kcr.io/restore': 'disabled' })], ['Checkpoint', dbCp('db-a')]], reason: 'not-opted-in' },
  { name: 'CheckpointSchedule selecting by matchLabels opts in', fixture: STS, index: [['CheckpointSchedule', schedule('db', 'shop', { matchLabels: { app: 'db' } })], ['Checkpoint', dbCp('db-a')]], reason: 'restored', restored: { redis: 'db-a' } },
  {
    name: 'CheckpointSchedule selecting by matchExpressions opts in',
    fixture: DEP,
    index: [['ReplicaSet', apiRs], ['CheckpointSchedule', schedule('backend', 'shop', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['backend', 'db'] }, { key: 'canary', operator: 'DoesNotExist' }] })], ['Checkpoint', apiCp('a')]],
    reason: 'restored',
    restored: { app: 'a' },
  },
  { name: 'CheckpointSchedule with restore.mode Never does not opt in', fixture: STS, index: [['CheckpointSchedule', schedule('db', 'shop', { matchLabels: { app: 'db' } }, 'Never')], ['Checkpoint', dbCp('db-a')]], reason: 'not-opted-in' },
  { name: 'CheckpointSchedule not selecting the pod does not opt in', fixture: STS, index: [['CheckpointSchedule', schedule('web', 'shop', { matchLabels: { app: 'web' } })], ['Checkpoint', dbCp('db-a')]], reason: 'not-opted-in' },
  { name: "another namespace's CheckpointSchedule does not opt in", fixture: STS, index: [['CheckpointSchedule', schedule('db', 'other', { matchLabels: { app: 'db' } })], ['Checkpoint', dbCp('db-a')]], reason: 'not-opted-in' },
  { name: 'workload annotation on the Deployment opts in', fixture: DEP, index: [['ReplicaSet', apiRs], ['Deployment', workload('Deployment', 'api', 'shop', '*/10 * * * *')], ['Checkpoint', apiCp('a')]], reason: 'restored', restored: { app: 'a' } },
  { name: 'workload annotation on the StatefulSet opts in', fixture: STS, index: [['StatefulSet', workload('StatefulSet', 'db', 'shop', '0 * * * *')], ['Checkpoint', dbCp('db-a')]], reason: 'restored', restored: { redis: 'db-a' } },
  { name: 'a Deployment without the annotation does not opt in', fixture: DEP, index: [['ReplicaSet', apiRs], ['Deployment', workload('Deployment', 'api', 'shop')], ['Checkpoint', apiCp('a')]], reason: 'not-opted-in' },
  { name: 'not opted in: an eligible checkpoint is not used', fixture: STS, index: [['Checkpoint', dbCp('db-a')]], reason: 'not-opted-in' },
  {
    name: 'kcr.io/restore "false" wins over the namespace label, a schedule and the workload annotation',
    fixture: STS,
    edit: (r) => (podOf(r).metadata.annotations = { 'kcr.io/restore': 'false' }),
    index: [
      ['Namespace', namespace('shop', { 'kcr.io/restore': 'enabled' })],
      ['CheckpointSchedule', schedule('db', 'shop', { matchLabels: { app: 'db' } })],
      ['StatefulSet', workload('StatefulSet', 'db', 'shop', '0 * * * *')],
      ['Checkpoint', dbCp('db-a')],
    ],
    reason: 'opted-out',
  },
  { name: 'excluded namespace passes unchanged even when opted in', fixture: STS, edit: (r) => { optInPod(r); r.namespace = 'kcr-system'; }, index: [['Checkpoint', dbCp('db-a', { namespace: 'kcr-system' })]], reason: 'excluded-namespace' },

  // ---- rule 1: operations and kinds ----
  { name: 'dry run passes unchanged', fixture: 'statefulset-pod-create-dry-run', edit: optInPod, index: [['Checkpoint', dbCp('db-a')]], reason: 'dry-run' },
  { name: 'UPDATE passes unchanged', fixture: 'statefulset-pod-update', edit: optInPod, index: [['Checkpoint', dbCp('db-a')]], reason: 'not-create' },
  { name: 'DELETE passes unchanged', fixture: 'statefulset-pod-delete', index: [['Namespace', namespace('shop', { 'kcr.io/restore': 'enabled' })], ['Checkpoint', dbCp('db-a')]], reason: 'not-create' },
  { name: 'pods/binding subresource passes unchanged', fixture: 'pod-binding-create', index: [['Namespace', namespace('shop', { 'kcr.io/restore': 'enabled' })]], reason: 'not-pod' },
  { name: 'another kind passes unchanged', fixture: 'configmap-create', index: [['Namespace', namespace('shop', { 'kcr.io/restore': 'enabled' })]], reason: 'not-pod' },

  // ---- rule 2: identity and namespace ----
  { name: "StatefulSet pod takes its own stable name's checkpoint", fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('db-a')], ['Checkpoint', dbCp('db1-newer', { identity: 'db-1', podName: 'db-1', takenAt: '2026-11-24T07:00:00Z' })]], reason: 'restored', restored: { redis: 'db-a' } },
  { name: "StatefulSet pod never takes a sibling's checkpoint", fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('db1', { identity: 'db-1', podName: 'db-1' })]], reason: 'no-checkpoint' },
  { name: 'Deployment pod takes the Deployment identity through the indexed ReplicaSet', fixture: DEP, edit: optInPod, index: [['ReplicaSet', apiRs], ['Checkpoint', apiCp('a')]], reason: 'restored', restored: { app: 'a' } },
  { name: 'Deployment identity from pod-template-hash when the ReplicaSet is not indexed yet', fixture: DEP, edit: optInPod, index: [['Checkpoint', apiCp('a')]], reason: 'restored', restored: { app: 'a' } },
  { name: 'a ReplicaSet without a Deployment is its own identity', fixture: DEP, edit: optInPod, index: [['ReplicaSet', replicaSet('api-6d4cf56db6', 'shop', undefined)], ['Checkpoint', apiCp('a')]], reason: 'no-checkpoint' },
  // ---- a status someone else wrote: another namespace's or another registry's image ----
  { name: 'a checkpoint whose image lies in another namespace’s repository is never restored', fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('db-a', { runtimeImage: runtimeImage('db-a', 'bank') })]], reason: 'foreign-image' },
  { name: 'a checkpoint whose image lies on another registry is never restored', fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('db-a', { runtimeImage: `evil.example/shop/db-a@${digest('e')}` })]], reason: 'foreign-image' },
  { name: 'a foreign image next to a good older checkpoint: the good one', fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('db-new', { takenAt: '2026-11-24T07:00:00Z', runtimeImage: runtimeImage('db-new', 'bank') })], ['Checkpoint', dbCp('db-old')]], reason: 'restored', restored: { redis: 'db-old' } },
  { name: 'bare pod identity is its name', fixture: BARE, index: [['Checkpoint', checkpoint({ name: 'scratch-1', namespace: 'lab', identity: 'scratch', container: 'shell', podName: 'scratch', podUID: 'gone', originalImage: 'busybox:1.37' })]], reason: 'restored', restored: { shell: 'scratch-1' } },
  { name: 'bare pod with only generateName has no identity', fixture: BARE, edit: (r) => { delete podOf(r).metadata.name; }, index: [], reason: 'no-identity' },
  { name: "another namespace's checkpoint is never used", fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('db-a', { namespace: 'staging' })]], reason: 'no-checkpoint' },
  { name: 'a checkpoint of a Deployment named like the StatefulSet pod is not used', fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('dep', { workloadKind: 'Deployment' })]], reason: 'no-checkpoint' },

  // ---- rule 3: replacement, not cloning ----
  { name: 'scale-up: the checkpoint of a living replica is never used', fixture: DEP, edit: optInPod, index: [['ReplicaSet', apiRs], ['Pod', livePod({ name: 'api-6d4cf56db6-a', uid: 'uid-a' })], ['Checkpoint', apiCp('a')]], reason: 'source-alive' },
  { name: "replacement: a deleted replica's checkpoint is used", fixture: DEP, edit: optInPod, index: [['ReplicaSet', apiRs], ['Pod', livePod({ name: 'api-6d4cf56db6-b', uid: 'uid-b' })], ['Checkpoint', apiCp('a')], ['Checkpoint', apiCp('b', { takenAt: '2026-11-24T07:00:00Z' })]], reason: 'restored', restored: { app: 'a' } },
  { name: "replacement: a terminating replica's checkpoint is used", fixture: DEP, edit: optInPod, index: [['ReplicaSet', apiRs], ['Pod', livePod({ name: 'api-6d4cf56db6-a', uid: 'uid-a', terminating: true })], ['Checkpoint', apiCp('a')]], reason: 'restored', restored: { app: 'a' } },
  { name: "replacement: an evicted (Failed) replica's checkpoint is used", fixture: DEP, edit: optInPod, index: [['ReplicaSet', apiRs], ['Pod', livePod({ name: 'api-6d4cf56db6-a', uid: 'uid-a', phase: 'Failed' })], ['Checkpoint', apiCp('a')]], reason: 'restored', restored: { app: 'a' } },
  { name: 'source found by podName when the checkpoint has no podUID', fixture: STS, edit: optInPod, index: [['Pod', livePod({ name: 'db-0', uid: 'current' })], ['Checkpoint', checkpoint({ name: 'db-a', identity: 'db-0', container: 'redis', podName: 'db-0', originalImage: 'redis:7.4' })]], reason: 'source-alive' },
  {
    name: 'a checkpoint already restored into a living pod is not reused',
    fixture: DEP,
    edit: optInPod,
    index: [['ReplicaSet', apiRs], ['Pod', livePod({ name: 'api-6d4cf56db6-x', uid: 'uid-x', annotations: { 'kcr.io/restored-from.app': 'a' } })], ['Checkpoint', apiCp('a')]],
    reason: 'checkpoint-in-use',
  },
  {
    name: 'in use through the summary annotation: the next older free checkpoint is taken',
    fixture: DEP,
    edit: optInPod,
    index: [['ReplicaSet', apiRs], ['Pod', livePod({ name: 'api-6d4cf56db6-x', uid: 'uid-x', annotations: { 'kcr.io/restored-from': 'a' } })], ['Checkpoint', apiCp('a', { takenAt: '2026-11-24T07:00:00Z' })], ['Checkpoint', apiCp('older')]],
    reason: 'restored',
    restored: { app: 'older' },
  },
  { name: 'a checkpoint restored into a pod that is now terminating is free again', fixture: DEP, edit: optInPod, index: [['ReplicaSet', apiRs], ['Pod', livePod({ name: 'api-6d4cf56db6-x', uid: 'uid-x', terminating: true, annotations: { 'kcr.io/restored-from.app': 'a' } })], ['Checkpoint', apiCp('a')]], reason: 'restored', restored: { app: 'a' } },

  // ---- ready checkpoints, newest first, pins ----
  { name: 'bad checkpoints are skipped: the older good one is used', fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('bad', { bad: true, takenAt: '2026-11-24T07:30:00Z' })], ['Checkpoint', dbCp('good')]], reason: 'restored', restored: { redis: 'good' } },
  { name: 'only bad, unbuilt or imageless checkpoints: none', fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('bad', { bad: true })], ['Checkpoint', dbCp('building', { phase: 'Processing' })], ['Checkpoint', dbCp('failed', { phase: 'Failed' })], ['Checkpoint', dbCp('noimage', { runtimeImage: null })]], reason: 'no-checkpoint' },
  { name: 'newest eligible wins by checkpointTimestamp', fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('mid', { takenAt: '2026-11-24T06:00:00Z' })], ['Checkpoint', dbCp('new', { takenAt: '2026-11-24T07:00:00Z', createdAt: '2026-11-24T01:00:00Z' })], ['Checkpoint', dbCp('old', { takenAt: '2026-11-24T05:00:00Z', createdAt: '2026-11-24T09:00:00Z' })]], reason: 'restored', restored: { redis: 'new' } },
  { name: 'equal timestamps: the later created wins', fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('first', { createdAt: '2026-11-24T06:00:01Z' })], ['Checkpoint', dbCp('second', { createdAt: '2026-11-24T06:00:02Z' })]], reason: 'restored', restored: { redis: 'second' } },
  { name: 'a pinned checkpoint wins over a newer one', fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('new', { takenAt: '2026-11-24T07:00:00Z' })], ['Checkpoint', dbCp('pinned', { pinned: true })]], reason: 'restored', restored: { redis: 'pinned' } },
  { name: 'a pin never bypasses a living source', fixture: STS, edit: optInPod, index: [['Pod', livePod({ name: 'db-0', uid: 'old-pinned' })], ['Checkpoint', dbCp('new', { takenAt: '2026-11-24T07:00:00Z' })], ['Checkpoint', dbCp('pinned', { pinned: true })]], reason: 'restored', restored: { redis: 'new' } },

  // ---- rule 4: same software ----
  { name: 'image changed (rollout): starts fresh', fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('db-a', { originalImage: 'redis:7.2' })]], reason: 'image-changed' },
  { name: 'a checkpoint without originalImage is not trusted', fixture: STS, edit: optInPod, index: [['Checkpoint', checkpoint({ name: 'db-a', identity: 'db-0', container: 'redis', podUID: 'gone' })]], reason: 'image-changed' },
  {
    name: 'pod image by digest matches originalImageDigest',
    fixture: STS,
    edit: (r) => { optInPod(r); podOf(r).spec.containers[0]!.image = `docker.io/library/redis@${digest('7')}`; },
    index: [['Checkpoint', dbCp('db-a', { originalImageDigest: digest('7') })]],
    reason: 'restored',
    restored: { redis: 'db-a' },
  },
  { name: 'pod image by another digest: image changed', fixture: STS, edit: (r) => { optInPod(r); podOf(r).spec.containers[0]!.image = `docker.io/library/redis@${digest('8')}`; }, index: [['Checkpoint', dbCp('db-a', { originalImageDigest: digest('7') })]], reason: 'image-changed' },

  // ---- rule 5: same architecture ----
  { name: "the patch pins kubernetes.io/arch to the checkpoint's", fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('db-a', { architecture: 'arm64' })]], reason: 'restored', restored: { redis: 'db-a' }, arch: 'arm64' },
  { name: 'no architecture recorded: no node selector', fixture: STS, edit: optInPod, index: [['Checkpoint', dbCp('db-a')]], reason: 'restored', restored: { redis: 'db-a' }, arch: null },
  { name: 'a pod pinned to another architecture gets no checkpoint', fixture: STS, edit: (r) => { optInPod(r); podOf(r).spec.nodeSelector = { 'kubernetes.io/arch': 'amd64' }; }, index: [['Checkpoint', dbCp('db-a', { architecture: 'arm64' })]], reason: 'arch-mismatch' },
  { name: "a pod pinned to another architecture takes an older checkpoint of its own", fixture: STS, edit: (r) => { optInPod(r); podOf(r).spec.nodeSelector = { 'kubernetes.io/arch': 'amd64' }; }, index: [['Checkpoint', dbCp('arm', { architecture: 'arm64', takenAt: '2026-11-24T07:00:00Z' })], ['Checkpoint', dbCp('x86', { architecture: 'amd64' })]], reason: 'restored', restored: { redis: 'x86' }, arch: 'amd64' },

  // ---- several containers ----
  {
    name: 'only containers with a checkpoint are restored; others and init containers untouched',
    fixture: MULTI,
    edit: optInPod,
    index: [['ReplicaSet', apiRs], ['Checkpoint', apiCp('app1')], ['Checkpoint', apiCp('cache1', { container: 'cache', originalImage: 'memcached:1.6.29' })], ['Checkpoint', apiCp('migrate1', { container: 'migrate', originalImage: 'ghcr.io/acme/migrate:1.0' })]],
    reason: 'restored',
    restored: { app: 'app1', cache: 'cache1' },
  },
  {
    // One node restores the whole pod: a container whose checkpoint another runtime wrote starts fresh.
    name: 'containers whose checkpoints disagree on runtime: one runtime for the pod, the other container fresh',
    fixture: MULTI,
    edit: optInPod,
    index: [['Node', node('c1', { runtime: 'containerd', capable: 'true', arch: 'amd64' })], ['Node', node('n1', { runtime: 'cri-o', capable: 'true', arch: 'amd64' })],
      ['ReplicaSet', apiRs], ['Checkpoint', apiCp('app-crio', { runtime: 'cri-o', takenAt: '2026-11-24T07:00:00Z' })], ['Checkpoint', apiCp('cache-ctrd', { container: 'cache', originalImage: 'memcached:1.6.29', runtime: 'containerd' })]],
    reason: 'restored',
    restored: { app: 'app-crio' },
  },
  {
    name: 'containers whose checkpoints disagree on architecture: the newest decides',
    fixture: MULTI,
    edit: optInPod,
    index: [['ReplicaSet', apiRs], ['Checkpoint', apiCp('app-arm', { architecture: 'arm64', takenAt: '2026-11-24T07:00:00Z' })], ['Checkpoint', apiCp('cache-x86', { container: 'cache', originalImage: 'memcached:1.6.29', architecture: 'amd64' })]],
    reason: 'restored',
    restored: { app: 'app-arm' },
    arch: 'arm64',
  },
  {
    name: 'architecture disagreement resolved by an older checkpoint of the right architecture',
    fixture: MULTI,
    edit: optInPod,
    index: [['ReplicaSet', apiRs], ['Checkpoint', apiCp('app-arm', { architecture: 'arm64', takenAt: '2026-11-24T07:00:00Z' })], ['Checkpoint', apiCp('cache-x86', { container: 'cache', originalImage: 'memcached:1.6.29', architecture: 'amd64', takenAt: '2026-11-24T06:30:00Z' })], ['Checkpoint', apiCp('cache-arm', { container: 'cache', originalImage: 'memcached:1.6.29', architecture: 'arm64' })]],
    reason: 'restored',
    restored: { app: 'app-arm', cache: 'cache-arm' },
    arch: 'arm64',
  },
  {
    name: 'several containers, one image changed: the other is restored',
    fixture: MULTI,
    edit: optInPod,
    index: [['ReplicaSet', apiRs], ['Checkpoint', apiCp('app-old', { originalImage: 'ghcr.io/acme/api:2.2.0' })], ['Checkpoint', apiCp('cache1', { container: 'cache', originalImage: 'memcached:1.6.29' })]],
    reason: 'restored',
    restored: { cache: 'cache1' },
  },
];

function run(req: AdmissionRequest, entries: [IndexedKind, unknown][], policy = POLICY): Decision {
  return decide({ request: req, index: indexOf(entries), policy, now: NOW });
}

function applied(req: AdmissionRequest, d: Decision): PodJson {
  const pod = structuredClone(req.object) as PodJson;
  return d.kind === 'patch' ? (jsonpatch.applyPatch(pod, d.patch, true, false).newDocument as PodJson) : pod;
}

describe('decide: restore rules over AdmissionReview fixtures', () => {
  it.each(rows.map((r) => [r.name, r] as const))('%s', (_name, row) => {
    const req = fixture(row.fixture);
    row.edit?.(req);
    const before = structuredClone(req.object);
    const d = run(req, row.index, row.policy);
    expect(d.reason).toBe(row.reason);
    expect(REASONS).toContain(d.reason);
    expect(req.object, 'decide must not modify the request').toEqual(before);
    if (row.reason !== 'restored') {
      expect(d.kind).toBe('unchanged');
      return;
    }
    expect(d.kind).toBe('patch');
    if (d.kind !== 'patch') return;
    const pod = applied(req, d);
    const original = req.object as PodJson;
    const byName = new Map(original.spec.containers.map((c) => [c.name, c.image]));
    const expected = row.restored ?? {};
    for (const c of pod.spec.containers) {
      const cp = expected[c.name];
      if (cp === undefined) {
        expect(c.image, `${c.name} untouched`).toBe(byName.get(c.name));
        expect(pod.metadata.annotations?.[`kcr.io/restored-from.${c.name}`]).toBeUndefined();
      } else {
        expect(c.image, `${c.name} runs the checkpoint image`).toBe(runtimeImage(cp, req.namespace ?? 'shop'));
        expect(pod.metadata.annotations?.[`kcr.io/restored-from.${c.name}`]).toBe(cp);
        expect((c as { imagePullPolicy?: string }).imagePullPolicy).toBe('IfNotPresent');
        // Its base image (the container's original image) is pulled onto the node first, by an unmounted image volume.
        const volumes = (pod.spec as { volumes?: Array<{ name: string; image?: { reference: string } }> }).volumes ?? [];
        const index = original.spec.containers.findIndex((x) => x.name === c.name);
        expect(volumes.find((v) => v.name === `kcr-base-${index}`)?.image?.reference).toBe(byName.get(c.name));
      }
    }
    expect(pod.metadata.annotations?.['kcr.io/restored-from']).toBe(
      original.spec.containers.map((c) => expected[c.name]).filter((x) => x !== undefined).join(','),
    );
    expect(d.restored.map((r) => [r.container, r.checkpoint])).toEqual(
      original.spec.containers.filter((c) => expected[c.name] !== undefined).map((c) => [c.name, expected[c.name]]),
    );
    if (row.arch !== undefined) expect(pod.spec.nodeSelector?.['kubernetes.io/arch']).toBe(row.arch ?? undefined);
    expect(pod.metadata.annotations?.['kcr.io/identity']).toBe(d.identity);
    for (const op of d.patch) expect(op.path.startsWith('/spec/initContainers')).toBe(false);
  });
});

describe('decide: patch details', () => {
  it('records the identity: the Deployment name for a ReplicaSet pod, the stable name for a StatefulSet pod', () => {
    const dep = run(fixture(DEP), [['ReplicaSet', apiRs], ['Namespace', namespace('shop', { 'kcr.io/restore': 'enabled' })], ['Checkpoint', apiCp('a')]]);
    const sts = run(fixture(STS), [['Namespace', namespace('shop', { 'kcr.io/restore': 'enabled' })], ['Checkpoint', dbCp('db-a')]]);
    expect(dep.kind === 'patch' && dep.identity).toBe('api');
    expect(sts.kind === 'patch' && sts.identity).toBe('db-0');
    expect(dep.kind === 'patch' && dep.via).toBe('namespace-label');
  });

  it('adds the pull secret once, keeping the pod\'s own, with annotation keys escaped as JSON pointers', () => {
    const req = fixture(STS);
    optInPod(req);
    (req.object as { spec: { imagePullSecrets?: { name: string }[] } }).spec.imagePullSecrets = [{ name: 'own' }];
    const d = run(req, [['Checkpoint', dbCp('db-a')]], { ...POLICY, pullSecretName: 'kcr-registry' });
    expect(d.kind).toBe('patch');
    if (d.kind !== 'patch') return;
    expect(d.patch).toContainEqual({ op: 'add', path: '/spec/imagePullSecrets/1', value: { name: 'kcr-registry' } });
    expect(d.patch).toContainEqual({ op: 'add', path: '/metadata/annotations/kcr.io~1restored-from.redis', value: 'db-a' });
    const pod = applied(req, d) as PodJson & { spec: { imagePullSecrets: { name: string }[] } };
    expect(pod.spec.imagePullSecrets).toEqual([{ name: 'own' }, { name: 'kcr-registry' }]);

    const again = run({ ...req, object: pod }, [['Checkpoint', dbCp('db-a')]], { ...POLICY, pullSecretName: 'kcr-registry' });
    expect(again).toEqual({ kind: 'unchanged', reason: 'already-restored', identity: 'db-0' });
  });

  it("token mode: restores only in a namespace kcr gave a usable kcr-pull Secret, and adds that Secret", () => {
    const token = { ...POLICY, pullSecretName: 'kcr-pull', requirePullSecret: true };
    const record = (entries: Record<string, { epoch: number; rotationSeconds: number }>): [IndexedKind, unknown] =>
      ['PullSecretRecord', { metadata: { name: 'kcr-pull-secrets', namespace: 'kcr-system' }, data: { 'namespaces.json': JSON.stringify(entries) } }];
    const epoch = Math.floor(NOW.getTime() / 1000 / 3600);
    const req = () => {
      const r = fixture(STS);
      optInPod(r);
      return r;
    };
    expect(run(req(), [['Checkpoint', dbCp('db-a')]], token)).toMatchObject({ kind: 'unchanged', reason: 'no-pull-secret' });
    expect(run(req(), [record({ other: { epoch, rotationSeconds: 3600 } }), ['Checkpoint', dbCp('db-a')]], token)).toMatchObject({ reason: 'no-pull-secret' });
    // A record two periods old: the token service no longer accepts that credential.
    expect(run(req(), [record({ shop: { epoch: epoch - 2, rotationSeconds: 3600 } }), ['Checkpoint', dbCp('db-a')]], token)).toMatchObject({ reason: 'no-pull-secret' });
    for (const e of [epoch, epoch - 1]) {
      const d = run(req(), [record({ shop: { epoch: e, rotationSeconds: 3600 } }), ['Checkpoint', dbCp('db-a')]], token);
      expect(d.kind).toBe('patch');
      if (d.kind === 'patch') expect(d.patch).toContainEqual({ op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'kcr-pull' }] });
    }
    // Nothing to restore: the reason says so, not the missing Secret.
    expect(run(req(), [], token)).toMatchObject({ reason: 'no-checkpoint' });
  });

  it('adds no base-image volume when the cluster has no image volumes (KCR_WEBHOOK_BASE_IMAGE_VOLUMES=false)', () => {
    const req = fixture(STS);
    const d = run(req, [['StatefulSet', workload('StatefulSet', 'db', 'shop', '@hourly')], ['Checkpoint', dbCp('db-a')]], { ...POLICY, baseImageVolumes: false });
    expect(d.kind).toBe('patch');
    expect((applied(req, d).spec as { volumes?: unknown[] }).volumes ?? []).toEqual((req.object as { spec: { volumes?: unknown[] } }).spec.volumes ?? []);
  });

  it('keeps a pod without annotations or node selector valid: whole objects are added', () => {
    const req = fixture(STS);
    delete (req.object as { metadata: { labels?: unknown } }).metadata.labels;
    const d = run(req, [['StatefulSet', workload('StatefulSet', 'db', 'shop', '@hourly')], ['Checkpoint', dbCp('db-a', { architecture: 'amd64' })]]);
    expect(d.kind === 'patch' && d.patch.filter((op) => op.op === 'add' && !op.path.includes('/containers/')).map((op) => op.path).sort()).toEqual(['/metadata/annotations', '/spec/affinity', '/spec/nodeSelector', '/spec/volumes']);
  });

  it('never denies and never throws on a request without object, kind or resource', () => {
    const index = indexOf([]);
    const broken = [
      { ...fixture(STS), object: undefined },
      { ...fixture(STS), object: 'pod' },
      { ...fixture(STS), object: { metadata: { name: 'x' }, spec: { containers: 'no' } } },
      { ...fixture(STS), namespace: undefined, object: { spec: { containers: [] } } },
      { uid: 'u' } as unknown as AdmissionRequest,
      null as unknown as AdmissionRequest,
    ];
    for (const request of broken) {
      const d = decide({ request, index, policy: POLICY, now: NOW });
      expect(d.kind).toBe('unchanged');
      expect(REASONS).toContain(d.reason);
    }
  });
});

describe('decide and claim: one checkpoint per replacement, across webhook replicas', () => {
  const world = () => {
    const api = new MemoryClaimApi();
    const objects: [IndexedKind, unknown][] = [
      ['ReplicaSet', apiRs],
      ['Pod', livePod({ name: 'api-6d4cf56db6-a', uid: 'uid-a', terminating: true })],
      ['Pod', livePod({ name: 'api-6d4cf56db6-b', uid: 'uid-b', terminating: true })],
      ['Checkpoint', api.put(apiCp('a', { takenAt: '2026-11-24T07:00:00Z' }))],
      ['Checkpoint', api.put(apiCp('b', { takenAt: '2026-11-24T06:00:00Z' }))],
    ];
    // Two replicas with their own informers, both still blind to each other's claims.
    return { api, replicas: [indexOf(objects), indexOf(objects)] };
  };
  let uid = 0;
  const request = (edit?: (r: AdmissionRequest) => void): AdmissionRequest => {
    const req = fixture(DEP);
    req.uid = `req-${++uid}`;
    optInPod(req);
    edit?.(req);
    return req;
  };
  const admit = (api: MemoryClaimApi, index: RestoreIndex, req = request(), now = NOW) =>
    decideAndClaim({ decide, index, policy: POLICY, clock: () => now, claims: api, claimTtlMs: 120_000 }, req, () => {});
  const restoredFrom = (d: Decision) => (d.kind === 'patch' ? d.restored.map((r) => r.checkpoint) : d.reason);

  it('three pods created at once through two replicas get two distinct checkpoints and one fresh start', async () => {
    const { api, replicas } = world();
    const [r1, r2] = replicas as [RestoreIndex, RestoreIndex];
    const got = await Promise.all([admit(api, r1), admit(api, r2), admit(api, r1)]);
    const names = got.map(restoredFrom);
    expect(names.filter(Array.isArray).flat().sort()).toEqual(['a', 'b']);
    expect(names.filter((n) => !Array.isArray(n))).toHaveLength(1);
  });

  it('the patched pod names its claim holder; a claim binds until that pod appears, then its liveness decides', async () => {
    const { api, replicas } = world();
    const [r1, r2] = replicas as [RestoreIndex, RestoreIndex];
    const req = request();
    const first = await admit(api, r1, req);
    expect(restoredFrom(first)).toEqual(['a']);
    const pod = jsonpatch.applyPatch(structuredClone(req.object), (first as Extract<Decision, { kind: 'patch' }>).patch).newDocument as PodJson;
    expect(pod.metadata.annotations?.['kcr.io/claim-holder']).toMatch(/^req-/);
    // The other replica sees the claim through its informer before it sees the pod.
    r2.upsert('Checkpoint', await api.getCheckpoint('shop', 'a'));
    expect(restoredFrom(await admit(api, r2))).toEqual(['b']);
    // The restored pod appears, runs, then goes: its checkpoint is free again before the claim expires.
    const holder = { 'kcr.io/claim-holder': pod.metadata.annotations!['kcr.io/claim-holder']!, 'kcr.io/restored-from.app': 'a' };
    r2.upsert('Pod', livePod({ name: 'api-6d4cf56db6-new', uid: 'uid-new', annotations: holder }));
    r2.upsert('Pod', livePod({ name: 'api-6d4cf56db6-b-new', uid: 'uid-b-new', annotations: { 'kcr.io/restored-from.app': 'b' } }));
    expect(restoredFrom(await admit(api, r2))).toBe('checkpoint-in-use');
    r2.remove('Pod', livePod({ name: 'api-6d4cf56db6-new', uid: 'uid-new', annotations: holder }));
    expect(restoredFrom(await admit(api, r2))).toEqual(['a']);
  });

  it('a claim whose pod never appeared binds until it expires', async () => {
    const { api, replicas } = world();
    const [r1] = replicas as [RestoreIndex];
    await admit(api, r1);
    await admit(api, r1);
    expect(restoredFrom(await admit(api, r1, request(), new Date(NOW.getTime() + 119_000)))).toBe('checkpoint-in-use');
    expect(restoredFrom(await admit(api, r1, request(), new Date(NOW.getTime() + 121_000)))).toEqual(['a']);
  });

  it('a retried StatefulSet pod (same name) keeps its checkpoint; a claim on a checkpoint changed for another reason is written again', async () => {
    const api = new MemoryClaimApi();
    const index = indexOf([['Checkpoint', api.put(dbCp('db-a'))]]);
    api.touch('shop', 'db-a'); // the controller wrote status meanwhile: the index is one version behind
    const req = () => { const r = fixture(STS); r.uid = `req-${++uid}`; optInPod(r); return r; };
    expect(restoredFrom(await admit(api, index, req()))).toEqual(['db-a']);
    expect(restoredFrom(await admit(api, index, req()))).toEqual(['db-a']);
  });

  it('a claim that cannot be written starts the pod fresh: restoring without it could clone a pod', async () => {
    const { api, replicas } = world();
    api.failWith = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(restoredFrom(await admit(api, replicas[0]!))).toBe('claim-failed');
    api.failWith = Object.assign(new Error('forbidden'), { code: 403 });
    expect(restoredFrom(await admit(api, replicas[0]!))).toBe('claim-failed');
  });

  it('dry runs and pods that are not restored write no claim', async () => {
    const { api, replicas } = world();
    await admit(api, replicas[0]!, request((r) => { r.dryRun = true; }));
    await admit(api, replicas[0]!, request((r) => { podOf(r).metadata.annotations = { 'kcr.io/restore': 'false' }; }));
    expect(api.patches).toBe(0);
  });
});

describe('decide: placement on nodes that can restore', () => {
  const crio = dbCp('db-a', { runtime: 'cri-o' });
  const req = () => { const r = fixture(STS); optInPod(r); return r; };
  const terms = ({ d, r }: { d: Decision; r: AdmissionRequest }) => {
    if (d.kind !== 'patch') return d.reason;
    const pod = jsonpatch.applyPatch(structuredClone(r.object), d.patch).newDocument as { spec: { affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: unknown[] } } } } };
    return pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  };
  const decideWith = (nodes: [IndexedKind, unknown][], edit?: (r: AdmissionRequest) => void, cps: [IndexedKind, unknown][] = [['Checkpoint', crio]]) => {
    const r = req();
    edit?.(r);
    const index = new RestoreIndex();
    for (const [kind, obj] of [...nodes, ...cps]) index.upsert(kind, obj);
    return { d: decide({ request: r, index, policy: POLICY, now: NOW }), r };
  };
  const capableCrio = ['Node', node('n1', { runtime: 'cri-o', capable: 'true', arch: 'amd64' })] as [IndexedKind, unknown];

  it.each<[string, [IndexedKind, unknown][]]>([
    ['no node at all', []],
    ['only nodes of the other runtime', [['Node', node('c1', { runtime: 'containerd', capable: 'true', arch: 'amd64' })]]],
    ['the runtime, but restore is off', [['Node', node('n1', { runtime: 'cri-o', capable: 'false', arch: 'amd64' })]]],
    ['the runtime, capable, but cordoned', [['Node', node('n1', { runtime: 'cri-o', capable: 'true', arch: 'amd64', unschedulable: true })]]],
    ['capable, but no runtime label', [['Node', node('n1', { capable: 'true', arch: 'amd64' })]]],
    ['capable label with another value', [['Node', node('n1', { runtime: 'cri-o', capable: 'yes', arch: 'amd64' })]]],
  ])('starts fresh with no-capable-node when there is %s', (_name, nodes) => {
    expect(terms(decideWith(nodes))).toBe('no-capable-node');
  });

  it('requires the checkpoint runtime and capable=true in every required term, next to the pod’s own', () => {
    expect(terms(decideWith([capableCrio]))).toEqual([{ matchExpressions: [
      { key: 'restore.kcr.io/capable', operator: 'In', values: ['true'] },
      { key: 'restore.kcr.io/runtime', operator: 'In', values: ['cri-o'] },
    ] }]);
    const own = (r: AdmissionRequest) => {
      (podOf(r).spec as Record<string, unknown>).affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [
        { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
        { matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] },
      ] } } };
    };
    const got = terms(decideWith([capableCrio], own)) as { matchExpressions: { key: string }[] }[];
    expect(got).toHaveLength(2);
    for (const t of got) expect(t.matchExpressions.map((e) => e.key)).toEqual(['zone', 'restore.kcr.io/capable', 'restore.kcr.io/runtime']);
  });

  it('a checkpoint that recorded no runtime asks for a node that publishes one', () => {
    const got = terms(decideWith([capableCrio], undefined, [['Checkpoint', dbCp('db-a')]])) as { matchExpressions: unknown[] }[];
    expect(got[0]!.matchExpressions).toContainEqual({ key: 'restore.kcr.io/runtime', operator: 'Exists' });
  });

  it('skips a newer checkpoint no node can restore for an older one a node can', () => {
    const cps: [IndexedKind, unknown][] = [
      ['Checkpoint', dbCp('db-new', { runtime: 'containerd', takenAt: '2026-11-24T07:00:00Z' })],
      ['Checkpoint', dbCp('db-old', { runtime: 'cri-o', takenAt: '2026-11-24T06:00:00Z' })],
    ];
    const { d } = decideWith([capableCrio], undefined, cps);
    expect(d.kind === 'patch' ? d.restored.map((r) => r.checkpoint) : d.reason).toEqual(['db-old']);
  });
});
