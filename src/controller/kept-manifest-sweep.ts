// Deletes kept bare-pod manifests (ConfigMaps in kcr's namespace) whose RestoreRequest is
// finished or gone: the runner deletes one when its request finishes, this catches a request
// deleted mid-restore and a delete that failed. The controller reads them only when it needs
// one (get) and here (list): it watches no ConfigMaps.
import type { RestoreRequest } from '../api/types.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';
import type { Logger } from '../log.ts';
import { KEPT_LABELS, staleKeptManifests, type KeptConfigMap } from '../restore/kept-manifest.ts';
import type { ObjectCache } from './object-cache.ts';

export interface KeptSweepDeps {
  api: KubeJson;
  cache: ObjectCache;
  logger: Logger;
  kcrNamespace: string;
  /** The namespaces this controller reconciles (undefined or empty: all). */
  watchNamespaces?: readonly string[] | undefined;
}

export async function sweepKeptManifests(deps: KeptSweepDeps): Promise<void> {
  const { api, logger, kcrNamespace } = deps;
  const path = `/api/v1/namespaces/${kcrNamespace}/configmaps`;
  const list = await api.get<{ items?: KeptConfigMap[] }>(`${path}?labelSelector=${encodeURIComponent(KEPT_LABELS.uid)}`);
  const only = deps.watchNamespaces && deps.watchNamespaces.length > 0 ? new Set(deps.watchNamespaces) : undefined;
  const stale = staleKeptManifests(list.items ?? [], deps.cache.list<RestoreRequest>('RestoreRequest'), (ns) => only === undefined || only.has(ns));
  for (const cm of stale) {
    const who = { configMap: cm.metadata?.name, namespace: cm.metadata?.labels?.[KEPT_LABELS.namespace], restoreRequestUid: cm.metadata?.labels?.[KEPT_LABELS.uid] };
    try {
      // By uid: a ConfigMap made anew under that name since the list is not this one.
      await api.delete(`${path}/${cm.metadata?.name ?? ''}`, { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: cm.metadata?.uid } });
      logger.info(who, 'deleted the kept manifest of a finished or deleted restore request');
    } catch (err) {
      const code = apiCode(err);
      if (code !== 404 && code !== 409) logger.warn({ ...who, code, err }, 'could not delete a stale kept manifest');
    }
  }
}
