// The projecting informer against an HTTP server speaking the list/watch protocol
// (test/support/list-watch-api.ts): paginated lists, a relist after 410 Gone (a watch ERROR event,
// an HTTP 410 on an expired continue token) that leaves the consumer equal to a fresh list, a
// silent watch restarted after the bound, and a burst of 10,000 pod events that leaves the
// consumer exactly equal to a fresh list (keys and projected content).
import { afterEach, describe, expect, it } from 'vitest';
import { ProjectedInformer, type Projection } from '../../src/kube/projected-informer.ts';
import type { Projected } from '../../webhooks/index-projections.ts';
import { projectIndexPod } from '../../webhooks/index-projections.ts';
import { silentLogger } from '../../src/log.ts';
import { RestoreIndex } from '../../webhooks/restore-index.ts';
import { InformerSet } from '../../webhooks/informers.ts';
import { ListWatchApi } from '../support/list-watch-api.ts';

const PATH = '/api/v1/pods';

function pod(i: number, over: { phase?: string; restoredFrom?: string; terminating?: boolean } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `p-${String(i).padStart(5, '0')}`,
      namespace: `ns-${i % 7}`,
      uid: `uid-${i}`,
      labels: { app: 'bench', shard: String(i % 10) },
      annotations: { ...(over.restoredFrom ? { 'kcr.io/restored-from': over.restoredFrom } : {}), 'unrelated.example/big': 'x'.repeat(200) },
      managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:spec': { 'f:containers': {} } } }],
      ...(over.terminating ? { deletionTimestamp: '2026-11-24T06:00:00Z' } : {}),
    },
    spec: { containers: [{ name: 'a', image: 'busybox' }, { name: 'b', image: 'busybox' }], schedulingGates: [{ name: 'kcr.io/hold' }] },
    status: { phase: over.phase ?? 'Pending' },
  };
}

/** What a consumer holds: namespace/name -> the projection it was last given. */
function consumer(informer: ProjectedInformer<Projected>) {
  const seen = new Map<string, Projected>();
  const key = (o: Projected) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  informer.on('add', (o) => seen.set(key(o), o));
  informer.on('update', (o) => seen.set(key(o), o));
  informer.on('delete', (o) => seen.delete(key(o)));
  return seen;
}

/** A fresh list of the server, projected: what the consumer must equal. */
function freshProjected(api: ListWatchApi, project: Projection<Projected>): Map<string, Projected> {
  return new Map([...api.snapshot()].map(([k, o]) => [k, project(o)!]));
}

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function sameAs(seen: Map<string, Projected>, fresh: Map<string, Projected>): boolean {
  if (seen.size !== fresh.size) return false;
  for (const [k, v] of fresh) if (JSON.stringify(seen.get(k)) !== JSON.stringify(v)) return false;
  return true;
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setUp(options: { pageSize?: number; silentMs?: number; watchTimeoutSeconds?: number } = {}) {
  const api = new ListWatchApi(PATH);
  await api.listen();
  const informer = new ProjectedInformer<Projected>({ kc: api.kubeconfig(), path: PATH, project: projectIndexPod, logger: silentLogger(), ...options });
  const errors: unknown[] = [];
  informer.on('error', (e) => errors.push(e));
  cleanup.push(async () => {
    await informer.stop();
    await api.close();
  });
  return { api, informer, errors, seen: consumer(informer) };
}

describe('ProjectedInformer', () => {
  it('lists page by page (limit/continue) and keeps only the projection', async () => {
    const { api, informer, seen } = await setUp({ pageSize: 100 });
    for (let i = 0; i < 1234; i++) api.put(pod(i));
    await informer.start();
    expect(api.seen.pages).toBe(13);
    expect(new Set(api.seen.limits)).toEqual(new Set(['100']));
    expect(sameAs(seen, freshProjected(api, projectIndexPod))).toBe(true);
    const stored = informer.get('p-00003', 'ns-3')!;
    expect(stored).toEqual({ metadata: { name: 'p-00003', namespace: 'ns-3', uid: 'uid-3' }, status: { phase: 'Pending' } });
    expect(JSON.stringify(informer.list())).not.toMatch(/managedFields|unrelated|busybox/);
    expect(informer.latestResourceVersion()).toBe(api.resourceVersion);
  });

  it('follows the watch from the list, with bookmarks moving its resourceVersion, and reports the stream up and down', async () => {
    const { api, informer, seen, errors } = await setUp();
    const connection: boolean[] = [];
    informer.onConnection((up) => connection.push(up));
    api.put(pod(1));
    await informer.start();
    expect(connection).toEqual([true]);
    api.put(pod(2));
    api.put(pod(1, { phase: 'Running' }));
    api.remove('ns-2', 'p-00002');
    await until('watch events applied', () => seen.size === 1 && (seen.get('ns-1/p-00001')?.status as { phase?: string } | undefined)?.phase === 'Running');
    api.bookmark();
    await until('bookmark seen', () => informer.latestResourceVersion() === api.resourceVersion);
    // The server's timeout: the watch is reopened from the tracked resourceVersion, no relist.
    api.endWatches();
    await until('reconnected', () => connection.length >= 3);
    expect(connection.slice(0, 3)).toEqual([true, false, true]);
    expect(informer.stats.lists).toBe(1);
    api.put(pod(3));
    await until('event after reconnect', () => seen.has('ns-3/p-00003'));
    expect(errors).toEqual([]);
  });

  it('after a watch ERROR 410 relists and ends equal to a fresh list (deletes for what vanished meanwhile)', async () => {
    const { api, informer, seen, errors } = await setUp({ pageSize: 50 });
    for (let i = 0; i < 300; i++) api.put(pod(i));
    await informer.start();
    // Changes the watch never delivers, then the history is compacted and the watch expired.
    for (let i = 0; i < 300; i += 3) api.removeQuietly(`ns-${i % 7}`, `p-${String(i).padStart(5, '0')}`);
    for (let i = 1; i < 300; i += 3) api.putQuietly(pod(i, { phase: 'Running', restoredFrom: 'cp-1' }));
    for (let i = 300; i < 350; i++) api.putQuietly(pod(i));
    const deletes: string[] = [];
    informer.on('delete', (o) => deletes.push(o.metadata?.name ?? ''));
    api.expireWatches();
    await until('relisted', () => informer.stats.relists410 === 1 && sameAs(seen, freshProjected(api, projectIndexPod)));
    expect(deletes).toHaveLength(100);
    expect([...informer.list()].length).toBe(api.snapshot().size);
    expect(errors).toEqual([]);
    // And it watches again from the new list.
    api.put(pod(999));
    await until('watching again', () => seen.has('ns-5/p-00999'));
  });

  it('after an HTTP 410 on an expired continue token lists again from the first page', async () => {
    const { api, informer, seen } = await setUp({ pageSize: 10 });
    for (let i = 0; i < 45; i++) api.put(pod(i));
    let expired = false;
    api.afterPage = (n) => {
      // After the second page: an object goes, the snapshot behind the token expires.
      if (n === 2 && !expired) {
        expired = true;
        api.removeQuietly('ns-0', 'p-00000');
        api.compact();
      }
    };
    await informer.start();
    expect(api.seen.pages).toBe(2 + 1 + 5);
    expect(sameAs(seen, freshProjected(api, projectIndexPod))).toBe(true);
    expect(seen.has('ns-0/p-00000')).toBe(false);
  });

  it.each([false, true])('a resumed start() from an expired resourceVersion relists (HTTP 410 to the watch: %s, else an ERROR 410 event)', async (goneAsHttp) => {
    const { api, informer, seen } = await setUp();
    api.goneAsHttp = goneAsHttp;
    api.put(pod(1));
    await informer.start();
    await informer.stop();
    api.removeQuietly('ns-1', 'p-00001');
    api.putQuietly(pod(2));
    api.compact();
    // The watch from the old resourceVersion opens, then answers ERROR 410: a relist follows.
    await informer.start();
    await until('relisted', () => informer.stats.lists === 2 && sameAs(seen, freshProjected(api, projectIndexPod)));
    expect(seen.has('ns-1/p-00001')).toBe(false);
  });

  it('restarts a watch silent (no event, no bookmark) longer than the bound', async () => {
    const { api, informer, seen } = await setUp({ silentMs: 300 });
    api.put(pod(1));
    api.silenceNewWatches = true;
    await informer.start();
    expect(api.seen.watches).toBe(1);
    // The server "delivers" into the dead watch: the informer cannot know, until the bound.
    api.put(pod(2));
    await new Promise((r) => setTimeout(r, 150));
    expect(seen.has('ns-2/p-00002')).toBe(false);
    api.silenceNewWatches = false;
    await until('restarted after the bound', () => informer.stats.silentRestarts >= 1 && api.seen.watches >= 2);
    // The new watch starts from the last resourceVersion it saw, so it gets what it missed.
    await until('missed event delivered', () => seen.has('ns-2/p-00002'));
    expect(informer.stats.lists).toBe(1);
  });

  it('a burst of 10,000 pod events (adds, updates, deletes) leaves the consumer and the restore index exactly equal to a fresh list', async () => {
    const api = new ListWatchApi(PATH);
    await api.listen();
    const informer = new ProjectedInformer<Projected>({ kc: api.kubeconfig(), path: PATH, project: projectIndexPod, logger: silentLogger() });
    const index = new RestoreIndex();
    const set = new InformerSet({ feeds: [{ name: 'pods', kind: 'Pod', informer, connection: informer }], index, logger: silentLogger() });
    const seen = consumer(informer);
    cleanup.push(async () => {
      await set.stop();
      await api.close();
    });
    for (let i = 0; i < 2000; i++) api.put(pod(i));
    set.start();
    await set.whenSynced();
    // 10,000 events: 4,000 adds, 4,000 updates, 2,000 deletes, interleaved.
    let next = 2000;
    for (let round = 0; round < 2000; round++) {
      api.put(pod(next++));
      api.put(pod(next++, { phase: 'Running' }));
      const victim = Math.floor(Math.random() * next);
      api.put(pod(victim, { phase: round % 2 === 0 ? 'Succeeded' : 'Running', restoredFrom: `cp-${round}` }));
      api.put(pod(Math.floor(Math.random() * next), { terminating: true }));
      api.remove(`ns-${(round * 13) % 7}`, `p-${String((round * 37) % next).padStart(5, '0')}`);
    }
    const fresh = freshProjected(api, projectIndexPod);
    await until('burst applied', () => sameAs(seen, fresh), 30_000);
    expect([...seen.keys()].sort()).toEqual([...fresh.keys()].sort());
    expect(index.sizes().Pod).toBe(fresh.size);
    for (const o of api.snapshot().values()) {
      expect(index.podByName(o.metadata.namespace ?? '', o.metadata.name)?.uid).toBe(o.metadata.uid);
    }
    expect(set.stale()).toEqual([]);
  });
});
