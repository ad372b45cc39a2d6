import type { V1Pod } from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../../src/api/types.ts';
import type { NodeRestoreFacts } from '../../../src/rules/restore-fit.ts';
import {
  crashLoops,
  decideInPlace,
  DEFAULT_IN_PLACE_BOUND,
  formatInPlaceHistory,
  inPlaceRestores,
  readInPlaceHistory,
  type InPlaceDecision,
  type InPlaceInput,
  type PodLike,
} from '../../../src/restore/in-place-restore.ts';

const MIN = 60_000;
const NOW = new Date('2026-03-10T12:00:00Z');
const ago = (minutes: number) => new Date(NOW.getTime() - minutes * MIN).toISOString();
const RUNTIME = (name: string, ns = 'apps') => `reg.example/${ns}/db-0@sha256:${Buffer.from(name).toString('hex').padEnd(64, '0').slice(0, 64)}`;
/** Where these checkpoint images live (reg.example/<namespace>/…). */
const REPOSITORIES = { registry: 'reg.example', prefix: '' };

// client-node's V1Pod must be accepted as it is (the shell passes informer objects).
const _v1PodFits: PodLike = {} as V1Pod;

interface CpOptions {
  ns?: string;
  identity?: string;
  container?: string;
  podUID?: string;
  originalImage?: string;
  runtimeImage?: string | undefined;
  phase?: 'Created' | 'Processing' | 'ImageBuilt' | 'Failed';
  bad?: boolean;
  takenMinutesAgo?: number;
}

function cp(name: string, o: CpOptions = {}): Checkpoint {
  const ns = o.ns ?? 'apps';
  return {
    apiVersion: 'checkpoint-restore.kcr.io/v1',
    kind: 'Checkpoint',
    metadata: { name, namespace: ns, creationTimestamp: ago(o.takenMinutesAgo ?? 30) },
    spec: {
      containerName: o.container ?? 'app',
      identity: o.identity ?? 'db-0',
      podName: 'db-0',
      podUID: o.podUID ?? 'uid-old',
      originalImage: o.originalImage ?? 'db:1',
      checkpointTimestamp: ago(o.takenMinutesAgo ?? 30),
    },
    status: {
      phase: o.phase ?? 'ImageBuilt',
      ...('runtimeImage' in o ? (o.runtimeImage === undefined ? {} : { runtimeImage: o.runtimeImage }) : { runtimeImage: RUNTIME(name, ns) }),
      ...(o.bad === undefined ? {} : { bad: o.bad }),
    },
  };
}

interface ContainerOptions {
  name?: string;
  image?: string;
  restartCount?: number;
  exitCode?: number | undefined;
  /** Start of the run that crashed (lastState.terminated.startedAt); null: none reported. */
  crashedRunStarted?: string | null;
}

interface PodOptions {
  ns?: string;
  name?: string;
  uid?: string;
  phase?: string;
  deleting?: boolean;
  annotations?: Record<string, string>;
  containers?: ContainerOptions[];
}

function pod(o: PodOptions = {}): PodLike {
  const containers = o.containers ?? [{}];
  return {
    metadata: {
      name: o.name ?? 'db-0',
      namespace: o.ns ?? 'apps',
      uid: o.uid ?? 'uid-1',
      ...(o.annotations === undefined ? {} : { annotations: o.annotations }),
      ...(o.deleting ? { deletionTimestamp: ago(0) } : {}),
    },
    spec: { nodeName: 'n1', containers: containers.map((c) => ({ name: c.name ?? 'app', image: c.image ?? 'db:1' })) },
    status: {
      phase: o.phase ?? 'Running',
      containerStatuses: containers.map((c) => ({
        name: c.name ?? 'app',
        image: c.image ?? 'db:1',
        imageID: '',
        ready: true,
        restartCount: c.restartCount ?? 1,
        state: { running: { startedAt: ago(1) } },
        lastState: 'exitCode' in c && c.exitCode === undefined ? {} : {
          terminated: {
            exitCode: c.exitCode ?? 1,
            startedAt: c.crashedRunStarted === undefined ? ago(3) : c.crashedRunStarted,
            finishedAt: ago(2),
          },
        },
      })),
    },
  };
}

/** n1: a capable CRI-O node, as its agent labels it. */
const CAPABLE = (name: string): NodeRestoreFacts => ({ name, runtime: 'cri-o', capable: 'true', architecture: 'amd64' });

const withSpec = (c: Checkpoint, spec: Partial<Checkpoint['spec']>): Checkpoint => ({ ...c, spec: { ...c.spec, ...spec } });

function input(pods: PodLike[], checkpoints: Checkpoint[], extra: Partial<InPlaceInput> = {}): InPlaceInput {
  return { pods, checkpoints, optedIn: () => true, identityOf: (p) => p.metadata?.name, now: NOW, nodeOf: CAPABLE, repositories: REPOSITORIES, ...extra };
}

/** pod/container←checkpoint for each restore, and crash loops as pod/container:crash-loop. */
function run(pods: PodLike[], checkpoints: Checkpoint[], extra: Partial<InPlaceInput> = {}): string[] {
  const d = decideInPlace(input(pods, checkpoints, extra));
  return [
    ...d.restores.map((r) => `${r.pod}/${r.container}<-${r.checkpoint}`),
    ...d.crashLoops.map((l) => `${l.pod}/${l.container}:crash-loop`),
  ];
}

const history = (restartCount: number, ...minutesAgo: number[]) =>
  formatInPlaceHistory({ restartCount, restoredAt: minutesAgo.map(ago) });

/** The pod as the API server stores it after the shell's patch. */
function applyToPod(p: PodLike, d: InPlaceDecision): PodLike {
  const uid = p.metadata?.uid;
  const mine = d.restores.filter((r) => r.podUid === uid);
  const loops = d.crashLoops.filter((l) => l.podUid === uid);
  if (mine.length === 0 && loops.length === 0) return p;
  const next = structuredClone(p);
  next.metadata = next.metadata ?? {};
  const annotations = { ...(next.metadata.annotations ?? {}) };
  for (const r of mine) {
    Object.assign(annotations, r.patch.annotations);
    next.spec!.containers![r.patch.containerIndex]!.image = r.patch.image;
  }
  for (const l of loops) Object.assign(annotations, l.annotations);
  next.metadata.annotations = annotations;
  return next;
}

describe('inPlaceRestores: which crash is restored', () => {
  it('restores a crashed container from its newest good checkpoint with one patch', () => {
    const restores = inPlaceRestores(input([pod({ containers: [{ restartCount: 2 }] })], [cp('c-old', { takenMinutesAgo: 60 }), cp('c-new', { takenMinutesAgo: 10 })]));
    expect(restores).toEqual([
      {
        namespace: 'apps',
        pod: 'db-0',
        podUid: 'uid-1',
        container: 'app',
        checkpoint: 'c-new',
        image: RUNTIME('c-new'),
        restartCount: 2,
        alreadyRestored: false,
        patch: {
          containerIndex: 0,
          image: RUNTIME('c-new'),
          annotations: {
            'kcr.io/restored-from.app': 'c-new',
            'kcr.io/in-place-restores.app': `{"restartCount":2,"restoredAt":["2026-03-10T12:00:00.000Z"],"crashedRun":"finished@${ago(2)}"}`,
          },
        },
      },
    ]);
  });

  it('points the patch at the crashed container among several', () => {
    const p = pod({ containers: [{ name: 'envoy', image: 'envoy:1', exitCode: 0 }, { name: 'app' }] });
    const [r] = inPlaceRestores(input([p], [cp('c1'), cp('e1', { container: 'envoy', originalImage: 'envoy:1' })]));
    expect(r?.container).toBe('app');
    expect(r?.patch.containerIndex).toBe(1);
  });

  it.each<[string, PodLike, Partial<InPlaceInput>]>([
    ['the pod did not opt in', pod(), { optedIn: () => false }],
    ['the pod is being deleted', pod({ deleting: true }), {}],
    ['the pod Succeeded', pod({ phase: 'Succeeded' }), {}],
    ['the pod Failed', pod({ phase: 'Failed' }), {}],
    ['the pod has no identity', pod(), { identityOf: () => undefined }],
    ['the last run exited 0', pod({ containers: [{ exitCode: 0 }] }), {}],
    ['it never ended a run', pod({ containers: [{ exitCode: undefined, restartCount: 0 }] }), {}],
    ['the crash was already handled', pod({ annotations: { 'kcr.io/in-place-restores.app': history(1) } }), {}],
    ['the crash is older than the one handled', pod({ containers: [{ restartCount: 1 }], annotations: { 'kcr.io/in-place-restores.app': history(4) } }), {}],
    ['the pod has no uid', { ...pod(), metadata: { name: 'db-0', namespace: 'apps' } }, {}],
  ])('restores nothing when %s', (_why, p, extra) => {
    expect(run([p], [cp('c1')], extra)).toEqual([]);
  });

  it('restores in a Pending pod too (a pod restarting containers may report Pending)', () => {
    expect(run([pod({ phase: 'Pending' })], [cp('c1')])).toEqual(['db-0/app<-c1']);
  });

  it('treats any non-zero exit as a crash (OOMKilled: 137)', () => {
    expect(run([pod({ containers: [{ exitCode: 137 }] })], [cp('c1')])).toEqual(['db-0/app<-c1']);
  });
});

describe('inPlaceRestores: which checkpoint', () => {
  it.each<[string, Checkpoint]>([
    ['still building', cp('newer', { takenMinutesAgo: 1, phase: 'Processing' })],
    ['failed', cp('newer', { takenMinutesAgo: 1, phase: 'Failed' })],
    ['marked bad', cp('newer', { takenMinutesAgo: 1, bad: true })],
    ['without a runtime image', cp('newer', { takenMinutesAgo: 1, runtimeImage: undefined })],
    ['of other software', cp('newer', { takenMinutesAgo: 1, originalImage: 'db:2' })],
    ['of another identity', cp('newer', { takenMinutesAgo: 1, identity: 'db-1' })],
    ['of another container', cp('newer', { takenMinutesAgo: 1, container: 'envoy' })],
    ['of another namespace', cp('newer', { takenMinutesAgo: 1, ns: 'other' })],
    ['written by another runtime than the node’s', withSpec(cp('newer', { takenMinutesAgo: 1 }), { runtime: { name: 'containerd' } })],
    ['taken on another architecture', withSpec(cp('newer', { takenMinutesAgo: 1 }), { architecture: 'arm64' })],
    ['whose image lies in another namespace’s repository', cp('newer', { takenMinutesAgo: 1, runtimeImage: RUNTIME('newer', 'bank') })],
  ])('skips a newer checkpoint %s for the newest good one', (_why, newer) => {
    expect(run([pod()], [cp('good', { takenMinutesAgo: 30 }), newer])).toEqual(['db-0/app<-good']);
  });

  it.each<[string, NodeRestoreFacts | undefined]>([
    ['restore is off there (restore.kcr.io/capable=false)', { name: 'n1', runtime: 'cri-o', capable: 'false', architecture: 'amd64' }],
    ['its agent has not labelled it', { name: 'n1', runtime: undefined, capable: undefined, architecture: 'amd64' }],
    ['it is not known', undefined],
  ])('restores nothing on a node that cannot restore: %s (the kubelet restarts it fresh)', (_why, node) => {
    expect(run([pod()], [cp('good', { takenMinutesAgo: 30 })], { nodeOf: () => node })).toEqual([]);
  });

  it('restores nothing after a rollout to other software', () => {
    expect(run([pod({ containers: [{ image: 'db:2' }] })], [cp('c1')])).toEqual([]);
  });

  it('reads the software of a container already restored from its checkpoint image', () => {
    const p = pod({ containers: [{ image: RUNTIME('c1') }], annotations: { 'kcr.io/restored-from.app': 'c1' } });
    expect(run([p], [cp('c1', { takenMinutesAgo: 60 }), cp('c2', { takenMinutesAgo: 5 })])).toEqual(['db-0/app<-c2']);
    // Running from a checkpoint image whose original image is unknown: the software is unknown.
    const unknown = cp('c1', { takenMinutesAgo: 60 });
    delete unknown.spec.originalImage;
    expect(run([p], [unknown, cp('c2', { takenMinutesAgo: 5 })])).toEqual([]);
  });

  it('counts a crash of a container already running from the best checkpoint (the kubelet restart restored it) without changing its image', () => {
    const p = pod({ containers: [{ image: RUNTIME('c1') }], annotations: { 'kcr.io/restored-from.app': 'c1' } });
    const [r] = inPlaceRestores(input([p], [cp('c1')]));
    expect(r).toMatchObject({ checkpoint: 'c1', alreadyRestored: true, patch: { image: RUNTIME('c1') } });
    expect(JSON.parse(r!.patch.annotations['kcr.io/in-place-restores.app']!)).toEqual({ restartCount: 1, restoredAt: [ago(0)], crashedRun: `finished@${ago(2)}` });
  });

  it('a crash loop on a checkpoint image past the bound is set back to the original image, so restarts stop restoring it', () => {
    const p = pod({ containers: [{ image: RUNTIME('c1'), restartCount: 7, crashedRunStarted: ago(0.5) }], annotations: { 'kcr.io/restored-from.app': 'c1', 'kcr.io/in-place-restores.app': history(6, 9, 5, 1) } });
    const [l] = crashLoops(input([p], [cp('c1')]));
    expect(l).toMatchObject({ image: 'db:1', containerIndex: 0, annotations: { 'kcr.io/restored-from.app': null } });
    expect(l!.message).toMatch(/set back to db:1 and left to the kubelet/);
  });

  it('prefers a checkpoint of this very pod over a newer one of an earlier pod', () => {
    const cps = [cp('mine', { takenMinutesAgo: 50, podUID: 'uid-1' }), cp('earlier-pod', { takenMinutesAgo: 5, podUID: 'uid-gone' })];
    expect(run([pod()], cps)).toEqual(['db-0/app<-mine']);
  });

  it('breaks equal times by name, whatever the input order', () => {
    const cps = [cp('b', { takenMinutesAgo: 5 }), cp('a', { takenMinutesAgo: 5 })];
    expect(run([pod()], cps)).toEqual(['db-0/app<-a']);
    expect(run([pod()], [...cps].reverse())).toEqual(['db-0/app<-a']);
  });

  it('never restores a checkpoint of another namespace, even of the same name and identity', () => {
    expect(run([pod()], [cp('c1', { ns: 'other' })])).toEqual([]);
    const [r] = inPlaceRestores(input([pod()], [cp('c1', { ns: 'other', takenMinutesAgo: 1 }), cp('c1', { takenMinutesAgo: 30 })]));
    expect(r?.image).toBe(RUNTIME('c1', 'apps'));
  });

  it('never clones another running pod: its own checkpoints, or one restored into it', () => {
    // A Deployment's replicas share an identity.
    const a = pod({ name: 'web-a', uid: 'uid-a' });
    const b = pod({ name: 'web-b', uid: 'uid-b', containers: [{ exitCode: 0 }], annotations: { 'kcr.io/restored-from.app': 'restored-into-b' } });
    const same = { identityOf: () => 'web' };
    const cps = [
      cp('of-b', { identity: 'web', podUID: 'uid-b', takenMinutesAgo: 1 }),
      cp('restored-into-b', { identity: 'web', podUID: 'uid-gone', takenMinutesAgo: 2 }),
      cp('of-gone-pod', { identity: 'web', podUID: 'uid-gone', takenMinutesAgo: 40 }),
    ];
    expect(run([a, b], cps, same)).toEqual(['web-a/app<-of-gone-pod']);
    // Once b is gone its memory is free to take.
    expect(run([a, { ...b, status: { ...b.status, phase: 'Failed' } }], cps, same)).toEqual(['web-a/app<-of-b']);
  });

  it('gives two pods crashing in the same pass different checkpoints', () => {
    const a = pod({ name: 'web-a', uid: 'uid-a' });
    const b = pod({ name: 'web-b', uid: 'uid-b' });
    const cps = [cp('x', { identity: 'web', podUID: 'uid-gone', takenMinutesAgo: 1 }), cp('y', { identity: 'web', podUID: 'uid-gone', takenMinutesAgo: 2 })];
    expect(run([b, a], cps, { identityOf: () => 'web' })).toEqual(['web-a/app<-x', 'web-b/app<-y']);
  });
});

describe('inPlaceRestores: a runtime that restores the restart count with the checkpoint', () => {
  it('a new crash of a restored container counts although its restart count did not grow (CRI-O restores the checkpointed container’s annotations)', () => {
    // kcr handled the crash of run A at restart count 1; the restored run B crashed too, and the
    // kubelet reports the count the checkpoint carried (still 1).
    const handled = formatInPlaceHistory({ restartCount: 1, restoredAt: [ago(1)], crashedRun: 'cri-o://run-a' });
    const p = pod({ containers: [{ image: RUNTIME('c1'), restartCount: 1, crashedRunStarted: ago(0.5) }], annotations: { 'kcr.io/restored-from.app': 'c1', 'kcr.io/in-place-restores.app': handled } });
    (p.status!.containerStatuses![0]!.lastState!.terminated as { containerID?: string }).containerID = 'cri-o://run-b';
    const [r] = inPlaceRestores(input([p], [cp('c1')]));
    expect(r).toMatchObject({ checkpoint: 'c1', alreadyRestored: true });
    expect(JSON.parse(r!.patch.annotations['kcr.io/in-place-restores.app']!)).toMatchObject({ restoredAt: [ago(1), ago(0)], crashedRun: 'cri-o://run-b' });
    // The same run again is the crash already handled.
    (p.status!.containerStatuses![0]!.lastState!.terminated as { containerID?: string }).containerID = 'cri-o://run-a';
    expect(inPlaceRestores(input([p], [cp('c1')]))).toEqual([]);
  });
});

describe('inPlaceRestores: bounded, idempotent', () => {
  it('leaves a crash loop to the kubelet after maxRestores within the window, once per crash', () => {
    const p = pod({ containers: [{ restartCount: 7, crashedRunStarted: ago(0.5) }], annotations: { 'kcr.io/in-place-restores.app': history(6, 9, 5, 1) } });
    const d = decideInPlace(input([p], [cp('c1')]));
    expect(d.restores).toEqual([]);
    expect(d.crashLoops).toEqual([
      {
        namespace: 'apps',
        pod: 'db-0',
        podUid: 'uid-1',
        container: 'app',
        restartCount: 7,
        checkpoint: 'c1',
        message: 'crash loop: 3 in-place restores of container app within 10m; left to the kubelet',
        annotations: { 'kcr.io/in-place-restores.app': formatInPlaceHistory({ restartCount: 7, restoredAt: [ago(9), ago(5), ago(1)], crashedRun: `finished@${ago(2)}` }) },
      },
    ]);
    expect(crashLoops(input([applyToPod(p, d)], [cp('c1')]))).toEqual([]);
  });

  it('restores again once the oldest restore leaves the window, and forgets what is outside it', () => {
    const p = pod({ containers: [{ restartCount: 7, crashedRunStarted: ago(0.5) }], annotations: { 'kcr.io/in-place-restores.app': history(6, 11, 5, 1) } });
    const [r] = inPlaceRestores(input([p], [cp('c1')]));
    expect(JSON.parse(r!.patch.annotations['kcr.io/in-place-restores.app']!)).toEqual({ restartCount: 7, restoredAt: [ago(5), ago(1), ago(0)], crashedRun: `finished@${ago(2)}` });
  });

  it('honours a custom bound; maxRestores 0 turns in-place restores off', () => {
    const p = pod({ containers: [{ restartCount: 3, crashedRunStarted: ago(0.5) }], annotations: { 'kcr.io/in-place-restores.app': history(2, 1) } });
    expect(run([p], [cp('c1')], { bound: { maxRestores: 1, windowMs: 60 * MIN } })).toEqual(['db-0/app:crash-loop']);
    expect(run([p], [cp('c1')], { bound: { maxRestores: 1, windowMs: 30_000 } })).toEqual(['db-0/app<-c1']);
    expect(run([pod()], [cp('c1')], { bound: { maxRestores: 0, windowMs: MIN } })).toEqual(['db-0/app:crash-loop']);
    expect(DEFAULT_IN_PLACE_BOUND).toEqual({ maxRestores: 3, windowMs: 600_000 });
  });

  it('decides nothing on the patched pod (the API server may show it before the kubelet acts)', () => {
    const p = pod({ containers: [{ name: 'app' }, { name: 'envoy', image: 'envoy:1' }] });
    const cps = [cp('c1'), cp('e1', { container: 'envoy', originalImage: 'envoy:1' })];
    const d = decideInPlace(input([p], cps));
    expect(d.restores.map((r) => r.container)).toEqual(['app', 'envoy']);
    expect(decideInPlace(input([applyToPod(p, d)], cps))).toEqual({ restores: [], crashLoops: [] });
  });

  it('does not take the kill that applies the new image for a crash of the restored container', () => {
    const restoredAt = { 'kcr.io/restored-from.app': 'c1', 'kcr.io/in-place-restores.app': history(1, 2) };
    // The kubelet killed the old run (137) to start the checkpoint image: that run began before the restore.
    const killed = pod({ containers: [{ image: RUNTIME('c1'), restartCount: 2, exitCode: 137, crashedRunStarted: ago(3) }], annotations: restoredAt });
    const cps = [cp('c1', { takenMinutesAgo: 30 }), cp('c2', { takenMinutesAgo: 1 })];
    expect(run([killed], cps)).toEqual([]);
    // The restored run itself crashed: it began after the restore.
    const crashed = pod({ containers: [{ image: RUNTIME('c1'), restartCount: 3, crashedRunStarted: ago(1) }], annotations: restoredAt });
    expect(run([crashed], cps)).toEqual(['db-0/app<-c2']);
    // Without a start time, the one restart right after the restore is taken as kcr's own.
    const noStart = (restartCount: number) =>
      pod({ containers: [{ image: RUNTIME('c1'), restartCount, crashedRunStarted: null }], annotations: restoredAt });
    expect(run([noStart(2)], cps)).toEqual([]);
    expect(run([noStart(3)], cps)).toEqual(['db-0/app<-c2']);
  });

  it('orders restores by namespace, pod and container', () => {
    const pods = [pod({ ns: 'b', name: 'db-0', uid: 'u3' }), pod({ ns: 'a', name: 'db-1', uid: 'u2' }), pod({ ns: 'a', name: 'db-0', uid: 'u1' })];
    const cps = [cp('x', { ns: 'a' }), cp('y', { ns: 'a', identity: 'db-1' }), cp('z', { ns: 'b' })];
    expect(inPlaceRestores(input(pods, cps)).map((r) => `${r.namespace}/${r.pod}`)).toEqual(['a/db-0', 'a/db-1', 'b/db-0']);
  });
});

describe('the history annotation', () => {
  it('round-trips and reads anything mangled as no history', () => {
    const h = { restartCount: 4, restoredAt: ['2026-03-10T12:00:00.000Z'] };
    expect(formatInPlaceHistory(h)).toBe('{"restartCount":4,"restoredAt":["2026-03-10T12:00:00.000Z"]}');
    expect(readInPlaceHistory(formatInPlaceHistory(h))).toEqual(h);
    for (const bad of [undefined, '', 'nope', '[]', 'null', '{"restartCount":-1}', '{"restartCount":"3"}']) {
      expect(readInPlaceHistory(bad)).toEqual({ restartCount: 0, restoredAt: [] });
    }
    expect(readInPlaceHistory('{"restartCount":2,"restoredAt":["x",3,"2026-03-10T12:00:00Z"]}')).toEqual({
      restartCount: 2,
      restoredAt: ['2026-03-10T12:00:00Z'],
    });
  });
});

describe('inPlaceRestores properties', () => {
  const NAMESPACES = ['a', 'b'] as const;
  const IMAGES = ['db:1', 'db:1', 'db:2'] as const;
  const runtime = (ns: string, i: number) => `reg.example/${ns}/cp@sha256:${String(i).padStart(64, '0')}`;

  // Unbiased: fast-check's bias toward the first constant and small integers would make most
  // generated pods deleted, Failed or never crashed, and the properties vacuous.
  const pick = <T,>(...values: T[]) => fc.noBias(fc.constantFrom(...values));
  const int = (min: number, max: number) => fc.noBias(fc.integer({ min, max }));
  /** True about once in n. */
  const oneIn = (n: number) => int(1, n).map((x) => x === 1);

  const cpArb = fc.record({
    ns: pick(...NAMESPACES),
    identity: pick('db-0', 'db-1'),
    container: pick('app', 'app', 'app', 'envoy'),
    originalImage: pick(...IMAGES),
    podUID: pick('u0', 'u1', 'u2', 'gone', 'gone', 'gone'),
    good: int(0, 4),
    takenMinutesAgo: int(0, 60),
  });
  const containerArb = (i: number) => fc.record({
    name: fc.constant(['app', 'envoy'][i]!),
    image: pick('db:1', 'db:1', 'db:1', 'db:2', '@cp0', '@cp1', '@cp2', '@cp9'),
    restartCount: int(0, 6),
    exitCode: pick(0, 1, 1, 1, 1, 137, undefined),
    crashedRunStarted: fc.option(int(0, 30), { nil: null, freq: 5 }),
    handled: fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: int(0, 6) }),
    restoredMinutesAgo: fc.oneof(
      { weight: 2, arbitrary: fc.constant([]) },
      { weight: 1, arbitrary: fc.array(int(0, 30), { maxLength: 4 }).map((m) => m.sort((x, y) => y - x)) },
    ),
  });
  const podArb = fc.record({
    ns: pick(...NAMESPACES),
    name: pick('db-0', 'db-1'),
    uid: pick('u0', 'u1', 'u2'),
    phase: pick('Running', 'Running', 'Pending', 'Failed'),
    deleting: oneIn(6),
    optedIn: oneIn(6).map((x) => !x),
    containers: fc.tuple(containerArb(0), fc.option(containerArb(1), { nil: undefined })),
  });
  const scenarioArb = fc.record({
    checkpoints: fc.array(cpArb, { minLength: 8, maxLength: 30 }),
    pods: fc.uniqueArray(podArb, { minLength: 1, maxLength: 3, selector: (p) => p.uid }),
    maxRestores: int(0, 4),
    windowMinutes: int(1, 20),
  });
  type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

  function build(s: Scenario): InPlaceInput {
    const checkpoints = s.checkpoints.map((c, i) =>
      cp(`cp${i}`, { ...c, runtimeImage: runtime(c.ns, i), ...(c.good === 0 ? { bad: true } : c.good === 1 ? { phase: 'Processing' as const } : {}) }));
    const pods = s.pods.map((p) => {
      const annotations: Record<string, string> = {};
      const containers = p.containers.filter((c) => c !== undefined).map((c) => {
        if (c.handled !== undefined || c.restoredMinutesAgo.length > 0) {
          annotations[`kcr.io/in-place-restores.${c.name}`] = history(c.handled ?? 0, ...c.restoredMinutesAgo);
        }
        // "@cpN": currently running from checkpoint N's image (of this pod's namespace).
        const image = c.image.startsWith('@cp') ? runtime(p.ns, Number(c.image.slice(3))) : c.image;
        return { ...c, image, crashedRunStarted: c.crashedRunStarted === null ? null : ago(c.crashedRunStarted) };
      });
      return pod({ ns: p.ns, name: p.name, uid: p.uid, phase: p.phase, deleting: p.deleting, annotations, containers });
    });
    const optedOut = new Set(s.pods.filter((p) => !p.optedIn).map((p) => p.uid));
    return {
      pods,
      checkpoints,
      nodeOf: CAPABLE,
      repositories: REPOSITORIES,
      optedIn: (p) => !optedOut.has(p.metadata?.uid ?? ''),
      identityOf: (p) => p.metadata?.name,
      now: NOW,
      bound: { maxRestores: s.maxRestores, windowMs: s.windowMinutes * MIN },
    };
  }

  it('never throws, whatever the pods look like', () => {
    const weird = fc.anything({ maxDepth: 4 }) as fc.Arbitrary<PodLike>;
    const shaped = fc.record({
      metadata: fc.record({
        name: fc.constantFrom('db-0', '', undefined),
        namespace: fc.constantFrom('a', undefined),
        uid: fc.constantFrom('u0', undefined),
        annotations: fc.oneof(fc.constant(undefined), fc.dictionary(fc.constantFrom('kcr.io/in-place-restores.app', 'kcr.io/restored-from.app', 'kcr.io/restored-from'), fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v))))),
        deletionTimestamp: fc.constantFrom(undefined, null, '', ago(1)),
      }, { requiredKeys: [] }),
      spec: fc.anything({ maxDepth: 3 }),
      status: fc.record({
        phase: fc.constantFrom('Running', 'Pending', 7),
        containerStatuses: fc.array(fc.record({ name: fc.constantFrom('app', undefined), restartCount: fc.anything(), lastState: fc.anything(), state: fc.anything() }, { requiredKeys: [] })),
      }, { requiredKeys: [] }),
    }, { requiredKeys: [] }) as fc.Arbitrary<PodLike>;
    fc.assert(
      fc.property(fc.array(fc.oneof(weird, shaped), { maxLength: 5 }), scenarioArb, (pods, s) => {
        const i = build(s);
        decideInPlace({ ...i, pods: [...pods, ...i.pods] });
      }),
    );
  }, 30_000);

  it('restores only a good checkpoint of the pod\'s own namespace, identity and container', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const i = build(s);
        for (const r of inPlaceRestores(i)) {
          const chosen = i.checkpoints.find((c) => c.metadata.namespace === r.namespace && c.metadata.name === r.checkpoint);
          expect(chosen).toBeDefined();
          expect(chosen!.status).toMatchObject({ phase: 'ImageBuilt', runtimeImage: r.image });
          expect(chosen!.status?.bad).not.toBe(true);
          expect(chosen!.spec).toMatchObject({ identity: r.pod, containerName: r.container });
          expect(r.image.startsWith(`reg.example/${r.namespace}/`)).toBe(true);
        }
      }),
    );
  }, 30_000);

  it('decides for one namespace as if the other did not exist', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const i = build(s);
        const onlyA = decideInPlace({
          ...i,
          pods: i.pods.filter((p) => p.metadata?.namespace === 'a'),
          checkpoints: i.checkpoints.filter((c) => c.metadata.namespace === 'a'),
        });
        const all = decideInPlace(i);
        expect(all.restores.filter((r) => r.namespace === 'a')).toEqual(onlyA.restores);
        expect(all.crashLoops.filter((r) => r.namespace === 'a')).toEqual(onlyA.crashLoops);
      }),
      { numRuns: 300 },
    );
  }, 30_000);

  it('is idempotent: after its own patches it decides nothing', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const i = build(s);
        const d = decideInPlace(i);
        const again = decideInPlace({ ...i, pods: i.pods.map((p) => applyToPod(p, d)) });
        expect(again).toEqual({ restores: [], crashLoops: [] });
      }),
      { numRuns: 300 },
    );
  }, 30_000);

  it('never restores a container more than maxRestores times within any window', () => {
    // One container crashing over and over; the shell applies every decision, the kubelet restarts it.
    const stepArb = fc.record({ afterMs: int(0, 2 * MIN), crash: fc.boolean(), newCheckpoint: fc.boolean() });
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 5, maxLength: 60 }), int(0, 4), int(1, 15), (steps, maxRestores, windowMinutes) => {
        const windowMs = windowMinutes * MIN;
        let t = NOW.getTime();
        let p = pod({ containers: [{ restartCount: 0, exitCode: undefined }] });
        const cps: Checkpoint[] = [cp('cp0', { takenMinutesAgo: 60 })];
        const restoredAt: number[] = [];
        for (const step of steps) {
          const runStarted = t;
          t += step.afterMs;
          const at = new Date(t);
          if (step.newCheckpoint) cps.push(cp(`cp${cps.length}`, { takenMinutesAgo: (NOW.getTime() - t) / MIN - 0.001 }));
          if (step.crash) {
            const status = p.status!.containerStatuses![0]!;
            status.restartCount = (status.restartCount ?? 0) + 1;
            status.lastState = { terminated: { exitCode: 1, startedAt: new Date(runStarted).toISOString(), finishedAt: at.toISOString() } };
          }
          const d = decideInPlace({ pods: [p], checkpoints: cps, optedIn: () => true, identityOf: () => 'db-0', now: at, nodeOf: CAPABLE, repositories: REPOSITORIES, bound: { maxRestores, windowMs } });
          for (const _ of d.restores) restoredAt.push(t);
          p = applyToPod(p, d);
        }
        for (const end of restoredAt) {
          expect(restoredAt.filter((x) => x > end - windowMs && x <= end).length).toBeLessThanOrEqual(maxRestores);
        }
      }),
    );
  }, 30_000);
});
