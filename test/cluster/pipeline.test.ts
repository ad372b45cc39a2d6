// kcr's main job end to end, every part real but the nodes: the real kube-apiserver and
// controllers, kcr's webhook, controller and one agent per simulated node as local processes
// (each as its own ServiceAccount, bound only by the manifests' RBAC), real Redis, a real
// registry with Basic auth. Schedules fire on their real cron (each minute), so this file
// waits for one or two minute boundaries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, PLURALS, type Checkpoint } from '../../src/api/types.ts';
import { eventually, testCluster } from './cluster-clients.ts';
import { kubectl } from './local-cluster.ts';
import { openE2eWorld } from './e2e-stack.ts';
import { IMAGE, newestFirst, ready, restoredFromOf, type E2eWorld } from './e2e-world.ts';

const EVERY_MINUTE = '* * * * *';

let w: E2eWorld;
let e2e: Awaited<ReturnType<typeof openE2eWorld>> | undefined;

/** The newest ready Checkpoint of the pod with this UID (only its workload's cron makes them here). */
async function scheduledCheckpoint(podName: string, podUid: string): Promise<Checkpoint> {
  return eventually(`a scheduled Checkpoint of ${podName}`, async () => (await w.checkpoints((cp) => ready(cp) && cp.spec.podUID === podUid)).sort(newestFirst)[0], 150_000, 500);
}

beforeAll(async () => {
  e2e = await openE2eWorld('pipe');
  w = e2e.world;
}, 600_000);

afterAll(async () => {
  await e2e?.close();
});

describe('kcr end to end: schedules, agent, registry, webhook, simulated nodes', () => {
  it('a StatefulSet with the original kcr annotation is checkpointed on its cron; its replacement is restored with its state', async () => {
    await w.createStatefulSet('web', { cron: EVERY_MINUTE });
    const first = await w.runningPod('web-0');
    const cp = await scheduledCheckpoint('web-0', first.metadata!.uid!);
    expect(cp.spec).toMatchObject({ containerName: 'app', podName: 'web-0', identity: 'web-0', workload: { kind: 'StatefulSet', name: 'web' }, originalImage: IMAGE });
    expect(await w.registryHas(cp.status!.runtimeImage!)).toBe(true);

    await w.admin.core.deleteNamespacedPod({ name: 'web-0', namespace: w.ns });
    const replacement = await w.runningPod('web-0', first.metadata!.uid);
    // The webhook picks the newest ready checkpoint, which may be one a later minute took.
    const restoredFrom = restoredFromOf(replacement);
    expect(restoredFrom).toBeDefined();
    const used = (await w.checkpoints((c) => c.metadata.name === restoredFrom))[0]!;
    expect(used.spec.podUID).toBe(first.metadata!.uid);
    expect(replacement.spec!.containers[0]!.image).toBe(used.status!.runtimeImage);
    await w.expectContinuedFrom(replacement, used.status!.runtimeImage!);
  }, 300_000);

  it('a Deployment likewise: the replica that replaces a deleted one continues its state; after an image rollout pods start fresh', async () => {
    await w.createDeployment('api', EVERY_MINUTE);
    const [first] = await eventually('a running api pod', async () => {
      const pods = await w.runningPodsOf('api');
      return pods.length === 1 ? pods : undefined;
    }, 120_000, 250);
    const cp = await scheduledCheckpoint(first!.metadata!.name!, first!.metadata!.uid!);
    expect(cp.spec).toMatchObject({ identity: 'api', workload: { kind: 'Deployment', name: 'api' } });

    await w.admin.core.deleteNamespacedPod({ name: first!.metadata!.name!, namespace: w.ns });
    const [replacement] = await eventually('the replacement api pod', async () => {
      const pods = (await w.runningPodsOf('api')).filter((p) => p.metadata!.uid !== first!.metadata!.uid);
      return pods.length === 1 ? pods : undefined;
    }, 120_000, 250);
    const restoredFrom = restoredFromOf(replacement!);
    expect(restoredFrom).toBeDefined();
    const used = (await w.checkpoints((c) => c.metadata.name === restoredFrom))[0]!;
    expect(used.spec.podUID).toBe(first!.metadata!.uid);
    await w.expectContinuedFrom(replacement!, used.status!.runtimeImage!);

    // A rollout to a new image: its pods start fresh (the checkpoint is of other software).
    await w.admin.apps.patchNamespacedDeployment(
      { name: 'api', namespace: w.ns, body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'busybox:1.38' }] },
    );
    const [rolled] = await eventually('a running pod of the new image', async () => {
      const pods = (await w.runningPodsOf('api')).filter((p) => p.spec!.containers[0]!.image === 'busybox:1.38');
      return pods.length >= 1 ? pods : undefined;
    }, 120_000, 250);
    expect(restoredFromOf(rolled!)).toBeUndefined();
    expect((await w.appState(rolled!)).restoredFrom).toBeUndefined();
  }, 300_000);

  it('a CheckpointRequest a user writes completes with a Checkpoint whose image is in the registry; retention keeps exactly N and deletes the rest from the registry', async () => {
    await w.admin.custom.createNamespacedCustomObject({
      ...w.custom(PLURALS.CheckpointSchedule),
      body: {
        apiVersion: API_VERSION,
        kind: 'CheckpointSchedule',
        // New Year at midnight: it never fires during the test; its retention governs the requests below.
        metadata: { name: 'keep-two' },
        spec: { schedule: '0 0 1 1 *', selector: { matchLabels: { app: 'cache' } }, retention: { maxCheckpointsPerContainer: 2 } },
      },
    });
    await w.createStatefulSet('cache', { cron: '0 0 1 1 *' });
    const p = await w.runningPod('cache-0');
    const made: Checkpoint[] = [];
    for (let i = 1; i <= 3; i++) {
      const cp = await w.checkpointNow(`user-${i}`, 'cache-0', 'keep-two');
      expect(cp.spec).toMatchObject({ podName: 'cache-0', podUID: p.metadata!.uid, containerName: 'app', checkpointScheduleRef: { name: 'keep-two' } });
      expect(await w.registryHas(cp.status!.runtimeImage!)).toBe(true);
      made.push(cp);
    }
    const oldest = made[0]!;
    await eventually('retention to delete the oldest of three', async () => ((await w.checkpoints((c) => c.metadata.name === oldest.metadata.name)).length === 0 ? true : undefined), 60_000, 500);
    const kept = await w.checkpoints((c) => c.spec.podUID === p.metadata!.uid);
    expect(kept.map((c) => c.metadata.name).sort()).toEqual([made[1]!.metadata.name, made[2]!.metadata.name].sort());
    await eventually('the registry manifest of the deleted checkpoint to go', async () => ((await w.registryHas(oldest.status!.runtimeImage!)) ? undefined : true), 30_000, 500);
    expect(await w.registryHas(made[2]!.status!.runtimeImage!)).toBe(true);
    // Retention settles: later passes keep exactly two.
    await new Promise((r) => setTimeout(r, 5000));
    expect((await w.checkpoints((c) => c.spec.podUID === p.metadata!.uid)).length).toBe(2);
  }, 300_000);

  it('`kubectl wait --for=condition=Complete` on a user\'s CheckpointRequest returns 0 once it is done, the Checkpoint goes Ready, and `kubectl get cps` shows READY True', async () => {
    const cluster = testCluster();
    const k = (args: string[]) => kubectl(cluster.binDir, cluster.kubeconfig, args);
    await w.admin.custom.createNamespacedCustomObject({
      ...w.custom(PLURALS.CheckpointSchedule),
      body: {
        apiVersion: API_VERSION,
        kind: 'CheckpointSchedule',
        // New Year at midnight: it never fires during the test.
        metadata: { name: 'waiting-room' },
        spec: { schedule: '0 0 1 1 *', selector: { matchLabels: { app: 'waiter' } } },
      },
    });
    await w.createStatefulSet('waiter', { cron: '0 0 1 1 *' });
    await w.runningPod('waiter-0');
    await w.createRequest('wait-for-me', 'waiter-0');
    // The controller queues it (Pending), the agent takes it (InProgress) and finishes it (Completed).
    const out = await k(['wait', '--for=condition=Complete', 'checkpointrequest/wait-for-me', '-n', w.ns, '--timeout=120s']);
    expect(out).toMatch(/wait-for-me condition met/);
    const done = await w.completed('wait-for-me');
    expect(done.status?.conditions?.find((c) => c.type === 'Failed')).toMatchObject({ status: 'False' });
    const name = done.status!.checkpoint!.name;
    expect(await k(['wait', '--for=condition=Ready', `checkpoint/${name}`, '-n', w.ns, '--timeout=60s'])).toMatch(/condition met/);

    // READY is the Ready condition's status, set by the controller's status sync.
    const row = await eventually('kubectl get cps to show READY True', async () => {
      const table = (await k(['get', 'checkpointschedules', 'waiting-room', '-n', w.ns])).split('\n');
      const at = table[0]!.indexOf('READY');
      if (at < 0) throw new Error(`no READY column in ${table[0]}`);
      const ready = table[1]!.slice(at).split(/\s+/)[0];
      return ready === 'True' ? table : undefined;
    }, 30_000, 500);
    expect(row[0]).toMatch(/^NAME\s+SCHEDULE\s+READY\s+SUSPEND\s+/);
    const wide = (await k(['get', 'checkpointschedules', 'waiting-room', '-n', w.ns, '-o', 'wide'])).split('\n');
    expect(wide[1]!.slice(wide[0]!.indexOf('REASON')).split(/\s+/)[0]).toBe('Scheduled');
  }, 300_000);
});
