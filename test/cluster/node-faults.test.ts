// A node that cannot restore never takes a restore and never burns a checkpoint (DESIGN rules 5
// and 7), end to end on a mixed pool: a cri-o-1.34 node (restores) and a cri-o-1.29 node (restore
// off, as that version's default is). The webhook places restores only on capable nodes; with
// none schedulable the pod starts fresh. An administrator forcing the incapable node capable
// (restore.kcr.io/capable-override=true) gets a restore placed there that fails: it ends fresh,
// never stuck, the node is remembered as unable, and the checkpoint stays good.
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


beforeAll(async () => {
  e2e = await openE2eWorld('faults', { nodeProfiles: ['cri-o-1.34', 'cri-o-1.29'] });
  w = e2e.world;
}, 600_000);

afterAll(async () => {
  for (const n of w?.stack.nodes ?? []) await w.schedulable(n.name, true).catch(() => undefined);
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

describe('placement on a pool with a node that cannot restore', () => {
  const overrideLabel = (node: string, value: string | null) =>
    w.admin.core.patchNode({ name: node, body: { metadata: { labels: { [CAPABILITY_LABELS.override]: value } } } }, mergePatch);

  it('never places a restore on the node that cannot restore; forced there, it ends fresh with the checkpoint good, then restores on a capable node', async () => {
    const [capable, incapable] = w.stack.nodes.map((n) => n.name) as [string, string];
    await eventually(`${incapable} labelled not capable`, async () => ((await w.capableLabel(incapable)) === 'false' ? true : undefined));
    await w.schedulable(incapable, false);
    await w.createStatefulSet('db', { podAnnotations: { [ANNOTATIONS.restore]: 'true' } });
    const first = await w.runningPod('db-0');
    expect(first.spec?.nodeName).toBe(capable);
    const cp = await w.checkpointNow('db-now', 'db-0');

    // Only the node with restore off takes pods now: the webhook does not restore (no-capable-node).
    await w.schedulable(incapable, true);
    await w.schedulable(capable, false);
    await w.admin.core.deleteNamespacedPod({ name: 'db-0', namespace: w.ns });
    const fresh = await w.runningPod('db-0', first.metadata!.uid, 180_000);
    expect(fresh.spec?.nodeName).toBe(incapable);
    expect(fresh.spec?.containers[0]!.image).toBe(IMAGE);
    expect(fresh.metadata?.annotations?.[ANNOTATIONS.restoredFrom]).toBeUndefined();
    expect((await w.appState(fresh)).restoredFrom).toBeUndefined();
    expect((await w.eventsFor('Pod', 'db-0')).some((e) => e.reason === 'RestoreNotPossibleOnNode')).toBe(false);

    // An administrator forces it capable: its agent publishes capable=true, so a restore is placed there.
    await overrideLabel(incapable, 'true');
    await eventually(`${incapable} published capable by the override`, async () => ((await w.capableLabel(incapable)) === 'true' ? true : undefined), 60_000);
    await w.admin.core.deleteNamespacedPod({ name: 'db-0', namespace: w.ns });
    const forced = await eventually('the forced restore to end fresh on the incapable node', async () => {
      const p = await w.pod('db-0');
      return runningReady(p, fresh.metadata!.uid) && p.spec?.nodeName === incapable && p.spec.containers[0]!.image === IMAGE ? p : undefined;
    }, 180_000, 250);
    expect((await w.appState(forced)).restoredFrom).toBeUndefined();
    const events = (await w.eventsFor('Pod', 'db-0')).filter((e) => e.reason === 'RestoreNotPossibleOnNode');
    expect(events.length).toBeGreaterThan(0);
    // The override keeps the node capable, so the pod is not replaced (it would land there again): fresh in place.
    expect(events[0]!.message).toMatch(new RegExp(`does not restore from checkpoint images.*stays good; the container starts fresh on node ${incapable} \\(not replaced`));
    expect((await w.eventsFor('Checkpoint', cp.metadata.name!)).some((e) => e.reason === 'RestoreNotPossibleOnNode')).toBe(true);
    const mark = (await w.admin.core.readNode({ name: incapable })).metadata?.annotations?.[RESTORE_FAILED_ANNOTATION];
    expect(JSON.parse(mark ?? '{}')).toMatchObject({ pod: `${w.ns}/db-0`, checkpoint: cp.metadata.name });
    expect((await w.checkpoint(cp.metadata.name!))?.status?.bad).not.toBe(true);
    // Never stuck: the fresh pod stays.
    await new Promise((r) => setTimeout(r, 5000));
    expect((await w.pod('db-0'))?.metadata?.uid).toBe(forced.metadata!.uid);

    // The override goes: the remembered failure keeps the node not capable, with that reason.
    await overrideLabel(incapable, null);
    await eventually(`${incapable} not capable again`, async () => ((await w.capableLabel(incapable)) === 'false' ? true : undefined), 60_000);
    const reason = (await w.admin.core.readNode({ name: incapable })).metadata?.annotations?.[CAPABILITY_REASON_ANNOTATION];
    expect(reason).toMatch(/a restore failed on this node at .*; remove the annotation restore\.kcr\.io\/restore-failed once fixed/);

    // With the capable node back, the next replacement restores from the same checkpoint there,
    // although the incapable node is schedulable too.
    await w.schedulable(capable, true);
    await w.admin.core.deleteNamespacedPod({ name: 'db-0', namespace: w.ns });
    const restored = await w.runningPod('db-0', forced.metadata!.uid, 180_000);
    expect(restored.spec?.nodeName).toBe(capable);
    expect(restoredFromOf(restored)).toBe(cp.metadata.name);
    await w.expectContinuedFrom(restored, cp.status!.runtimeImage!);

    // A migration to the node that cannot restore fails before the pod is touched.
    await w.createRestore('to-incapable', { podReference: { name: 'db-0' }, targetNode: incapable });
    const { request } = await w.restoreFinished('to-incapable');
    expect(request.status?.phase).toBe('Failed');
    expect(request.status?.message).toContain(`spec.targetNode: node ${incapable} cannot restore checkpoints (restore.kcr.io/capable=false)`);
    expect((await w.pod('db-0'))?.metadata?.uid).toBe(restored.metadata!.uid);
  }, 600_000);
});
