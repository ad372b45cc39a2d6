// A node that cannot restore never burns a checkpoint (DESIGN rule 7, by cause), end to end on a
// mixed pool: a cri-o-1.34 node (restores) and a cri-o-1.29 node (restore off, as that version's
// default is). kcr does not steer restores away from incapable nodes yet; a replacement that
// lands on one is seen through, never left stuck, and the checkpoint stays good for a node that
// can restore it.
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANNOTATIONS } from '../../src/api/types.ts';
import { RESTORE_FAILED_ANNOTATION } from '../../src/rules/node-restore-fault.ts';
import { CAPABILITY_LABELS, CAPABILITY_REASON_ANNOTATION } from '../../src/rules/restore-capability.ts';
import { clientsFor, eventually, expectApiError } from './cluster-clients.ts';
import { openE2eWorld } from './e2e-stack.ts';
import { IMAGE, restoredFromOf, runningReady, type E2eWorld } from './e2e-world.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
let w: E2eWorld;
let e2e: Awaited<ReturnType<typeof openE2eWorld>> | undefined;

async function schedulable(node: string, on: boolean): Promise<void> {
  await w.admin.core.patchNode({ name: node, body: { spec: { unschedulable: !on } } }, mergePatch);
}

beforeAll(async () => {
  e2e = await openE2eWorld('faults', { nodeProfiles: ['cri-o-1.34', 'cri-o-1.29'] });
  w = e2e.world;
}, 600_000);

afterAll(async () => {
  for (const n of w?.stack.nodes ?? []) await schedulable(n.name, true).catch(() => undefined);
  await e2e?.close();
});

describe('which nodes can restore what', () => {
  it('each agent publishes its node’s runtime and restore capability, with the reason', async () => {
    const [capable, incapable] = w.stack.nodes.map((n) => n.name) as [string, string];
    const meta = async (n: string) => (await w.admin.core.readNode({ name: n })).metadata!;
    const one = await eventually(`${capable} labelled`, async () => ((await meta(capable)).labels?.[CAPABILITY_LABELS.capable] !== undefined ? meta(capable) : undefined));
    expect(one.labels).toMatchObject({ [CAPABILITY_LABELS.runtime]: 'cri-o', [CAPABILITY_LABELS.capable]: 'true' });
    expect(one.annotations?.[CAPABILITY_REASON_ANNOTATION]).toBe('CRI-O 1.34.0: enable_criu_support is on by default since 1.30');
    const two = await eventually(`${incapable} labelled`, async () => ((await meta(incapable)).labels?.[CAPABILITY_LABELS.capable] !== undefined ? meta(incapable) : undefined));
    expect(two.labels).toMatchObject({ [CAPABILITY_LABELS.runtime]: 'cri-o', [CAPABILITY_LABELS.capable]: 'false' });
    expect(two.annotations?.[CAPABILITY_REASON_ANNOTATION]).toMatch(/off by default before 1\.30; set it to true under \[crio\.runtime\]/);
  });

  it('an agent may change its own node’s restore labels only (ValidatingAdmissionPolicy on the node name its token carries)', async () => {
    const [own, other] = w.stack.nodes.map((n) => n.name) as [string, string];
    const agent = clientsFor(join(w.stack.kcrDir, 'stack', 'agent', `kubeconfig-${own}`));
    const patch = (node: string, metadata: object) => agent.core.patchNode({ name: node, body: { metadata } }, mergePatch);
    const otherNode = await expectApiError(() => patch(other, { labels: { [CAPABILITY_LABELS.capable]: 'true' } }));
    expect(otherNode.code).toBe(403);
    expect(otherNode.message).toContain(`kcr agent may change only the Node it runs on (${own})`);
    const otherLabel = await expectApiError(() => patch(own, { labels: { 'node-role.kubernetes.io/control-plane': '' } }));
    expect(otherLabel.message).toContain('may change only the restore.kcr.io/runtime and restore.kcr.io/capable labels');
    const override = await expectApiError(() => patch(own, { labels: { [CAPABILITY_LABELS.override]: 'true' } }));
    expect(override.message).toContain('may change only the restore.kcr.io/runtime and restore.kcr.io/capable labels');
    const annotation = await expectApiError(() => patch(own, { annotations: { 'example.com/x': 'y' } }));
    expect(annotation.message).toContain('may change only the restore.kcr.io/capable-reason annotation');
    // Its own keys it may write (as it does every few minutes).
    await patch(own, { annotations: { [CAPABILITY_REASON_ANNOTATION]: 'CRI-O 1.34.0: enable_criu_support is on by default since 1.30' } });
  });
});

describe('a replacement on a node whose runtime cannot restore', () => {
  it('starts fresh with an Event naming the node’s fault; the checkpoint stays good and a later replacement on a capable node restores from it', async () => {
    const [capable, incapable] = w.stack.nodes.map((n) => n.name) as [string, string];
    await schedulable(incapable, false);
    await w.createStatefulSet('db', { podAnnotations: { [ANNOTATIONS.restore]: 'true' } });
    const first = await w.runningPod('db-0');
    expect(first.spec?.nodeName).toBe(capable);
    const cp = await w.checkpointNow('db-now', 'db-0');

    // Only the node with restore off takes pods now.
    await schedulable(incapable, true);
    await schedulable(capable, false);
    await w.admin.core.deleteNamespacedPod({ name: 'db-0', namespace: w.ns });
    const fresh = await eventually('a fresh replacement on the node that cannot restore', async () => {
      const p = await w.pod('db-0');
      return runningReady(p, first.metadata!.uid) && p.spec?.nodeName === incapable && p.spec.containers[0]!.image === IMAGE ? p : undefined;
    }, 180_000, 250);
    expect((await w.appState(fresh)).restoredFrom).toBeUndefined();
    // The node is remembered as unable to restore; the failed pod was replaced (deleted) or its
    // container started fresh in place (a replacement restored there again despite the mark).
    const events = (await w.eventsFor('Pod', 'db-0')).filter((e) => e.reason === 'RestoreNotPossibleOnNode');
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) {
      expect(e.message).toMatch(/does not restore from checkpoint images/);
      expect(e.message).toMatch(new RegExp(`stays good; (the container starts fresh on node ${incapable}|node ${incapable} is marked unable to restore)`));
    }
    expect((await w.eventsFor('Checkpoint', cp.metadata.name!)).some((e) => e.reason === 'RestoreNotPossibleOnNode')).toBe(true);
    const mark = (await w.admin.core.readNode({ name: incapable })).metadata?.annotations?.[RESTORE_FAILED_ANNOTATION];
    expect(JSON.parse(mark ?? '{}')).toMatchObject({ pod: `${w.ns}/db-0`, checkpoint: cp.metadata.name });
    const still = await w.checkpoint(cp.metadata.name!);
    expect(still?.status?.bad).not.toBe(true);
    // Never stuck: the fresh pod stays.
    await new Promise((r) => setTimeout(r, 5000));
    expect((await w.pod('db-0'))?.metadata?.uid).toBe(fresh.metadata!.uid);

    // Back on the capable node, the next replacement restores from the same checkpoint.
    await schedulable(capable, true);
    await schedulable(incapable, false);
    await w.admin.core.deleteNamespacedPod({ name: 'db-0', namespace: w.ns });
    const restored = await eventually('a restored replacement on the capable node', async () => {
      const p = await w.pod('db-0');
      return runningReady(p, fresh.metadata!.uid) && p.spec?.nodeName === capable ? p : undefined;
    }, 180_000, 250);
    expect(restoredFromOf(restored)).toBe(cp.metadata.name);
    await w.expectContinuedFrom(restored, cp.status!.runtimeImage!);

    // A migration to the node that cannot restore fails before the pod is touched.
    await schedulable(incapable, true);
    await w.createRestore('to-incapable', { podReference: { name: 'db-0' }, targetNode: incapable });
    const { request } = await w.restoreFinished('to-incapable');
    expect(request.status?.phase).toBe('Failed');
    expect(request.status?.message).toContain(`spec.targetNode: node ${incapable} cannot restore checkpoints (restore.kcr.io/capable=false)`);
    expect((await w.pod('db-0'))?.metadata?.uid).toBe(restored.metadata!.uid);
  }, 600_000);
});
