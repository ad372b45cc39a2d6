// The projecting informer against the REAL kube-apiserver: while it runs (pages of 50, so the
// list is paginated), a burst of pods is created, updated and deleted with bounded concurrency
// (held by a scheduling gate: nothing runs them); a second informer starts in the middle of the
// burst, watching as the webhook watches pods (metadata only, not Succeeded or Failed), while
// some pods turn Failed. Once quiet, each one's store equals a fresh paginated list of what it
// watches, key by key and projection by projection, and what its consumer was told
// (add/update/delete) equals it too.
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectCachePod } from '../../src/controller/cache-projections.ts';
import { getJson } from '../../src/kube/raw.ts';
import { ProjectedInformer, type Projection } from '../../src/kube/projected-informer.ts';
import { silentLogger } from '../../src/log.ts';
import type { Projected } from '../../webhooks/index-projections.ts';
import { INDEX_FIELD_SELECTORS, projectIndexPod } from '../../webhooks/index-projections.ts';
import { clientsFor, createNamespace, deleteNamespace, eventually, testCluster, type Clients } from './cluster-clients.ts';

const cluster = testCluster();
// 4,800 pods: with their patches, deletes and the scheduler's status writes, over 10,000 events.
const PODS = Number(process.env.KCR_EXACTNESS_PODS ?? 4800);
const CONCURRENCY = 16;
let c: Clients;
let ns: string;
const informers: Array<ProjectedInformer<Projected>> = [];

function podBody(i: number) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `burst-${i}`, labels: { app: 'burst', shard: String(i % 5) }, annotations: { 'kcr.io/restored-from.a': `cp-${i}` } },
    spec: {
      schedulingGates: [{ name: 'kcr.io/exactness-hold' }],
      automountServiceAccountToken: false,
      containers: [{ name: 'a', image: 'registry.k8s.io/pause:3.10' }, { name: 'b', image: 'registry.k8s.io/pause:3.10' }],
    },
  };
}

/** Runs `work` over 0..n-1 with at most `limit` in flight. */
async function bounded(n: number, limit: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, n) }, async () => {
    while (next < n) await work(next++);
  }));
}

/** How the webhook watches pods (webhooks/informers.ts). */
const AS_WEBHOOK = { metadataOnly: true, fieldSelector: INDEX_FIELD_SELECTORS.Pod! };
type Watched = Partial<typeof AS_WEBHOOK>;

/** A fresh list, page by page, projected: what every store must equal. */
async function freshList(path: string, project: Projection<Projected>, watched: Watched = {}): Promise<Map<string, Projected>> {
  const out = new Map<string, Projected>();
  let token: string | undefined;
  const selector = watched.fieldSelector ? `&fieldSelector=${encodeURIComponent(watched.fieldSelector)}` : '';
  const accept = watched.metadataOnly ? 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1' : 'application/json';
  do {
    const page = await getJson<{ apiVersion: string; kind: string; metadata?: { continue?: string }; items: unknown[] }>(c.kc, `${path}?limit=100${selector}${token ? `&continue=${encodeURIComponent(token)}` : ''}`, undefined, accept);
    for (const item of page.items) {
      const m = (item as { metadata: { namespace?: string; name: string } }).metadata;
      // Typed as the list says (PodList: Pod), as watch events' objects are.
      out.set(`${m.namespace ?? ''}/${m.name}`, project({ apiVersion: page.apiVersion, kind: page.kind.replace(/List$/, ''), ...(item as object) })!);
    }
    token = page.metadata?.continue || undefined;
  } while (token !== undefined);
  return out;
}

function startInformer(path: string, project: Projection<Projected>, watched: Watched = {}) {
  const informer = new ProjectedInformer<Projected>({ kc: c.kc, path, project, pageSize: 50, logger: silentLogger(), silentMs: 60_000, ...watched });
  informers.push(informer);
  const told = new Map<string, Projected>();
  const events = { count: 0 };
  const key = (o: Projected) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  informer.on('add', (o) => void (events.count++, told.set(key(o), o)));
  informer.on('update', (o) => void (events.count++, told.set(key(o), o)));
  informer.on('delete', (o) => void (events.count++, told.delete(key(o))));
  const errors: unknown[] = [];
  informer.on('error', (e) => errors.push(e));
  return { informer, told, errors, events };
}

function asMap(informer: ProjectedInformer<Projected>): Map<string, Projected> {
  return new Map(informer.list().map((o) => [`${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`, o]));
}

const canonical = (m: Map<string, Projected>) => [...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, JSON.stringify(v)]);

beforeAll(async () => {
  c = clientsFor(cluster.kubeconfig);
  ns = await createNamespace(c.core, 'kcr-exact');
  // Pods are refused until the namespace's default ServiceAccount exists.
  await eventually('default ServiceAccount', async () => (await c.core.readNamespacedServiceAccount({ name: 'default', namespace: ns }).catch(() => undefined)) ?? undefined);
});

afterAll(async () => {
  await Promise.allSettled(informers.map((i) => i.stop()));
  if (ns) await deleteNamespace(c.core, ns);
});

describe('projected informer exactness against the API server', () => {
  it('after a burst of creates, updates and deletes, each store equals a fresh paginated list', async () => {
    const path = `/api/v1/namespaces/${ns}/pods`;
    // Some pods before the first list, so it spans pages.
    await bounded(120, CONCURRENCY, async (i) => void (await c.core.createNamespacedPod({ namespace: ns, body: podBody(i) })));
    const early = startInformer(path, projectCachePod);
    await early.informer.start();
    let late: ReturnType<typeof startInformer> | undefined;

    await bounded(PODS, CONCURRENCY, async (i) => {
      if (i >= 120) await c.core.createNamespacedPod({ namespace: ns, body: podBody(i) });
      if (i === Math.floor(PODS / 2)) {
        // The second informer lists while the burst goes on.
        late = startInformer(path, projectIndexPod, AS_WEBHOOK);
        await late.informer.start();
      }
      if (i % 2 === 0) {
        await c.core.patchNamespacedPod({ namespace: ns, name: `burst-${i}`, body: { metadata: { labels: { touched: 'yes' }, annotations: { 'kcr.io/restored-from.b': `cp-x-${i}` } } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      }
      // Terminal: it leaves what the webhook watches (a delete to it), not the early informer's store.
      if (i % 5 === 1) {
        await c.core.patchNamespacedPodStatus({ namespace: ns, name: `burst-${i}`, body: { status: { phase: 'Failed', reason: 'Evicted' } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      }
      if (i % 3 === 0) await c.core.deleteNamespacedPod({ namespace: ns, name: `burst-${i}`, gracePeriodSeconds: 0 });
    });

    for (const [which, project, watched] of [[early, projectCachePod, {}], [late!, projectIndexPod, AS_WEBHOOK]] as const) {
      await eventually(`store of the ${project === projectCachePod ? 'early' : 'late'} informer equals a fresh list`, async () => {
        const fresh = await freshList(path, project, watched);
        const same = JSON.stringify(canonical(asMap(which.informer))) === JSON.stringify(canonical(fresh))
          && JSON.stringify(canonical(which.told)) === JSON.stringify(canonical(fresh));
        return same ? true : undefined;
      }, 60_000, 500).catch(() => undefined); // the expectations below show what differs
      const fresh = await freshList(path, project, watched);
      expect([...asMap(which.informer).keys()].sort()).toEqual([...fresh.keys()].sort());
      expect(canonical(asMap(which.informer))).toEqual(canonical(fresh));
      expect(canonical(which.told)).toEqual(canonical(fresh));
      expect(which.errors).toEqual([]);
    }
    expect(asMap(early.informer).size).toBe(PODS - Math.ceil(PODS / 3));
    const failedKept = Array.from({ length: PODS }, (_, i) => i).filter((i) => i % 5 === 1 && i % 3 !== 0).length;
    expect(asMap(late!.informer).size).toBe(PODS - Math.ceil(PODS / 3) - failedKept);
    // Creates, patches, deletes and the scheduler's status writes: about 2.17 events a pod.
    expect(early.events.count).toBeGreaterThan(PODS * 2.1);
    // Nothing but the projection is kept.
    expect(JSON.stringify(early.informer.list())).not.toContain('managedFields');
    expect(JSON.stringify(late!.informer.list())).not.toContain('schedulingGates');
  });
});
