// A bare pod's kept manifest: the controller recreates a pod only from the ConfigMap of this very
// request (name, uid and namespace), of this pod, running as the ServiceAccount recorded from
// the deleted pod; stale ConfigMaps are those of finished or vanished requests.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { API_VERSION, type RestoreRequest } from '../../../src/api/types.ts';
import { KEPT_DATA, KEPT_LABELS, keptConfigMap, keptManifestName, keptPodFor, staleKeptManifests, type KeptConfigMap } from '../../../src/restore/kept-manifest.ts';

const UID = '0b6c3a52-8f0e-4c55-9d43-1f4a2e7b9c10';

function rr(over: { ns?: string; name?: string; uid?: string; pod?: string; phase?: 'Restoring' | 'Completed' | 'Failed' } = {}): RestoreRequest {
  return {
    apiVersion: API_VERSION,
    kind: 'RestoreRequest',
    metadata: { name: over.name ?? 'back', namespace: over.ns ?? 'apps', uid: over.uid ?? UID },
    spec: { podReference: { name: over.pod ?? 'solo' } },
    status: { phase: over.phase ?? 'Restoring' },
  };
}

function manifest(spec: Record<string, unknown> = {}, meta: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo', namespace: 'apps', ...meta }, spec: { containers: [{ name: 'app', image: 'app:1' }], serviceAccountName: 'reader', automountServiceAccountToken: false, ...spec } };
}

/** A copy of `cm` with `data[key]` set (or the manifest JSON replaced by `value`). */
function withData(cm: KeptConfigMap, key: string, value: string): KeptConfigMap {
  return { ...cm, data: { ...cm.data, [key]: value } };
}

describe('keptConfigMap', () => {
  it('is named after the request uid, in kcr\'s namespace, labelled with the request\'s namespace and uid, the name in an annotation', () => {
    const cm = keptConfigMap(rr(), 'kcr-system', manifest());
    expect(cm.metadata).toMatchObject({
      name: `kcr-restore-${UID}`,
      namespace: 'kcr-system',
      labels: { [KEPT_LABELS.namespace]: 'apps', [KEPT_LABELS.uid]: UID, 'app.kubernetes.io/part-of': 'kcr' },
      annotations: { 'kcr.io/restore-request-name': 'back' },
    });
    expect(cm.data).toEqual({ [KEPT_DATA.manifest]: JSON.stringify(manifest()), [KEPT_DATA.serviceAccount]: 'reader', [KEPT_DATA.automount]: 'false' });
    // Every label value fits in 63 characters, whatever the request is named.
    const long = keptConfigMap(rr({ name: 'n'.repeat(253), ns: 'a'.repeat(63) }), 'kcr-system', manifest());
    for (const v of Object.values(long.metadata!.labels!)) expect(v.length).toBeLessThanOrEqual(63);
    expect(keptManifestName(UID).length).toBeLessThanOrEqual(63);
  });

  it('records what the pod runs as: default when it names no ServiceAccount, unset token setting as ""', () => {
    const cm = keptConfigMap(rr(), 'kcr-system', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo' }, spec: { containers: [] } });
    expect(cm.data).toMatchObject({ [KEPT_DATA.serviceAccount]: 'default', [KEPT_DATA.automount]: '' });
  });
});

describe('keptPodFor', () => {
  const cm = () => keptConfigMap(rr(), 'kcr-system', manifest());

  it('gives back the kept pod, in the request\'s namespace', () => {
    expect(keptPodFor(rr(), cm())).toEqual({ manifest: manifest() });
    const noNamespace = keptConfigMap(rr(), 'kcr-system', manifest({}, { namespace: undefined }));
    expect(keptPodFor(rr(), noNamespace).manifest).toMatchObject({ metadata: { name: 'solo', namespace: 'apps' } });
  });

  it.each<[string, (c: KeptConfigMap) => KeptConfigMap | undefined, RestoreRequest, RegExp]>([
    ['gone', () => undefined, rr(), /kept in ConfigMap kcr-restore-.* is gone/],
    ['of another request (its uid)', () => keptConfigMap(rr({ uid: 'other-uid' }), 'kcr-system', manifest()), rr(), /keeps the manifest of RestoreRequest apps\/back \(uid other-uid\), not of this one .*: refused/],
    ['of another request, relabelled to pass under this one\'s name', (c) => ({ ...c, metadata: { ...c.metadata, labels: { ...c.metadata!.labels, [KEPT_LABELS.uid]: 'other-uid' } } }), rr(), /not of this one/],
    ['of another namespace\'s request with the same uid', (c) => ({ ...c, metadata: { ...c.metadata, labels: { ...c.metadata!.labels, [KEPT_LABELS.namespace]: 'bank' } } }), rr(), /RestoreRequest bank\/back .*not of this one/],
    ['read under another name', (c) => ({ ...c, metadata: { ...c.metadata, name: 'kcr-redis' } }), rr(), /ConfigMap kcr-redis keeps .*refused/],
    ['not JSON', (c) => withData(c, KEPT_DATA.manifest, '{'), rr(), /holds no pod manifest/],
    ['not a pod', (c) => withData(c, KEPT_DATA.manifest, JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'solo' } })), rr(), /holds no pod manifest/],
    ['of another pod', (c) => withData(c, KEPT_DATA.manifest, JSON.stringify(manifest({}, { name: 'bank-db' }))), rr(), /keeps pod apps\/bank-db, not apps\/solo/],
    ['of a pod in another namespace', (c) => withData(c, KEPT_DATA.manifest, JSON.stringify(manifest({}, { namespace: 'kube-system' }))), rr(), /keeps pod kube-system\/solo, not apps\/solo/],
    ['running as another ServiceAccount than recorded', (c) => withData(c, KEPT_DATA.manifest, JSON.stringify(manifest({ serviceAccountName: 'cluster-admin' }))), rr(), /runs as ServiceAccount cluster-admin .*not as reader .*recorded from the deleted pod: refused/],
    ['with another token setting than recorded', (c) => withData(c, KEPT_DATA.manifest, JSON.stringify(manifest({ automountServiceAccountToken: true }))), rr(), /automountServiceAccountToken true\), not as reader \(false\)/],
    ['for a request without a uid', (c) => c, { ...rr(), metadata: { name: 'back', namespace: 'apps' } }, /no uid/],
  ])('refuses a ConfigMap %s', (_name, change, request, message) => {
    const res = keptPodFor(request, change(cm()));
    expect(res.manifest).toBeUndefined();
    expect(res.refusal).toMatch(message);
  });

  it('refuses a kept pod that holds the token of a ServiceAccount other than default, as kcr-controller-pod-writes would', () => {
    const token = { name: 'kube-api-access-x1', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } };
    const kept = keptConfigMap(rr(), 'kcr-system', manifest({ serviceAccountName: 'deployer', automountServiceAccountToken: undefined, volumes: [token] }));
    expect(keptPodFor(rr(), kept).refusal).toMatch(/cannot be recreated: it runs as ServiceAccount deployer with its token mounted/);
    const asDefault = keptConfigMap(rr(), 'kcr-system', manifest({ serviceAccountName: 'default', automountServiceAccountToken: undefined, volumes: [token] }));
    expect(keptPodFor(rr(), asDefault).manifest).toBeDefined();
  });

  it('never hands one request the manifest kept for another (namespaces and uids that share prefixes)', () => {
    const part = fc.constantFrom('a', 'a-b', 'ab', 'a.b', 'b');
    fc.assert(
      fc.property(part, part, part, part, (ns1, uid1, ns2, uid2) => {
        const keptFor = rr({ ns: ns1, uid: uid1 });
        const asking = rr({ ns: ns2, uid: uid2 });
        const kept = keptConfigMap(keptFor, 'kcr-system', manifest({}, { namespace: ns1 }));
        const res = keptPodFor(asking, kept);
        if (ns1 !== ns2 || uid1 !== uid2) expect(res.manifest).toBeUndefined();
        else expect((res.manifest?.metadata as { namespace?: string }).namespace).toBe(ns2);
      }),
    );
  });
});

describe('staleKeptManifests', () => {
  it('are those of finished or vanished requests, in watched namespaces only', () => {
    const active = rr({ uid: 'active' });
    const done = rr({ uid: 'done', phase: 'Completed' });
    const failed = rr({ uid: 'failed', phase: 'Failed' });
    const elsewhere = rr({ uid: 'elsewhere', ns: 'other' });
    const cms = [active, done, failed, rr({ uid: 'gone' }), rr({ uid: 'unwatched', ns: 'theirs' }), elsewhere].map((r) => keptConfigMap(r, 'kcr-system', manifest()));
    // Labelled with an active request's uid but another namespace: not that request's.
    const mislabelled = keptConfigMap(rr({ uid: 'active', ns: 'bank' }), 'kcr-system', manifest());
    const stale = staleKeptManifests([...cms, mislabelled, { metadata: { name: 'unlabelled' } }], [active, done, failed, elsewhere], (ns) => ns !== 'theirs');
    expect(stale.map((c) => `${c.metadata!.labels![KEPT_LABELS.namespace]}/${c.metadata!.labels![KEPT_LABELS.uid]}`)).toEqual(['apps/done', 'apps/failed', 'apps/gone', 'bank/active']);
  });
});
