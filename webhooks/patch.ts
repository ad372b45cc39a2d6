// The restore patch: mutate a structuredClone of the admitted pod, then let fast-json-patch
// compare() produce the RFC 6902 operations (it escapes '/' in annotation keys as ~1).
// Setting a value that is already there yields no operation, which makes the patch idempotent.
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { ANNOTATIONS } from '../src/api/types.ts';
import { array, isRecord, type JsonRecord } from '../src/rules/shape.ts';

export const ARCH_LABEL = 'kubernetes.io/arch';
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
  if (plan.architecture !== undefined) child(spec, 'nodeSelector')[ARCH_LABEL] = plan.architecture;
  if (plan.pullSecretName !== undefined) {
    const secrets = Array.isArray(spec.imagePullSecrets) ? spec.imagePullSecrets : (spec.imagePullSecrets = []);
    if (!secrets.some((s: unknown) => isRecord(s) && s.name === plan.pullSecretName)) {
      secrets.push({ name: plan.pullSecretName });
    }
  }
  if (plan.targetNode !== undefined) requireNode(spec, plan.targetNode);
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
 * Adds `metadata.name In [node]` to every required node selector term (terms are ORed, so the
 * requirement must be in each), or one term when there are none. Idempotent.
 */
function requireNode(spec: JsonRecord, node: string): void {
  const required = child(child(child(spec, 'affinity'), 'nodeAffinity'), 'requiredDuringSchedulingIgnoredDuringExecution');
  const terms = Array.isArray(required.nodeSelectorTerms) ? required.nodeSelectorTerms : (required.nodeSelectorTerms = []);
  if (terms.length === 0) terms.push({});
  const want = { key: 'metadata.name', operator: 'In', values: [node] };
  for (const term of terms) {
    if (!isRecord(term)) continue;
    const fields = Array.isArray(term.matchFields) ? term.matchFields : (term.matchFields = []);
    const present = fields.some((f: unknown) => isRecord(f) && f.key === want.key && f.operator === 'In' && Array.isArray(f.values) && f.values.length === 1 && f.values[0] === node);
    if (!present) fields.push(structuredClone(want));
  }
}

export function restorePatch(pod: JsonRecord, plan: RestorePlan): Operation[] {
  return jsonpatch.compare(pod, applyPlan(pod, plan));
}
