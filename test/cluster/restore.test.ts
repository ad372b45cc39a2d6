// Restores beyond replacement, end to end on the shared kcr stack: RestoreRequests (a chosen
// older checkpoint; migration with checkpointFirst), failed restores falling back to older
// checkpoints and then a fresh start, in-place restore after a crash (bounded), and bad input.
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANNOTATIONS, PLURALS, type RestoreRequest } from '../../src/api/types.ts';
import { apiCode, eventually, expectApiError } from './cluster-clients.ts';
import { openE2eWorld } from './e2e-stack.ts';
import { IMAGE, podTemplate, restoredFromOf, runningReady, type E2eWorld } from './e2e-world.ts';
import { KCR_NAMESPACE } from './kcr-in-cluster.ts';
import { PULL_SECRET_NAME } from '../../src/registry-access/pull-secret-plan.ts';
import { appState } from './nodes/app-log.ts';

const OPTED_IN = { [ANNOTATIONS.restore]: 'true' };

let w: E2eWorld;
let e2e: Awaited<ReturnType<typeof openE2eWorld>> | undefined;

/** Every node's runtime fails CRIU restores of images whose reference contains one of `patterns`. */
async function failRestoresOf(patterns: string[]): Promise<void> {
  for (const n of w.stack.nodes) await w.nodeControl(n.name).failRestoresOf(patterns);
}

/** The runtime running `pod` makes its app container exit with code 1 (now, or after every start). */
async function crash(pod: string, mode: 'now' | 'loop'): Promise<void> {
  const p = await w.runningPod(pod);
  await w.nodeControl(p).crash({ namespace: w.ns, pod, container: 'app' }, mode);
}

/** A StatefulSet pod opted in by its annotation, running, with `n` checkpoints taken one after the other (oldest first). */
async function podWithCheckpoints(app: string, n: number, pullSecret?: string) {
  await w.createStatefulSet(app, { podAnnotations: OPTED_IN, ...(pullSecret ? { pullSecret } : {}) });
  const pod = await w.runningPod(`${app}-0`);
  const cps = [];
  for (let i = 1; i <= n; i++) {
    // Some seconds apart, so each checkpoint holds a different counter.
    await new Promise((r) => setTimeout(r, 1500));
    cps.push(await w.checkpointNow(`${app}-now-${i}`, `${app}-0`));
  }
  return { pod, cps };
}

function otherNode(p: V1Pod): string {
  const other = w.stack.nodes.map((n) => n.name).find((n) => n !== p.spec?.nodeName);
  if (!other) throw new Error('the stack has one node only');
  return other;
}

beforeAll(async () => {
  e2e = await openE2eWorld('restore');
  w = e2e.world;
}, 600_000);

afterAll(async () => {
  if (w) await failRestoresOf([]).catch(() => undefined);
  await e2e?.close();
});

describe('RestoreRequest', () => {
  it('to a chosen, older checkpoint: the replacement holds that checkpoint\'s state', async () => {
    const { pod, cps } = await podWithCheckpoints('db', 2);
    const [older, newer] = cps as [typeof cps[0], typeof cps[0]];
    expect((await w.savedState(older.status!.runtimeImage!)).counter).toBeLessThan((await w.savedState(newer.status!.runtimeImage!)).counter);
    await w.createRestore('db-back', { podReference: { name: 'db-0' }, checkpointRef: { name: older.metadata.name! } });
    const { request, phases } = await w.restoreFinished('db-back');
    expect(request.status?.phase, request.status?.message).toBe('Completed');
    expect(phases).toContain('Restoring');
    expect(request.status?.checkpoint?.name).toBe(older.metadata.name);
    expect(request.status?.newPod?.name).toBe('db-0');
    const replacement = await w.runningPod('db-0', pod.metadata!.uid);
    expect(restoredFromOf(replacement)).toBe(older.metadata.name);
    await w.expectContinuedFrom(replacement, older.status!.runtimeImage!);
    // The pin is gone once the request is done: later restores take the newest checkpoint again.
    await eventually('the pin to go', async () => ((await w.checkpoint(older.metadata.name!))?.metadata.annotations?.[ANNOTATIONS.pinned] === undefined ? true : undefined), 30_000);
  }, 300_000);

  it('migration with targetNode and checkpointFirst: restored on the target node from a checkpoint taken after the request; status tells each step', async () => {
    // A pod that was itself restored once: it runs a checkpoint image, its checkpoints must still restore.
    const { pod: first } = await podWithCheckpoints('mover', 1);
    await w.admin.core.deleteNamespacedPod({ name: 'mover-0', namespace: w.ns });
    const pod = await w.runningPod('mover-0', first.metadata!.uid);
    expect(restoredFromOf(pod)).toBeDefined();
    const target = otherNode(pod);
    await new Promise((r) => setTimeout(r, 2000));
    const asked = Date.now();
    await w.createRestore('mover-migrate', { podReference: { name: 'mover-0' }, targetNode: target, checkpointFirst: true });
    const { request, phases, messages } = await w.restoreFinished('mover-migrate');
    expect(request.status?.phase, request.status?.message).toBe('Completed');
    expect(phases.filter((p) => p !== '(none)')).toEqual(['Checkpointing', 'Restoring', 'Completed']);
    expect(messages.some((m) => m.startsWith('checkpointing app of pod mover-0'))).toBe(true);
    expect(request.status?.message).toContain(`runs on node ${target}`);
    const cp = (await w.checkpoint(request.status!.checkpoint!.name))!;
    expect(Date.parse(cp.spec.checkpointTimestamp!)).toBeGreaterThanOrEqual(Math.floor(asked / 1000) * 1000);
    // The software, not the checkpoint image it ran from.
    expect(cp.spec.originalImage).toBe(IMAGE);
    expect(cp.spec.nodeName).toBe(pod.spec!.nodeName);
    const moved = await w.runningPod('mover-0', pod.metadata!.uid);
    expect(moved.spec!.nodeName).toBe(target);
    expect(restoredFromOf(moved)).toBe(cp.metadata.name);
    const saved = await w.expectContinuedFrom(moved, cp.status!.runtimeImage!);
    expect(saved.counter).toBeGreaterThanOrEqual(2);
  }, 300_000);

  it('a bare pod: kcr keeps its manifest in kcr-system (the status only names it), recreates it restored with its ServiceAccount, then drops the manifest', async () => {
    const template = podTemplate('solo', OPTED_IN);
    await w.admin.core.createNamespacedPod({ namespace: w.ns, body: { metadata: { name: 'solo', ...template.metadata }, spec: template.spec } });
    const pod = await w.runningPod('solo');
    const cp = await w.checkpointNow('solo-now', 'solo');
    const created = await w.createRestore('solo-back', { podReference: { name: 'solo' } });
    const kept = `kcr-restore-${created.metadata.uid}`;
    const { request } = await w.restoreFinished('solo-back');
    expect(request.status?.phase, request.status?.message).toBe('Completed');
    expect(request.status?.keptManifest).toBe(kept);
    expect(request.status).not.toHaveProperty('podManifest');
    const again = await w.runningPod('solo', pod.metadata!.uid);
    expect(restoredFromOf(again)).toBe(cp.metadata.name);
    expect(again.spec?.serviceAccountName).toBe(pod.spec?.serviceAccountName);
    await w.expectContinuedFrom(again, cp.status!.runtimeImage!);
    await eventually('the kept manifest to be deleted', () => w.admin.core.readNamespacedConfigMap({ name: kept, namespace: KCR_NAMESPACE }).then(() => undefined, (err: unknown) => (apiCode(err) === 404 ? true : undefined)), 30_000);
  }, 300_000);

  it('after a rollout (an OnDelete StatefulSet whose template moved to another image) the request fails naming image-changed, before it touches the pod', async () => {
    const { pod, cps } = await podWithCheckpoints('rolled', 1);
    await w.admin.apps.patchNamespacedStatefulSet({
      name: 'rolled',
      namespace: w.ns,
      body: [
        { op: 'replace', path: '/spec/updateStrategy', value: { type: 'OnDelete' } },
        { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'busybox:1.36' },
      ],
    });
    // The controller's informer sees the new template first.
    await new Promise((r) => setTimeout(r, 2000));
    await w.createRestore('rolled-back', { podReference: { name: 'rolled-0' } });
    const { request, phases } = await w.restoreFinished('rolled-back', 60_000);
    expect(request.status?.phase).toBe('Failed');
    expect(phases).not.toContain('Restoring');
    expect(request.status?.message).toMatch(new RegExp(`Checkpoint ${cps[0]!.metadata.name} does not fit the replacement of pod ${w.ns}/rolled-0 \\(image-changed\\): container app will run busybox:1\\.36, but the checkpoint was taken of ${IMAGE.replace('.', '\\.')}`));
    expect((await w.eventsFor('RestoreRequest', 'rolled-back')).some((e) => e.type === 'Warning' && e.reason === 'RestoreFailed')).toBe(true);
    // Untouched: the same pod runs, nothing was pinned.
    const still = await w.pod('rolled-0');
    expect(still?.metadata?.uid).toBe(pod.metadata?.uid);
    expect(still !== undefined && runningReady(still)).toBe(true);
    expect((await w.checkpoint(cps[0]!.metadata.name!))?.metadata.annotations?.[ANNOTATIONS.pinned]).toBeUndefined();
  }, 300_000);

  it('bad input fails with a message naming the problem, or is refused by the API server', async () => {
    const { cps } = await podWithCheckpoints('bad', 1);
    // A checkpoint of another namespace: the pipeline file's or any other; one that only exists elsewhere.
    const cases: Array<[string, RestoreRequest['spec'], RegExp]> = [
      ['missing-pod', { podReference: { name: 'nobody-0' } }, /pod .*\/nobody-0 does not exist/],
      ['other-ns-checkpoint', { podReference: { name: 'bad-0' }, checkpointRef: { name: 'only-in-another-namespace' } }, /Checkpoint only-in-another-namespace does not exist in namespace/],
      ['missing-node', { podReference: { name: 'bad-0' }, targetNode: 'no-such-node' }, /spec\.targetNode: node no-such-node does not exist/],
    ];
    for (const [name, spec] of cases) await w.createRestore(name, spec);
    for (const [name, , message] of cases) {
      const { request } = await w.restoreFinished(name, 60_000);
      expect(request.status?.phase).toBe('Failed');
      expect(request.status?.message).toMatch(message);
      expect((await w.eventsFor('RestoreRequest', name)).some((e) => e.type === 'Warning' && e.reason === 'RestoreFailed')).toBe(true);
    }
    // The pod the failed requests named was never touched.
    const still = await w.pod('bad-0');
    expect(runningReady(still)).toBe(true);
    // Another namespace's pod: refused at admission by kcr's ValidatingAdmissionPolicy.
    const cross = await expectApiError(() => w.createRestore('cross', { podReference: { name: 'bad-0', namespace: 'default' } }));
    expect(cross.message).toContain('spec.podReference.namespace');
    // A changed spec: refused by the CRD's immutability rule.
    const changed = await expectApiError(() =>
      w.admin.custom.patchNamespacedCustomObject({
        ...w.custom(PLURALS.RestoreRequest),
        name: 'missing-node',
        body: [{ op: 'replace', path: '/spec/targetNode', value: 'elsewhere' }],
      }),
    );
    expect(changed.message).toMatch(/immutable/);
    expect(cps).toHaveLength(1);
  }, 300_000);
});

describe('failed restores (DESIGN rule 7)', () => {
  it('a checkpoint whose restore fails is marked bad with a reason and an Event; the next replacement takes the next older one; with none left it starts fresh; no loop', async () => {
    const { pod, cps } = await podWithCheckpoints('flaky', 2);
    const [older, newer] = cps as [typeof cps[0], typeof cps[0]];
    const digest = (image: string) => image.slice(image.indexOf('@') + 1);
    await failRestoresOf([digest(newer.status!.runtimeImage!)]);

    await w.admin.core.deleteNamespacedPod({ name: 'flaky-0', namespace: w.ns });
    const bad = await eventually('the newer checkpoint marked bad', async () => {
      const c = await w.checkpoint(newer.metadata.name!);
      return c?.status?.bad === true ? c : undefined;
    }, 120_000, 250);
    expect(bad.status?.badReason).toMatch(/criu/i);
    expect((await w.eventsFor('Checkpoint', newer.metadata.name!)).some((e) => e.type === 'Warning' && e.reason === 'RestoreFailed')).toBe(true);

    const second = await eventually('a replacement restored from the older checkpoint', async () => {
      const p = await w.pod('flaky-0');
      return runningReady(p, pod.metadata!.uid) && restoredFromOf(p) === older.metadata.name ? p : undefined;
    }, 120_000, 250);
    await w.expectContinuedFrom(second, older.status!.runtimeImage!);

    // The older one fails too: the next replacement starts fresh, and stays.
    await failRestoresOf([digest(newer.status!.runtimeImage!), digest(older.status!.runtimeImage!)]);
    await w.admin.core.deleteNamespacedPod({ name: 'flaky-0', namespace: w.ns });
    await eventually('the older checkpoint marked bad', async () => ((await w.checkpoint(older.metadata.name!))?.status?.bad === true ? true : undefined), 120_000, 250);
    const fresh = await eventually('a fresh replacement', async () => {
      const p = await w.pod('flaky-0');
      return runningReady(p, second.metadata!.uid) && restoredFromOf(p) === undefined ? p : undefined;
    }, 120_000, 250);
    expect(fresh.spec!.containers[0]!.image).toBe(IMAGE);
    expect((await w.appState(fresh)).restoredFrom).toBeUndefined();
    // No loop: the fresh pod stays, nothing is restored or deleted any more.
    await new Promise((r) => setTimeout(r, 6000));
    const later = await w.pod('flaky-0');
    expect(later?.metadata?.uid).toBe(fresh.metadata!.uid);
    expect(later?.status?.containerStatuses?.[0]?.restartCount).toBe(0);
  }, 400_000);
});

describe('the base image on the node first (DESIGN rule 5)', () => {
  it('a replacement on a node that never had the base image restores there: its image volume pulled the base first', async () => {
    const { pod, cps } = await podWithCheckpoints('nobase', 1);
    const cp = cps[0]!;
    const source = pod.spec!.nodeName!;
    const target = otherNode(pod);
    // CRI-O restores only with the base image on the node and never pulls it itself.
    await w.nodeControl(target).removeImage(IMAGE);
    await w.schedulable(source, false);
    try {
      await w.admin.core.deleteNamespacedPod({ name: 'nobase-0', namespace: w.ns });
      const restored = await eventually('the replacement restored on the other node', async () => {
        const p = await w.pod('nobase-0');
        return runningReady(p, pod.metadata!.uid) && p.spec?.nodeName === target ? p : undefined;
      }, 120_000, 250);
      expect(restoredFromOf(restored)).toBe(cp.metadata.name);
      expect(restored.spec!.volumes?.find((v) => v.name === 'kcr-base-0')?.image?.reference).toBe(IMAGE);
      await w.expectContinuedFrom(restored, cp.status!.runtimeImage!);
      expect((await w.checkpoint(cp.metadata.name!))?.status?.bad).not.toBe(true);
    } finally {
      await w.schedulable(source, true);
    }
  }, 300_000);
});

describe('in-place restore after a crash (DESIGN rule 8)', () => {
  it('a container that exits with an error in a pod that stays comes back with its checkpointed state', async () => {
    // In place, the running pod pulls the checkpoint image with its own pull secrets.
    const { pod, cps } = await podWithCheckpoints('crashy', 1, PULL_SECRET_NAME);
    const cp = cps[0]!;
    await crash('crashy-0', 'now');
    const restored = await eventually('the container restored in place', async () => {
      const p = await w.pod('crashy-0');
      return p && p.spec!.containers[0]!.image === cp.status!.runtimeImage && runningReady(p) && (await w.appState(p)).restoredFrom === cp.status!.runtimeImage ? p : undefined;
    }, 120_000, 250);
    expect(restored.metadata!.uid).toBe(pod.metadata!.uid);
    expect(restoredFromOf(restored)).toBe(cp.metadata.name);
    await w.expectContinuedFrom(restored, cp.status!.runtimeImage!);
    expect((await w.eventsFor('Pod', 'crashy-0')).some((e) => e.reason === 'RestoredInPlace')).toBe(true);
  }, 300_000);

  it('a crash loop is restored at most the bound, then left to the kubelet', async () => {
    await podWithCheckpoints('loopy', 1, PULL_SECRET_NAME);
    await crash('loopy-0', 'loop');
    await eventually('the crash loop to be left to the kubelet', async () => ((await w.eventsFor('Pod', 'loopy-0')).some((e) => e.reason === 'CrashLoopNotRestored') ? true : undefined), 180_000, 500);
    const restores = async () => (await w.eventsFor('Pod', 'loopy-0')).filter((e) => e.reason === 'RestoredInPlace').length;
    const n = await restores();
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(3);
    await new Promise((r) => setTimeout(r, 8000));
    expect(await restores()).toBe(n);
    const p = (await w.pod('loopy-0'))!;
    // Off the checkpoint image: the kubelet's restarts start it fresh, not from the checkpoint again
    // (the restart count is no witness: CRI-O restores the checkpointed container's count with it).
    expect(p.spec!.containers[0]!.image).toBe(IMAGE);
    expect(restoredFromOf(p)).toBeUndefined();
    await eventually('a fresh run of the crash-looping container', async () => {
      const s = await appState(w.admin.core, w.ns, 'loopy-0').catch(() => undefined);
      return s !== undefined && s.restoredFrom === undefined ? s : undefined;
    }, 60_000, 500);
  }, 300_000);
});
