import { describe, expect, it } from 'vitest';
import { checkpointRequestFor, REQUEST_ANNOTATIONS, REQUEST_LABELS } from '../../../src/controller/checkpoint-request.ts';
import { fanOut, type PodLike } from '../../../src/schedule/fan-out.ts';
import type { ScheduleRef } from '../../../src/schedule/desired.ts';

const pod = (name: string, node: string, containers: string[]): PodLike => ({
  metadata: { name, namespace: 'shop', uid: `uid-${name}`, labels: { app: 'cart' } },
  spec: { nodeName: node, containers: containers.map((c) => ({ name: c })) },
  status: { phase: 'Running' },
});

function jobs(ref: ScheduleRef, fireTime = new Date('2026-11-24T10:00:00Z')) {
  return fanOut({
    schedule: { ref, selector: { matchLabels: { app: 'cart' } } },
    pods: [pod('cart-0', 'node-a', ['app', 'sidecar']), pod('cart-1', 'node-b', ['app'])],
    runningCheckpoints: [],
    now: fireTime,
    fireTime,
  }).jobs;
}

const cps: ScheduleRef = { kind: 'CheckpointSchedule', namespace: 'shop', name: 'nightly', uid: '1111-2222' };
const sts: ScheduleRef = { kind: 'StatefulSet', namespace: 'shop', name: 'cart', uid: '3333-4444' };

describe('checkpointRequestFor', () => {
  it('a schedule owns its requests; spec names pod, container, schedule, timeout and TTL', () => {
    const [first] = jobs(cps);
    const r = checkpointRequestFor(first!, 3600);
    expect(r.metadata.ownerReferences).toEqual([
      { apiVersion: 'checkpoint-restore.kcr.io/v1', kind: 'CheckpointSchedule', name: 'nightly', uid: '1111-2222', controller: true },
    ]);
    expect(r.spec).toEqual({
      podReference: { name: 'cart-0', namespace: 'shop' },
      containerName: 'app',
      checkpointScheduleRef: { name: 'nightly' },
      timeoutSeconds: 300,
      ttlSecondsAfterFinished: 3600,
    });
    expect(r.metadata.labels).toMatchObject({ [REQUEST_LABELS.scheduleUid]: '1111-2222', [REQUEST_LABELS.pod]: 'cart-0', [REQUEST_LABELS.container]: 'app' });
    expect(r.metadata.annotations?.[REQUEST_ANNOTATIONS.jobId]).toBe(first!.jobId);
    expect(r.metadata.annotations?.[REQUEST_ANNOTATIONS.fireTime]).toBe('2026-11-24T10:00:00.000Z');
  });

  it('a workload-annotation schedule: the workload owns the request, no checkpointScheduleRef', () => {
    const r = checkpointRequestFor(jobs(sts)[0]!, 60);
    expect(r.metadata.ownerReferences?.[0]).toMatchObject({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'cart', uid: '3333-4444' });
    expect(r.spec.checkpointScheduleRef).toBeUndefined();
  });

  it('names are deterministic per fire, distinct per pod/container and per fire time, and valid DNS labels', () => {
    const a = jobs(cps).map((j) => checkpointRequestFor(j, 1).metadata.name);
    const again = jobs(cps).map((j) => checkpointRequestFor(j, 1).metadata.name);
    const later = jobs(cps, new Date('2026-11-24T10:01:00Z')).map((j) => checkpointRequestFor(j, 1).metadata.name);
    expect(a).toEqual(again);
    expect(new Set(a).size).toBe(3);
    expect(a.filter((n) => later.includes(n))).toEqual([]);
    for (const n of [...a, ...later]) expect(n).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
  });

  it('leaves out label values that are not valid (too long names)', () => {
    const long: ScheduleRef = { ...cps, name: 'x'.repeat(100) };
    const r = checkpointRequestFor(jobs(long)[0]!, 1);
    expect(r.metadata.labels?.[REQUEST_LABELS.schedule]).toBeUndefined();
    expect(r.spec.checkpointScheduleRef).toEqual({ name: 'x'.repeat(100) });
  });
});
