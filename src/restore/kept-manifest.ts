// A bare pod's manifest, kept while a RestoreRequest deletes the pod and recreates it: in a
// ConfigMap in kcr's own namespace, where only kcr writes, never in the request's status (a
// tenant who can write that status, with kcr-objects-are-kcrs off, would choose the pod kcr
// creates). The ConfigMap is the request's by name (kcr-restore-<request uid>) and by labels;
// an owner reference cannot cross namespaces, so the controller deletes it when the request ends,
// and a pass sweeps those whose request is finished or gone. Pure: build, check, find stale ones.
import type { RestoreRequest } from '../api/types.ts';
import { controllerCreateRefusal, serviceAccountOf, type ServiceAccountSpec } from './service-account-token.ts';

export const KEPT_LABELS = {
  namespace: 'kcr.io/restore-request-namespace',
  uid: 'kcr.io/restore-request-uid',
} as const;
/** The request's name: an annotation, since a name may be longer than a label value may be (63). */
export const KEPT_REQUEST_NAME_ANNOTATION = 'kcr.io/restore-request-name';
/** Keys of the ConfigMap's data: the manifest, and what it runs as, recorded when it was kept from the pod. */
export const KEPT_DATA = { manifest: 'pod.json', serviceAccount: 'serviceAccountName', automount: 'automountServiceAccountToken' } as const;

export interface KeptConfigMap {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

export type KeptPod = { manifest: Record<string, unknown>; refusal?: undefined } | { manifest?: undefined; refusal: string };

export function keptManifestName(requestUid: string): string {
  return `kcr-restore-${requestUid}`;
}

/** "true", "false", or "" when the pod's spec does not say (its ServiceAccount decides). */
function automountOf(spec: ServiceAccountSpec | undefined): string {
  return spec?.automountServiceAccountToken === undefined ? '' : String(spec.automountServiceAccountToken);
}

/** The ConfigMap that keeps `manifest` (made from the pod being deleted) for `request`. */
export function keptConfigMap(request: RestoreRequest, kcrNamespace: string, manifest: Record<string, unknown>): KeptConfigMap {
  const spec = manifest.spec as ServiceAccountSpec | undefined;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: keptManifestName(request.metadata.uid ?? ''),
      namespace: kcrNamespace,
      labels: {
        'app.kubernetes.io/part-of': 'kcr',
        'app.kubernetes.io/component': 'kept-manifest',
        [KEPT_LABELS.namespace]: request.metadata.namespace ?? '',
        [KEPT_LABELS.uid]: request.metadata.uid ?? '',
      },
      annotations: { [KEPT_REQUEST_NAME_ANNOTATION]: request.metadata.name ?? '' },
    },
    data: {
      [KEPT_DATA.manifest]: JSON.stringify(manifest),
      [KEPT_DATA.serviceAccount]: serviceAccountOf(spec),
      [KEPT_DATA.automount]: automountOf(spec),
    },
  };
}

/**
 * The pod to create for `request` from the ConfigMap read under its name, or why not. The
 * ConfigMap must be this request's (name, uid and namespace labels), hold a pod of the request's
 * pod name and namespace, and that pod must run as the ServiceAccount recorded when it was kept,
 * with the same token setting. The manifest returned is always in the request's namespace.
 */
export function keptPodFor(request: RestoreRequest, cm: KeptConfigMap | undefined): KeptPod {
  const ns = request.metadata.namespace ?? '';
  const uid = request.metadata.uid ?? '';
  const podName = request.spec.podReference.name;
  if (uid === '') return { refusal: 'the request has no uid, so no kept manifest can be its' };
  const name = keptManifestName(uid);
  if (!cm) return { refusal: `the manifest of bare pod ${ns}/${podName} kept in ConfigMap ${name} (kcr's namespace) is gone: the pod cannot be recreated` };
  const labels = cm.metadata?.labels ?? {};
  if (cm.metadata?.name !== name || labels[KEPT_LABELS.uid] !== uid || labels[KEPT_LABELS.namespace] !== ns) {
    const owner = `${labels[KEPT_LABELS.namespace] ?? '?'}/${cm.metadata?.annotations?.[KEPT_REQUEST_NAME_ANNOTATION] ?? '?'} (uid ${labels[KEPT_LABELS.uid] ?? '?'})`;
    return { refusal: `ConfigMap ${cm.metadata?.name ?? '?'} keeps the manifest of RestoreRequest ${owner}, not of this one (${ns}/${request.metadata.name ?? '?'}, uid ${uid}): refused` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(cm.data?.[KEPT_DATA.manifest] ?? '');
  } catch {
    parsed = undefined;
  }
  const manifest = parsed as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown }; spec?: ServiceAccountSpec } | undefined;
  if (manifest === null || typeof manifest !== 'object' || Array.isArray(manifest) || manifest.kind !== 'Pod' || manifest.apiVersion !== 'v1') {
    return { refusal: `ConfigMap ${name} holds no pod manifest: refused` };
  }
  if (manifest.metadata?.name !== podName || (manifest.metadata.namespace !== undefined && manifest.metadata.namespace !== ns)) {
    return { refusal: `ConfigMap ${name} keeps pod ${String(manifest.metadata?.namespace ?? ns)}/${String(manifest.metadata?.name ?? '?')}, not ${ns}/${podName}: refused` };
  }
  const account = serviceAccountOf(manifest.spec);
  const recorded = cm.data?.[KEPT_DATA.serviceAccount];
  if (account !== recorded || automountOf(manifest.spec) !== (cm.data?.[KEPT_DATA.automount] ?? '')) {
    return { refusal: `the kept manifest of pod ${ns}/${podName} runs as ServiceAccount ${account} (automountServiceAccountToken ${automountOf(manifest.spec) || 'unset'}), not as ${recorded ?? '?'} (${cm.data?.[KEPT_DATA.automount] || 'unset'}) recorded from the deleted pod: refused` };
  }
  const refusal = controllerCreateRefusal(manifest.spec);
  if (refusal) return { refusal: `bare pod ${ns}/${podName} cannot be recreated: ${refusal}` };
  return { manifest: { ...manifest, metadata: { ...manifest.metadata, namespace: ns } } };
}

/**
 * Kept ConfigMaps whose request is finished or gone: nothing will recreate a pod from them. Only
 * those of namespaces this controller reconciles (`watched`): another instance keeps the rest.
 */
export function staleKeptManifests(configMaps: readonly KeptConfigMap[], requests: readonly RestoreRequest[], watched: (namespace: string) => boolean): KeptConfigMap[] {
  const key = (ns: string, uid: string) => `${ns}/${uid}`;
  const active = new Set(
    requests
      .filter((r) => r.status?.phase !== 'Completed' && r.status?.phase !== 'Failed')
      .map((r) => key(r.metadata.namespace ?? '', r.metadata.uid ?? '')),
  );
  return configMaps.filter((cm) => {
    const labels = cm.metadata?.labels ?? {};
    const uid = labels[KEPT_LABELS.uid];
    const ns = labels[KEPT_LABELS.namespace];
    if (uid === undefined || ns === undefined || !watched(ns)) return false;
    return !active.has(key(ns, uid)) || cm.metadata?.name !== keptManifestName(uid);
  });
}
