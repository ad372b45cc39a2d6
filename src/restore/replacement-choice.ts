// What the webhook will give the pod that replaces a RestoreRequest's pod, asked before the request
// touches anything. It is the webhook's own choice (src/rules/pod-checkpoint-choice.ts), run over
// the request's namespace as the webhook will see it when the replacement comes: the pod being
// replaced terminating, the checkpoints to be pinned pinned, and for a migration only the target
// node to restore on. A checkpoint it would not give is named with the rule that keeps it. Pure.
import type { Checkpoint } from '../api/types.ts';
import { ANNOTATIONS } from '../api/types.ts';
import { archFits, checkpointMisfit, isLiving, runtimeFits, type ChoiceIndex, type Misfit } from '../rules/checkpoint-choice.ts';
import type { Claimant } from '../rules/checkpoint-claim.ts';
import type { CheckpointRepositories } from '../rules/checkpoint-image-ref.ts';
import type { PodIdentity } from '../rules/identity.ts';
import type { IndexedCheckpoint, IndexedPod } from '../rules/indexed-objects.ts';
import { choosePodCheckpoints } from '../rules/pod-checkpoint-choice.ts';
import { CAPABILITY_LABELS } from '../rules/restore-capability.ts';
import { ARCH_LABEL, nodeMisfit, nodeTakesRestore, type NodeRestoreFacts, type RestoreNeed } from '../rules/restore-fit.ts';
import { RestoreIndex } from '../../webhooks/restore-index.ts';

/** A rule that keeps a checkpoint from the replacement. */
export type FitRule = Misfit | 'arch-mismatch' | 'runtime-mismatch' | 'no-capable-node' | 'another-preferred';

export interface ReplacementPod {
  metadata?: { name?: string; namespace?: string; uid?: string; annotations?: Record<string, string> };
  spec?: { containers?: Array<{ name: string; image?: string }> } & Record<string, unknown>;
}

export interface ReplacementWorld {
  namespace: string;
  /** The pod to be replaced. */
  pod: ReplacementPod;
  identity: PodIdentity;
  /** The namespace's pods and Checkpoints, in wire form. */
  pods: readonly unknown[];
  checkpoints: readonly Checkpoint[];
  nodes: readonly NodeRestoreFacts[];
  /** A migration's target: the replacement restores there or not at all. */
  targetNode: NodeRestoreFacts | undefined;
  /** Container -> the image the replacement asks for. */
  images: Record<string, string>;
  repositories: CheckpointRepositories;
  now: Date;
}

export interface Unfit {
  container: string;
  /** The checkpoint kept from the container (undefined: none of its checkpoints fits, and none was named). */
  checkpoint: string | undefined;
  rule: FitRule;
  /** Why, in words, naming the rule's facts. */
  message: string;
}

export interface ReplacementFit {
  /** Container -> the checkpoint the replacement would start from. */
  chosen: Map<string, IndexedCheckpoint>;
  /** Pinned checkpoints the replacement would not start from. */
  pinsUnfit: Unfit[];
  /** Containers with checkpoints of their own (none pinned) of which none fits. */
  containersUnfit: Unfit[];
  /** Containers with no checkpoint of their own whose identity's name has checkpoints of another workload kind. */
  otherKind: Unfit[];
}

/** The webhook's view once the pod is being replaced: it terminates, so it clones nobody. */
function replacementView(index: RestoreIndex, goingUid: string | undefined, nodes: readonly NodeRestoreFacts[], target: NodeRestoreFacts | undefined): ChoiceIndex {
  const going = (p: IndexedPod | undefined): IndexedPod | undefined => (p !== undefined && goingUid !== undefined && p.uid === goingUid ? { ...p, terminating: true } : p);
  return {
    checkpointsFor: (namespace, identity, container) => index.checkpointsFor(namespace, identity, container),
    podByUid: (uid) => going(index.podByUid(uid)),
    podByName: (namespace, name) => going(index.podByName(namespace, name)),
    podsRestoredFrom: (namespace, name) => [...index.podsRestoredFrom(namespace, name)].map((p) => going(p)!),
    holderSeen: (namespace, holder) => index.holderSeen(namespace, holder),
    // The same node rule the webhook counts nodes by; a migration restores on its target only.
    restoreNodeExists: (need) => (target !== undefined ? nodeTakesRestore(target, need) : nodes.some((n) => nodeTakesRestore(n, need))),
  };
}

function pinned(cp: Checkpoint, pins: ReadonlySet<string>): Checkpoint {
  if (!pins.has(cp.metadata.name ?? '')) return cp;
  return { ...cp, metadata: { ...cp.metadata, annotations: { ...cp.metadata.annotations, [ANNOTATIONS.pinned]: 'true' } } };
}

/**
 * The replacement's choice with `pins` pinned (the checkpoints a RestoreRequest pins, or pinned
 * already), and what keeps any of them, or any container's checkpoints, from it.
 */
export function replacementFit(w: ReplacementWorld, pins: readonly string[]): ReplacementFit {
  const ns = w.namespace;
  const pinSet = new Set(pins);
  const index = new RestoreIndex();
  for (const p of w.pods) index.upsert('Pod', p);
  for (const cp of w.checkpoints) if (cp.metadata.namespace === ns) index.upsert('Checkpoint', pinned(cp, pinSet));
  const view = replacementView(index, w.pod.metadata?.uid, w.nodes, w.targetNode);
  // The replacement's claims are unknown yet; a StatefulSet's or bare pod's keeps the name.
  const claimant: Claimant = { holder: '', pod: w.identity.kind === 'StatefulSet' || w.identity.kind === 'Pod' ? w.pod.metadata?.name : undefined };
  const containers = (w.pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: w.images[c.name] ?? c.image ?? '' }));
  const spec = w.pod.spec ?? {};
  const choice = choosePodCheckpoints({ index: view, namespace: ns, identity: w.identity, claimant, containers, recognised: [], spec, repositories: w.repositories, now: w.now });

  const judge = (cp: IndexedCheckpoint, image: string): { rule: FitRule; message: string } => {
    const misfit = checkpointMisfit(view, ns, w.identity, claimant, image, w.repositories, w.now, cp);
    if (misfit !== undefined) return { rule: misfit, message: misfitMessage(misfit, cp, image, w, view) };
    if (!archFits(cp, choice.architecture)) {
      return { rule: 'arch-mismatch', message: `it was taken on ${cp.architecture}, the pod runs on ${choice.architecture} (its ${ARCH_LABEL} node selector or its other checkpoints)` };
    }
    if (!runtimeFits(cp, choice.runtime)) {
      return { rule: 'runtime-mismatch', message: `it was written by ${cp.runtime}, the pod restores on ${choice.runtime} (its other checkpoints, or its ${CAPABILITY_LABELS.runtime} affinity): a pod restores on one node` };
    }
    const need: RestoreNeed = { runtime: cp.runtime ?? choice.runtime, architecture: choice.architecture ?? cp.architecture };
    if (!view.restoreNodeExists(need)) return { rule: 'no-capable-node', message: noNodeMessage(need, w.targetNode) };
    const other = choice.chosen.get(cp.container);
    return { rule: 'another-preferred', message: `the webhook would give Checkpoint ${other?.name ?? '?'} instead (pinned too, or newer)` };
  };

  const pinsUnfit: Unfit[] = [];
  const pinnedContainers = new Set<string>();
  for (const name of pins) {
    const cp = index.checkpoint(ns, name);
    if (cp === undefined) {
      pinsUnfit.push({ container: '?', checkpoint: name, rule: 'not-ready', message: `it no longer exists in namespace ${ns}` });
      continue;
    }
    const c = containers.find((x) => x.name === cp.container);
    if (c === undefined) {
      pinsUnfit.push({ container: cp.container, checkpoint: name, rule: 'other-kind', message: `it is of container ${cp.container}, which pod ${w.pod.metadata?.name ?? '?'} does not have` });
      continue;
    }
    pinnedContainers.add(c.name);
    if (choice.chosen.get(c.name)?.name === name) continue;
    pinsUnfit.push({ container: c.name, checkpoint: name, ...judge(cp, c.image) });
  }

  const containersUnfit: Unfit[] = [];
  const otherKind: Unfit[] = [];
  for (const c of containers) {
    const rejection = choice.rejections.get(c.name);
    if (pinnedContainers.has(c.name) || rejection === undefined) continue;
    // The best checkpoint this rule keeps out names it; the order is the webhook's (newest first).
    const judged = index.checkpointsFor(ns, w.identity.identity, c.name).map((cp) => ({ cp, ...judge(cp, c.image) }));
    if (rejection === 'no-checkpoint') {
      const foreign = judged.find((j) => j.rule === 'other-kind');
      if (foreign) otherKind.push({ container: c.name, checkpoint: foreign.cp.name, rule: foreign.rule, message: foreign.message });
      continue;
    }
    const named = judged.find((j) => j.rule === rejection) ?? judged.find((j) => j.rule !== 'other-namespace' && j.rule !== 'not-ready' && j.rule !== 'other-kind');
    containersUnfit.push(named === undefined
      ? { container: c.name, checkpoint: undefined, rule: rejection, message: rejection }
      : { container: c.name, checkpoint: named.cp.name, rule: named.rule, message: named.message });
  }
  return { chosen: choice.chosen, pinsUnfit, containersUnfit, otherKind };
}

function misfitMessage(m: Misfit, cp: IndexedCheckpoint, image: string, w: ReplacementWorld, view: ChoiceIndex): string {
  switch (m) {
    case 'other-namespace':
      return `it is of namespace ${cp.namespace}, not ${w.namespace}`;
    case 'not-ready':
      return cp.bad ? 'it is marked bad' : `its phase is ${cp.phase ?? 'unset'}`;
    case 'other-kind':
      return `it was taken of a ${cp.workloadKind} named ${cp.identity}, and pod ${w.pod.metadata?.name ?? '?'} belongs to a ${w.identity.kind}`;
    case 'foreign-image':
      return `its image ${cp.runtimeImage ?? '(none)'} is not under ${w.repositories.registry}/${w.repositories.prefix}/${w.namespace}/, where this namespace's checkpoints are`;
    case 'image-changed':
      return `container ${cp.container} will run ${image}, but the checkpoint was taken of ${cp.originalImage ?? 'another image'} (after a rollout a pod starts fresh)`;
    case 'source-alive':
      return `the pod it was taken from (${cp.podName ?? cp.podUID ?? '?'}) still runs: its memory restored into another pod would clone it`;
    case 'checkpoint-in-use': {
      const living = [...view.podsRestoredFrom(cp.namespace, cp.name)].filter(isLiving).map((p) => p.name);
      return living.length > 0 ? `living pod ${living.join(', ')} was restored from it: a second pod from one memory is a clone` : 'a webhook claimed it for another new pod';
    }
  }
}

function noNodeMessage(need: RestoreNeed, target: NodeRestoreFacts | undefined): string {
  if (target !== undefined) return nodeMisfit(target, need) ?? cordoned(target);

  return `no schedulable node can restore it (${CAPABILITY_LABELS.capable}=true, ${CAPABILITY_LABELS.runtime}=${need.runtime ?? 'any'}, ${ARCH_LABEL}=${need.architecture ?? 'any'})`;
}

/** Why a cordoned node takes no restore. */
export function cordoned(node: NodeRestoreFacts): string {
  return `node ${node.name} is cordoned (spec.unschedulable): no new pod is placed there`;
}

/**
 * The container images a StatefulSet gives the pods it creates now: its template's (a deleted pod
 * comes back at the update revision). Undefined when a partition keeps some pods at an older
 * revision (which one, only the ControllerRevisions say).
 */
export function statefulSetImages(sts: { spec?: { updateStrategy?: { rollingUpdate?: { partition?: number } }; template?: { spec?: { containers?: Array<{ name?: string; image?: string }> } } } } | undefined): Record<string, string> | undefined {
  if (sts === undefined || (sts.spec?.updateStrategy?.rollingUpdate?.partition ?? 0) > 0) return undefined;
  const out: Record<string, string> = {};
  for (const c of sts.spec?.template?.spec?.containers ?? []) if (c.name && c.image) out[c.name] = c.image;
  return out;
}
