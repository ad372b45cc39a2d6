// The failed-restore shell with fakes (no module mocking): what it writes to the API for a node
// that cannot restore and for a checkpoint image that cannot be pulled.
import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../../src/api/types.ts';
import type { EventRecorder, InvolvedObject } from '../../../src/controller/events.ts';
import type { KubeJson, PatchType } from '../../../src/kube/kube-json.ts';
import { ObjectCache } from '../../../src/controller/object-cache.ts';
import { watchRestores } from '../../../src/controller/restore-watch.ts';
import { silentLogger } from '../../../src/log.ts';
import type { PodLike } from '../../../src/restore/pod-like.ts';
import { RestoreTally } from '../../../src/restore/restore-outcomes.ts';

const NOW = new Date('2026-03-10T12:00:00Z');
const ago = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000).toISOString();
const RUNTIME = `reg.example/kcr/apps/db-0@sha256:${'c'.repeat(64)}`;
const NO_COMMAND = 'failed to create containerd container: no command specified';

interface Call {
  verb: string;
  path: string;
  body?: unknown;
  type?: PatchType;
}

function fakeApi(fail: (c: Call) => ApiException<unknown> | undefined = () => undefined): { api: KubeJson; calls: Call[] } {
  const calls: Call[] = [];
  const record = async (c: Call) => {
    calls.push(c);
    const err = fail(c);
    if (err) throw err;
    return undefined as never;
  };
  return {
    calls,
    api: {
      get: (path) => record({ verb: 'get', path }),
      create: (path, body) => record({ verb: 'create', path, body }),
      replace: (path, body) => record({ verb: 'replace', path, body }),
      patch: (path, body, type) => record({ verb: 'patch', path, body, ...(type ? { type } : {}) }),
      delete: (path, body) => record({ verb: 'delete', path, body }),
    },
  };
}

function fakeEvents(): { events: EventRecorder; seen: Array<{ obj: InvolvedObject; type: string; reason: string; message: string }> } {
  const seen: Array<{ obj: InvolvedObject; type: string; reason: string; message: string }> = [];
  return { seen, events: { event: async (obj, type, reason, message) => void seen.push({ obj, type, reason, message }) } };
}

const checkpoint: Checkpoint = {
  apiVersion: 'checkpoint-restore.kcr.io/v1',
  kind: 'Checkpoint',
  metadata: { name: 'c1', namespace: 'apps', uid: 'cp-uid' },
  spec: { containerName: 'app', identity: 'db-0', originalImage: 'db:1', checkpointTimestamp: ago(30) },
  status: { phase: 'ImageBuilt', runtimeImage: RUNTIME },
};

function pod(o: { owned?: boolean; waiting?: { reason: string; message: string }; scheduledMinutesAgo?: number } = {}): PodLike & { apiVersion: string; kind: string } {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'db-0',
      namespace: 'apps',
      uid: 'pod-uid',
      creationTimestamp: ago(o.scheduledMinutesAgo ?? 1),
      annotations: { 'kcr.io/restored-from.app': 'c1' },
      ...(o.owned === false ? {} : { ownerReferences: [{ kind: 'StatefulSet', name: 'db', uid: 'sts-uid', controller: true }] }),
    },
    spec: { nodeName: 'node-1', containers: [{ name: 'app', image: RUNTIME }] },
    status: {
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: ago(o.scheduledMinutesAgo ?? 1) }],
      containerStatuses: [{ name: 'app', restartCount: 0, state: { waiting: o.waiting ?? { reason: 'CreateContainerError', message: NO_COMMAND } } }],
    },
  };
}

function node(labels: Record<string, string> = {}) {
  return {
    metadata: { name: 'node-1', uid: 'node-uid', labels: { 'restore.kcr.io/runtime': 'containerd', 'restore.kcr.io/capable': 'true', ...labels }, annotations: {} },
    status: { nodeInfo: { containerRuntimeVersion: 'containerd://2.3.4' } },
  };
}

async function pass(o: { pod: PodLike; node?: ReturnType<typeof node>; fail?: (c: Call) => ApiException<unknown> | undefined }) {
  const cache = new ObjectCache();
  cache.upsert('Pod', o.pod);
  cache.upsert('Checkpoint', checkpoint);
  if (o.node) cache.upsert('Node', o.node);
  const { api, calls } = fakeApi(o.fail);
  const { events, seen } = fakeEvents();
  await watchRestores({ api, cache, events, logger: silentLogger(), bound: { maxRestores: 3, windowMs: 600_000 }, pullTimeoutMs: 120_000, repositories: { registry: 'reg.example', prefix: 'kcr' }, now: () => NOW });
  return { calls, seen };
}

const nodePatch = (c: Call) => c.verb === 'patch' && c.path === '/api/v1/nodes/node-1';
const setBack = {
  verb: 'patch',
  path: '/api/v1/namespaces/apps/pods/db-0',
  body: { metadata: { uid: 'pod-uid', annotations: { 'kcr.io/restored-from.app': null } }, spec: { containers: [{ name: 'app', image: 'db:1' }] } },
  type: 'strategic',
};

describe('watchRestores: a node that cannot restore', () => {
  it('marks the node, warns on it, and deletes a controller-owned pod so it is replaced; the checkpoint stays good', async () => {
    const { calls, seen } = await pass({ pod: pod(), node: node() });
    const mark = calls.find(nodePatch)!;
    expect(mark.type).toBe('merge');
    const metadata = (mark.body as { metadata: { labels: Record<string, string>; annotations: Record<string, string> } }).metadata;
    expect(metadata.labels).toEqual({ 'restore.kcr.io/capable': 'false' });
    expect(JSON.parse(metadata.annotations['restore.kcr.io/restore-failed']!)).toEqual({
      at: NOW.toISOString(),
      why: expect.stringContaining('does not restore from checkpoint images'),
      runtimeVersion: 'containerd://2.3.4',
      pod: 'apps/db-0',
      checkpoint: 'c1',
    });
    expect(metadata.annotations['restore.kcr.io/capable-reason']).toMatch(/^a restore failed on this node at 2026-03-10T12:00:00.000Z: /);
    expect(calls.filter((c) => c.verb === 'delete')).toEqual([
      { verb: 'delete', path: '/api/v1/namespaces/apps/pods/db-0', body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: 'pod-uid' } } },
    ]);
    expect(calls.some((c) => c.path.includes('/checkpoints/'))).toBe(false);
    expect(seen.map((e) => [e.obj.kind, e.obj.namespace, e.type, e.reason])).toEqual([
      ['Node', '', 'Warning', 'RestoreNotPossibleOnNode'],
      ['Checkpoint', 'apps', 'Warning', 'RestoreNotPossibleOnNode'],
      ['Pod', 'apps', 'Warning', 'RestoreNotPossibleOnNode'],
    ]);
    expect(seen[0]!.message).toContain('kubectl annotate node node-1 restore.kcr.io/restore-failed-');
    expect(seen[2]!.message).toMatch(/stays good; node node-1 is marked unable to restore and the pod is deleted/);
  });

  it.each<[string, { pod: PodLike; node?: ReturnType<typeof node>; fail?: (c: Call) => ApiException<unknown> | undefined }, RegExp, boolean]>([
    ['a bare pod', { pod: pod({ owned: false }), node: node() }, /no controller would replace/, true],
    ['a node an administrator forces capable', { pod: pod(), node: node({ 'restore.kcr.io/capable-override': 'true' }) }, /capable-override=true/, true],
    ['a node the policy would not let it mark', { pod: pod(), node: node(), fail: (c) => (nodePatch(c) ? new ApiException(403, 'forbidden', {}, {}) : undefined) }, /could not be marked/, true],
    ['a node not in the cache', { pod: pod() }, /could not be marked/, false],
  ])('%s: the container starts fresh in place, the pod stays', async (_why, input, why, triedMark) => {
    const { calls, seen } = await pass(input);
    expect(calls.some(nodePatch)).toBe(triedMark);
    expect(calls.filter((c) => c.verb === 'delete')).toEqual([]);
    expect(calls.filter((c) => c.path === '/api/v1/namespaces/apps/pods/db-0')).toEqual([setBack]);
    const onPod = seen.find((e) => e.obj.kind === 'Pod')!;
    expect(onPod.message).toMatch(/stays good; the container starts fresh on node node-1 \(not replaced: /);
    expect(onPod.message).toMatch(why);
  });

  it('with an override, writes only the annotation (the override decides the label)', async () => {
    const { calls } = await pass({ pod: pod(), node: node({ 'restore.kcr.io/capable-override': 'true' }) });
    const metadata = (calls.find(nodePatch)!.body as { metadata: object }).metadata;
    expect(Object.keys(metadata)).toEqual(['annotations']);
  });
});

describe('watchRestores: a checkpoint image that cannot be pulled', () => {
  const denied = { reason: 'ErrImagePull', message: 'pull access denied: 401 Unauthorized' };

  it('within the bound: nothing yet (the kubelet keeps retrying)', async () => {
    const { calls, seen } = await pass({ pod: pod({ waiting: denied, scheduledMinutesAgo: 1 }), node: node() });
    expect(calls).toEqual([]);
    expect(seen).toEqual([]);
  });

  it('past the bound: the container starts fresh in place, the checkpoint stays good and untouched', async () => {
    const { calls, seen } = await pass({ pod: pod({ waiting: denied, scheduledMinutesAgo: 3 }), node: node() });
    expect(calls).toEqual([setBack]);
    expect(seen.map((e) => [e.obj.kind, e.reason])).toEqual([['Checkpoint', 'RestoreImagePullFailed'], ['Pod', 'RestoreImagePullFailed']]);
    expect(seen[1]!.message).toBe(
      'the image of checkpoint c1 could not be pulled within 120 s: ErrImagePull: pull access denied: 401 Unauthorized; checkpoint c1 stays good; the container starts fresh',
    );
  });
});

describe('watchRestores: a restore CRIU failed', () => {
  it('marks the checkpoint bad and its Ready condition False (MarkedBad), so `kubectl wait --for=condition=Ready=false` sees it', async () => {
    const { calls } = await pass({ pod: pod({ waiting: { reason: 'CreateContainerError', message: 'CRIU restoring failed: exit status 1' } }), node: node() });
    const mark = calls.find((c) => c.verb === 'patch' && c.path.endsWith('/checkpoints/c1/status'));
    const status = (mark?.body as { status: Checkpoint['status'] } | undefined)?.status;
    expect(status).toMatchObject({ bad: true, badReason: expect.any(String) });
    const ready = status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'MarkedBad', message: status?.badReason, lastTransitionTime: '2026-03-10T12:00:00Z' });
    // Its image is still in the registry: ImageBuilt stays True.
    expect(status?.conditions?.find((c) => c.type === 'ImageBuilt')).toMatchObject({ status: 'True', reason: 'Pushed' });
  });
});

describe('watchRestores: what it counts', () => {
  function recorder() {
    const restores: string[] = [];
    const bad: string[] = [];
    return { restores, bad, metrics: { restore: (kind: string, outcome: string, reason: string) => void restores.push(`${kind}/${outcome}/${reason}`), badCheckpoint: (reason: string) => void bad.push(reason) } };
  }
  const run = async (p: PodLike, r: ReturnType<typeof recorder>, tally = new RestoreTally()) => {
    const cache = new ObjectCache();
    cache.upsert('Pod', p);
    cache.upsert('Checkpoint', checkpoint);
    cache.upsert('Node', node());
    const { api } = fakeApi();
    await watchRestores({ api, cache, events: fakeEvents().events, logger: silentLogger(), bound: { maxRestores: 3, windowMs: 600_000 }, pullTimeoutMs: 120_000, repositories: { registry: 'reg.example', prefix: 'kcr' }, now: () => NOW, metrics: r.metrics, tally });
  };

  it('a replacement CRIU could not restore: one failed restore and one bad checkpoint, by cause', async () => {
    const r = recorder();
    await run(pod({ waiting: { reason: 'CreateContainerError', message: 'criu failed: type RESTORE errno 0' } }), r);
    expect(r.restores).toEqual(['replacement/failed/criu']);
    expect(r.bad).toEqual(['criu']);
  });

  it('a node that cannot restore: a failed restore, but no bad checkpoint', async () => {
    const r = recorder();
    await run(pod(), r);
    expect(r.restores).toEqual(['replacement/failed/node']);
    expect(r.bad).toEqual([]);
  });

  it('a restored container running its checkpoint image: one restore, counted once across passes', async () => {
    const r = recorder();
    const tally = new RestoreTally();
    const waiting = pod({ waiting: { reason: 'ContainerCreating', message: '' } });
    await run(waiting, r, tally);
    const running = { ...waiting, status: { ...waiting.status, phase: 'Running', containerStatuses: [{ name: 'app', restartCount: 0, state: { running: { startedAt: ago(0) } } }] } } as PodLike;
    await run(running, r, tally);
    await run(running, r, tally);
    expect(r.restores).toEqual(['replacement/restored/Running']);
  });
});
