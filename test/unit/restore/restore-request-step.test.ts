// The RestoreRequest state machine: each refusal names the problem; the happy paths step
// Pending -> (Checkpointing) -> Restoring -> Completed; nothing crosses a namespace.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ANNOTATIONS, API_VERSION, type Checkpoint, type CheckpointRequest, type RestoreRequest } from '../../../src/api/types.ts';
import { checkpointFirstName, nextRestoreStep, recreatable, stalePins, type RestorePod, type RestoreWorld } from '../../../src/restore/restore-request-step.ts';

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

function world(over: Partial<RestoreWorld> = {}): RestoreWorld {
  const p = pod();
  return {
    request: rr(),
    pod: p,
    pods: [p],
    checkpoints: [cp('old', { takenS: -600 }), cp('new', { takenS: -60 })],
    checkpointRequests: [],
    // node-1 and node-2 as agents publish them; node-3 has restore off; node-4 runs containerd; node-5 is not labelled yet.
    nodeCapability: (n) =>
      ({
        'node-1': { name: 'node-1', runtime: 'cri-o', capable: 'true', architecture: 'amd64' },
        'node-2': { name: 'node-2', runtime: 'cri-o', capable: 'true', architecture: 'amd64' },
        'node-3': { name: 'node-3', runtime: 'cri-o', capable: 'false', architecture: 'amd64' },
        'node-4': { name: 'node-4', runtime: 'containerd', capable: 'true', architecture: 'amd64' },
        'node-5': { name: 'node-5', runtime: undefined, capable: undefined, architecture: 'amd64' },
        'node-6': { name: 'node-6', runtime: 'cri-o', capable: 'true', architecture: 'arm64' },
      })[n],
    identityOf: (x) => x.metadata?.name,
    optedIn: (x) => x.metadata?.annotations?.[ANNOTATIONS.restore] === 'true',
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
  const bareRestoring = (over: Partial<RestoreRequest['status']> = {}) =>
    rr({ podReference: { name: 'solo' } }, { phase: 'Restoring', startTime: iso(at(-10)), sourcePodUID: 'pod-1', identity: 'solo', checkpoints: ['c'], pinnedAt: iso(at(-5)), ...over });
  const soloCheckpoint = () => {
    const c = cp('c', { identity: 'solo' });
    c.status!.runtimeImage = 'reg/kcr/apps/solo@sha256:1';
    return c;
  };
  const TOKEN_VOLUME = { name: 'kube-api-access-x1', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } };

  it('a bare pod is deleted with its manifest kept (in kcr\'s namespace, named in the status, never in it), and recreated from there once gone', () => {
    const bare = pod({ owner: false, name: 'solo', image: 'reg/kcr/apps/solo@sha256:1' });
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
