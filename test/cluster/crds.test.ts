// kcr's API in a real kube-apiserver: the original kcr's manifests apply unchanged, and
// invalid objects are refused by the API server (schema and CEL rules) naming the field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, GROUP, PLURALS, VERSION } from '../../src/api/types.ts';
import { installedKcr, clientsFor, createNamespace, deleteNamespace, expectApiError, testCluster, type Clients } from './cluster-clients.ts';
import { kubectl } from './local-cluster.ts';

const cluster = testCluster();
let c: Clients;
let ns: string;

beforeAll(async () => {
  installedKcr();
  c = clientsFor(cluster.kubeconfig);
  ns = await createNamespace(c.core, 'kcr-crds');
});

afterAll(async () => {
  if (c && ns) await deleteNamespace(c.core, ns);
});

/** The original kcr's sample manifests, verbatim but for the namespace. */
function originalManifests(namespace: string): string {
  return `
apiVersion: checkpoint-restore.kcr.io/v1
kind: CheckpointSchedule
metadata:
  name: web-schedule
  namespace: ${namespace}
spec:
  schedule: "*/5 * * * *"
  selector:
    matchLabels:
      app: web
---
apiVersion: checkpoint-restore.kcr.io/v1
kind: CheckpointRequest
metadata:
  name: web-now
  namespace: ${namespace}
spec:
  podReference:
    name: web-0
  containerName: app
  timeoutSeconds: 60
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: counter
  namespace: ${namespace}
  annotations:
    kcr.io/checkpoint-restore-schedule: "0 * * * *"
spec:
  replicas: 1
  selector:
    matchLabels:
      app: counter
  template:
    metadata:
      labels:
        app: counter
    spec:
      containers:
        - name: app
          image: registry.example/counter:1
`;
}

describe('the original kcr manifests', () => {
  it('apply unchanged with kubectl and read back with the fields they set', async () => {
    const out = await kubectl(cluster.binDir, cluster.kubeconfig, ['apply', '-f', '-'], originalManifests(ns));
    expect(out).toContain('checkpointschedule.checkpoint-restore.kcr.io/web-schedule created');
    expect(out).toContain('checkpointrequest.checkpoint-restore.kcr.io/web-now created');
    expect(out).toContain('deployment.apps/counter created');

    const schedule = (await c.custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURALS.CheckpointSchedule,
      name: 'web-schedule',
    })) as { spec: { schedule: string; selector: unknown } };
    expect(schedule.spec.schedule).toBe('*/5 * * * *');
    expect(schedule.spec.selector).toEqual({ matchLabels: { app: 'web' } });

    const request = (await c.custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURALS.CheckpointRequest,
      name: 'web-now',
    })) as { spec: { podReference: unknown; containerName: string; timeoutSeconds: number } };
    expect(request.spec).toMatchObject({ podReference: { name: 'web-0' }, containerName: 'app', timeoutSeconds: 60 });

    const deployment = await c.apps.readNamespacedDeployment({ name: 'counter', namespace: ns });
    expect(deployment.metadata?.annotations?.['kcr.io/checkpoint-restore-schedule']).toBe('0 * * * *');

    // Applying the same manifests again changes nothing.
    const again = await kubectl(cluster.binDir, cluster.kubeconfig, ['apply', '-f', '-'], originalManifests(ns));
    expect(again).toContain('checkpointschedule.checkpoint-restore.kcr.io/web-schedule unchanged');
  });
});

describe('invalid objects are refused by the API server', () => {
  const create = (plural: string, body: object) =>
    c.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural, body });
  const schedule = (name: string, spec: object) => ({
    apiVersion: API_VERSION,
    kind: 'CheckpointSchedule',
    metadata: { name },
    spec,
  });

  it.each([
    ['a free-text schedule', 'not a cron'],
    ['a 6-field cron with seconds', '0 */5 * * * *'],
    ['an out-of-range minute', '61 * * * *'],
  ])('CheckpointSchedule with %s: 422 naming spec.schedule', async (_what, cron) => {
    const err = await expectApiError(() => create(PLURALS.CheckpointSchedule, schedule(`bad-${Math.random().toString(36).slice(2, 8)}`, { schedule: cron, selector: { matchLabels: { app: 'web' } } })));
    expect(err.code).toBe(422);
    expect(err.message).toContain('spec.schedule');
  });

  it('CheckpointSchedule with an empty selector: 422 naming spec.selector', async () => {
    const err = await expectApiError(() => create(PLURALS.CheckpointSchedule, schedule('empty-selector', { schedule: '*/5 * * * *', selector: {} })));
    expect(err.code).toBe(422);
    expect(err.message).toContain('spec.selector');
  });

  it('CheckpointSchedule without a selector: 422 naming spec.selector', async () => {
    const err = await expectApiError(() => create(PLURALS.CheckpointSchedule, schedule('no-selector', { schedule: '*/5 * * * *' })));
    expect(err.code).toBe(422);
    expect(err.message).toContain('spec.selector');
  });

  it.each([-5, 0])('CheckpointRequest with timeoutSeconds %i: 422 naming spec.timeoutSeconds', async (timeoutSeconds) => {
    const err = await expectApiError(() =>
      create(PLURALS.CheckpointRequest, {
        apiVersion: API_VERSION,
        kind: 'CheckpointRequest',
        metadata: { name: `bad-timeout-${timeoutSeconds < 0 ? 'neg' : 'zero'}` },
        spec: { podReference: { name: 'web-0' }, containerName: 'app', timeoutSeconds },
      }),
    );
    expect(err.code).toBe(422);
    expect(err.message).toContain('spec.timeoutSeconds');
  });

  it('CheckpointRequest without containerName: 422 naming spec.containerName', async () => {
    const err = await expectApiError(() =>
      create(PLURALS.CheckpointRequest, {
        apiVersion: API_VERSION,
        kind: 'CheckpointRequest',
        metadata: { name: 'no-container' },
        spec: { podReference: { name: 'web-0' } },
      }),
    );
    expect(err.code).toBe(422);
    expect(err.message).toContain('spec.containerName');
  });

  it('a valid schedule next to the invalid ones is accepted (the rules are not simply refusing everything)', async () => {
    await create(PLURALS.CheckpointSchedule, schedule('valid', { schedule: '0 2 * * MON-FRI', selector: { matchLabels: { app: 'web' } } }));
  });
});
