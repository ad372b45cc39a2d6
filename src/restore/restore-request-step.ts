// The next step of a RestoreRequest, decided from what the controller's cache shows. Pure.
//
//   Pending -> (checkpointFirst) Checkpointing -> Restoring -> Completed | Failed
//
// Restoring works through the webhook, never around it: the chosen checkpoints are pinned
// (kcr.io/pinned, plus kcr.io/target-node for a migration), and once the webhook has had time to
// see the pins the pod is deleted. A controller-owned pod's replacement is made by its controller
// and restored at admission; a bare pod is recreated here from its manifest, kept in a ConfigMap
// in kcr's namespace (kept-manifest.ts); the status only names that ConfigMap.
// Pins are removed by the caller once the request is finished (see stalePins).
//
// Nothing is pinned or deleted before the checkpoints are known to fit the replacement: what the
// webhook will give it is asked of the webhook's own choice (replacement-choice.ts: same
// software, same workload kind, no clone of a living pod, a node that can restore it), once
// before pinning and again right before the delete.
import { nodeMisfit, nodeTakesRestore, type NodeRestoreFacts, type RestoreNeed } from '../rules/restore-fit.ts';
import type { CheckpointRepositories } from '../rules/checkpoint-image-ref.ts';
import type { PodIdentity } from '../rules/identity.ts';
import { cordoned, replacementFit, type Unfit } from './replacement-choice.ts';
import { ANNOTATIONS, type Checkpoint, type CheckpointRequest, type RestoreRequest, type RestoreRequestStatus } from '../api/types.ts';
import { keptManifestName } from './kept-manifest.ts';
import { controllerCreateRefusal, mountsServiceAccountToken, type ServiceAccountSpec } from './service-account-token.ts';

/** On a CheckpointRequest made for checkpointFirst: the RestoreRequest it serves. */
export const FOR_RESTORE_LABEL = 'kcr.io/restore-request';

export const DEFAULT_RESTORE_TIMEOUT_MS = 5 * 60_000;
/** Between pinning and deleting: the webhook's informer must see the pins first. */
export const DEFAULT_PIN_SETTLE_MS = 2_000;

export interface RestorePod {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ kind?: string; name?: string; controller?: boolean }>;
    deletionTimestamp?: string | Date | null;
    creationTimestamp?: string | Date;
  };
  spec?: { nodeName?: string; containers?: Array<{ name: string; image?: string }> } & Record<string, unknown>;
  status?: { phase?: string; containerStatuses?: Array<{ name: string; ready?: boolean }> };
}

export interface RestoreWorld {
  request: RestoreRequest;
  /** The pod podReference names, as cached (undefined: none). */
  pod: RestorePod | undefined;
  /** Every pod of the request's namespace (the replacement of a Deployment pod has a new name). */
  pods: readonly RestorePod[];
  /** Checkpoints of the request's namespace. */
  checkpoints: readonly Checkpoint[];
  /** CheckpointRequests of the request's namespace. */
  checkpointRequests: readonly CheckpointRequest[];
  /** What each node's labels say it can restore (restore.kcr.io/runtime, restore.kcr.io/capable, as its agent published them). */
  nodes: readonly NodeRestoreFacts[];
  identityOf: (pod: RestorePod) => PodIdentity | undefined;
  optedIn: (pod: RestorePod) => boolean;
  /** Checkpoint images restore only from under <registry>/<prefix>/<the pod's namespace>/. */
  repositories: CheckpointRepositories;
  /** Container -> image the pod's controller gives a pod it creates now (a StatefulSet's template), when known. */
  workloadImages?: (pod: RestorePod) => Record<string, string> | undefined;
  now: Date;
  timeoutMs?: number;
  pinSettleMs?: number;
}

export type RestoreStep =
  | { kind: 'wait' }
  | { kind: 'checkpoint'; requests: Array<{ name: string; container: string }>; status: RestoreRequestStatus }
  | { kind: 'pin'; checkpoints: string[]; targetNode: string | undefined; status: RestoreRequestStatus }
  /** `keep`: a bare pod's manifest, to be kept (status.keptManifest names where) before the pod is deleted. */
  | { kind: 'delete-pod'; podName: string; podUid: string; keep?: Record<string, unknown>; status: RestoreRequestStatus }
  /** Recreate the bare pod from the manifest kept in ConfigMap `keptManifest` of kcr's namespace, once the runner checked it is this request's. */
  | { kind: 'create-pod'; keptManifest: string; status: RestoreRequestStatus }
  | { kind: 'finish'; status: RestoreRequestStatus };

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function isGood(cp: Checkpoint): boolean {
  return cp.status?.phase === 'ImageBuilt' && typeof cp.status.runtimeImage === 'string' && cp.status.bad !== true;
}

function terminating(p: RestorePod): boolean {
  return p.metadata?.deletionTimestamp !== undefined && p.metadata.deletionTimestamp !== null;
}

function controllerOwned(p: RestorePod): boolean {
  return (p.metadata?.ownerReferences ?? []).some((o) => o.controller === true);
}

/** The request's status once it failed with `message`. */
export function failedStatus(request: RestoreRequest, at: Date, message: string): RestoreRequestStatus {
  const now = iso(at);
  return { ...request.status, phase: 'Failed', message, startTime: request.status?.startTime ?? now, completionTime: now };
}

function fail(w: RestoreWorld, message: string): RestoreStep {
  return { kind: 'finish', status: failedStatus(w.request, w.now, message) };
}

/** Why a bare pod cannot be deleted and recreated by kcr (undefined: it can, or it is not bare). */
function bareRefusal(p: RestorePod): string | undefined {
  if (controllerOwned(p)) return undefined;
  const refusal = controllerCreateRefusal(p.spec as ServiceAccountSpec | undefined);
  return refusal === undefined ? undefined : `bare pod ${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''} cannot be recreated: ${refusal}`;
}

/** Child CheckpointRequest name for one container: deterministic, so a retried pass makes no second one. */
export function checkpointFirstName(request: RestoreRequest, container: string): string {
  const base = `${request.metadata.name ?? 'restore'}-${container}`;
  const suffix = (request.metadata.uid ?? '').slice(0, 8);
  const head = base.slice(0, 253 - suffix.length - 1).replace(/[-.]+$/, '');
  return suffix === '' ? head : `${head}-${suffix}`;
}

export function nextRestoreStep(w: RestoreWorld): RestoreStep {
  const r = w.request;
  const st = r.status ?? {};
  if (st.phase === 'Completed' || st.phase === 'Failed') return { kind: 'wait' };
  const ns = r.metadata.namespace ?? '';
  const started = Date.parse(st.startTime ?? '');
  if (!Number.isNaN(started) && w.now.getTime() - started > (w.timeoutMs ?? DEFAULT_RESTORE_TIMEOUT_MS)) {
    return fail(w, `timed out after ${Math.round((w.timeoutMs ?? DEFAULT_RESTORE_TIMEOUT_MS) / 1000)} s ${st.message ? `(last step: ${st.message})` : ''}`.trim());
  }
  switch (st.phase) {
    case undefined:
    case 'Pending':
      return start(w, ns);
    case 'Checkpointing':
      return checkpointing(w, ns);
    case 'Restoring':
      return restoring(w, ns);
  }
}

function start(w: RestoreWorld, ns: string): RestoreStep {
  const r = w.request;
  const spec = r.spec;
  const podName = spec.podReference.name;
  if (spec.podReference.namespace && spec.podReference.namespace !== ns) {
    return fail(w, `spec.podReference.namespace must be empty or ${ns} (this request's namespace), got ${spec.podReference.namespace}`);
  }
  const pod = w.pod;
  if (!pod || terminating(pod)) return fail(w, `pod ${ns}/${podName} does not exist${pod ? ' (it is being deleted)' : ''}`);
  if (!w.optedIn(pod)) {
    return fail(w, `pod ${ns}/${podName} is not opted in to restore (pod annotation ${ANNOTATIONS.restore}: "true", namespace label, a CheckpointSchedule, or the workload annotation ${ANNOTATIONS.workloadSchedule}), or it opted out`);
  }
  const target = spec.targetNode === undefined ? undefined : nodeNamed(w, spec.targetNode);
  if (spec.targetNode !== undefined && target === undefined) return fail(w, `spec.targetNode: node ${spec.targetNode} does not exist`);
  // The same fit check the webhook places by: capable, and (below) the checkpoint's runtime.
  const unable = target === undefined ? undefined : (nodeMisfit(target, { runtime: undefined, architecture: undefined }) ?? (target.unschedulable ? cordoned(target) : undefined));
  if (unable) return fail(w, `spec.targetNode: ${unable}`);
  if (spec.checkpointFirst === true && spec.checkpointRef) return fail(w, 'spec.checkpointRef and spec.checkpointFirst exclude each other: a fresh checkpoint or a chosen one');
  const bare = bareRefusal(pod);
  if (bare) return fail(w, bare);
  const podIdentity = w.identityOf(pod);
  if (podIdentity === undefined) return fail(w, `pod ${ns}/${podName} has no identity to match checkpoints by`);
  const identity = podIdentity.identity;
  const containers = (pod.spec?.containers ?? []).map((c) => c.name);
  const now = iso(w.now);
  const base: RestoreRequestStatus = { startTime: now, sourcePodUID: pod.metadata?.uid ?? '', identity };

  if (spec.checkpointFirst === true) {
    if (pod.status?.phase !== 'Running') return fail(w, `pod ${ns}/${podName} is ${pod.status?.phase ?? 'not running'}: checkpointFirst needs a running pod`);
    // The checkpoint will be written by the runtime of the pod's node: it restores only on that runtime.
    const source = pod.spec?.nodeName === undefined ? undefined : nodeNamed(w, pod.spec.nodeName);
    const need: RestoreNeed = { runtime: source?.runtime, architecture: source?.architecture };
    const whose = `the checkpoint will be written on node ${pod.spec?.nodeName ?? '?'}`;
    const misfit = targetMisfit(target, need, whose);
    if (misfit) return fail(w, misfit);
    if (target === undefined && !w.nodes.some((n) => nodeTakesRestore(n, need))) {
      return fail(w, `no schedulable node can restore what node ${pod.spec?.nodeName ?? '?'} writes (runtime ${need.runtime ?? 'unknown'}, architecture ${need.architecture ?? 'unknown'}): pod ${podName} was left running`);
    }
    const requests = containers.map((container) => ({ name: checkpointFirstName(r, container), container }));
    return {
      kind: 'checkpoint',
      requests,
      status: { ...base, phase: 'Checkpointing', checkpointRequests: requests.map((q) => q.name), message: `checkpointing ${containers.join(', ')} of pod ${podName} first` },
    };
  }

  let chosen: Checkpoint[];
  if (spec.checkpointRef) {
    const name = spec.checkpointRef.name;
    const cp = w.checkpoints.find((c) => c.metadata.name === name && c.metadata.namespace === ns);
    if (!cp) return fail(w, `spec.checkpointRef: Checkpoint ${name} does not exist in namespace ${ns} (a pod is restored only from checkpoints of its own namespace)`);
    if (cp.spec.identity !== undefined && cp.spec.identity !== identity) {
      return fail(w, `spec.checkpointRef: Checkpoint ${name} is of ${cp.spec.identity}, not of pod ${podName} (identity ${identity ?? 'unknown'})`);
    }
    if (!containers.includes(cp.spec.containerName)) return fail(w, `spec.checkpointRef: pod ${podName} has no container ${cp.spec.containerName}, which Checkpoint ${name} is of`);
    if (!isGood(cp)) return fail(w, `spec.checkpointRef: Checkpoint ${name} cannot be restored: ${cp.status?.bad ? `marked bad (${cp.status.badReason ?? 'a restore from it failed'})` : `its phase is ${cp.status?.phase ?? 'unset'}`}`);
    // Pinned, it is what the webhook gives the replacement first, if the rules let it.
    const unfit = replacementFit(replacementWorld(w, pod, podIdentity), [name]).pinsUnfit[0];
    if (unfit) return fail(w, `spec.checkpointRef: ${unfitMessage(w, unfit)}`);
    chosen = [cp];
  } else {
    // What the webhook would give the replacement: per container the best checkpoint that fits.
    const fit = replacementFit(replacementWorld(w, pod, podIdentity), []);
    const unfit = fit.containersUnfit[0];
    if (unfit) return fail(w, unfitMessage(w, unfit));
    chosen = [...fit.chosen.values()].map((c) => w.checkpoints.find((x) => x.metadata.namespace === ns && x.metadata.name === c.name)).filter((c): c is Checkpoint => c !== undefined);
    const foreign = fit.otherKind[0];
    if (chosen.length === 0 && foreign) return fail(w, unfitMessage(w, foreign));
    if (chosen.length === 0) return fail(w, `no good checkpoint of pod ${podName} (identity ${identity}) to restore from`);
  }
  return pin(w, { ...base }, chosen.map((c) => c.metadata.name ?? ''));
}

function nodeNamed(w: RestoreWorld, name: string): NodeRestoreFacts | undefined {
  return w.nodes.find((n) => n.name === name);
}

/** The webhook's view of the replacement of `pod`, as replacementFit asks it. */
function replacementWorld(w: RestoreWorld, pod: RestorePod, identity: PodIdentity) {
  const ns = w.request.metadata.namespace ?? '';
  const target = w.request.spec.targetNode;
  return {
    namespace: ns,
    pod,
    identity,
    pods: w.pods,
    checkpoints: w.checkpoints,
    nodes: w.nodes,
    targetNode: target === undefined ? undefined : nodeNamed(w, target),
    // The controller's template if it is known, else the pod's own software (a restored pod runs a checkpoint image).
    images: { ...originalImagesOrOwn(pod, w.checkpoints), ...w.workloadImages?.(pod) },
    repositories: w.repositories,
    now: w.now,
  };
}

/** The failure message of a checkpoint the replacement would not start from, naming the rule. */
function unfitMessage(w: RestoreWorld, u: Unfit): string {
  const podRef = `pod ${w.request.metadata.namespace ?? ''}/${w.request.spec.podReference.name}`;
  if (u.rule === 'no-capable-node' && w.request.spec.targetNode !== undefined) return `spec.targetNode: ${u.message}${u.checkpoint ? ` (Checkpoint ${u.checkpoint})` : ''}`;
  const what = u.checkpoint === undefined ? `no checkpoint of container ${u.container}` : `Checkpoint ${u.checkpoint}`;
  return `${what} does not fit the replacement of ${podRef} (${u.rule}): ${u.message}`;
}

/** Why the pinned checkpoints would not be restored into the replacement of the still-running `pod` (undefined: they would). */
function pinsUnfit(w: RestoreWorld, pod: RestorePod, pins: readonly string[]): string | undefined {
  const identity = w.identityOf(pod);
  if (identity === undefined) return `pod ${w.request.metadata.namespace ?? ''}/${w.request.spec.podReference.name} has no identity to match checkpoints by`;
  const unfit = replacementFit(replacementWorld(w, pod, identity), pins).pinsUnfit[0];
  return unfit === undefined ? undefined : unfitMessage(w, unfit);
}

/** Why the target node cannot restore what `need` says (undefined when it can, or there is no target). */
function targetMisfit(target: NodeRestoreFacts | undefined, need: RestoreNeed, whose: string): string | undefined {
  const misfit = target === undefined ? undefined : nodeMisfit(target, need);
  return misfit === undefined ? undefined : `spec.targetNode: ${misfit} (${whose})`;
}

function pin(w: RestoreWorld, status: RestoreRequestStatus, names: string[]): RestoreStep {
  return {
    kind: 'pin',
    checkpoints: names,
    targetNode: w.request.spec.targetNode,
    status: {
      ...status,
      phase: 'Restoring',
      checkpoint: { name: names[0]! },
      checkpoints: names,
      pinnedAt: iso(w.now),
      message: `pinned ${names.join(', ')}${w.request.spec.targetNode ? ` for node ${w.request.spec.targetNode}` : ''}; deleting pod ${w.request.spec.podReference.name} next`,
    },
  };
}

function checkpointing(w: RestoreWorld, ns: string): RestoreStep {
  const st = w.request.status!;
  const names = st.checkpointRequests ?? [];
  const done: string[] = [];
  for (const name of names) {
    const q = w.checkpointRequests.find((x) => x.metadata.name === name && x.metadata.namespace === ns);
    // Not in the cache yet (just created), or still running.
    if (!q || (q.status?.phase !== 'Completed' && q.status?.phase !== 'Failed')) return { kind: 'wait' };
    if (q.status.phase === 'Failed') return fail(w, `the checkpoint before restoring failed (CheckpointRequest ${name}: ${q.status.message ?? 'no message'}); pod ${w.request.spec.podReference.name} was left running`);
    const cpName = q.status.checkpoint?.name;
    const cp = cpName ? w.checkpoints.find((c) => c.metadata.name === cpName && c.metadata.namespace === ns) : undefined;
    if (!cp || !isGood(cp)) return { kind: 'wait' };
    done.push(cpName!);
  }
  const pod = w.pod;
  if (!pod || terminating(pod) || pod.metadata?.uid !== st.sourcePodUID) {
    return fail(w, `pod ${ns}/${w.request.spec.podReference.name} went away while it was being checkpointed`);
  }
  const unfit = pinsUnfit(w, pod, done);
  if (unfit) return fail(w, `${unfit}; pod ${w.request.spec.podReference.name} was left running`);
  return pin(w, st, done);
}

function restoring(w: RestoreWorld, ns: string): RestoreStep {
  const r = w.request;
  const st = r.status!;
  const podName = r.spec.podReference.name;
  const chosen = new Set(st.checkpoints ?? (st.checkpoint ? [st.checkpoint.name] : []));
  const bad = w.checkpoints.find((c) => chosen.has(c.metadata.name ?? '') && c.metadata.namespace === ns && c.status?.bad === true);
  if (bad) return fail(w, `the restore from Checkpoint ${bad.metadata.name} failed: ${bad.status?.badReason ?? 'marked bad'}`);

  const source = st.sourcePodUID ?? '';
  const old = w.pods.find((p) => p.metadata?.uid === source);
  if (old && !terminating(old)) {
    const pinnedAt = Date.parse(st.pinnedAt ?? '');
    if (!Number.isNaN(pinnedAt) && w.now.getTime() - pinnedAt < (w.pinSettleMs ?? DEFAULT_PIN_SETTLE_MS)) return { kind: 'wait' };
    const bare = bareRefusal(old);
    if (bare) return fail(w, bare);
    if (chosen.size === 0) return fail(w, `the status names no pinned checkpoint to restore from; pod ${podName} was left untouched`);
    // Asked again right before the delete: a rollout, a replica or a claim may have come since the pins.
    const unfit = pinsUnfit(w, old, [...chosen]);
    if (unfit) return fail(w, `${unfit}; pod ${podName} was left untouched`);
    const status: RestoreRequestStatus = {
      ...st,
      message: controllerOwned(old)
        ? `deleted pod ${podName}; waiting for its controller's replacement, restored from ${[...chosen].join(', ')}`
        : `deleted bare pod ${podName}; recreating it restored from ${[...chosen].join(', ')}`,
    };
    const step: RestoreStep = { kind: 'delete-pod', podName: old.metadata?.name ?? podName, podUid: source, status };
    if (!controllerOwned(old)) {
      if (!r.metadata.uid) return fail(w, 'the request has no uid: a bare pod\'s manifest is kept under it');
      status.keptManifest = keptManifestName(r.metadata.uid);
      step.keep = keptManifestFor(old, w.checkpoints);
    }
    return step;
  }
  if (old) return { kind: 'wait' }; // still terminating

  // The replacement: a pod of the same identity made since the pins (a Deployment's has a new name).
  const identity = st.identity;
  const since = Date.parse(st.pinnedAt ?? '') - 1000;
  const candidates = w.pods.filter(
    (p) =>
      p.metadata?.uid !== source &&
      !terminating(p) &&
      !(Date.parse(String(p.metadata?.creationTimestamp ?? '')) < since) &&
      (p.metadata?.name === podName || (identity !== undefined && w.identityOf(p)?.identity === identity)),
  );
  const restored = candidates.find((p) => Object.entries(p.metadata?.annotations ?? {}).some(([k, v]) => k.startsWith(ANNOTATIONS.restoredFromContainerPrefix) && chosen.has(v)));
  if (restored) {
    if (!runningReady(restored)) return { kind: 'wait' };
    const target = r.spec.targetNode;
    if (target !== undefined && restored.spec?.nodeName !== target) {
      return fail(w, `pod ${restored.metadata?.name} was restored on node ${restored.spec?.nodeName ?? '(none)'}, not on ${target}`);
    }
    const now = iso(w.now);
    return {
      kind: 'finish',
      status: {
        ...st,
        phase: 'Completed',
        newPod: { name: restored.metadata?.name ?? '', namespace: ns },
        completionTime: now,
        message: `pod ${restored.metadata?.name} runs on node ${restored.spec?.nodeName ?? '?'}, restored from ${[...chosen].join(', ')}`,
      },
    };
  }
  const fresh = candidates[0];
  if (fresh && fresh.status?.phase === 'Running') {
    return fail(w, `the replacement pod ${fresh.metadata?.name} started fresh, not from ${[...chosen].join(', ')} (is kcr's webhook running, and does the pod still opt in?)`);
  }
  // Only the ConfigMap named after this request's own uid: the status says a manifest was kept, never which pod.
  if (!fresh && st.keptManifest !== undefined) {
    const kept = keptManifestName(r.metadata.uid ?? '');
    if (!r.metadata.uid || st.keptManifest !== kept) return fail(w, `status.keptManifest names ${st.keptManifest}, not this request's ${kept}: refused`);
    return { kind: 'create-pod', keptManifest: kept, status: { ...st, message: `recreated bare pod ${podName}; waiting for it to run restored from ${[...chosen].join(', ')}` } };
  }
  return { kind: 'wait' };
}

/** Container -> the image it ran before a restore put a checkpoint image there. */
function originalImages(pod: RestorePod, checkpoints: readonly Checkpoint[]): Record<string, string> {
  const byRuntime = new Map<string, string>();
  for (const cp of checkpoints) if (cp.status?.runtimeImage && cp.spec.originalImage) byRuntime.set(cp.status.runtimeImage, cp.spec.originalImage);
  const out: Record<string, string> = {};
  for (const c of pod.spec?.containers ?? []) {
    const original = c.image !== undefined ? byRuntime.get(c.image) : undefined;
    if (original !== undefined) out[c.name] = original;
  }
  return out;
}

/** The manifest a bare pod is kept as (recreatable, images back to the checkpoints' original software). */
export function keptManifestFor(pod: RestorePod, checkpoints: readonly Checkpoint[]): Record<string, unknown> {
  return recreatable(pod, originalImages(pod, checkpoints));
}

/** Container -> the software it runs: its image, or the original image of the checkpoint image it runs. */
function originalImagesOrOwn(pod: RestorePod, checkpoints: readonly Checkpoint[]): Record<string, string> {
  const own: Record<string, string> = {};
  for (const c of pod.spec?.containers ?? []) if (c.image !== undefined) own[c.name] = c.image;
  return { ...own, ...originalImages(pod, checkpoints) };
}

function runningReady(p: RestorePod): boolean {
  return p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).every((c) => c.ready === true);
}

/**
 * A bare pod as it can be created again: name, labels, annotations (without the restored-from
 * ones: the webhook sets those anew) and the spec without what the scheduler filled in.
 * Container images go back to the original software, so the webhook sees the same image
 * the checkpoints were taken of. A pod that ran without a ServiceAccount token comes back
 * without one (automountServiceAccountToken: false), whatever its ServiceAccount says by now.
 */
export function recreatable(pod: RestorePod, originalImages: Record<string, string> = {}): Record<string, unknown> {
  const m = pod.metadata ?? {};
  const annotations = Object.fromEntries(Object.entries(m.annotations ?? {}).filter(([k]) => k !== ANNOTATIONS.restoredFrom && !k.startsWith(ANNOTATIONS.restoredFromContainerPrefix)));
  const spec = structuredClone(pod.spec ?? {}) as Record<string, unknown> & { containers?: Array<{ name: string; image?: string }> };
  delete spec.nodeName;
  if (spec.automountServiceAccountToken === undefined && !mountsServiceAccountToken(spec as ServiceAccountSpec)) spec.automountServiceAccountToken = false;
  for (const c of spec.containers ?? []) {
    const original = originalImages[c.name];
    if (original !== undefined) c.image = original;
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: m.name, namespace: m.namespace, ...(m.labels ? { labels: m.labels } : {}), annotations },
    spec,
  };
}

/**
 * Pinned Checkpoints whose RestoreRequest is finished or gone: their pins must go, or they
 * would keep winning over newer checkpoints in every later restore.
 */
export function stalePins(checkpoints: readonly Checkpoint[], requests: readonly RestoreRequest[]): Checkpoint[] {
  const active = new Set(
    requests.filter((r) => r.status?.phase !== 'Completed' && r.status?.phase !== 'Failed').map((r) => r.metadata.uid ?? ''),
  );
  return checkpoints.filter((cp) => {
    const a = cp.metadata.annotations ?? {};
    const by = a[ANNOTATIONS.pinnedBy];
    return a[ANNOTATIONS.pinned] === 'true' && by !== undefined && !active.has(by);
  });
}
