// The restore decision (DESIGN.md "Restore rules" 1-6), a pure function: from the
// AdmissionRequest, the index snapshot, the policy and now, either a JSON patch that makes
// the new pod start from a checkpoint, or "unchanged" with a short reason. Never a denial,
// never an exception: a pod kcr cannot judge starts fresh.
import type { Operation as JsonPatchOperation } from 'fast-json-patch';
import { ANNOTATIONS } from '../src/api/types.ts';
import type { AdmissionRequest } from './admission.ts';
import { REJECTIONS, furthest, type Rejection } from '../src/rules/checkpoint-choice.ts';
import { choosePodCheckpoints } from '../src/rules/pod-checkpoint-choice.ts';
import { CLAIM_HOLDER_ANNOTATION, type Claimant } from '../src/rules/checkpoint-claim.ts';
import type { CheckpointRepositories } from '../src/rules/checkpoint-image-ref.ts';
import { podIdentity, type PodIdentity } from '../src/rules/identity.ts';
import { optIn, type OptInSurface } from '../src/rules/opt-in.ts';
import { restorePatch, type RestorePlan } from './patch.ts';
import type { RestoreIndex } from './restore-index.ts';
import { array, isRecord, record, str, stringMap } from '../src/rules/shape.ts';
import type { IndexedCheckpoint } from '../src/rules/indexed-objects.ts';

export interface RestorePolicy {
  /** Name of the dockerconfigjson Secret added to restored pods' imagePullSecrets (per namespace). */
  pullSecretName?: string;
  /** Token mode: restore only in namespaces kcr gave a usable kcr-pull Secret (index.pullSecretUsable). */
  requirePullSecret?: boolean;
  /** Namespaces never mutated (kube-system, kcr's own). */
  excludedNamespaces: string[];
  /** Pull each restored container's base image first through an unmounted image volume (default true). */
  baseImageVolumes?: boolean;
  /** Checkpoint images restore only from under <registry>/<prefix>/<the pod's namespace>/. */
  repositories: CheckpointRepositories;
}

export interface RestoredContainer {
  container: string;
  checkpoint: string;
  image: string;
}

/**
 * Every reason a decision can carry: a small, stable set, fit for a Prometheus label.
 * 'restored' is the only reason of a patch decision.
 */
export const REASONS = [
  'restored',
  'already-restored',
  'not-pod',
  'not-create',
  'dry-run',
  'excluded-namespace',
  'malformed',
  'opted-out',
  'not-opted-in',
  'no-identity',
  ...REJECTIONS,
  /** The claim on the chosen checkpoint could not be written (API server unreachable, denied): fresh rather than risk a clone. */
  'claim-failed',
  /** Other webhook replicas kept claiming the candidates first. */
  'claim-conflict',
  /** Token mode: kcr has not given the namespace its kcr-pull Secret (yet), so the pod could not pull the checkpoint. */
  'no-pull-secret',
  /**
   * The webhook's pod or Checkpoint watch (any informer of its index) has been disconnected
   * longer than KCR_WEBHOOK_STALE_INDEX_SECONDS: the index may miss a source pod that is back or
   * a checkpoint gone bad, so the pod starts fresh (the webhook reports not ready meanwhile).
   */
  'stale-index',
  'error',
] as const;
export type Reason = (typeof REASONS)[number];

export type Decision =
  | {
      kind: 'patch';
      reason: 'restored';
      patch: JsonPatchOperation[];
      /** Every container of the patched pod that starts from a checkpoint. */
      restored: RestoredContainer[];
      identity: string;
      /** The pod's namespace and name (undefined for generateName pods): for index.noteRestore. */
      namespace: string;
      podName: string | undefined;
      /** How the pod opted in. */
      via: OptInSurface;
      /** The pinned kubernetes.io/arch, when the checkpoints recorded one. */
      architecture: string | undefined;
      /** The runtime the pod must restore on (restore.kcr.io/runtime), when the checkpoints recorded it. */
      runtime: string | undefined;
      /**
       * Checkpoints newly handed out by this decision, to be claimed (conditional write on
       * resourceVersion) before the answer goes out; containers restored already need none.
       */
      claims: { checkpoint: string; resourceVersion: string | undefined }[];
      /** Who the claims are for: the admission request's uid (kept from an earlier call on the same pod). */
      claimant: Claimant;
    }
  | { kind: 'unchanged'; reason: Reason; identity?: string };

export interface DecisionInput {
  request: AdmissionRequest;
  index: RestoreIndex;
  policy: RestorePolicy;
  now: Date;
}

export function decide(input: DecisionInput): Decision {
  try {
    return decideUnchecked(input);
  } catch {
    // Unexpected shapes must not fail pod creation: the pod starts fresh.
    return { kind: 'unchanged', reason: 'error' };
  }
}

const unchanged = (reason: Reason, identity?: string): Decision =>
  identity === undefined ? { kind: 'unchanged', reason } : { kind: 'unchanged', reason, identity };

interface Container {
  index: number;
  name: string;
  image: string;
}

function decideUnchecked({ request, index, policy, now }: DecisionInput): Decision {
  const kind = record(request.kind);
  const resource = record(request.resource);
  if (kind.kind !== 'Pod' || resource.resource !== 'pods' || str(kind.group) !== undefined || str(request.subResource) !== undefined) {
    return unchanged('not-pod');
  }
  if (request.operation !== 'CREATE') return unchanged('not-create');
  if (request.dryRun === true) return unchanged('dry-run');

  const pod = request.object;
  if (!isRecord(pod)) return unchanged('malformed');
  const metadata = record(pod.metadata);
  const namespace = str(request.namespace) ?? str(metadata.namespace);
  if (namespace === undefined) return unchanged('malformed');
  if (array(policy.excludedNamespaces).includes(namespace)) return unchanged('excluded-namespace');
  const spec = pod.spec;
  if (!isRecord(spec) || !Array.isArray(spec.containers)) return unchanged('malformed');

  const annotations = stringMap(metadata.annotations);
  const podName = str(metadata.name) ?? str(request.name);
  const identity = podIdentity(metadata, namespace, index);
  const opt = optIn(index, namespace, stringMap(metadata.labels), annotations, identity);
  if (!opt.optedIn) return unchanged(opt.reason, identity?.identity);
  if (identity === undefined) return unchanged('no-identity');

  const containers: Container[] = [];
  spec.containers.forEach((c: unknown, i: number) => {
    const name = str(record(c).name);
    const image = str(record(c).image);
    if (name !== undefined && image !== undefined) containers.push({ index: i, name, image });
  });

  // Containers already restored (the API server may call the webhook again on the patched pod).
  const recognised = new Map<string, IndexedCheckpoint>();
  for (const c of containers) {
    const named = annotations[`${ANNOTATIONS.restoredFromContainerPrefix}${c.name}`];
    const cp = named === undefined ? undefined : index.checkpoint(namespace, named);
    if (cp !== undefined && cp.runtimeImage === c.image) recognised.set(c.name, cp);
  }

  const claimant: Claimant = { holder: annotations[CLAIM_HOLDER_ANNOTATION] ?? request.uid, pod: podName };
  const fresh = containers.filter((c) => !recognised.has(c.name));
  const { chosen, rejections, architecture, runtime } = choosePodCheckpoints({
    index, namespace, identity, claimant, containers: fresh, recognised: [...recognised.values()], spec, repositories: policy.repositories, now,
  });
  let rejection: Rejection = 'no-checkpoint';
  for (const why of rejections.values()) rejection = furthest(rejection, why);
  if (chosen.size === 0 && recognised.size === 0) return unchanged(rejection, identity.identity);
  if (chosen.size > 0 && policy.requirePullSecret === true && !index.pullSecretUsable(namespace, now)) return unchanged('no-pull-secret', identity.identity);

  // From the checkpoints the pod starts from, so a second call on the patched pod writes the same terms.
  const starts = [...recognised.values(), ...chosen.values()];
  const podRuntime = runtime ?? starts.find((cp) => cp.runtime !== undefined)?.runtime;
  const podArchitecture = architecture ?? starts.find((cp) => cp.architecture !== undefined)?.architecture;
  const plan = planOf(containers, recognised, chosen, identity, podArchitecture, podRuntime, claimant.holder, policy);
  const patch = restorePatch(pod, plan);
  if (patch.length === 0) return unchanged('already-restored', identity.identity);
  return {
    kind: 'patch',
    reason: 'restored',
    patch,
    restored: plan.containers.map((c) => ({ container: c.name, checkpoint: c.checkpoint, image: c.image })),
    identity: identity.identity,
    namespace,
    podName,
    via: opt.via,
    architecture: podArchitecture,
    runtime: podRuntime,
    claims: [...chosen.values()].map((cp) => ({ checkpoint: cp.name, resourceVersion: cp.resourceVersion })),
    claimant,
  };
}

function planOf(
  containers: Container[],
  recognised: Map<string, IndexedCheckpoint>,
  chosen: Map<string, IndexedCheckpoint>,
  identity: PodIdentity,
  architecture: string | undefined,
  runtime: string | undefined,
  claimHolder: string,
  policy: RestorePolicy,
): RestorePlan {
  const restored: RestorePlan['containers'] = [];
  let targetNode: string | undefined;
  for (const c of containers) {
    const cp = recognised.get(c.name) ?? chosen.get(c.name);
    // runtimeImage is present: recognised ones equal the image, chosen ones passed isReady.
    // The base image is the software the pod asked for (rule 4 made sure it is the checkpoint's);
    // a container already patched names the checkpoint image, so its checkpoint says it.
    const baseImage = policy.baseImageVolumes === false ? undefined : recognised.has(c.name) ? cp?.originalImage : c.image;
    if (cp?.runtimeImage !== undefined) restored.push({ index: c.index, name: c.name, checkpoint: cp.name, image: cp.runtimeImage, baseImage });
    // A pinned checkpoint with a target node (RestoreRequest migration) steers the pod there.
    if (cp?.pinned === true && cp.targetNode !== undefined) targetNode ??= cp.targetNode;
  }
  return {
    containers: restored,
    identity: identity.identity,
    architecture,
    runtime,
    claimHolder,
    pullSecretName: str(policy.pullSecretName),
    ...(targetNode !== undefined ? { targetNode } : {}),
  };
}
