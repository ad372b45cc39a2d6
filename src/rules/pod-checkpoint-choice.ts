// Which checkpoint each container of a new pod starts from (DESIGN.md restore rules 3-5), pod-wide:
// every container restores on one node, so on one architecture and one runtime. The webhook
// decides a pod CREATE by it; the controller asks it, before a RestoreRequest touches a pod,
// what the webhook will give that pod's replacement. Pure.
import { archFits, candidatesFor, compareByPreference, runtimeFits, type ChoiceIndex, type Rejection } from './checkpoint-choice.ts';
import type { Claimant } from './checkpoint-claim.ts';
import type { CheckpointRepositories } from './checkpoint-image-ref.ts';
import { CAPABILITY_LABELS } from './restore-capability.ts';
import type { PodIdentity } from './identity.ts';
import type { IndexedCheckpoint } from './indexed-objects.ts';
import { ARCH_LABEL } from './restore-fit.ts';
import { array, record, str } from './shape.ts';

export interface PodChoiceInput {
  index: ChoiceIndex;
  namespace: string;
  identity: PodIdentity;
  claimant: Claimant;
  /** The containers still to be given a checkpoint, with the image each asks for. */
  containers: ReadonlyArray<{ name: string; image: string }>;
  /** Checkpoints containers of this pod already start from (the API server may call the webhook twice). */
  recognised: readonly IndexedCheckpoint[];
  /** The pod's spec (a wire object): its kubernetes.io/arch selector and required restore runtime. */
  spec: unknown;
  repositories: CheckpointRepositories;
  now: Date;
}

export interface PodChoice {
  /** Container -> the checkpoint it starts from. */
  chosen: Map<string, IndexedCheckpoint>;
  /** Container -> why it starts fresh, for those without one. */
  rejections: Map<string, Rejection>;
  /** The architecture and runtime the pod is restored on, when known. */
  architecture: string | undefined;
  runtime: string | undefined;
}

export function choosePodCheckpoints(input: PodChoiceInput): PodChoice {
  const { index, namespace, identity, claimant, repositories, now } = input;
  const candidates = new Map(input.containers.map((c) => [c.name, candidatesFor(index, namespace, identity, claimant, c.name, c.image, repositories, now)]));
  const eligibleLists = [...candidates.values()].map((x) => x.eligible);
  const architecture = targetArchitecture(input.spec, input.recognised, eligibleLists);
  const runtime = targetRuntime(input.spec, input.recognised, eligibleLists, architecture, index);
  const chosen = new Map<string, IndexedCheckpoint>();
  const rejections = new Map<string, Rejection>();
  for (const c of input.containers) {
    const { eligible, rejection: why } = candidates.get(c.name) ?? { eligible: [], rejection: 'no-checkpoint' as const };
    const archFit = eligible.filter((cp) => archFits(cp, architecture));
    // Restored only where a node can take it: capable, of the checkpoint's runtime (rule 5).
    const fit = archFit.find((cp) => runtimeFits(cp, runtime) && index.restoreNodeExists({ runtime: cp.runtime ?? runtime, architecture: architecture ?? cp.architecture }));
    if (fit !== undefined) chosen.set(c.name, fit);
    else rejections.set(c.name, archFit.length > 0 ? 'no-capable-node' : eligible.length > 0 ? 'arch-mismatch' : why);
  }
  return { chosen, rejections, architecture, runtime };
}

/** The pod's own kubernetes.io/arch node selector, if any. */
export function podArchitecture(spec: unknown): string | undefined {
  return str(record(record(spec).nodeSelector)[ARCH_LABEL]);
}

/** `restore.kcr.io/runtime In [one value]` in a required node-affinity term of the pod, if any. */
export function podRequiredRuntime(spec: unknown): string | undefined {
  const terms = array(record(record(record(record(spec).affinity).nodeAffinity).requiredDuringSchedulingIgnoredDuringExecution).nodeSelectorTerms);
  for (const term of terms) {
    for (const e of array(record(term).matchExpressions)) {
      const r = record(e);
      const values = array(r.values);
      if (r.key === CAPABILITY_LABELS.runtime && r.operator === 'In' && values.length === 1 && typeof values[0] === 'string') return values[0];
    }
  }
  return undefined;
}

/**
 * The runtime the pod will restore on: the one its required node affinity names already (an
 * earlier call on this pod, or the user), else that of a container already restored, else that
 * of the best checkpoint (among the containers' best candidates) that some capable node can take.
 */
function targetRuntime(spec: unknown, recognised: readonly IndexedCheckpoint[], eligible: IndexedCheckpoint[][], architecture: string | undefined, index: ChoiceIndex): string | undefined {
  const pinned = podRequiredRuntime(spec);
  if (pinned !== undefined) return pinned;
  const restoredRuntime = recognised.find((cp) => cp.runtime !== undefined)?.runtime;
  if (restoredRuntime !== undefined) return restoredRuntime;
  const ranked = eligible
    .flatMap((list) => list.filter((cp) => archFits(cp, architecture) && cp.runtime !== undefined))
    .sort(compareByPreference);
  return ranked.find((cp) => index.restoreNodeExists({ runtime: cp.runtime, architecture: architecture ?? cp.architecture }))?.runtime;
}

/**
 * The architecture the pod will run on: the pod's own kubernetes.io/arch node selector,
 * else that of a container already restored, else that of the best checkpoint among the
 * containers' best candidates. Containers whose checkpoints disagree start fresh.
 */
function targetArchitecture(spec: unknown, recognised: readonly IndexedCheckpoint[], eligible: IndexedCheckpoint[][]): string | undefined {
  const pinned = podArchitecture(spec);
  if (pinned !== undefined) return pinned;
  const restoredArch = recognised.find((cp) => cp.architecture !== undefined)?.architecture;
  if (restoredArch !== undefined) return restoredArch;
  const best = eligible
    .map((list) => list[0])
    .filter((cp): cp is IndexedCheckpoint => cp?.architecture !== undefined)
    .sort(compareByPreference)[0];
  return best?.architecture;
}
