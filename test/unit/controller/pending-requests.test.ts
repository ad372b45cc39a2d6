import { describe, expect, it } from 'vitest';
import type { CheckpointRequest } from '../../../src/api/types.ts';
import { decidePending, needsQueueing } from '../../../src/controller/pending-requests.ts';
import { expiredRequests } from '../../../src/controller/request-ttl.ts';
import { REQUEST_ANNOTATIONS } from '../../../src/controller/checkpoint-request.ts';
import type { PodLike } from '../../../src/schedule/fan-out.ts';

const request = (over: Partial<CheckpointRequest> = {}): CheckpointRequest => ({
  apiVersion: 'checkpoint-restore.kcr.io/v1',
  kind: 'CheckpointRequest',
  metadata: { name: 'mine', namespace: 'shop', uid: 'ruid', creationTimestamp: '2026-11-24T10:00:00Z' },
  spec: { podReference: { name: 'cart-0' }, containerName: 'app', timeoutSeconds: 60 },
  ...over,
});
const pod = (over: Partial<PodLike['status']> = {}, node: string | undefined = 'node-a'): PodLike => ({
  metadata: { name: 'cart-0', namespace: 'shop', uid: 'puid' },
  spec: { ...(node ? { nodeName: node } : {}), containers: [{ name: 'app' }] },
  status: { phase: 'Running', ...over },
});

describe('decidePending', () => {
  it('a user request for a running pod is queued on its node with a job id from its UID', () => {
    const d = decidePending(request(), pod());
    expect(d).toMatchObject({ action: 'enqueue', job: { queueName: 'kcr-node-node-a', jobId: 'req_ruid', requestName: 'mine' } });
    if (d.action === 'enqueue') expect(d.job.data).toMatchObject({ podName: 'cart-0', podUid: 'puid', containerName: 'app', nodeName: 'node-a', timeoutSeconds: 60, namespace: 'shop' });
  });

  it('a fired request keeps its fire job id (re-queueing after a crash adds no duplicate)', () => {
    const d = decidePending(request({ metadata: { name: 'x', namespace: 'shop', uid: 'u', annotations: { [REQUEST_ANNOTATIONS.jobId]: 'fire_1' } } }), pod());
    expect(d.action === 'enqueue' && d.job.jobId).toBe('fire_1');
  });

  it.each<[string, PodLike | undefined, RegExp]>([
    ['missing pod', undefined, /pod shop\/cart-0 not found/],
    ['missing container', { ...pod(), spec: { nodeName: 'n', containers: [{ name: 'other' }] } }, /has no container "app" \(it has other\)/],
    ['finished pod', pod({ phase: 'Succeeded' }), /not running \(phase Succeeded\)/],
    // A teammate's request cannot dump the memory of a pod that refused it.
    ['a pod opted out of checkpoints', { ...pod(), metadata: { ...pod().metadata, annotations: { 'kcr.io/checkpoint': 'false' } } }, /opted out of checkpoints \(kcr\.io\/checkpoint: "false"\): its memory is not dumped/],
    ['a pod opted out of restore', { ...pod(), metadata: { ...pod().metadata, annotations: { 'kcr.io/restore': ' False ' } } }, /opted out of checkpoints \(kcr\.io\/restore: "false"\)/],
  ])('%s -> Failed naming the pod', (_w, p, message) => {
    const d = decidePending(request(), p);
    expect(d.action).toBe('fail');
    if (d.action === 'fail') expect(d.message).toMatch(message);
  });

  it('a pod in another namespace is refused', () => {
    const d = decidePending(request({ spec: { podReference: { name: 'cart-0', namespace: 'other' }, containerName: 'app' } }), pod());
    expect(d).toMatchObject({ action: 'fail', message: expect.stringContaining('another namespace') });
  });

  it('an unscheduled pod waits', () => {
    expect(decidePending(request(), pod({ phase: 'Pending' }, undefined)).action).toBe('wait');
  });

  it('already queued, running or finished requests are left alone', () => {
    for (const status of [{ nodeName: 'n' }, { phase: 'InProgress' as const }, { phase: 'Completed' as const }, { phase: 'Failed' as const }]) {
      expect(needsQueueing(request({ status }))).toBe(false);
      expect(decidePending(request({ status }), pod()).action).toBe('none');
    }
  });
});

describe('expiredRequests', () => {
  const now = new Date('2026-11-24T11:00:00Z');
  const r = (name: string, phase: 'Completed' | 'Failed' | 'InProgress', completionTime: string | undefined, ttl?: number) =>
    request({ metadata: { name, namespace: 'shop' }, spec: { podReference: { name: 'p' }, containerName: 'c', ...(ttl !== undefined ? { ttlSecondsAfterFinished: ttl } : {}) },
      status: { phase, ...(completionTime ? { completionTime } : {}) } });
  it('deletes finished requests past their TTL (default when unset), never running ones', () => {
    const out = expiredRequests([
      r('old-done', 'Completed', '2026-11-24T09:59:59Z'),
      r('new-done', 'Completed', '2026-11-24T10:30:00Z'),
      r('short-ttl', 'Failed', '2026-11-24T10:59:00Z', 30),
      r('zero-ttl', 'Completed', '2026-11-24T11:00:00Z', 0),
      r('running', 'InProgress', undefined, 0),
    ], now, 3600);
    expect(out.map((o) => o.name).sort()).toEqual(['old-done', 'short-ttl', 'zero-ttl']);
  });
});
