// The RestoreRequest runner with a fake API (no module mocking): a bare pod's manifest goes into a
// ConfigMap in kcr's namespace before the pod is deleted, the pod is recreated only from the
// ConfigMap of that very request and only in its namespace, and kept ConfigMaps go with their
// request (finished, or gone: the sweep).
import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { API_VERSION, type Checkpoint, type RestoreRequest } from '../../../src/api/types.ts';
import type { EventRecorder } from '../../../src/controller/events.ts';
import { sweepKeptManifests } from '../../../src/controller/kept-manifest-sweep.ts';
import { projectCachePod } from '../../../src/controller/cache-projections.ts';
import { ObjectCache } from '../../../src/controller/object-cache.ts';
import { runRestoreRequests } from '../../../src/controller/restore-request-runner.ts';
import type { KubeJson } from '../../../src/kube/kube-json.ts';
import { silentLogger } from '../../../src/log.ts';
import { KEPT_LABELS, keptConfigMap, type KeptConfigMap } from '../../../src/restore/kept-manifest.ts';

const NOW = new Date('2026-12-01T10:00:00Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const UID = 'rr-uid-0001';
const KEPT = `kcr-restore-${UID}`;
const CM_PATH = '/api/v1/namespaces/kcr-system/configmaps';
const RUNTIME = `reg/kcr/apps/solo@sha256:${'a'.repeat(64)}`;

interface Call {
  verb: string;
  path: string;
  body?: unknown;
}

/** The bare pod as the API server has it: more than the controller's cache keeps of it (env, volumes). */
const LIVE_SOLO = '/api/v1/namespaces/apps/pods/solo';

/** An API server holding ConfigMaps (create/get/list/delete with 404/409 as the real one answers) and pods to read; every other call is recorded and succeeds. */
function fakeApi(configMaps: Map<string, KeptConfigMap> = new Map(), pods: Map<string, unknown> = new Map([[LIVE_SOLO, liveBare]])) {
  const calls: Call[] = [];
  const notFound = () => new ApiException(404, 'not found', {}, {});
  let uid = 0;
  const api: KubeJson = {
    get: async <T>(path: string) => {
      calls.push({ verb: 'get', path });
      if (path.startsWith(`${CM_PATH}?labelSelector=`)) {
        const key = decodeURIComponent(path.split('labelSelector=')[1]!);
        return { items: [...configMaps.values()].filter((c) => c.metadata?.labels?.[key] !== undefined) } as T;
      }
      const pod = pods.get(path);
      if (pod) return structuredClone(pod) as T;
      const cm = configMaps.get(path);
      if (!cm) throw notFound();
      return structuredClone(cm) as T;
    },
    create: async <T>(path: string, body: unknown) => {
      calls.push({ verb: 'create', path, body });
      if (path === CM_PATH) {
        const cm = body as KeptConfigMap;
        const key = `${path}/${cm.metadata?.name}`;
        if (configMaps.has(key)) throw new ApiException(409, 'already exists', {}, {});
        configMaps.set(key, { ...cm, metadata: { ...cm.metadata, uid: `cm-${++uid}` } });
      }
      return body as T;
    },
    replace: async <T>(path: string, body: unknown) => {
      calls.push({ verb: 'replace', path, body });
      return body as T;
    },
    patch: async <T>(path: string, body: unknown) => {
      calls.push({ verb: 'patch', path, body });
      return body as T;
    },
    delete: async (path: string, body?: unknown) => {
      calls.push({ verb: 'delete', path, body });
      if (path.startsWith(CM_PATH)) {
        const cm = configMaps.get(path);
        if (!cm) throw notFound();
        const want = (body as { preconditions?: { uid?: string } } | undefined)?.preconditions?.uid;
        if (want !== undefined && want !== cm.metadata?.uid) throw new ApiException(409, 'precondition failed', {}, {});
        configMaps.delete(path);
      }
    },
  };
  return { api, calls, configMaps };
}

function recorder() {
  const seen: Array<{ type: string; reason: string; message: string }> = [];
  const events: EventRecorder = { event: async (_obj, type, reason, message) => void seen.push({ type, reason, message }) };
  return { events, seen };
}

function request(status: RestoreRequest['status'], over: { uid?: string; phase?: 'Completed' } = {}): RestoreRequest {
  return {
    apiVersion: API_VERSION,
    kind: 'RestoreRequest',
    metadata: { name: 'back', namespace: 'apps', uid: over.uid ?? UID, generation: 2 },
    spec: { podReference: { name: 'solo' } },
    status: { phase: 'Restoring', startTime: ago(30), sourcePodUID: 'pod-1', identity: 'solo', checkpoints: ['c'], pinnedAt: ago(20), ...status, ...(over.phase ? { phase: over.phase } : {}) },
  };
}

const bare = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'solo', namespace: 'apps', uid: 'pod-1', annotations: { 'kcr.io/restore': 'true' }, creationTimestamp: ago(3600) },
  spec: { nodeName: 'node-1', serviceAccountName: 'reader', containers: [{ name: 'app', image: RUNTIME }] },
  status: { phase: 'Running' },
};

const liveBare = {
  ...bare,
  metadata: { ...bare.metadata, managedFields: [{ manager: 'kubectl' }] },
  spec: { ...bare.spec, containers: [{ name: 'app', image: RUNTIME, env: [{ name: 'MODE', value: 'primary' }] }], volumes: [{ name: 'data', emptyDir: {} }] },
};

const checkpoint: Checkpoint = {
  apiVersion: API_VERSION,
  kind: 'Checkpoint',
  metadata: { name: 'c', namespace: 'apps' },
  spec: { containerName: 'app', identity: 'solo', originalImage: 'app:1', checkpointTimestamp: ago(60) },
  status: { phase: 'ImageBuilt', runtimeImage: RUNTIME },
};

/** A node whose agent published that it restores CRI-O checkpoints: somewhere a replacement can be restored. */
const capableNode = { metadata: { name: 'node-1', labels: { 'restore.kcr.io/capable': 'true', 'restore.kcr.io/runtime': 'cri-o', 'kubernetes.io/arch': 'amd64' } } };

function cacheWith(...objects: Array<[string, unknown]>): ObjectCache {
  const cache = new ObjectCache();
  cache.upsert('Node', capableNode);
  for (const [kind, o] of objects) cache.upsert(kind, o);
  return cache;
}

async function run(cache: ObjectCache, api: KubeJson, events = recorder().events, counted: string[] = []) {
  const metrics = { restore: (kind: string, outcome: string, reason: string) => void counted.push(`${kind}/${outcome}/${reason}`) };
  await runRestoreRequests({ api, kcrNamespace: 'kcr-system', cache, events, logger: silentLogger(), repositories: { registry: 'reg', prefix: 'kcr' }, now: () => NOW, metrics });
}

const statusPatches = (calls: Call[]) => calls.filter((c) => c.verb === 'patch' && c.path.endsWith('/status')).map((c) => (c.body as { status: RestoreRequest['status'] }).status!);

describe('a bare pod\'s restore', () => {
  it('keeps the manifest (read from the API server: the cache holds a projection) in kcr\'s namespace, then names it in the status, then deletes the pod', async () => {
    const { api, calls, configMaps } = fakeApi();
    await run(cacheWith(['RestoreRequest', request({})], ['Pod', projectCachePod(liveBare)], ['Checkpoint', checkpoint]), api);
    expect(calls.map((c) => `${c.verb} ${c.path.replace(/\/apis\/[^/]+\/[^/]+/, '')}`)).toEqual([
      `get ${LIVE_SOLO}`,
      `create ${CM_PATH}`,
      'patch /namespaces/apps/restorerequests/back/status',
      'delete /api/v1/namespaces/apps/pods/solo',
    ]);
    const cm = configMaps.get(`${CM_PATH}/${KEPT}`)!;
    expect(cm.metadata?.labels).toMatchObject({ [KEPT_LABELS.uid]: UID, [KEPT_LABELS.namespace]: 'apps' });
    expect(JSON.parse(cm.data!['pod.json']!)).toMatchObject({ metadata: { name: 'solo', namespace: 'apps' }, spec: {
      serviceAccountName: 'reader', containers: [{ image: 'app:1', env: [{ name: 'MODE', value: 'primary' }] }], volumes: [{ name: 'data', emptyDir: {} }],
    } });
    const [status] = statusPatches(calls);
    expect(status).toMatchObject({ keptManifest: KEPT });
    expect(JSON.stringify(status)).not.toContain('app:1');
  });

  it('keeps nothing and deletes nothing when the pod of that name is gone or another one by now', async () => {
    for (const pods of [new Map<string, unknown>(), new Map<string, unknown>([[LIVE_SOLO, { ...liveBare, metadata: { ...liveBare.metadata, uid: 'pod-2' } }]])]) {
      const { api, calls, configMaps } = fakeApi(new Map(), pods);
      await run(cacheWith(['RestoreRequest', request({})], ['Pod', bare], ['Checkpoint', checkpoint]), api);
      expect(calls.map((c) => `${c.verb} ${c.path}`)).toEqual([`get ${LIVE_SOLO}`]);
      expect(configMaps.size).toBe(0);
    }
  });

  it('replaces what an earlier try of the same step kept', async () => {
    const { api, configMaps } = fakeApi();
    const stale = keptConfigMap(request({}), 'kcr-system', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo' }, spec: { containers: [] } });
    configMaps.set(`${CM_PATH}/${KEPT}`, stale);
    await run(cacheWith(['RestoreRequest', request({})], ['Pod', bare], ['Checkpoint', checkpoint]), api);
    expect(JSON.parse(configMaps.get(`${CM_PATH}/${KEPT}`)!.data!['pod.json']!).spec.containers).toHaveLength(1);
  });

  it('recreates the pod from the kept ConfigMap, in the request\'s namespace', async () => {
    const { api, calls } = fakeApi();
    await run(cacheWith(['RestoreRequest', request({})], ['Pod', bare], ['Checkpoint', checkpoint]), api);
    calls.length = 0;
    await run(cacheWith(['RestoreRequest', request({ keptManifest: KEPT })], ['Checkpoint', checkpoint]), api);
    expect(calls[0]).toMatchObject({ verb: 'get', path: `${CM_PATH}/${KEPT}` });
    const created = calls.find((c) => c.verb === 'create');
    expect(created?.path).toBe('/api/v1/namespaces/apps/pods');
    expect(created?.body).toMatchObject({ kind: 'Pod', metadata: { name: 'solo', namespace: 'apps' }, spec: { serviceAccountName: 'reader', automountServiceAccountToken: false } });
    expect(statusPatches(calls)[0]).toMatchObject({ phase: 'Restoring', keptManifest: KEPT });
    expect(statusPatches(calls)[0]!.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual(['Complete=False/Restoring', 'Failed=False/Restoring']);
  });

  it('refuses a ConfigMap under its name that keeps another request\'s manifest: no pod, Failed, an Event', async () => {
    const other = keptConfigMap(request({}, { uid: 'someone-else' }), 'kcr-system', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo', namespace: 'apps' }, spec: { serviceAccountName: 'admin', containers: [] } });
    const { api, calls } = fakeApi(new Map([[`${CM_PATH}/${KEPT}`, { ...other, metadata: { ...other.metadata, name: KEPT } }]]));
    const { events, seen } = recorder();
    await run(cacheWith(['RestoreRequest', request({ keptManifest: KEPT })]), api, events);
    expect(calls.some((c) => c.verb === 'create')).toBe(false);
    expect(statusPatches(calls)[0]).toMatchObject({ phase: 'Failed', message: expect.stringMatching(/RestoreRequest apps\/back \(uid someone-else\), not of this one .*refused/) });
    expect(seen).toEqual([expect.objectContaining({ type: 'Warning', reason: 'RestoreFailed' })]);
  });

  it('fails when the kept manifest is gone, and creates nothing', async () => {
    const { api, calls } = fakeApi();
    const counted: string[] = [];
    await run(cacheWith(['RestoreRequest', request({ keptManifest: KEPT })]), api, undefined, counted);
    expect(calls.some((c) => c.verb === 'create')).toBe(false);
    expect(statusPatches(calls)[0]).toMatchObject({ phase: 'Failed', message: expect.stringContaining('is gone') });
    // `kubectl wait --for=condition=Failed restorerequest/back` returns; Complete never turns True.
    const conditions = statusPatches(calls)[0]!.conditions ?? [];
    expect(conditions.find((c) => c.type === 'Failed')).toMatchObject({ status: 'True', reason: 'RestoreFailed', message: expect.stringContaining('is gone'), observedGeneration: 2 });
    expect(conditions.find((c) => c.type === 'Complete')).toMatchObject({ status: 'False', reason: 'RestoreFailed' });
    expect(statusPatches(calls)[0]!.observedGeneration).toBe(2);
    // kcr_restores_total{kind="restore-request",outcome="failed"}, once.
    expect(counted).toHaveLength(1);
    expect(counted[0]).toMatch(/^restore-request\/failed\//);
  });

  it('a forged status.podManifest makes it create nothing', async () => {
    const { api, calls } = fakeApi();
    const forged = request({ podManifest: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo' }, spec: { serviceAccountName: 'admin' } } } as RestoreRequest['status']);
    await run(cacheWith(['RestoreRequest', forged], ['Checkpoint', checkpoint]), api);
    expect(calls).toEqual([]);
  });

  it('deletes the kept manifest when the request finishes, by the name its uid gives, never one a forged status names', async () => {
    const mine = keptConfigMap(request({}), 'kcr-system', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo' }, spec: {} });
    const redis = { metadata: { name: 'kcr-redis-config', namespace: 'kcr-system' } };
    const { api, configMaps } = fakeApi(new Map([[`${CM_PATH}/${KEPT}`, mine], [`${CM_PATH}/kcr-redis-config`, redis]]));
    await run(cacheWith(['RestoreRequest', request({ keptManifest: 'kcr-redis-config' })]), api);
    expect([...configMaps.keys()]).toEqual([`${CM_PATH}/kcr-redis-config`]);
  });
});

describe('a checkpoint that no longer fits', () => {
  it('fails the request before the delete, naming the rule: no ConfigMap, no delete, an Event, the pins dropped', async () => {
    const { api, calls } = fakeApi();
    const { events, seen } = recorder();
    // The pod was rolled to app:2 by hand since the pins; the checkpoint is of app:1.
    const rolled = { ...bare, spec: { ...bare.spec, containers: [{ name: 'app', image: 'app:2' }] } };
    const pinned = { ...checkpoint, metadata: { ...checkpoint.metadata, annotations: { 'kcr.io/pinned': 'true', 'kcr.io/pinned-by': UID } } };
    const r = request({});
    await run(cacheWith(['RestoreRequest', r], ['Pod', rolled], ['Checkpoint', pinned]), api, events);
    expect(calls.some((c) => c.verb === 'delete' && c.path.includes('/pods/'))).toBe(false);
    expect(calls.some((c) => c.verb === 'create')).toBe(false);
    const [status] = statusPatches(calls);
    expect(status).toMatchObject({ phase: 'Failed' });
    expect(status!.message).toMatch(/Checkpoint c does not fit the replacement of pod apps\/solo \(image-changed\): container app will run app:2, but the checkpoint was taken of app:1.*left untouched/);
    expect(seen).toEqual([expect.objectContaining({ type: 'Warning', reason: 'RestoreFailed' })]);
    // The next pass sees it Failed and drops its pin.
    const { api: api2, calls: calls2 } = fakeApi();
    await run(cacheWith(['RestoreRequest', { ...r, status: status! }], ['Pod', rolled], ['Checkpoint', pinned]), api2);
    expect(calls2.filter((c) => c.verb === 'patch' && c.path.endsWith('/checkpoints/c'))).toHaveLength(1);
  });
});

describe('sweepKeptManifests', () => {
  it('deletes the kept manifests of finished and vanished requests (by uid), keeps the active ones and everything else', async () => {
    const active = request({}, { uid: 'active' });
    const done = request({}, { uid: 'done', phase: 'Completed' });
    const keep = (r: RestoreRequest) => keptConfigMap(r, 'kcr-system', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo' }, spec: {} });
    const cms = new Map<string, KeptConfigMap>();
    const { api, calls, configMaps } = fakeApi(cms);
    for (const r of [active, done, request({}, { uid: 'gone' })]) await api.create(CM_PATH, keep(r));
    cms.set(`${CM_PATH}/kcr-redis-config`, { metadata: { name: 'kcr-redis-config' } });
    await sweepKeptManifests({ api, cache: cacheWith(['RestoreRequest', active], ['RestoreRequest', { ...done, metadata: { ...done.metadata, name: 'done' } }]), logger: silentLogger(), kcrNamespace: 'kcr-system' });
    expect([...configMaps.keys()].sort()).toEqual([`${CM_PATH}/kcr-redis-config`, `${CM_PATH}/kcr-restore-active`]);
    expect(calls.filter((c) => c.verb === 'delete').map((c) => (c.body as { preconditions: { uid: string } }).preconditions.uid).every((u) => u.startsWith('cm-'))).toBe(true);
  });

  it('leaves those of namespaces it does not reconcile to the controller that does', async () => {
    const { api, configMaps } = fakeApi();
    await api.create(CM_PATH, keptConfigMap(request({}, { uid: 'gone' }), 'kcr-system', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo' }, spec: {} }));
    await sweepKeptManifests({ api, cache: new ObjectCache(), logger: silentLogger(), kcrNamespace: 'kcr-system', watchNamespaces: ['other'] });
    expect(configMaps.size).toBe(1);
  });
});
