// What `kubectl get cps` shows in READY, through the controller's own pass (a fake job-scheduler
// store and a fake API, no module mocking): a schedule whose job scheduler could not be written
// is not Ready (NotRegistered), and turns Ready once a later pass writes it.
import { describe, expect, it } from 'vitest';
import { API_VERSION, type CheckpointSchedule } from '../../../src/api/types.ts';
import type { EventRecorder } from '../../../src/controller/events.ts';
import { ObjectCache } from '../../../src/controller/object-cache.ts';
import { reconcileSchedulers } from '../../../src/controller/scheduler-reconciler.ts';
import { syncScheduleStatuses } from '../../../src/controller/status-sync.ts';
import type { KubeJson } from '../../../src/kube/kube-json.ts';
import { silentLogger } from '../../../src/log.ts';
import type { ReconcileReport } from '../../../src/queue/scheduler-store.ts';

const NOW = new Date('2026-12-04T10:00:30Z');

const schedule = (name: string, spec: Partial<CheckpointSchedule['spec']> = {}): CheckpointSchedule => ({
  apiVersion: API_VERSION,
  kind: 'CheckpointSchedule',
  metadata: { name, namespace: 'apps', uid: `uid-${name}`, generation: 2, resourceVersion: '7' },
  spec: { schedule: '*/5 * * * *', selector: { matchLabels: { app: name } }, ...spec },
});

function fakeApi() {
  const written: CheckpointSchedule[] = [];
  const api: KubeJson = {
    get: async () => undefined as never,
    create: async () => undefined as never,
    replace: async <T>(_path: string, body: unknown) => {
      written.push(body as CheckpointSchedule);
      return body as T;
    },
    patch: async () => undefined as never,
    delete: async () => undefined,
  };
  return { api, written };
}

const events: EventRecorder = { event: async () => undefined };

/** A store whose writes of the given scheduler ids fail, as a Redis replica refusing writes would. */
function store(failing: string[]) {
  return {
    reconcile: async (desired: ReadonlyArray<{ id: string }>): Promise<ReconcileReport> => ({
      upserted: desired.length - failing.length,
      removed: 0,
      unchanged: 0,
      rebuilt: false,
      failed: failing.map((id) => ({ id, error: new Error("READONLY You can't write against a read only replica.") })),
    }),
  };
}

async function pass(cache: ObjectCache, failing: string[], now = NOW) {
  const { invalid, unregistered } = await reconcileSchedulers({ cache, store: store(failing), events, logger: silentLogger() });
  const { api, written } = fakeApi();
  await syncScheduleStatuses({ api, cache, logger: silentLogger(), invalid, unregistered, now: () => now });
  return written;
}

const ready = (s: CheckpointSchedule | undefined) => s?.status?.conditions?.find((c) => c.type === 'Ready');

describe('a CheckpointSchedule\'s Ready condition, from the controller\'s pass', () => {
  it('NotRegistered while its job scheduler cannot be written; the others stay Ready; Ready once written', async () => {
    const cache = new ObjectCache();
    cache.upsert('CheckpointSchedule', schedule('web'));
    cache.upsert('CheckpointSchedule', schedule('db'));
    cache.upsert('CheckpointSchedule', schedule('off', { suspend: true }));
    const first = await pass(cache, ['cps:apps/web']);
    const byName = Object.fromEntries(first.map((s) => [s.metadata.name, s]));
    expect(ready(byName.web)).toMatchObject({ status: 'False', reason: 'NotRegistered', message: expect.stringContaining('read only replica'), observedGeneration: 2 });
    expect(ready(byName.db)).toMatchObject({ status: 'True', reason: 'Scheduled' });
    expect(ready(byName.off)).toMatchObject({ status: 'False', reason: 'Suspended' });

    cache.upsert('CheckpointSchedule', { ...schedule('web'), status: byName.web!.status });
    const later = new Date(NOW.getTime() + 10_000);
    const second = await pass(cache, [], later);
    const web = second.find((s) => s.metadata.name === 'web');
    expect(ready(web)).toMatchObject({ status: 'True', reason: 'Scheduled', lastTransitionTime: '2026-12-04T10:00:40Z' });
  });
});
