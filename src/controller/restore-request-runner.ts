// Carries out the steps nextRestoreStep decides for every RestoreRequest (leader only, each
// pass), then drops the pins of finished requests. Each step writes the request's status so the
// next pass, on this replica or another, picks up where this one stopped. A bare pod's manifest
// goes into a ConfigMap in kcr's namespace before the pod is deleted, and a pod is recreated only
// from that ConfigMap, once keptPodFor found it to be this request's.
import {
  ANNOTATIONS,
  API_VERSION,
  PLURALS,
  type Checkpoint,
  type CheckpointRequest,
  type RestoreRequest,
  type RestoreRequestStatus,
} from '../api/types.ts';
import type { Logger } from '../log.ts';
import { FOR_RESTORE_LABEL, failedStatus, keptManifestFor, nextRestoreStep, stalePins, type RestorePod, type RestoreStep } from '../restore/restore-request-step.ts';
import { keptConfigMap, keptManifestName, keptPodFor, type KeptConfigMap } from '../restore/kept-manifest.ts';
import type { EventRecorder } from './events.ts';
import { crPath } from './fire-handler.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';
import { untilNextPass } from './until-next-pass.ts';
import type { ObjectCache } from './object-cache.ts';
import { podIdentityOf, podOptedIn } from './pod-opt-in.ts';
import type { CheckpointRepositories } from '../rules/checkpoint-image-ref.ts';
import { nodeRestoreFacts, type NodeRestoreFacts } from '../rules/restore-fit.ts';
import { controllerOf } from '../rules/indexed-objects.ts';
import { statefulSetImages } from '../restore/replacement-choice.ts';
import { observedGeneration, restoreRequestConditions } from '../api/conditions.ts';
import type { ControllerRecorder } from './controller-metrics.ts';

export interface RestoreRunnerDeps {
  api: KubeJson;
  /** kcr's own namespace (KCR_NAMESPACE), where bare pods' manifests are kept. */
  kcrNamespace: string;
  cache: ObjectCache;
  events: EventRecorder;
  logger: Logger;
  /** Checkpoint images restore only from under <registry>/<prefix>/<their namespace>/. */
  repositories: CheckpointRepositories;
  now?: () => Date;
  timeoutMs?: number;
  pinSettleMs?: number;
  /** Finished RestoreRequests are counted here (kind restore-request). */
  metrics?: Pick<ControllerRecorder, 'restore'>;
}

/** Kubelet timeout of the checkpoints a live migration takes first. */
const CHECKPOINT_FIRST_TIMEOUT_SECONDS = 120;

export async function runRestoreRequests(deps: RestoreRunnerDeps): Promise<void> {
  const { cache, logger } = deps;
  const now = deps.now?.() ?? new Date();
  const nodes = cache.list<Parameters<typeof nodeRestoreFacts>[0]>('Node').map(nodeRestoreFacts).filter((n): n is NodeRestoreFacts => n !== undefined);
  for (const r of cache.list<RestoreRequest>('RestoreRequest')) {
    const ns = r.metadata.namespace ?? '';
    const step = nextRestoreStep({
      request: r,
      pod: cache.get<RestorePod>('Pod', ns, r.spec?.podReference?.name ?? ''),
      pods: cache.list<RestorePod>('Pod', ns),
      checkpoints: cache.list<Checkpoint>('Checkpoint', ns),
      checkpointRequests: cache.list<CheckpointRequest>('CheckpointRequest', ns),
      nodes,
      identityOf: podIdentityOf,
      optedIn: (pod) => podOptedIn(cache, pod),
      repositories: deps.repositories,
      workloadImages: (pod) => {
        const owner = controllerOf(pod.metadata);
        return owner?.kind === 'StatefulSet' ? statefulSetImages(cache.get('StatefulSet', ns, owner.name)) : undefined;
      },
      now,
      ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
      ...(deps.pinSettleMs !== undefined ? { pinSettleMs: deps.pinSettleMs } : {}),
    });
    if (step.kind === 'wait') continue;
    const who = { namespace: ns, restoreRequest: r.metadata.name, pod: r.spec.podReference.name, step: step.kind };
    await untilNextPass(logger, who, 'restore request step', async () => {
      const status = await carryOut(deps, r, step, now);
      logger.info({ ...who, phase: status.phase, message: status.message }, 'restore request step');
    });
  }
  await unpinFinished(deps);
}

/** Carries out `step`; resolves to the status written. */
async function carryOut(deps: RestoreRunnerDeps, r: RestoreRequest, step: Exclude<RestoreStep, { kind: 'wait' }>, now: Date): Promise<RestoreRequestStatus> {
  const { api } = deps;
  const ns = r.metadata.namespace ?? '';
  switch (step.kind) {
    case 'checkpoint':
      for (const q of step.requests) await createCheckpointFirst(api, r, q.name, q.container);
      break;
    case 'pin':
      for (const name of step.checkpoints) {
        await api.patch(crPath(PLURALS.Checkpoint, ns, name), {
          metadata: {
            annotations: { [ANNOTATIONS.pinned]: 'true', [ANNOTATIONS.pinnedBy]: r.metadata.uid ?? '', [ANNOTATIONS.targetNode]: step.targetNode ?? null },
          },
        });
      }
      break;
    case 'delete-pod': {
      // The manifest kept, then the status naming it, then the delete: after it they are the only copy.
      if (step.keep) {
        // Made from the pod as the API server has it: the cache holds a projection of pods (no volumes, env …).
        const live = await livePod(api, ns, step.podName, step.podUid);
        if (live === undefined) {
          deps.logger.info({ namespace: ns, restoreRequest: r.metadata.name, pod: step.podName }, 'the pod to keep is gone or replaced; the next pass decides again');
          return r.status ?? {};
        }
        await keepManifest(api, keptConfigMap(r, deps.kcrNamespace, keptManifestFor(live, deps.cache.list<Checkpoint>('Checkpoint', ns))));
      }
      await writeStatus(api, r, step.status, now);
      await api.delete(`/api/v1/namespaces/${ns}/pods/${step.podName}`, {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        preconditions: { uid: step.podUid },
      }).catch((err: unknown) => {
        if (apiCode(err) !== 404) throw err;
      });
      return step.status;
    }
    case 'create-pod': {
      const kept = keptPodFor(r, await readKept(api, deps.kcrNamespace, step.keptManifest));
      if (kept.refusal !== undefined) {
        deps.logger.warn({ namespace: ns, restoreRequest: r.metadata.name, configMap: step.keptManifest, reason: kept.refusal }, 'refused to recreate a pod from a kept manifest');
        return carryOut(deps, r, { kind: 'finish', status: failedStatus(r, now, kept.refusal) }, now);
      }
      // Always into the request's own namespace, whatever the manifest says (keptPodFor set it too).
      await api.create(`/api/v1/namespaces/${ns}/pods`, kept.manifest).catch((err: unknown) => {
        if (apiCode(err) !== 409) throw err;
      });
      break;
    }
    case 'finish':
      break;
  }
  await writeStatus(api, r, step.status, now);
  if (step.kind === 'finish') {
    const ok = step.status.phase === 'Completed';
    deps.metrics?.restore('restore-request', ok ? 'restored' : 'failed', restoreRequestReason(step.status, ok));
    await deps.events.event(
      { apiVersion: API_VERSION, kind: 'RestoreRequest', namespace: ns, name: r.metadata.name ?? '', ...(r.metadata.uid ? { uid: r.metadata.uid } : {}) },
      ok ? 'Normal' : 'Warning',
      ok ? 'Restored' : 'RestoreFailed',
      step.status.message ?? '',
    );
    if (r.status?.keptManifest !== undefined || step.status.keptManifest !== undefined) await dropKept(deps, r);
  }
  return step.status;
}

/** The pod of that name if it is still the one of that uid (undefined: gone or replaced). */
async function livePod(api: KubeJson, namespace: string, name: string, uid: string): Promise<RestorePod | undefined> {
  try {
    const pod = await api.get<RestorePod>(`/api/v1/namespaces/${namespace}/pods/${name}`);
    return pod.metadata?.uid === uid ? pod : undefined;
  } catch (err) {
    if (apiCode(err) === 404) return undefined;
    throw err;
  }
}

/** The reason of the status' newest condition, for the metric's label; a fixed word when it has none. */
function restoreRequestReason(status: RestoreRequestStatus, ok: boolean): string {
  const reason = status.conditions?.at(-1)?.reason;
  return reason !== undefined && reason !== '' ? reason : ok ? 'Restored' : 'RestoreFailed';
}

/** Creates the ConfigMap; one left by an earlier try of this step is replaced (the pod, and so its manifest, is the same). */
async function keepManifest(api: KubeJson, cm: KeptConfigMap): Promise<void> {
  const path = `/api/v1/namespaces/${cm.metadata?.namespace ?? ''}/configmaps`;
  try {
    await api.create(path, cm);
  } catch (err) {
    if (apiCode(err) !== 409) throw err;
    await api.delete(`${path}/${cm.metadata?.name ?? ''}`).catch((e: unknown) => {
      if (apiCode(e) !== 404) throw e;
    });
    await api.create(path, cm);
  }
}

async function readKept(api: KubeJson, kcrNamespace: string, name: string): Promise<KeptConfigMap | undefined> {
  try {
    return await api.get<KeptConfigMap>(`/api/v1/namespaces/${kcrNamespace}/configmaps/${name}`);
  } catch (err) {
    if (apiCode(err) === 404) return undefined;
    throw err;
  }
}

/**
 * Deletes a finished request's kept manifest, by the name its own uid gives (never one the
 * status names: a forged status would delete any ConfigMap of kcr's namespace). A failure is
 * left to the sweep.
 */
async function dropKept(deps: RestoreRunnerDeps, r: RestoreRequest): Promise<void> {
  if (!r.metadata.uid) return;
  const name = keptManifestName(r.metadata.uid);
  try {
    await deps.api.delete(`/api/v1/namespaces/${deps.kcrNamespace}/configmaps/${name}`);
    deps.logger.info({ namespace: r.metadata.namespace, restoreRequest: r.metadata.name, configMap: name }, 'deleted the kept manifest of a finished restore request');
  } catch (err) {
    if (apiCode(err) !== 404) deps.logger.warn({ namespace: r.metadata.namespace, restoreRequest: r.metadata.name, configMap: name, err }, 'could not delete a kept manifest; the sweep retries');
  }
}

/** The step's status with the conditions (Complete, Failed) and observedGeneration its phase gives, after the request's. */
function writeStatus(api: KubeJson, r: RestoreRequest, status: RestoreRequestStatus, now: Date): Promise<unknown> {
  const generation = r.metadata.generation;
  const conditions = restoreRequestConditions(r.status?.conditions, { phase: status.phase, message: status.message, generation, now });
  return api.patch(`${crPath(PLURALS.RestoreRequest, r.metadata.namespace ?? '', r.metadata.name ?? '')}/status`, {
    status: { ...status, conditions, ...observedGeneration(generation) },
  });
}

async function createCheckpointFirst(api: KubeJson, r: RestoreRequest, name: string, container: string): Promise<void> {
  const ns = r.metadata.namespace ?? '';
  const body: CheckpointRequest = {
    apiVersion: API_VERSION,
    kind: 'CheckpointRequest',
    metadata: {
      name,
      namespace: ns,
      labels: { [FOR_RESTORE_LABEL]: r.metadata.name ?? '' },
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'RestoreRequest', name: r.metadata.name ?? '', uid: r.metadata.uid ?? '', controller: true }],
    },
    spec: { podReference: { name: r.spec.podReference.name }, containerName: container, timeoutSeconds: CHECKPOINT_FIRST_TIMEOUT_SECONDS },
  };
  try {
    await api.create(crPath(PLURALS.CheckpointRequest, ns), body);
  } catch (err) {
    if (apiCode(err) !== 409) throw err;
  }
}

async function unpinFinished(deps: RestoreRunnerDeps): Promise<void> {
  const stale = stalePins(deps.cache.list<Checkpoint>('Checkpoint'), deps.cache.list<RestoreRequest>('RestoreRequest'));
  for (const cp of stale) {
    const ns = cp.metadata.namespace ?? '';
    try {
      await deps.api.patch(crPath(PLURALS.Checkpoint, ns, cp.metadata.name ?? ''), {
        metadata: { annotations: { [ANNOTATIONS.pinned]: null, [ANNOTATIONS.pinnedBy]: null, [ANNOTATIONS.targetNode]: null } },
      });
      deps.logger.info({ namespace: ns, checkpoint: cp.metadata.name }, 'unpinned a checkpoint of a finished restore request');
    } catch (err) {
      if (apiCode(err) !== 404) deps.logger.warn({ namespace: ns, checkpoint: cp.metadata.name, err }, 'could not unpin a checkpoint');
    }
  }
}
