// What the webhook's informers keep of each object: exactly the fields the restore index reads
// (src/rules/indexed-objects.ts trims, parsePullSecretRecord), nothing else, so a cluster's pods
// cost a few hundred bytes each. The property test (index-projections.properties.test.ts) checks
// that an index fed projections answers every lookup as one fed full objects. Pure.
import type { KubernetesObject } from '@kubernetes/client-node';
import { ANNOTATIONS, NAMESPACE_LABEL } from '../src/api/types.ts';
import { compact, isWire, pick, pickEntries, type Wire } from '../src/kube/pick.ts';
import { CLAIM_ANNOTATION, CLAIM_HOLDER_ANNOTATION } from '../src/rules/checkpoint-claim.ts';
import { CAPABILITY_LABELS } from '../src/rules/restore-capability.ts';
import { ARCH_LABEL } from '../src/rules/restore-fit.ts';
import type { IndexedKind } from './restore-index.ts';

export type Projected = KubernetesObject & Wire;

/** metadata's identity (name, namespace, uid) plus the listed keys, with annotations/labels filtered. */
function metadata(obj: unknown, keys: readonly string[], filters: { annotations?: (k: string) => boolean; labels?: (k: string) => boolean } = {}): Wire | undefined {
  const m = isWire(obj) ? obj.metadata : undefined;
  if (!isWire(m)) return undefined;
  const out = pick(m, ['name', 'namespace', 'uid', ...keys])!;
  if (filters.annotations) out.annotations = pickEntries(m.annotations, filters.annotations);
  if (filters.labels) out.labels = pickEntries(m.labels, filters.labels);
  return compact(out);
}

function project(obj: unknown, parts: Wire): Projected | undefined {
  if (!isWire(obj)) return undefined;
  return compact(parts) as Projected;
}

const podAnnotation = (k: string) => k === ANNOTATIONS.restoredFrom || k.startsWith(ANNOTATIONS.restoredFromContainerPrefix) || k === CLAIM_HOLDER_ANNOTATION;
const checkpointAnnotation = (k: string) => k === CLAIM_ANNOTATION || k === ANNOTATIONS.pinned || k === ANNOTATIONS.targetNode;
const NODE_LABELS: ReadonlySet<string> = new Set([CAPABILITY_LABELS.runtime, CAPABILITY_LABELS.capable, ARCH_LABEL]);

function sub(v: unknown, keys: readonly string[]): Wire | undefined {
  return isWire(v) ? pick(v, keys) : undefined;
}

export function projectIndexPod(obj: unknown): Projected | undefined {
  const o = obj as Wire;
  return project(obj, {
    metadata: metadata(obj, ['deletionTimestamp'], { annotations: podAnnotation }),
    status: sub(o?.status, ['phase']),
  });
}

export function projectIndexCheckpoint(obj: unknown): Projected | undefined {
  const o = obj as Wire;
  const spec = isWire(o?.spec) ? o.spec : undefined;
  return project(obj, {
    metadata: metadata(obj, ['deletionTimestamp', 'resourceVersion', 'creationTimestamp'], { annotations: checkpointAnnotation }),
    spec: spec && compact({
      ...pick(spec, ['identity', 'podName', 'containerName', 'podUID', 'originalImage', 'originalImageDigest', 'architecture', 'checkpointTimestamp']),
      workload: sub(spec.workload, ['kind', 'name']),
      runtime: sub(spec.runtime, ['name']),
    }),
    status: sub(o?.status, ['phase', 'runtimeImage', 'bad']),
  });
}

export function projectIndexNamespace(obj: unknown): Projected | undefined {
  return project(obj, { metadata: metadata(obj, [], { labels: (k) => k === NAMESPACE_LABEL.key }) });
}

export function projectIndexNode(obj: unknown): Projected | undefined {
  return project(obj, {
    metadata: metadata(obj, [], { labels: (k) => NODE_LABELS.has(k) }),
    spec: sub((obj as Wire)?.spec, ['unschedulable']),
  });
}

export function projectIndexSchedule(obj: unknown): Projected | undefined {
  const spec = (obj as Wire)?.spec;
  return project(obj, {
    metadata: metadata(obj, []),
    spec: isWire(spec) ? compact({ ...pick(spec, ['selector']), restore: sub(spec.restore, ['mode']) }) : undefined,
  });
}

export function projectIndexReplicaSet(obj: unknown): Projected | undefined {
  const m = metadata(obj, []);
  const refs = isWire((obj as Wire)?.metadata) ? ((obj as Wire).metadata as Wire).ownerReferences : undefined;
  // Only the controller reference is read (the owning Deployment).
  const controllers = Array.isArray(refs) ? refs.filter((r) => isWire(r) && r.controller === true) : undefined;
  if (m && controllers && controllers.length > 0) m.ownerReferences = controllers;
  return project(obj, { metadata: m });
}

export function projectIndexWorkload(obj: unknown): Projected | undefined {
  return project(obj, { metadata: metadata(obj, [], { annotations: (k) => k === ANNOTATIONS.workloadSchedule }) });
}

export function projectIndexPullSecretRecord(obj: unknown): Projected | undefined {
  return project(obj, { metadata: metadata(obj, []), data: (obj as Wire)?.data });
}

export const INDEX_PROJECTIONS: Record<IndexedKind, (obj: unknown) => Projected | undefined> = {
  Pod: projectIndexPod,
  Checkpoint: projectIndexCheckpoint,
  Namespace: projectIndexNamespace,
  Node: projectIndexNode,
  CheckpointSchedule: projectIndexSchedule,
  ReplicaSet: projectIndexReplicaSet,
  Deployment: projectIndexWorkload,
  StatefulSet: projectIndexWorkload,
  PullSecretRecord: projectIndexPullSecretRecord,
};

/** Kinds whose projection reads metadata only: their informers ask for PartialObjectMetadata. */
export const INDEX_METADATA_ONLY: ReadonlySet<IndexedKind> = new Set(['Pod', 'Namespace', 'ReplicaSet', 'Deployment', 'StatefulSet']);

/**
 * What the webhook watches of a kind, when not all of it. Of a pod's status the index reads only
 * whether its phase is terminal, so pods are watched as metadata only and only while not
 * Succeeded or Failed: a pod that becomes terminal leaves the selection and the watch reports it
 * deleted, which the index reads as not living, exactly as it reads a terminal pod. (Such a pod's
 * claim holder is then not seen after a restart: its claim holds the checkpoint until the claim's
 * TTL, which errs on the side of not restoring twice.)
 */
export const INDEX_FIELD_SELECTORS: Partial<Record<IndexedKind, string>> = { Pod: 'status.phase!=Succeeded,status.phase!=Failed' };
