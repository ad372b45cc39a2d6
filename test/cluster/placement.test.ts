// Restores on a mixed pool, end to end (DESIGN rules 3, 5 and 7): two cri-o-1.34 nodes and a
// containerd-2.4 node (containerd removed restore from an image in 2.4), two webhook replicas
// behind one URL, and a pull bound of 15 s. A replacement lands only on a node that can restore
// its checkpoint, with the base image pulled there first; replacements created at once get one
// checkpoint each, whichever replica admits them; a checkpoint image that cannot be pulled ends
// in a fresh start after the bound, the checkpoint still good; a restored container that crashes
// is restored again by the runtime within the in-place bound, then started fresh.
import { PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANNOTATIONS, type Checkpoint } from '../../src/api/types.ts';
import { CAPABILITY_LABELS } from '../../src/rules/restore-capability.ts';
import { eventually } from './cluster-clients.ts';
import { openE2eWorld } from './e2e-stack.ts';
import { IMAGE, podTemplate, restoredFromOf, runningReady, type E2eWorld } from './e2e-world.ts';
import { webhookAdmissions } from './kcr-stack.ts';
import { PULL_SECRET_NAME } from '../../src/registry-access/pull-secret-plan.ts';
import { appState } from './nodes/app-log.ts';

const OPTED_IN = { [ANNOTATIONS.restore]: 'true' };
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
let w: E2eWorld;
let e2e: Awaited<ReturnType<typeof openE2eWorld>> | undefined;
let crio: [string, string];
let containerd: string;


/** Only these nodes take new pods. */
async function onlySchedulable(...nodes: string[]): Promise<void> {
  for (const n of w.stack.nodes) await w.schedulable(n.name, nodes.includes(n.name));
}


beforeAll(async () => {
  e2e = await openE2eWorld('place', {
    nodeProfiles: ['cri-o-1.34', 'cri-o-1.34', 'containerd-2.4'],
    webhookReplicas: 2,
    controllerEnv: { KCR_RESTORE_PULL_TIMEOUT_SECONDS: '15' },
  });
  w = e2e.world;
  crio = [w.stack.nodes[0]!.name, w.stack.nodes[1]!.name];
  containerd = w.stack.nodes[2]!.name;
  for (const n of w.stack.nodes) await eventually(`${n.name} labelled by its agent`, async () => ((await w.capableLabel(n.name)) !== undefined ? true : undefined));
}, 600_000);

afterAll(async () => {
  for (const n of w?.stack.nodes ?? []) await w.schedulable(n.name, true).catch(() => undefined);
  await e2e?.close();
});

describe('which node takes a restore', () => {
  it('the containerd-2.4 node is labelled unable to restore; a replacement of a cordoned CRI-O node’s pod lands on the other CRI-O node, base image pulled first, counter continued', async () => {
    expect(await w.capableLabel(containerd)).toBe('false');
    expect(await w.capableLabel(crio[0])).toBe('true');
    await onlySchedulable(crio[0]);
    await w.createStatefulSet('db', { podAnnotations: OPTED_IN });
    const first = await w.runningPod('db-0');
    expect(first.spec?.nodeName).toBe(crio[0]);
    const cp = await w.checkpointNow('db-now', 'db-0');
    expect(cp.spec.runtime?.name).toBe('cri-o');

    // The other CRI-O node has no base image (CRI-O restores only with it there, and never pulls it).
    const hasBase = async () => (await w.nodeControl(crio[1]).images()).some((i) => (i.repoTags ?? []).some((t) => t === IMAGE || t.endsWith(`/${IMAGE}`)));
    if (await hasBase()) await w.nodeControl(crio[1]).removeImage(IMAGE);
    expect(await hasBase()).toBe(false);
    // The source node cordoned; the containerd node and the other CRI-O node take pods.
    await onlySchedulable(crio[1], containerd);
    await w.admin.core.deleteNamespacedPod({ name: 'db-0', namespace: w.ns });
    const restored = await w.runningPod('db-0', first.metadata!.uid, 180_000);
    expect(restored.spec?.nodeName).toBe(crio[1]);
    expect(restoredFromOf(restored)).toBe(cp.metadata.name);
    const terms = restored.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
    expect(terms.length).toBeGreaterThan(0);
    for (const t of terms) {
      expect(t.matchExpressions).toEqual(expect.arrayContaining([
        { key: CAPABILITY_LABELS.capable, operator: 'In', values: ['true'] },
        { key: CAPABILITY_LABELS.runtime, operator: 'In', values: ['cri-o'] },
      ]));
    }
    expect(restored.spec?.volumes?.find((v) => v.name === 'kcr-base-0')?.image?.reference).toBe(IMAGE);
    expect(await hasBase()).toBe(true);
    await w.expectContinuedFrom(restored, cp.status!.runtimeImage!);
    await w.admin.apps.deleteNamespacedStatefulSet({ name: 'db', namespace: w.ns });
  }, 400_000);
});

describe('one checkpoint per replacement (two webhook replicas)', () => {
  it('a Deployment of 3 with a checkpoint per replica, all 3 pods deleted at once: 3 distinct kcr.io/restored-from, each continuing its own', async () => {
    await onlySchedulable(...crio);
    await w.admin.apps.createNamespacedDeployment({
      namespace: w.ns,
      body: { metadata: { name: 'web' }, spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: podTemplate('web', OPTED_IN) } },
    });
    const pods = await eventually('3 web pods running', async () => {
      const running = await w.runningPodsOf('web');
      return running.length === 3 ? running : undefined;
    }, 180_000, 500);
    const cps: Checkpoint[] = [];
    for (const [i, p] of pods.entries()) cps.push(await w.checkpointNow(`web-now-${i}`, p.metadata!.name!));
    const byImage = new Map(cps.map((c) => [c.status!.runtimeImage!, c.metadata.name!]));

    await w.admin.core.deleteCollectionNamespacedPod({ namespace: w.ns, labelSelector: 'app=web' });
    const old = new Set(pods.map((p) => p.metadata!.uid));
    const replacements = await eventually('3 replacements running', async () => {
      const running = (await w.runningPodsOf('web')).filter((p) => !old.has(p.metadata!.uid));
      return running.length === 3 ? running : undefined;
    }, 240_000, 500);
    const from = replacements.map((p) => restoredFromOf(p));
    expect(new Set(from).size).toBe(3);
    expect(from.every((n) => n !== undefined && cps.some((c) => c.metadata.name === n))).toBe(true);
    for (const p of replacements) {
      const state = await w.appState(p);
      expect(byImage.get(state.restoredFrom ?? '')).toBe(restoredFromOf(p));
      await w.expectContinuedFrom(p, state.restoredFrom!);
    }
    // Both replicas answered admissions (the balancer spreads connections).
    const answered = await webhookAdmissions(w.stack.webhook.replicaUrls);
    expect(answered).toHaveLength(2);
    for (const n of answered) expect(n).toBeGreaterThan(0);
    await w.admin.apps.deleteNamespacedDeployment({ name: 'web', namespace: w.ns });
  }, 600_000);
});

describe('a checkpoint image that cannot be pulled', () => {
  it('the restored pod starts fresh after the pull bound; the checkpoint stays good', async () => {
    await onlySchedulable(crio[0]);
    await w.createStatefulSet('pull', { podAnnotations: OPTED_IN });
    const first = await w.runningPod('pull-0');
    const cp = await w.checkpointNow('pull-now', 'pull-0');
    // The namespace's pull credential (kcr-pull) goes wrong: the kubelet's pull of the checkpoint image is denied.
    const secret = await w.admin.core.readNamespacedSecret({ name: PULL_SECRET_NAME, namespace: w.ns });
    const original = secret.data!['.dockerconfigjson']!;
    const config = JSON.parse(Buffer.from(secret.data!['.dockerconfigjson']!, 'base64').toString('utf8')) as { auths: Record<string, { auth: string }> };
    for (const a of Object.values(config.auths)) a.auth = Buffer.from('kcr:wrong-password').toString('base64');
    await w.admin.core.patchNamespacedSecret({ name: PULL_SECRET_NAME, namespace: w.ns, body: { data: { '.dockerconfigjson': Buffer.from(JSON.stringify(config)).toString('base64') } } }, mergePatch);

    try {
      await deniedPullStartsFresh(first, cp);
    } finally {
      await w.admin.core.patchNamespacedSecret({ name: PULL_SECRET_NAME, namespace: w.ns, body: { data: { '.dockerconfigjson': original } } }, mergePatch);
    }
  }, 400_000);
});

async function deniedPullStartsFresh(first: V1Pod, cp: Checkpoint): Promise<void> {
  {
    await w.admin.core.deleteNamespacedPod({ name: 'pull-0', namespace: w.ns });
    const denied = await eventually('the replacement waiting on its denied checkpoint pull', async () => {
      const p = await w.pod('pull-0');
      const waiting = p?.status?.containerStatuses?.[0]?.state?.waiting?.reason;
      return p?.metadata?.uid !== first.metadata!.uid && (waiting === 'ErrImagePull' || waiting === 'ImagePullBackOff') ? p : undefined;
    }, 120_000, 250);
    expect(denied?.spec?.containers[0]!.image).toBe(cp.status!.runtimeImage);
    const fresh = await eventually('the pod started fresh after the bound', async () => {
      const p = await w.pod('pull-0');
      return runningReady(p) && p.metadata!.uid === denied!.metadata!.uid && p.spec!.containers[0]!.image === IMAGE ? p : undefined;
    }, 120_000, 500);
    expect((await w.appState(fresh)).restoredFrom).toBeUndefined();
    const events = (await w.eventsFor('Pod', 'pull-0')).filter((e) => e.reason === 'RestoreImagePullFailed');
    expect(events[0]?.message).toMatch(new RegExp(`checkpoint ${cp.metadata.name} stays good; the container starts fresh`));
    const still = await w.checkpoint(cp.metadata.name!);
    expect(still?.status?.bad).not.toBe(true);
    expect(await w.registryHas(cp.status!.runtimeImage!)).toBe(true);
  }
}

describe('a restored container that crashes', () => {
  it('is restored again by the runtime within the in-place bound, then started fresh', async () => {
    await onlySchedulable(crio[0]);
    await w.createStatefulSet('loop', { podAnnotations: OPTED_IN });
    const first = await w.runningPod('loop-0');
    const cp = await w.checkpointNow('loop-now', 'loop-0');
    await w.admin.core.deleteNamespacedPod({ name: 'loop-0', namespace: w.ns });
    const restored: V1Pod = await w.runningPod('loop-0', first.metadata!.uid, 180_000);
    expect(restoredFromOf(restored)).toBe(cp.metadata.name);
    await w.nodeControl(restored).crash({ namespace: w.ns, pod: 'loop-0', container: 'app' }, 'loop');
    await eventually('the crash loop to be left to the kubelet', async () => ((await w.eventsFor('Pod', 'loop-0')).some((e) => e.reason === 'CrashLoopNotRestored') ? true : undefined), 180_000, 500);
    const counted = (await w.eventsFor('Pod', 'loop-0')).filter((e) => e.reason === 'RestoredInPlace');
    expect(counted.length).toBeGreaterThanOrEqual(1);
    expect(counted.length).toBeLessThanOrEqual(3);
    // Each restart of the restored container was a restore by the runtime, counted, not a new image.
    for (const e of counted) expect(e.message).toMatch(/the kubelet restarted it from checkpoint/);
    const p = (await w.pod('loop-0'))!;
    expect(p.metadata!.uid).toBe(restored.metadata!.uid);
    expect(p.spec!.containers[0]!.image).toBe(IMAGE);
    await eventually('a fresh run of the crash-looping container', async () => {
      const s = await appState(w.admin.core, w.ns, 'loop-0').catch(() => undefined);
      return s !== undefined && s.restoredFrom === undefined ? s : undefined;
    }, 60_000, 500);
    expect((await w.checkpoint(cp.metadata.name!))?.status?.bad).not.toBe(true);
  }, 400_000);
});
