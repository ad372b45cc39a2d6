// Restore rules 1-6 as a table over AdmissionReview fixtures: each row is an index state,
// a (possibly edited) admission request, and what the user would see on the created pod.
import jsonpatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../../webhooks/admission.ts';
import { decide, REASONS, type Decision, type RestorePolicy } from '../../../webhooks/decision.ts';
import type { IndexedKind } from '../../../webhooks/restore-index.ts';
import {
  checkpoint,
  digest,
  fixture,
  indexOf,
  livePod,
  namespace,
  podOf,
  replicaSet,
  runtimeImage,
  schedule,
  workload,
  type PodJson,
} from './builders.ts';

const NOW = new Date('2026-11-24T08:00:00Z');
const POLICY: RestorePolicy = { excludedNamespaces: ['kube-system', 'kcr-system'] };

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
        expect(c.image, `${c.name} runs the checkpoint image`).toBe(runtimeImage(cp));
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
    expect(d.kind === 'patch' && d.patch.filter((op) => op.op === 'add' && !op.path.includes('/containers/')).map((op) => op.path).sort()).toEqual(['/metadata/annotations', '/spec/nodeSelector', '/spec/volumes']);
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

describe('decide: replacements admitted faster than the informer (noteRestore)', () => {
  const entries: [IndexedKind, unknown][] = [
    ['ReplicaSet', apiRs],
    ['Pod', livePod({ name: 'api-6d4cf56db6-a', uid: 'uid-a', terminating: true })],
    ['Pod', livePod({ name: 'api-6d4cf56db6-b', uid: 'uid-b', terminating: true })],
    ['Checkpoint', apiCp('a', { takenAt: '2026-11-24T07:00:00Z' })],
    ['Checkpoint', apiCp('b', { takenAt: '2026-11-24T06:00:00Z' })],
  ];
  const admit = (index: ReturnType<typeof indexOf>, now = NOW, edit?: (r: AdmissionRequest) => void) => {
    const req = fixture(DEP);
    optInPod(req);
    edit?.(req);
    return decide({ request: req, index, policy: POLICY, now });
  };
  const restoredFrom = (d: Decision) => (d.kind === 'patch' ? d.restored.map((r) => r.checkpoint) : d.reason);

  it('two pods recreated at once after a node loss each take their own checkpoint, a third starts fresh', () => {
    const index = indexOf(entries);
    const first = admit(index);
    index.noteRestore(first, NOW);
    const second = admit(index);
    index.noteRestore(second, NOW);
    expect([restoredFrom(first), restoredFrom(second), restoredFrom(admit(index))]).toEqual([['a'], ['b'], 'checkpoint-in-use']);
  });

  it('once the informer shows the restored pod its liveness decides; an expired reservation frees the checkpoint', () => {
    const index = indexOf(entries);
    const first = admit(index);
    index.noteRestore(first, NOW, 30_000);
    index.upsert('Pod', livePod({ name: 'api-6d4cf56db6-new', uid: 'uid-new', annotations: { 'kcr.io/restored-from.app': 'a' } }));
    expect(restoredFrom(admit(index))).toEqual(['b']);
    index.upsert('Pod', livePod({ name: 'api-6d4cf56db6-new', uid: 'uid-new', terminating: true, annotations: { 'kcr.io/restored-from.app': 'a' } }));
    expect(restoredFrom(admit(index))).toEqual(['a']);

    const other = indexOf(entries);
    other.noteRestore(admit(other), NOW, 30_000);
    expect(restoredFrom(admit(other, new Date(NOW.getTime() + 29_000)))).toEqual(['b']);
    expect(restoredFrom(admit(other, new Date(NOW.getTime() + 31_000)))).toEqual(['a']);
  });

  it('a retried StatefulSet pod (same name) keeps its checkpoint; unchanged decisions reserve nothing', () => {
    const index = indexOf([['Checkpoint', dbCp('db-a')]]);
    const req = fixture(STS);
    optInPod(req);
    const first = decide({ request: req, index, policy: POLICY, now: NOW });
    index.noteRestore(first, NOW);
    expect(restoredFrom(decide({ request: fixture(STS), index, policy: POLICY, now: NOW }))).toBe('not-opted-in');
    index.noteRestore(decide({ request: fixture(STS), index, policy: POLICY, now: NOW }), NOW);
    expect(restoredFrom(decide({ request: req, index, policy: POLICY, now: NOW }))).toEqual(['db-a']);
  });
});
