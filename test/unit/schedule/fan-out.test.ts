import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fanOut, type FiredSchedule, type PodLike } from '../../../src/schedule/fan-out.ts';
import { checkpointJobId, checkpointRequestName, nodeQueueName } from '../../../src/schedule/names.ts';

function pod(name: string, opts: { ns?: string; labels?: Record<string, string>; node?: string; phase?: string; containers?: string[]; deleting?: boolean } = {}): PodLike {
  return {
    metadata: {
      name,
      namespace: opts.ns ?? 'apps',
      uid: `uid-${name}`,
      labels: opts.labels ?? { app: 'web' },
      ...(opts.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: { ...(opts.node === '' ? {} : { nodeName: opts.node ?? 'node-a' }), containers: (opts.containers ?? ['app']).map((c) => ({ name: c })) },
    status: { phase: opts.phase ?? 'Running' },
  };
}

const schedule: FiredSchedule = {
  ref: { kind: 'CheckpointSchedule', namespace: 'apps', name: 'web', uid: 'sched-uid' },
  selector: { matchLabels: { app: 'web' } },
};
const fireTime = new Date('2026-03-10T10:20:00Z');
const now = new Date('2026-03-10T10:20:00.300Z');

describe('fanOut', () => {
  it('makes one job per selected running pod and container, on the queue of its node', () => {
    const r = fanOut({
      schedule,
      pods: [pod('web-1', { containers: ['app', 'sidecar'] }), pod('web-0', { node: 'node-b' }), pod('db-0', { labels: { app: 'db' } })],
      runningCheckpoints: [],
      now,
      fireTime,
    });
    expect(r.jobs.map((j) => [j.queueName, j.data.podName, j.data.containerName])).toEqual([
      ['kcr-node-node-b', 'web-0', 'app'],
      ['kcr-node-node-a', 'web-1', 'app'],
      ['kcr-node-node-a', 'web-1', 'sidecar'],
    ]);
    expect(r).toMatchObject({ skippedBusy: 0, skippedNotRunning: 0, missed: false });
    const job = r.jobs[0]!;
    expect(job.jobId).toBe(`sched-uid_${fireTime.getTime()}_uid-web-0_app`);
    expect(job.jobId).not.toContain(':');
    expect(job.data).toEqual({
      requestName: job.requestName,
      namespace: 'apps',
      podName: 'web-0',
      podUid: 'uid-web-0',
      containerName: 'app',
      nodeName: 'node-b',
      timeoutSeconds: 300,
      schedule: schedule.ref,
      fireTime: '2026-03-10T10:20:00.000Z',
    });
  });

  it('never selects pods of another namespace, even with matching labels', () => {
    const r = fanOut({ schedule, pods: [pod('web-0', { ns: 'other' })], runningCheckpoints: [], now, fireTime });
    expect(r.jobs).toEqual([]);
  });

  it('honours matchExpressions', () => {
    const r = fanOut({
      schedule: { ...schedule, selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] } },
      pods: [pod('a', { labels: { tier: 'db' } }), pod('b', { labels: { tier: 'web' } }), pod('c', { labels: {} })],
      runningCheckpoints: [],
      now,
      fireTime,
    });
    expect(r.jobs.map((j) => j.data.podName)).toEqual(['a']);
  });

  it('skips pods that are pending, unscheduled, finished or terminating', () => {
    const r = fanOut({
      schedule,
      pods: [pod('p', { phase: 'Pending' }), pod('u', { node: '' }), pod('s', { phase: 'Succeeded' }), pod('t', { deleting: true }), pod('ok')],
      runningCheckpoints: [],
      now,
      fireTime,
    });
    expect(r.jobs.map((j) => j.data.podName)).toEqual(['ok']);
    expect(r.skippedNotRunning).toBe(4);
  });

  it('skips and counts pods that opted out of checkpoints (kcr.io/checkpoint or kcr.io/restore: "false")', () => {
    const annotated = (name: string, annotations: Record<string, string>): PodLike => ({ ...pod(name), metadata: { ...pod(name).metadata, annotations } });
    const r = fanOut({
      schedule,
      pods: [annotated('no-checkpoint', { 'kcr.io/checkpoint': 'false' }), annotated('no-restore', { 'kcr.io/restore': 'false' }), annotated('yes', { 'kcr.io/checkpoint': 'true' })],
      runningCheckpoints: [],
      now,
      fireTime,
    });
    expect(r.jobs.map((j) => j.data.podName)).toEqual(['yes']);
    expect(r.skippedOptedOut).toBe(2);
  });

  it('takes only the named containers and reports the ones a pod lacks', () => {
    const r = fanOut({
      schedule: { ...schedule, containerNames: ['sidecar', 'missing', 'sidecar'], timeoutSeconds: 30 },
      pods: [pod('web-0', { containers: ['app', 'sidecar'] })],
      runningCheckpoints: [],
      now,
      fireTime,
    });
    expect(r.jobs.map((j) => [j.data.containerName, j.data.timeoutSeconds])).toEqual([['sidecar', 30]]);
    expect(r.missingContainers).toEqual(['web-0/missing']);
  });

  it('skips and counts containers whose previous checkpoint is still running', () => {
    const r = fanOut({
      schedule,
      pods: [pod('web-0', { containers: ['app', 'sidecar'] }), pod('web-1')],
      runningCheckpoints: [
        { namespace: 'apps', podName: 'web-0', containerName: 'sidecar' },
        { namespace: 'other', podName: 'web-1', containerName: 'app' },
      ],
      now,
      fireTime,
    });
    expect(r.jobs.map((j) => `${j.data.podName}/${j.data.containerName}`)).toEqual(['web-0/app', 'web-1/app']);
    expect(r.skippedBusy).toBe(1);
  });

  it('marks a fire older than startingDeadlineSeconds as missed and queues nothing', () => {
    const late = new Date(fireTime.getTime() + 120_000);
    const r = fanOut({ schedule: { ...schedule, startingDeadlineSeconds: 60 }, pods: [pod('web-0')], runningCheckpoints: [], now: late, fireTime });
    expect(r).toMatchObject({ jobs: [], missed: true });
    expect(fanOut({ schedule: { ...schedule, startingDeadlineSeconds: 600 }, pods: [pod('web-0')], runningCheckpoints: [], now: late, fireTime }).jobs).toHaveLength(1);
  });

  it('property: deterministic and order-independent; distinct fires give distinct ids', () => {
    const arbPod = fc.record({
      name: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
      ns: fc.constantFrom('apps', 'other'),
      app: fc.constantFrom('web', 'db'),
      node: fc.constantFrom('node-a', 'node-b', ''),
      phase: fc.constantFrom('Running', 'Pending'),
      containers: fc.uniqueArray(fc.constantFrom('app', 'sidecar', 'log'), { minLength: 1 }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(arbPod, { selector: (p) => p.name }), fc.integer({ min: 0, max: 2 ** 40 }), (specs, t) => {
        const pods = specs.map((s) => pod(s.name, { ns: s.ns, labels: { app: s.app }, node: s.node, phase: s.phase, containers: s.containers }));
        const at = new Date(t);
        const a = fanOut({ schedule, pods, runningCheckpoints: [], now: at, fireTime: at });
        const b = fanOut({ schedule, pods: [...pods].reverse(), runningCheckpoints: [], now: at, fireTime: at });
        expect(b).toEqual(a);
        const ids = a.jobs.map((j) => j.jobId);
        expect(new Set(ids).size).toBe(ids.length);
        for (const j of a.jobs) {
          expect(j.data.namespace).toBe('apps');
          expect(j.requestName).toMatch(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
        }
        const next = fanOut({ schedule, pods, runningCheckpoints: [], now: at, fireTime: new Date(t + 60_000) });
        for (const j of next.jobs) expect(ids).not.toContain(j.jobId);
      }),
    );
  }, 30_000);
});

describe('names', () => {
  it('queue per node', () => {
    expect(nodeQueueName('ip-10-0-0-1.ec2.internal')).toBe('kcr-node-ip-10-0-0-1.ec2.internal');
  });
  it('job ids never contain the BullMQ separator', () => {
    expect(checkpointJobId('u-1', 1700000000000, 'p-2', 'app')).toBe('u-1_1700000000000_p-2_app');
  });
  it('request names are short DNS labels, stable and distinct per job', () => {
    const long = 'a-very-long-statefulset-name-that-goes-on-and-on-and-on-0';
    const n1 = checkpointRequestName(long, 'container-with-a-long-name', 'job-1');
    expect(n1.length).toBeLessThanOrEqual(63);
    expect(n1).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
    expect(checkpointRequestName(long, 'container-with-a-long-name', 'job-1')).toBe(n1);
    expect(checkpointRequestName(long, 'container-with-a-long-name', 'job-2')).not.toBe(n1);
    expect(checkpointRequestName('web-0', 'app', 'j')).toMatch(/^web-0-app-[0-9a-f]{10}$/);
    expect(checkpointRequestName('---', '', 'j')).toMatch(/^cp-[0-9a-f]{10}$/);
  });
});
