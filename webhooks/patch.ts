// The restore patch: mutate a structuredClone of the admitted pod, then let fast-json-patch
// compare() produce the RFC 6902 operations (it escapes '/' in annotation keys as ~1).
// Setting a value that is already there yields no operation, which makes the patch idempotent.
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { ANNOTATIONS } from '../src/api/types.ts';
import { CLAIM_HOLDER_ANNOTATION } from '../src/rules/checkpoint-claim.ts';
import { ARCH_LABEL, placementRequirements, type NodeSelectorRequirement } from '../src/rules/restore-fit.ts';
import { array, isRecord, type JsonRecord } from '../src/rules/shape.ts';

/** kcr-base-<container index>: the unmounted image volume that puts a restored container's base image on the node. */
export const BASE_IMAGE_VOLUME_PREFIX = 'kcr-base-';

export interface RestorePlan {
  /**
   * Containers restored, in spec.containers order; index is the position in spec.containers.
   * baseImage: the checkpoint's original image, which the runtime needs on the node underneath
   * the checkpoint (CRI-O never pulls it).
   */
  containers: { index: number; name: string; checkpoint: string; image: string; baseImage?: string | undefined }[];
  identity: string;
  architecture: string | undefined;
  /** The runtime that wrote the checkpoints (undefined when they did not record it). */
  runtime: string | undefined;
  /** kcr.io/claim-holder: whom the claims on the checkpoints were made for. */
  claimHolder: string;
  pullSecretName: string | undefined;
  /** Migration target (a pinned checkpoint's kcr.io/target-node): required node affinity on metadata.name. */
  targetNode?: string | undefined;
}

function child(parent: JsonRecord, key: string): JsonRecord {
  const v = parent[key];
  if (isRecord(v)) return v;
  const fresh: JsonRecord = {};
  parent[key] = fresh;
  return fresh;
}

/** The pod as the plan wants it (a new object; `pod` is not modified). */
export function applyPlan(pod: JsonRecord, plan: RestorePlan): JsonRecord {
  const clone = structuredClone(pod);
  const spec = child(clone, 'spec');
  const containers = array(spec.containers);
  const annotations = child(child(clone, 'metadata'), 'annotations');
  for (const c of plan.containers) {
    const container = containers[c.index];
    if (isRecord(container)) {
      container.image = c.image;
      // Pulled once onto the node (the checkpoint image is immutable, by digest); a restart restores from the local copy.
      container.imagePullPolicy = 'IfNotPresent';
    }
    annotations[`${ANNOTATIONS.restoredFromContainerPrefix}${c.name}`] = c.checkpoint;
    if (c.baseImage !== undefined) baseImageVolume(spec, c.index, c.baseImage);
  }
  annotations[ANNOTATIONS.restoredFrom] = plan.containers.map((c) => c.checkpoint).join(',');
  annotations[ANNOTATIONS.identity] = plan.identity;
  // Kept from an earlier call on the same pod: the claims already name that holder.
  annotations[CLAIM_HOLDER_ANNOTATION] ??= plan.claimHolder;
  if (plan.architecture !== undefined) child(spec, 'nodeSelector')[ARCH_LABEL] = plan.architecture;
  if (plan.pullSecretName !== undefined) {
    const secrets = Array.isArray(spec.imagePullSecrets) ? spec.imagePullSecrets : (spec.imagePullSecrets = []);
    if (!secrets.some((s: unknown) => isRecord(s) && s.name === plan.pullSecretName)) {
      secrets.push({ name: plan.pullSecretName });
    }
  }
  requireOnEveryTerm(spec, placementRequirements(plan.runtime), plan.targetNode === undefined ? [] : [{ key: 'metadata.name', operator: 'In', values: [plan.targetNode] }]);
  return clone;
}

/**
 * An image volume of the base image that nothing mounts: the kubelet pulls every image volume of
 * a pod, with the pod's pull secrets, before it starts any container, so the base image is on the
 * node when the runtime restores the checkpoint on it. Named by the container's index; one that is
 * there already is kept, so the patch is idempotent.
 */
function baseImageVolume(spec: JsonRecord, index: number, image: string): void {
  const volumes = Array.isArray(spec.volumes) ? spec.volumes : (spec.volumes = []);
  const name = `${BASE_IMAGE_VOLUME_PREFIX}${index}`;
  const volume = { name, image: { reference: image, pullPolicy: 'IfNotPresent' } };
  // Already there (a second call on the patched pod): kept as the first call made it.
  if (!volumes.some((v: unknown) => isRecord(v) && v.name === name)) volumes.push(volume);
}

/**
 * Adds the requirements to every required node selector term (terms are ORed, so a requirement
 * must be in each), or one term when there are none: the restored pod lands only on a node that
 * can restore it (and, for a migration, on the target node). One already there is not added again.
 */
function requireOnEveryTerm(spec: JsonRecord, expressions: NodeSelectorRequirement[], fields: NodeSelectorRequirement[]): void {
  const required = child(child(child(spec, 'affinity'), 'nodeAffinity'), 'requiredDuringSchedulingIgnoredDuringExecution');
  const terms = Array.isArray(required.nodeSelectorTerms) ? required.nodeSelectorTerms : (required.nodeSelectorTerms = []);
  if (terms.length === 0) terms.push({});
  for (const term of terms) {
    if (!isRecord(term)) continue;
    addRequirements(term, 'matchExpressions', expressions);
    addRequirements(term, 'matchFields', fields);
  }
}

function addRequirements(term: JsonRecord, key: 'matchExpressions' | 'matchFields', wanted: NodeSelectorRequirement[]): void {
  if (wanted.length === 0) return;
  const list = Array.isArray(term[key]) ? term[key] : (term[key] = []);
  for (const want of wanted) {
    const present = list.some((r: unknown) => isRecord(r) && r.key === want.key && r.operator === want.operator &&
      JSON.stringify(r.values ?? []) === JSON.stringify(want.values ?? []));
    if (!present) list.push(structuredClone(want));
  }
}

export function restorePatch(pod: JsonRecord, plan: RestorePlan): Operation[] {
  return jsonpatch.compare(pod, applyPlan(pod, plan));
}
