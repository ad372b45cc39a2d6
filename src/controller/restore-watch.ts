// Watching restored and crashed containers (leader only, each pass), DESIGN rules 7 and 8:
//  - a container that never started from its checkpoint, judged by cause: the node's fault (it
//    cannot restore it) leaves the checkpoint good, marks the node not capable
//    (node-restore-mark.ts) and replaces the pod (controller-owned: deleted, so the webhook
//    places its replacement on a capable node or starts it fresh) or starts the container fresh
//    in place; a checkpoint image not pulled within the bound leaves it good too and starts the
//    container fresh; CRIU's own failure or an image gone marks the checkpoint bad (with a
//    reason and Events), as does an unknown runtime failure once it happened on two nodes; a bad
//    checkpoint's pod is replaced (controller-owned: deleted, so its replacement is admitted with
//    the next older good checkpoint or fresh) or, for a bare pod or a container restored in
//    place, set back to its original image in place;
//  - a container that crashed in a pod that stays: its image is set to the latest good
//    checkpoint, so the kubelet restarts it from there, within the in-place bound.
// The decisions are src/restore/failed-restore.ts and in-place-restore.ts; this file only acts.
import { ANNOTATIONS, API_VERSION, PLURALS, type Checkpoint } from '../api/types.ts';
import { checkpointConditions, observedGeneration } from '../api/conditions.ts';
import type { Logger } from '../log.ts';
import { failedRestores, podPlacedMs, type FailedRestore, type PodLike } from '../restore/failed-restore.ts';
import { decideInPlace, historyAnnotation, type InPlaceBound } from '../restore/in-place-restore.ts';
import { nodeFaultMark, replaceAfterNodeFault, type NodeLike } from '../restore/node-fault-mark.ts';
import type { EventRecorder, InvolvedObject } from './events.ts';
import { crPath } from './fire-handler.ts';
import type { KubeJson } from '../kube/kube-json.ts';
import { untilNextPass } from './until-next-pass.ts';
import { markNodeRestoreFailed } from './node-restore-mark.ts';
import type { ObjectCache } from './object-cache.ts';
import { identityOfPod, podOptedIn } from './pod-opt-in.ts';
import { cachedNodeFacts } from './cached-node-facts.ts';
import type { CheckpointRepositories } from '../rules/checkpoint-image-ref.ts';
import type { ControllerRecorder } from './controller-metrics.ts';
import { runningRestores, type RestoreTally } from '../restore/restore-outcomes.ts';

export interface RestoreWatchDeps {
  api: KubeJson;
  cache: ObjectCache;
  events: EventRecorder;
  logger: Logger;
  bound: InPlaceBound;
  /** How long a restored container may wait on pulling its checkpoint image before it starts fresh. */
  pullTimeoutMs: number;
  /** In-place restores only from images under <registry>/<prefix>/<the pod's namespace>/. */
  repositories: CheckpointRepositories;
  now?: () => Date;
  /** Restores and bad checkpoints are counted here. */
  metrics?: Pick<ControllerRecorder, 'restore' | 'badCheckpoint'>;
  /** Which running restored containers were counted already (kept across passes). */
  tally?: RestoreTally;
}

const podRef = (namespace: string, name: string, uid: string): InvolvedObject => ({ apiVersion: 'v1', kind: 'Pod', namespace, name, ...(uid ? { uid } : {}) });
const podPath = (namespace: string, name: string) => `/api/v1/namespaces/${namespace}/pods/${name}`;
const who = (x: { namespace: string; pod: string; podUid: string; container: string }) => ({ namespace: x.namespace, pod: x.pod, uid: x.podUid, container: x.container });

export async function watchRestores(deps: RestoreWatchDeps): Promise<void> {
  const pods = deps.cache.list<PodLike>('Pod');
  const checkpoints = deps.cache.list<Checkpoint>('Checkpoint');
  const now = deps.now?.() ?? new Date();
  for (const f of failedRestores({ pods, checkpoints, now, pullTimeoutMs: deps.pullTimeoutMs })) {
    await untilNextPass(deps.logger, who(f), 'failed-restore handling', async () => {
      const pod = pods.find((p) => p.metadata?.uid === f.podUid);
      const kind = pod?.metadata?.annotations?.[historyAnnotation(f.container)] !== undefined ? 'in-place' : 'replacement';
      await handleFailedRestore(deps, f, pods, checkpoints, now);
      // Counted once handled: a failure handled is no longer listed on the next pass.
      deps.metrics?.restore(kind, 'failed', f.cause);
    });
  }
  if (deps.tally && deps.metrics) {
    for (const r of deps.tally.newlyRunning(runningRestores(pods, checkpoints))) deps.metrics.restore(r.kind, 'restored', 'Running');
  }

  const { restores, crashLoops } = decideInPlace({
    pods,
    checkpoints,
    optedIn: (p) => podOptedIn(deps.cache, p),
    identityOf: identityOfPod,
    now,
    repositories: deps.repositories,
    nodeOf: cachedNodeFacts(deps.cache),
    bound: deps.bound,
  });
  for (const r of restores) {
    await untilNextPass(deps.logger, who(r), 'in-place restore', async () => {
      // Strategic merge keyed by container name: only this container's image changes.
      await deps.api.patch(podPath(r.namespace, r.pod), { metadata: { uid: r.podUid, annotations: r.patch.annotations }, spec: { containers: [{ name: r.container, image: r.image }] } }, 'strategic');
      deps.logger.info({ namespace: r.namespace, pod: r.pod, uid: r.podUid, container: r.container, checkpoint: r.checkpoint, restartCount: r.restartCount, alreadyRestored: r.alreadyRestored }, 'restored a crashed container in place');
      await deps.events.event(
        podRef(r.namespace, r.pod, r.podUid),
        'Normal',
        'RestoredInPlace',
        `container ${r.container} exited with an error (restart ${r.restartCount}); ${r.alreadyRestored ? 'the kubelet restarted it' : 'restarting it'} from checkpoint ${r.checkpoint}`,
      );
    });
  }
  for (const l of crashLoops) {
    await untilNextPass(deps.logger, who(l), 'crash loop handling', async () => {
      await deps.api.patch(podPath(l.namespace, l.pod), {
        metadata: { uid: l.podUid, annotations: l.annotations },
        ...(l.image !== undefined ? { spec: { containers: [{ name: l.container, image: l.image }] } } : {}),
      }, 'strategic');
      deps.logger.warn({ namespace: l.namespace, pod: l.pod, uid: l.podUid, container: l.container, restartCount: l.restartCount }, l.message);
      await deps.events.event(podRef(l.namespace, l.pod, l.podUid), 'Warning', 'CrashLoopNotRestored', l.message);
    });
  }
}

async function handleFailedRestore(deps: RestoreWatchDeps, f: FailedRestore, pods: readonly PodLike[], checkpoints: readonly Checkpoint[], now: Date): Promise<void> {
  const cp = checkpoints.find((c) => c.metadata.namespace === f.namespace && c.metadata.name === f.checkpoint);
  const cpRef: InvolvedObject = { apiVersion: API_VERSION, kind: 'Checkpoint', namespace: f.namespace, name: f.checkpoint, ...(cp?.metadata.uid ? { uid: cp.metadata.uid } : {}) };
  const log = { namespace: f.namespace, pod: f.pod, uid: f.podUid, container: f.container, checkpoint: f.checkpoint, node: f.node, cause: f.cause, reason: f.reason };
  const pod = pods.find((p) => p.metadata?.uid === f.podUid);
  const controllerOwned = (pod?.metadata?.ownerReferences ?? []).some((o) => o.controller === true);
  const inPlace = pod?.metadata?.annotations?.[historyAnnotation(f.container)] !== undefined;
  if (f.cause === 'node') {
    // The node cannot restore it: the checkpoint is fine, the node is not. Marked, it takes no
    // restore again, so a replacement lands on a capable node (or starts fresh).
    const node = f.node === '' ? undefined : deps.cache.get<NodeLike>('Node', '', f.node);
    const mark = nodeFaultMark({ nodeName: f.node, node, failure: f, podPlacedMs: pod === undefined ? undefined : podPlacedMs(pod), now });
    const marked = await markNodeRestoreFailed(deps, { name: f.node, uid: node?.metadata?.uid }, mark, { namespace: f.namespace, pod: f.pod, uid: f.podUid, container: f.container, checkpoint: f.checkpoint });
    const choice = replaceAfterNodeFault({
      controllerOwned,
      restoredInPlace: inPlace,
      marked,
      forcedCapable: mark.ok && mark.forcedCapable,
      markedBefore: mark.ok && mark.markedBefore,
    });
    if (choice.replace) {
      const message = `${f.reason}; checkpoint ${f.checkpoint} stays good; node ${f.node} is marked unable to restore and the pod is deleted: its replacement restores on a capable node or starts fresh`;
      deps.logger.warn(log, 'the node cannot restore the checkpoint; deleting the pod so its controller replaces it');
      await warnBoth(deps, f, cpRef, 'RestoreNotPossibleOnNode', message);
      await deps.api.delete(podPath(f.namespace, f.pod), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: f.podUid } });
      deps.logger.info({ namespace: f.namespace, pod: f.pod, uid: f.podUid, node: f.node }, 'deleted the pod whose restore the node could not do; its controller replaces it');
      return;
    }
    const message = `${f.reason}; checkpoint ${f.checkpoint} stays good; the container starts fresh on node ${f.node || '(none)'} (not replaced: ${choice.why})`;
    deps.logger.warn({ ...log, notReplaced: choice.why }, 'the node cannot restore the checkpoint; starting the container fresh');
    await warnBoth(deps, f, cpRef, 'RestoreNotPossibleOnNode', message);
    await setBackToOriginal(deps, f, cp);
    return;
  }
  if (f.cause === 'pull') {
    // Credentials or the network, not the checkpoint: it stays good (status untouched).
    const message = `${f.reason}; checkpoint ${f.checkpoint} stays good; the container starts fresh`;
    deps.logger.warn(log, 'the checkpoint image could not be pulled in time; starting the container fresh');
    await warnBoth(deps, f, cpRef, 'RestoreImagePullFailed', message);
    await setBackToOriginal(deps, f, cp);
    return;
  }
  const failedNodes = [...new Set([...(cp?.status?.failedRestoreNodes ?? []), f.node].filter((n) => n !== ''))].sort();
  const failedRestoreCount = (cp?.status?.failedRestoreCount ?? 0) + 1;
  if (f.cause === 'runtime' && failedNodes.length < 2) {
    // An unknown runtime failure on one node may be that node's: bad only once a second node fails too.
    await deps.api.patch(`${crPath(PLURALS.Checkpoint, f.namespace, f.checkpoint)}/status`, { status: { failedRestoreCount, failedRestoreNodes: failedNodes } });
    const message = `${f.reason}; checkpoint ${f.checkpoint} stays good until a restore fails on a second node; the container starts fresh`;
    deps.logger.warn(log, 'restore failed on one node; starting the container fresh');
    await warnBoth(deps, f, cpRef, 'RestoreFailed', message);
    await setBackToOriginal(deps, f, cp);
    return;
  }
  const marked = { bad: true, badReason: f.reason, failedRestoreCount, failedRestoreNodes: failedNodes };
  const generation = cp?.metadata.generation;
  await deps.api.patch(`${crPath(PLURALS.Checkpoint, f.namespace, f.checkpoint)}/status`, {
    status: {
      ...marked,
      // Ready goes False (MarkedBad): `kubectl wait --for=condition=Ready=false` sees it.
      conditions: checkpointConditions(cp?.status?.conditions, { ...cp?.status, ...marked }, { generation, now }),
      ...observedGeneration(generation),
    },
  });
  deps.metrics?.badCheckpoint(f.cause);
  deps.logger.warn(log, 'restore failed; checkpoint marked bad');
  const message = `${f.reason}; checkpoint ${f.checkpoint} is marked bad and will not be restored again`;
  await warnBoth(deps, f, cpRef, 'RestoreFailed', message);

  if (controllerOwned && !inPlace) {
    // Its controller makes a replacement; the webhook skips the bad checkpoint.
    await deps.api.delete(podPath(f.namespace, f.pod), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: f.podUid } });
    deps.logger.info({ namespace: f.namespace, pod: f.pod, uid: f.podUid }, 'deleted the pod whose restore failed; its controller replaces it');
    return;
  }
  // Nobody would replace it: back to its own software, fresh, in place.
  await setBackToOriginal(deps, f, cp);
}

/** The same Warning on the Checkpoint and on the pod, as `kubectl describe` shows them on either. */
async function warnBoth(deps: RestoreWatchDeps, f: FailedRestore, checkpoint: InvolvedObject, reason: string, message: string): Promise<void> {
  await deps.events.event(checkpoint, 'Warning', reason, message);
  await deps.events.event(podRef(f.namespace, f.pod, f.podUid), 'Warning', reason, message);
}

/** The container back on its original image (the kubelet restarts it fresh); the restored-from mark goes. */
async function setBackToOriginal(deps: RestoreWatchDeps, f: FailedRestore, cp: Checkpoint | undefined): Promise<void> {
  const original = cp?.spec.originalImage;
  if (!original) return;
  await deps.api.patch(podPath(f.namespace, f.pod), {
    metadata: { uid: f.podUid, annotations: { [`${ANNOTATIONS.restoredFromContainerPrefix}${f.container}`]: null } },
    spec: { containers: [{ name: f.container, image: original }] },
  }, 'strategic');
  deps.logger.info({ namespace: f.namespace, pod: f.pod, uid: f.podUid, container: f.container, image: original }, 'set the container whose restore failed back to its original image');
}
