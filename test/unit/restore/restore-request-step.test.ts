// The RestoreRequest state machine: each refusal names the problem; the happy paths step
// Pending -> (Checkpointing) -> Restoring -> Completed; nothing crosses a namespace.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ANNOTATIONS, API_VERSION, type Checkpoint, type CheckpointRequest, type RestoreRequest } from '../../../src/api/types.ts';
import { checkpointFirstName, nextRestoreStep, recreatable, stalePins, type RestorePod, type RestoreWorld } from '../../../src/restore/restore-request-step.ts';
import { podIdentity } from '../../../src/rules/identity.ts';
import type { NodeRestoreFacts } from '../../../src/rules/restore-fit.ts';

const NS = 'apps';
const NOW = new Date('2026-12-01T10:00:00Z');
const at = (s: number) => new Date(NOW.getTime() + s * 1000);
const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function rr(spec: Partial<RestoreRequest['spec']> = {}, status?: RestoreRequest['status']): RestoreRequest {
  return {
    apiVersion: API_VERSION,
    kind: 'RestoreRequest',
    metadata: { name: 'move', namespace: NS, uid: 'rr-uid-12345678' },
    spec: { podReference: { name: 'web-0' }, ...spec },
    ...(status ? { status } : {}),
  };
}

function pod(over: { uid?: string; name?: string; annotations?: Record<string, string>; node?: string; phase?: string; ready?: boolean; owner?: boolean; deleting?: boolean; created?: Date; image?: string; spec?: Record<string, unknown> } = {}): RestorePod {
  return {
    metadata: {
      name: over.name ?? 'web-0',
      namespace: NS,
      uid: over.uid ?? 'pod-1',
      annotations: { [ANNOTATIONS.restore]: 'true', ...over.annotations },
      ...(over.owner === false ? {} : { ownerReferences: [{ kind: 'StatefulSet', name: 'web', controller: true }] }),
      ...(over.deleting ? { deletionTimestamp: iso(NOW) } : {}),
      creationTimestamp: iso(over.created ?? at(-3600)),
    },
    spec: { nodeName: over.node ?? 'node-1', containers: [{ name: 'app', image: over.image ?? 'app:1' }], ...over.spec },
    status: { phase: over.phase ?? 'Running', containerStatuses: [{ name: 'app', ready: over.ready ?? true }] },
  };
}

function cp(name: string, over: { ns?: string; identity?: string; container?: string; takenS?: number; phase?: Checkpoint['status'] extends infer S ? S extends { phase?: infer P } ? P : never : never; bad?: boolean } = {}): Checkpoint {
  return {
    apiVersion: API_VERSION,
    kind: 'Checkpoint',
    metadata: { name, namespace: over.ns ?? NS },
    spec: { containerName: over.container ?? 'app', identity: over.identity ?? 'web-0', podUID: 'pod-1', originalImage: 'app:1', checkpointTimestamp: iso(at(over.takenS ?? -60)) },
    status: { phase: over.phase ?? 'ImageBuilt', runtimeImage: `reg/kcr/${NS}/web-0@sha256:${name.padEnd(64, '0').slice(0, 64).replace(/[^0-9a-f]/g, 'a')}`, ...(over.bad ? { bad: true, badReason: 'criu restore failed' } : {}) },
  };
}

const REPOSITORIES = { registry: 'reg', prefix: 'kcr' };

// node-1 and node-2 as agents publish them; node-3 has restore off; node-4 runs containerd; node-5 is not
// labelled yet; node-6 is arm64; node-7 is capable but cordoned.
const NODES: NodeRestoreFacts[] = [
  { name: 'node-1', runtime: 'cri-o', capable: 'true', architecture: 'amd64' },
  { name: 'node-2', runtime: 'cri-o', capable: 'true', architecture: 'amd64' },
  { name: 'node-3', runtime: 'cri-o', capable: 'false', architecture: 'amd64' },
  { name: 'node-4', runtime: 'containerd', capable: 'true', architecture: 'amd64' },
  { name: 'node-5', runtime: undefined, capable: undefined, architecture: 'amd64' },
  { name: 'node-6', runtime: 'cri-o', capable: 'true', architecture: 'arm64' },
  { name: 'node-7', runtime: 'cri-o', capable: 'true', architecture: 'amd64', unschedulable: true },
];

function world(over: Partial<RestoreWorld> = {}): RestoreWorld {
  const p = pod();
  return {
    request: rr(),
    pod: p,
    pods: [p],
    checkpoints: [cp('old', { takenS: -600 }), cp('new', { takenS: -60 })],
    checkpointRequests: [],
    nodes: NODES,
    identityOf: (x) => podIdentity(x.metadata, NS, { replicaSet: () => undefined }),
    optedIn: (x) => x.metadata?.annotations?.[ANNOTATIONS.restore] === 'true',
    repositories: REPOSITORIES,
    now: NOW,
    ...over,
  };
}

function failure(w: RestoreWorld): string {
  const s = nextRestoreStep(w);
  expect(s.kind).toBe('finish');
  if (s.kind !== 'finish') throw new Error('unreachable');
  expect(s.status.phase).toBe('Failed');
  return s.status.message ?? '';
}

describe('refusals name the problem', () => {
  it.each<[string, Partial<RestoreWorld>, RegExp]>([
    ['missing pod', { pod: undefined, pods: [] }, /pod apps\/web-0 does not exist/],
    ['terminating pod', { pod: pod({ deleting: true }) }, /does not exist \(it is being deleted\)/],
    ['pod of another namespace', { request: rr({ podReference: { name: 'web-0', namespace: 'other' } }) }, /spec\.podReference\.namespace must be empty or apps/],
    ['unknown node', { request: rr({ targetNode: 'nowhere' }) }, /spec\.targetNode: node nowhere does not exist/],
    ['a target node that cannot restore', { request: rr({ targetNode: 'node-3' }) }, /spec\.targetNode: node node-3 cannot restore checkpoints \(restore\.kcr\.io\/capable=false\)/],
    ['a target node of another runtime than the checkpoint', { request: rr({ targetNode: 'node-4' }), checkpoints: [{ ...cp('new'), spec: { ...cp('new').spec, runtime: { name: 'cri-o' } } }] },
      /spec\.targetNode: node node-4 runs containerd, but the checkpoint was written by cri-o: an archive restores only on the runtime that wrote it \(Checkpoint new\)/],
    ['a target node not labelled by an agent yet', { request: rr({ targetNode: 'node-5' }) }, /spec\.targetNode: node node-5 cannot restore checkpoints \(restore\.kcr\.io\/capable=unset\)/],
    ['a target node of another architecture than the checkpoint', { request: rr({ targetNode: 'node-6' }), checkpoints: [{ ...cp('new'), spec: { ...cp('new').spec, architecture: 'amd64' } }] },
      /spec\.targetNode: node node-6 is arm64, but the checkpoint was taken on amd64 \(Checkpoint new\)/],
    ['checkpointFirst to a node of another runtime than the pod’s node', { request: rr({ checkpointFirst: true, targetNode: 'node-4' }) },
      /node node-4 runs containerd, but the checkpoint was written by cri-o: an archive restores only on the runtime that wrote it \(the checkpoint will be written on node node-1\)/],
    ['checkpoint of another namespace', { request: rr({ checkpointRef: { name: 'theirs' } }), checkpoints: [cp('theirs', { ns: 'other' })] }, /Checkpoint theirs does not exist in namespace apps/],
    ['checkpoint of another pod', { request: rr({ checkpointRef: { name: 'x' } }), checkpoints: [cp('x', { identity: 'web-1' })] }, /is of web-1, not of pod web-0/],
    ['bad checkpoint', { request: rr({ checkpointRef: { name: 'x' } }), checkpoints: [cp('x', { bad: true })] }, /marked bad \(criu restore failed\)/],
    ['unfinished checkpoint', { request: rr({ checkpointRef: { name: 'x' } }), checkpoints: [cp('x', { phase: 'Processing' })] }, /its phase is Processing/],
    ['no checkpoint at all', { checkpoints: [] }, /no good checkpoint of pod web-0/],
    ['both ref and checkpointFirst', { request: rr({ checkpointRef: { name: 'new' }, checkpointFirst: true }) }, /exclude each other/],
    ['not opted in', { pod: pod({ annotations: { [ANNOTATIONS.restore]: 'false' } }) }, /is not opted in to restore/],
    ['checkpointFirst of a pod not running', { request: rr({ checkpointFirst: true }), pod: pod({ phase: 'Pending' }) }, /checkpointFirst needs a running pod/],
  ])('%s', (_name, over, message) => {
    expect(failure(world(over))).toMatch(message);
  });

  it('a timed-out restore fails naming its last step', () => {
    const w = world({ request: rr({}, { phase: 'Restoring', startTime: iso(at(-600)), message: 'deleted pod web-0' }) });
    expect(failure(w)).toMatch(/timed out after 300 s \(last step: deleted pod web-0\)/);
  });

  it('finished requests take no step', () => {
    expect(nextRestoreStep(world({ request: rr({}, { phase: 'Completed' }) })).kind).toBe('wait');
    expect(nextRestoreStep(world({ request: rr({}, { phase: 'Failed' }) })).kind).toBe('wait');
  });
});

/** A Checkpoint as the agent records it, with any spec or status field overridden. */
function made(name: string, spec: Partial<Checkpoint['spec']> = {}, status: Partial<NonNullable<Checkpoint['status']>> = {}): Checkpoint {
  const base = cp(name);
  return { ...base, spec: { ...base.spec, ...spec }, status: { ...base.status!, ...status } };
}

/** A Deployment's pod (ReplicaSet web-5d4f, identity web). */
function replica(name: string, uid: string, over: { annotations?: Record<string, string>; image?: string } = {}): RestorePod {
  return {
    metadata: {
      name,
      namespace: NS,
      uid,
      labels: { 'pod-template-hash': '5d4f' },
      annotations: { [ANNOTATIONS.restore]: 'true', ...over.annotations },
      ownerReferences: [{ kind: 'ReplicaSet', name: 'web-5d4f', controller: true }],
      creationTimestamp: iso(at(-3600)),
    },
    spec: { nodeName: 'node-1', containers: [{ name: 'app', image: over.image ?? 'app:1' }] },
    status: { phase: 'Running', containerStatuses: [{ name: 'app', ready: true }] },
  };
}

const ofDeployment = (name: string, fromUid: string, takenS: number) =>
  made(name, { identity: 'web', podUID: fromUid, podName: fromUid, workload: { kind: 'Deployment', name: 'web' }, checkpointTimestamp: iso(at(takenS)) });

describe('the webhook’s fit rules, asked before anything is pinned or deleted', () => {
  const a = replica('web-5d4f-aaaaa', 'uid-a');
  const b = replica('web-5d4f-bbbbb', 'uid-b');
  const deployment = (over: Partial<RestoreWorld> = {}) => world({ request: rr({ podReference: { name: a.metadata!.name! } }), pod: a, pods: [a, b], ...over });

  it.each<[string, Partial<RestoreWorld>, RegExp]>([
    ['image after a rollout: the pod runs app:2, every checkpoint is of app:1', { pod: pod({ image: 'app:2' }), pods: [pod({ image: 'app:2' })] },
      /Checkpoint new does not fit the replacement of pod apps\/web-0 \(image-changed\): container app will run app:2, but the checkpoint was taken of app:1/],
    ['image after a rollout of the StatefulSet (OnDelete): the pod still runs app:1, its replacement gets app:2', { workloadImages: () => ({ app: 'app:2' }) },
      /\(image-changed\): container app will run app:2, but the checkpoint was taken of app:1/],
    ['a checkpointRef of other software', { request: rr({ checkpointRef: { name: 'v0' } }), checkpoints: [made('v0', { originalImage: 'app:0' })] },
      /spec\.checkpointRef: Checkpoint v0 does not fit the replacement of pod apps\/web-0 \(image-changed\)/],
    ['a checkpoint of another workload kind with the same name (a Deployment called web-0)', { checkpoints: [made('dep', { workload: { kind: 'Deployment', name: 'web-0' } })] },
      /Checkpoint dep does not fit the replacement of pod apps\/web-0 \(other-kind\): it was taken of a Deployment named web-0, and pod web-0 belongs to a StatefulSet/],
    ['a checkpointRef of another workload kind', { request: rr({ checkpointRef: { name: 'dep' } }), checkpoints: [made('dep', { workload: { kind: 'Deployment', name: 'web-0' } })] },
      /spec\.checkpointRef: Checkpoint dep does not fit .*\(other-kind\)/],
    ['a checkpoint whose image is another namespace’s', { checkpoints: [made('theirs', {}, { runtimeImage: `reg/kcr/other/web-0@sha256:${'b'.repeat(64)}` })] },
      /Checkpoint theirs does not fit .*\(foreign-image\): its image reg\/kcr\/other\/web-0@sha256:b+ is not under reg\/kcr\/apps\//],
    ['a checkpoint restored into another living pod', { checkpoints: [made('new')], pods: [pod(), pod({ uid: 'pod-9', name: 'web-0-clone', annotations: { [`${ANNOTATIONS.restoredFromContainerPrefix}app`]: 'new' } })] },
      /\(checkpoint-in-use\): living pod web-0-clone was restored from it/],
    ['a checkpoint of an architecture no node has', { checkpoints: [made('s390', { architecture: 's390x' })] },
      /\(no-capable-node\): no schedulable node can restore it \(restore\.kcr\.io\/capable=true, restore\.kcr\.io\/runtime=any, kubernetes\.io\/arch=s390x\)/],
    ['a pod pinned to arm64 by its own node selector, checkpoints of amd64', { pod: pod({ spec: { nodeSelector: { 'kubernetes.io/arch': 'arm64' } } }), checkpoints: [made('new', { architecture: 'amd64' })] },
      /\(arch-mismatch\): it was taken on amd64, the pod runs on arm64/],
    ['no node restores anything', { nodes: NODES.filter((n) => n.capable !== 'true') }, /\(no-capable-node\): no schedulable node can restore it/],
    ['a cordoned target node', { request: rr({ targetNode: 'node-7' }) }, /spec\.targetNode: node node-7 is cordoned \(spec\.unschedulable\)/],
    ['a Deployment pod whose only checkpoint is of a replica still running', { ...deployment(), checkpoints: [ofDeployment('of-b', 'uid-b', -60)] },
      /Checkpoint of-b does not fit the replacement of pod apps\/web-5d4f-aaaaa \(source-alive\): the pod it was taken from \(uid-b\) still runs: its memory restored into another pod would clone it/],
    ['a checkpointRef of a replica still running', { ...deployment({ request: rr({ podReference: { name: 'web-5d4f-aaaaa' }, checkpointRef: { name: 'of-b' } }) }), checkpoints: [ofDeployment('of-b', 'uid-b', -60), ofDeployment('of-a', 'uid-a', -600)] },
      /spec\.checkpointRef: Checkpoint of-b does not fit .*\(source-alive\)/],
    ['checkpointFirst when no node can restore what the pod’s node writes', { request: rr({ checkpointFirst: true }), nodes: NODES.filter((n) => n.name === 'node-1' || n.name === 'node-4').map((n) => (n.name === 'node-1' ? { ...n, capable: 'false' } : n)) },
      /no schedulable node can restore what node node-1 writes \(runtime cri-o, architecture amd64\): pod web-0 was left running/],
  ])('%s: Failed, nothing pinned, the pod untouched', (_name, over, message) => {
    expect(failure(world(over))).toMatch(message);
  });

  it('a Deployment pod gets the newest checkpoint that fits: its own, not a living replica’s newer one', () => {
    const s = nextRestoreStep(deployment({ checkpoints: [ofDeployment('of-b', 'uid-b', -60), ofDeployment('of-a', 'uid-a', -600)] }));
    expect(s).toMatchObject({ kind: 'pin', checkpoints: ['of-a'], status: { identity: 'web' } });
  });

  it('a checkpoint of a replica that is gone is restored into the replacement of another', () => {
    const s = nextRestoreStep(deployment({ checkpoints: [ofDeployment('of-gone', 'uid-gone', -60)] }));
    expect(s).toMatchObject({ kind: 'pin', checkpoints: ['of-gone'] });
  });

  it('a restored pod (running its checkpoint image) is matched by the software the checkpoint was taken of', () => {
    const restored = pod({ image: cp('old').status!.runtimeImage!, annotations: { [`${ANNOTATIONS.restoredFromContainerPrefix}app`]: 'old' } });
    expect(nextRestoreStep(world({ pod: restored, pods: [restored] }))).toMatchObject({ kind: 'pin', checkpoints: ['new'] });
  });

  it('a container without any checkpoint starts fresh; one whose checkpoints all misfit fails the request', () => {
    const two = (image: string) => {
      const p = pod();
      return { ...p, spec: { ...p.spec, containers: [{ name: 'app', image: 'app:1' }, { name: 'side', image }] } };
    };
    const side = made('side-cp', { containerName: 'side', originalImage: 'side:1' });
    expect(nextRestoreStep(world({ pod: two('side:1'), pods: [two('side:1')], checkpoints: [cp('new')] }))).toMatchObject({ kind: 'pin', checkpoints: ['new'] });
    expect(nextRestoreStep(world({ pod: two('side:1'), pods: [two('side:1')], checkpoints: [cp('new'), side] }))).toMatchObject({ kind: 'pin', checkpoints: ['new', 'side-cp'] });
    expect(failure(world({ pod: two('side:2'), pods: [two('side:2')], checkpoints: [cp('new'), side] }))).toMatch(/Checkpoint side-cp does not fit .*\(image-changed\): container side will run side:2/);
  });

  describe('asked again right before the delete', () => {
    const restoring = rr({}, { phase: 'Restoring', startTime: iso(at(-10)), sourcePodUID: 'pod-1', identity: 'web-0', checkpoint: { name: 'new' }, checkpoints: ['new'], pinnedAt: iso(at(-5)) });
    const pinnedNew = () => made('new', {}, {});

    it('still fitting: the pod is deleted', () => {
      expect(nextRestoreStep(world({ request: restoring, checkpoints: [pinnedNew()] }))).toMatchObject({ kind: 'delete-pod', podUid: 'pod-1' });
    });

    it.each<[string, Partial<RestoreWorld>, RegExp]>([
      ['the StatefulSet rolled out a new image since the pins', { workloadImages: () => ({ app: 'app:2' }) }, /\(image-changed\).*; pod web-0 was left untouched/],
      ['another pod was restored from it since', { pods: [pod(), pod({ uid: 'pod-9', name: 'web-0-clone', annotations: { [`${ANNOTATIONS.restoredFromContainerPrefix}app`]: 'new' } })] }, /\(checkpoint-in-use\).*left untouched/],
      ['every node that could restore it went', { nodes: [] }, /\(no-capable-node\).*left untouched/],
      ['the pinned checkpoint was deleted', { checkpoints: [] }, /Checkpoint new does not fit .*it no longer exists in namespace apps; pod web-0 was left untouched/],
    ])('%s: Failed, the pod not deleted', (_name, over, message) => {
      const s = nextRestoreStep(world({ request: restoring, checkpoints: [pinnedNew()], ...over }));
      expect(s.kind).toBe('finish');
      if (s.kind === 'finish') {
        expect(s.status.phase).toBe('Failed');
        expect(s.status.message).toMatch(message);
      }
    });
  });

  it('checkpointFirst: a fresh checkpoint that does not fit the target is not pinned, and the pod was left running', () => {
    const request = rr({ checkpointFirst: true, targetNode: 'node-2' }, { phase: 'Checkpointing', startTime: iso(at(-5)), sourcePodUID: 'pod-1', identity: 'web-0', checkpointRequests: [checkpointFirstName(rr(), 'app')] });
    const child: CheckpointRequest = {
      apiVersion: API_VERSION,
      kind: 'CheckpointRequest',
      metadata: { name: checkpointFirstName(rr(), 'app'), namespace: NS },
      spec: { podReference: { name: 'web-0' }, containerName: 'app' },
      status: { phase: 'Completed', checkpoint: { name: 'fresh' } },
    };
    // The agent found the archive written by containerd (the node's runtime label was stale).
    const fresh = made('fresh', { runtime: { name: 'containerd' }, checkpointTimestamp: iso(at(-1)) });
    expect(failure(world({ request, checkpointRequests: [child], checkpoints: [fresh] }))).toMatch(
      /spec\.targetNode: node node-2 runs cri-o, but the checkpoint was written by containerd.*\(Checkpoint fresh\); pod web-0 was left running/,
    );
  });

  it('property: a pod whose software no checkpoint was taken of is never pinned or deleted', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ name: fc.constantFrom('a', 'b', 'c'), image: fc.constantFrom('app:0', 'app:2', 'app:3'), takenS: fc.integer({ min: -1000, max: 0 }) }), { maxLength: 5 }),
        fc.constantFrom(undefined, 'Restoring' as const),
        fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }),
        (cps, phase, ref) => {
          const checkpoints = cps.map((c) => made(c.name, { originalImage: c.image, checkpointTimestamp: iso(at(c.takenS)) }));
          const request = phase
            ? rr({}, { phase, startTime: iso(at(-10)), sourcePodUID: 'pod-1', identity: 'web-0', checkpoints: cps.map((c) => c.name), pinnedAt: iso(at(-5)) })
            : rr(ref ? { checkpointRef: { name: ref } } : {});
          const s = nextRestoreStep(world({ request, checkpoints }));
          expect(['pin', 'delete-pod', 'create-pod', 'checkpoint']).not.toContain(s.kind);
        },
      ),
    );
  });
});

describe('restore from a checkpoint (controller-owned pod)', () => {
  it('pins the newest good checkpoint by default, the chosen one when named, with the target node', () => {
    const s = nextRestoreStep(world({ checkpoints: [cp('old', { takenS: -600 }), cp('new', { takenS: -60 }), cp('newest-bad', { takenS: -1, bad: true })] }));
    expect(s).toMatchObject({ kind: 'pin', checkpoints: ['new'], status: { phase: 'Restoring', checkpoint: { name: 'new' }, sourcePodUID: 'pod-1', identity: 'web-0' } });
    const chosen = nextRestoreStep(world({ request: rr({ checkpointRef: { name: 'old' }, targetNode: 'node-2' }) }));
    expect(chosen).toMatchObject({ kind: 'pin', checkpoints: ['old'], targetNode: 'node-2' });
  });

  const restoring = (over: Partial<RestoreRequest['status']> = {}) =>
    rr({ targetNode: 'node-2' }, { phase: 'Restoring', startTime: iso(at(-10)), sourcePodUID: 'pod-1', identity: 'web-0', checkpoint: { name: 'old' }, checkpoints: ['old'], pinnedAt: iso(at(-5)), ...over });

  it('waits for the pins to settle, then deletes the pod by uid', () => {
    expect(nextRestoreStep(world({ request: restoring({ pinnedAt: iso(at(-1)) }) })).kind).toBe('wait');
    const s = nextRestoreStep(world({ request: restoring() }));
    expect(s).toMatchObject({ kind: 'delete-pod', podName: 'web-0', podUid: 'pod-1' });
    if (s.kind === 'delete-pod') {
      expect(s.keep).toBeUndefined();
      expect(s.status.keptManifest).toBeUndefined();
    }
  });

  it('completes once the replacement runs restored on the target node; fails when it runs elsewhere or fresh', () => {
    const restored = pod({ uid: 'pod-2', node: 'node-2', created: at(-2), annotations: { [`${ANNOTATIONS.restoredFromContainerPrefix}app`]: 'old' } });
    const done = nextRestoreStep(world({ request: restoring(), pod: restored, pods: [restored] }));
    expect(done).toMatchObject({ kind: 'finish', status: { phase: 'Completed', newPod: { name: 'web-0', namespace: NS } } });
    const starting = { ...restored, status: { phase: 'Pending', containerStatuses: [{ name: 'app', ready: false }] } };
    expect(nextRestoreStep(world({ request: restoring(), pod: starting, pods: [starting] })).kind).toBe('wait');
    const elsewhere = pod({ uid: 'pod-2', node: 'node-1', created: at(-2), annotations: { [`${ANNOTATIONS.restoredFromContainerPrefix}app`]: 'old' } });
    expect(failure(world({ request: restoring(), pod: elsewhere, pods: [elsewhere] }))).toMatch(/restored on node node-1, not on node-2/);
    const fresh = pod({ uid: 'pod-2', node: 'node-2', created: at(-2) });
    expect(failure(world({ request: restoring(), pod: fresh, pods: [fresh] }))).toMatch(/started fresh, not from old/);
  });

  it('fails when the restore from the pinned checkpoint failed', () => {
    expect(failure(world({ request: restoring(), pod: undefined, pods: [], checkpoints: [cp('old', { bad: true })] }))).toMatch(/restore from Checkpoint old failed: criu restore failed/);
  });
});

describe('bare pods and live migration', () => {
  const KEPT = 'kcr-restore-rr-uid-12345678';
  const SOLO_IMAGE = `reg/kcr/apps/solo@sha256:${'1'.repeat(64)}`;
  const bareRestoring = (over: Partial<RestoreRequest['status']> = {}) =>
    rr({ podReference: { name: 'solo' } }, { phase: 'Restoring', startTime: iso(at(-10)), sourcePodUID: 'pod-1', identity: 'solo', checkpoints: ['c'], pinnedAt: iso(at(-5)), ...over });
  const soloCheckpoint = () => {
    const c = cp('c', { identity: 'solo' });
    c.status!.runtimeImage = SOLO_IMAGE;
    return c;
  };
  const TOKEN_VOLUME = { name: 'kube-api-access-x1', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } };

  it('a bare pod is deleted with its manifest kept (in kcr\'s namespace, named in the status, never in it), and recreated from there once gone', () => {
    const bare = pod({ owner: false, name: 'solo', image: SOLO_IMAGE });
    const restoring = bareRestoring();
    const c = soloCheckpoint();
    const del = nextRestoreStep(world({ request: restoring, pod: bare, pods: [bare], checkpoints: [c] }));
    expect(del.kind).toBe('delete-pod');
    if (del.kind !== 'delete-pod') return;
    expect(del.status.keptManifest).toBe(KEPT);
    expect(JSON.stringify(del.status)).not.toContain('app:1');
    const manifest = del.keep as { metadata: { name: string }; spec: { nodeName?: string; containers: Array<{ image: string }> } };
    expect(manifest.metadata.name).toBe('solo');
    expect(manifest.spec.nodeName).toBeUndefined();
    // Back to the software the checkpoint was taken of, so the webhook restores it again.
    expect(manifest.spec.containers[0]!.image).toBe('app:1');
    const gone = { ...restoring, status: { ...restoring.status, keptManifest: del.status.keptManifest! } };
    expect(nextRestoreStep(world({ request: gone, pod: undefined, pods: [], checkpoints: [c] }))).toMatchObject({ kind: 'create-pod', keptManifest: KEPT });
  });

  it('a forged status.podManifest is ignored: without a kept manifest nothing is created', () => {
    const forged = bareRestoring({ podManifest: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo', namespace: 'kube-system' }, spec: { serviceAccountName: 'admin' } } } as Partial<RestoreRequest['status']>);
    const s = nextRestoreStep(world({ request: forged, pod: undefined, pods: [], checkpoints: [soloCheckpoint()] }));
    expect(s.kind).toBe('wait');
  });

  it('a status.keptManifest naming any other ConfigMap than this request\'s own is refused', () => {
    for (const name of ['kcr-restore-other-uid', 'kcr-redis-config']) {
      expect(failure(world({ request: bareRestoring({ keptManifest: name }), pod: undefined, pods: [], checkpoints: [soloCheckpoint()] }))).toMatch(new RegExp(`status\\.keptManifest names ${name}, not this request's ${KEPT}: refused`));
    }
  });

  it('a bare pod holding the token of a ServiceAccount other than default is refused before anything is pinned or deleted', () => {
    const withToken = pod({ owner: false, name: 'solo', spec: { serviceAccountName: 'deployer', volumes: [TOKEN_VOLUME] } });
    const world1 = { request: rr({ podReference: { name: 'solo' } }), pod: withToken, pods: [withToken], checkpoints: [soloCheckpoint()] };
    expect(failure(world(world1))).toMatch(/bare pod apps\/solo cannot be recreated: it runs as ServiceAccount deployer with its token mounted.*kcr-controller-pod-writes/);
    // A request already past the pins (an older controller pinned it) still does not delete it.
    expect(failure(world({ ...world1, request: bareRestoring() }))).toMatch(/cannot be recreated/);
    // The same pod without the token, or a controller-owned one, goes ahead.
    const tokenless = pod({ owner: false, name: 'solo', spec: { serviceAccountName: 'deployer', automountServiceAccountToken: false } });
    expect(nextRestoreStep(world({ ...world1, pod: tokenless, pods: [tokenless] })).kind).toBe('pin');
    const owned = pod({ name: 'solo', spec: { serviceAccountName: 'deployer', volumes: [TOKEN_VOLUME] } });
    expect(nextRestoreStep(world({ ...world1, pod: owned, pods: [owned] })).kind).toBe('pin');
    // The default ServiceAccount keeps its token.
    const asDefault = pod({ owner: false, name: 'solo', spec: { serviceAccountName: 'default', volumes: [TOKEN_VOLUME] } });
    expect(nextRestoreStep(world({ ...world1, pod: asDefault, pods: [asDefault] })).kind).toBe('pin');
  });

  it('checkpointFirst: one CheckpointRequest per container, then pins what they made', () => {
    const start = nextRestoreStep(world({ request: rr({ checkpointFirst: true, targetNode: 'node-2' }) }));
    expect(start).toMatchObject({ kind: 'checkpoint', requests: [{ name: 'move-app-rr-uid-1', container: 'app' }], status: { phase: 'Checkpointing' } });
    const request = rr({ checkpointFirst: true, targetNode: 'node-2' }, { phase: 'Checkpointing', startTime: iso(at(-5)), sourcePodUID: 'pod-1', identity: 'web-0', checkpointRequests: [checkpointFirstName(rr(), 'app')] });
    const child = (phase: 'InProgress' | 'Completed' | 'Failed'): CheckpointRequest => ({
      apiVersion: API_VERSION,
      kind: 'CheckpointRequest',
      metadata: { name: 'move-app-rr-uid-1', namespace: NS },
      spec: { podReference: { name: 'web-0' }, containerName: 'app' },
      status: { phase, ...(phase === 'Completed' ? { checkpoint: { name: 'fresh' } } : {}), ...(phase === 'Failed' ? { message: 'kubelet said no' } : {}) },
    });
    expect(nextRestoreStep(world({ request, checkpointRequests: [child('InProgress')] })).kind).toBe('wait');
    expect(nextRestoreStep(world({ request, checkpointRequests: [child('Completed')] })).kind).toBe('wait'); // its Checkpoint is not cached yet
    const pinned = nextRestoreStep(world({ request, checkpointRequests: [child('Completed')], checkpoints: [cp('old'), cp('fresh', { takenS: -1 })] }));
    expect(pinned).toMatchObject({ kind: 'pin', checkpoints: ['fresh'], targetNode: 'node-2' });
    expect(failure(world({ request, checkpointRequests: [child('Failed')] }))).toMatch(/checkpoint before restoring failed .*kubelet said no.*left running/);
  });
});

describe('properties', () => {
  const name = fc.constantFrom('a', 'b', 'c', 'd');
  const checkpointArb = fc.record({ name, ns: fc.constantFrom(NS, 'other'), takenS: fc.integer({ min: -1000, max: 0 }), bad: fc.boolean() }).map((x) => cp(x.name, x));

  it('a pinned checkpoint is always of the request\'s namespace, good, and of the pod', () => {
    fc.assert(
      fc.property(fc.array(checkpointArb, { maxLength: 8 }), fc.option(name, { nil: undefined }), (checkpoints, ref) => {
        const s = nextRestoreStep(world({ checkpoints, request: rr(ref ? { checkpointRef: { name: ref } } : {}) }));
        if (s.kind !== 'pin') return;
        for (const n of s.checkpoints) {
          const found = checkpoints.filter((c) => c.metadata.name === n && c.metadata.namespace === NS && c.status?.bad !== true);
          expect(found.length).toBeGreaterThan(0);
        }
      }),
    );
  });

  it('never throws on arbitrary statuses and pods', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(undefined, 'Pending', 'Checkpointing', 'Restoring', 'Completed', 'Failed' as const),
        fc.option(fc.constantFrom('pod-1', 'pod-2'), { nil: undefined }),
        fc.array(checkpointArb, { maxLength: 4 }),
        fc.integer({ min: -1000, max: 10 }),
        (phase, uid, checkpoints, pinnedS) => {
          const p = uid ? pod({ uid, created: at(-1) }) : undefined;
          const request = rr({}, phase ? { phase, startTime: iso(at(-30)), sourcePodUID: 'pod-1', checkpoints: ['a'], pinnedAt: iso(at(pinnedS)) } : undefined);
          nextRestoreStep(world({ request, pod: p, pods: p ? [p] : [], checkpoints }));
        },
      ),
    );
  });
});

describe('stalePins and recreatable', () => {
  it('a pin outlives only an unfinished request of the uid that made it', () => {
    const pinned = (n: string, by: string) => ({ ...cp(n), metadata: { name: n, namespace: NS, annotations: { [ANNOTATIONS.pinned]: 'true', [ANNOTATIONS.pinnedBy]: by } } });
    const active = rr({}, { phase: 'Restoring' });
    const done = { ...rr({}, { phase: 'Completed' }), metadata: { name: 'done', namespace: NS, uid: 'done-uid' } };
    const stale = stalePins([pinned('a', active.metadata.uid!), pinned('b', 'done-uid'), pinned('c', 'gone-uid'), cp('d')], [active, done]);
    expect(stale.map((c) => c.metadata.name)).toEqual(['b', 'c']);
  });

  it('drops restored-from annotations and the node, keeps labels and the rest', () => {
    const p = pod({ owner: false, annotations: { [ANNOTATIONS.restoredFrom]: 'x', [`${ANNOTATIONS.restoredFromContainerPrefix}app`]: 'x', keep: 'me' } });
    const m = recreatable(p) as { metadata: { annotations: Record<string, string> }; spec: { nodeName?: string } };
    expect(m.metadata.annotations).toEqual({ [ANNOTATIONS.restore]: 'true', keep: 'me' });
    expect(m.spec.nodeName).toBeUndefined();
  });

  it('keeps the ServiceAccount and its token as the pod had them: a pod without a token comes back without one', () => {
    type Spec = { serviceAccountName?: string; automountServiceAccountToken?: boolean; volumes?: unknown[] };
    const spec = (over: Record<string, unknown>) => (recreatable(pod({ owner: false, spec: over })) as { spec: Spec }).spec;
    const token = { name: 'kube-api-access-x1', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } };
    expect(spec({ serviceAccountName: 'reader' })).toMatchObject({ serviceAccountName: 'reader', automountServiceAccountToken: false });
    const withToken = spec({ serviceAccountName: 'default', volumes: [token] });
    expect(withToken.automountServiceAccountToken).toBeUndefined();
    expect(withToken.volumes).toEqual([token]);
    expect(spec({ serviceAccountName: 'default', automountServiceAccountToken: true, volumes: [token] }).automountServiceAccountToken).toBe(true);
  });
});
