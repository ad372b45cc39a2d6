// The retention shell with fakes (no module mocking): a Checkpoint deleted under retention takes
// its image with it only when that image lies in the Checkpoint's own namespace's repositories.
import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Checkpoint, CheckpointSchedule } from '../../../src/api/types.ts';
import type { KubeJson } from '../../../src/kube/kube-json.ts';
import { ObjectCache } from '../../../src/controller/object-cache.ts';
import { RetentionRunner } from '../../../src/controller/retention-runner.ts';
import { silentLogger } from '../../../src/log.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;

const cp = (name: string, minute: number, runtimeImage: string): Checkpoint => ({
  apiVersion: 'checkpoint-restore.kcr.io/v1',
  kind: 'Checkpoint',
  metadata: { name, namespace: 'team-a', uid: `uid-${name}`, creationTimestamp: `2026-11-24T06:0${minute}:00Z` },
  spec: { containerName: 'app', identity: 'web-0', podName: 'web-0', checkpointTimestamp: `2026-11-24T06:0${minute}:00Z`, checkpointScheduleRef: { name: 's' } },
  status: { phase: 'ImageBuilt', runtimeImage },
});

const schedule: CheckpointSchedule = {
  apiVersion: 'checkpoint-restore.kcr.io/v1', kind: 'CheckpointSchedule',
  metadata: { name: 's', namespace: 'team-a', uid: 'sched' }, spec: { schedule: '* * * * *', selector: {}, retention: { maxCheckpointsPerContainer: 1 } },
};

async function retain(checkpoints: Checkpoint[]) {
  const cache = new ObjectCache({ namespaces: undefined });
  for (const c of checkpoints) cache.upsert('Checkpoint', c);
  cache.upsert('CheckpointSchedule', schedule);
  const deletedCrs: string[] = [];
  const counted: string[] = [];
  const api = { delete: async (path: string) => void deletedCrs.push(path) } as unknown as KubeJson;
  const runner = new RetentionRunner({ api, cache, events: { event: async () => {} }, logger: silentLogger(), metrics: { retentionDeleted: (reason) => void counted.push(reason) } });
  const pass = await runner.run();
  return { pass, deletedCrs, counted };
}

// The image goes through the Checkpoint's finalizer (test/unit/rules/checkpoint-finalizer.test.ts
// decides which images may go); retention only deletes the Checkpoint, whatever its status says.
describe('retention deletes Checkpoints, never images itself', () => {
  it.each([
    ['its own namespace’s image', `reg.example:5000/kcr/team-a/web-0@${digest('a')}`],
    ['another namespace’s repository', `reg.example:5000/kcr/team-b/vault-0@${digest('a')}`],
    ['another registry', `evil.example/kcr/team-a/web-0@${digest('a')}`],
  ])('a Checkpoint naming %s: the Checkpoint goes', async (_name, image) => {
    const { deletedCrs, pass, counted } = await retain([cp('old', 1, image), cp('new', 2, `reg.example:5000/kcr/team-a/web-0@${digest('b')}`)]);
    expect(pass.deleted.map((d) => d.name)).toEqual(['old']);
    expect(deletedCrs).toHaveLength(1);
    // kcr_retention_deletions_total{reason="count"}
    expect(counted).toEqual(['count']);
  });
});

// Orphan grace and source pods through the shell: the marks are written on the Checkpoints (so
// they survive a controller restart: a new runner reads them back from the cache).
describe('retention runner: orphan marks and living replicas', () => {
  const T0 = Date.parse('2026-11-24T07:00:00Z');
  const ownedBy = (kind: string, name: string) => [{ apiVersion: 'apps/v1', kind, name, uid: `uid-${name}`, controller: true }];
  const stsCp = (name: string, minute: number, annotations?: Record<string, string>): Checkpoint => ({
    ...cp(name, minute, `reg.example:5000/kcr/team-a/db-0@${digest(String(minute))}`),
    metadata: { name, namespace: 'team-a', uid: `uid-${name}`, resourceVersion: `rv-${name}`, ...(annotations ? { annotations } : {}) },
    spec: { containerName: 'app', identity: 'db-0', podName: 'db-0', podUID: 'old', workload: { kind: 'StatefulSet', name: 'db' }, checkpointTimestamp: `2026-11-24T06:0${minute}:00Z` },
  });

  function world(objects: Array<[kind: string, obj: unknown]>) {
    const cache = new ObjectCache({ namespaces: undefined });
    for (const [kind, obj] of objects) cache.upsert(kind, obj);
    const deleted: string[] = [];
    const patches: Array<{ path: string; body: unknown }> = [];
    const api = {
      delete: async (path: string) => void deleted.push(path),
      patch: async (path: string, body: unknown) => {
        patches.push({ path, body });
        // What the API server does with the merge patch, as the informer would deliver it.
        const name = path.split('/').pop()!;
        const current = cache.get<Checkpoint>('Checkpoint', 'team-a', name)!;
        const annotations = { ...current.metadata.annotations, ...(body as { metadata: { annotations: Record<string, string | null> } }).metadata.annotations };
        for (const [k, v] of Object.entries(annotations)) if (v === null) delete annotations[k];
        cache.upsert('Checkpoint', { ...current, metadata: { ...current.metadata, annotations, resourceVersion: `${current.metadata.resourceVersion}+` } });
        return {};
      },
    } as unknown as KubeJson;
    const runner = (at: number) => new RetentionRunner({
      api, cache, events: { event: async () => {} }, logger: silentLogger(), now: () => new Date(at),
    });
    return { cache, deleted, patches, runner };
  }

  it('a StatefulSet gone with its pods: marked first, kept through the grace by a restarted controller, then deleted; back in time: the mark cleared', async () => {
    const w = world([['Checkpoint', stsCp('c1', 1)], ['Checkpoint', stsCp('c2', 2)]]);
    const first = await w.runner(T0).run();
    expect(first.deleted).toEqual([]);
    expect(first.marked).toEqual([
      { namespace: 'team-a', name: 'c2', orphanedSince: new Date(T0).toISOString() },
      { namespace: 'team-a', name: 'c1', orphanedSince: new Date(T0).toISOString() },
    ]);
    expect(w.patches[0]).toEqual({
      path: '/apis/checkpoint-restore.kcr.io/v1/namespaces/team-a/checkpoints/c2',
      body: { metadata: { uid: 'uid-c2', resourceVersion: 'rv-c2', annotations: { 'kcr.io/orphaned-since': new Date(T0).toISOString() } } },
    });
    // A new runner (a restarted controller or a new leader) 59 min later: the marks are on the objects.
    const during = await w.runner(T0 + 59 * 60_000).run();
    expect(during).toMatchObject({ deleted: [], marked: [] });
    const after = await w.runner(T0 + 60 * 60_000).run();
    expect(after.deleted.map((d) => `${d.name}:${d.reason}`)).toEqual(['c2:orphan', 'c1:orphan']);
  });

  it('the StatefulSet re-applied (or its pod still running after --cascade=orphan): the marks are cleared, nothing deleted', async () => {
    const mark = { 'kcr.io/orphaned-since': new Date(T0 - 7200_000).toISOString() };
    for (const alive of [
      ['StatefulSet', { metadata: { name: 'db', namespace: 'team-a' } }],
      ['Pod', { metadata: { name: 'db-0', namespace: 'team-a', uid: 'orphaned-pod' }, status: { phase: 'Running' } }],
    ] as Array<[string, unknown]>) {
      const w = world([['Checkpoint', stsCp('c1', 1, mark)], alive]);
      const pass = await w.runner(T0).run();
      expect(pass.deleted).toEqual([]);
      expect(pass.marked).toEqual([{ namespace: 'team-a', name: 'c1', orphanedSince: null }]);
      expect(w.cache.get<Checkpoint>('Checkpoint', 'team-a', 'c1')!.metadata.annotations).toEqual({});
    }
  });

  it('a mark that conflicts (the cache is behind) is not counted, and the next pass asks again', async () => {
    const w = world([['Checkpoint', stsCp('c1', 1)]]);
    const api = { patch: async () => { throw new ApiException(409, 'conflict', {}, {}); }, delete: async () => {} } as unknown as KubeJson;
    const runner = new RetentionRunner({ api, cache: w.cache, events: { event: async () => {} }, logger: silentLogger(), now: () => new Date(T0) });
    expect((await runner.run()).marked).toEqual([]);
  });

  it('keeps the newest checkpoint of each of a Deployment’s three living replicas under maxCheckpointsPerContainer 1', async () => {
    const replica = (name: string, minute: number, pod: string): Checkpoint => ({
      ...cp(name, minute, `reg.example:5000/kcr/team-a/api@${digest(String(minute))}`),
      spec: { containerName: 'app', identity: 'api', podName: pod, podUID: `uid-${pod}`, workload: { kind: 'Deployment', name: 'api' }, checkpointTimestamp: `2026-11-24T06:0${minute}:00Z`, checkpointScheduleRef: { name: 's' } },
    });
    const pod = (name: string) => ['Pod', {
      metadata: { name, namespace: 'team-a', uid: `uid-${name}`, ownerReferences: ownedBy('ReplicaSet', 'api-6b7c'), labels: { 'pod-template-hash': '6b7c' } },
      status: { phase: 'Running' },
    }] as [string, unknown];
    const w = world([
      ['CheckpointSchedule', schedule], ['Deployment', { metadata: { name: 'api', namespace: 'team-a' } }],
      pod('api-6b7c-a'), pod('api-6b7c-b'), pod('api-6b7c-c'),
      ['Checkpoint', replica('a1', 1, 'api-6b7c-a')], ['Checkpoint', replica('a2', 4, 'api-6b7c-a')],
      ['Checkpoint', replica('b1', 2, 'api-6b7c-b')], ['Checkpoint', replica('b2', 5, 'api-6b7c-b')],
      ['Checkpoint', replica('c1', 3, 'api-6b7c-c')], ['Checkpoint', replica('c2', 6, 'api-6b7c-c')],
    ]);
    const pass = await w.runner(T0).run();
    expect(pass.deleted.map((d) => `${d.name}:${d.reason}`).sort()).toEqual(['a1:count', 'b1:count', 'c1:count']);
    expect(pass.marked).toEqual([]);
  });
});
