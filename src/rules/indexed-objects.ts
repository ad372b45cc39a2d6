// Trimming: informer objects (full V1Pod, V1ReplicaSet, kcr CRs …) shrink to just the
// fields the restore decision reads before the index stores them, so 10,000 Checkpoints
// and every pod of a cluster fit in a small heap. Each trim returns undefined for an
// object it cannot key (no uid and no name), which the index then ignores.
import type { LabelSelector } from '../api/types.ts';
import { ANNOTATIONS, NAMESPACE_LABEL } from '../api/types.ts';
import { CLAIM_ANNOTATION, CLAIM_HOLDER_ANNOTATION, parseClaim, type CheckpointClaim } from './checkpoint-claim.ts';
import { parseSelector } from './label-selector.ts';
import { nodeRestoreFacts, type NodeRestoreFacts } from './restore-fit.ts';
import { array, isRecord, record, str, stringMap, timeMs } from './shape.ts';

/**
 * Pin: the RestoreRequest controller sets this annotation ("true") on the Checkpoint it
 * wants restored; the decision then prefers that checkpoint over newer ones of the same
 * namespace, identity and container. A pin never bypasses a safety rule (same software,
 * same architecture, source gone, not already restored into a living pod).
 */
export const PINNED_ANNOTATION = ANNOTATIONS.pinned;

export interface IndexedPod {
  key: string;
  uid: string | undefined;
  namespace: string;
  name: string;
  terminating: boolean;
  /** Phase Succeeded or Failed (e.g. evicted): its containers are not running. */
  terminal: boolean;
  /** Checkpoint names from kcr.io/restored-from and kcr.io/restored-from.<container>. */
  restoredFrom: string[];
  /** kcr.io/claim-holder: the claims the webhook made for this pod. */
  claimHolder: string | undefined;
}

export interface IndexedNode extends NodeRestoreFacts {
  key: string;
}

export interface IndexedCheckpoint {
  key: string;
  namespace: string;
  name: string;
  /** Being deleted (its finalizer is removing the image from the registry): never restored from. */
  deleting: boolean;
  /** Undefined when neither spec.identity nor podName/workload say it. */
  identity: string | undefined;
  container: string;
  workloadKind: string | undefined;
  podUID: string | undefined;
  podName: string | undefined;
  originalImage: string | undefined;
  originalImageDigest: string | undefined;
  architecture: string | undefined;
  /** spec.runtime.name: the runtime that wrote the archive (restores only on that runtime). */
  runtime: string | undefined;
  phase: string | undefined;
  runtimeImage: string | undefined;
  bad: boolean;
  /** For the conditional write of a claim. */
  resourceVersion: string | undefined;
  /** kcr.io/claim: a webhook handed it out to a pod that may not be visible yet. */
  claim: CheckpointClaim | undefined;
  pinned: boolean;
  /** Node a pinned checkpoint is to be restored onto (kcr.io/target-node, set next to the pin by a
   * RestoreRequest migration: the restored pod must run there); unset for unpinned ones. */
  targetNode?: string | undefined;
  /** spec.checkpointTimestamp, ms; -Infinity when missing. */
  takenMs: number;
  /** metadata.creationTimestamp, ms; -Infinity when missing. */
  createdMs: number;
}

export interface IndexedNamespace {
  key: string;
  name: string;
  /** Value of the kcr.io/restore label. */
  restoreLabel: string | undefined;
}

export interface IndexedSchedule {
  key: string;
  namespace: string;
  name: string;
  selector: LabelSelector | undefined;
  restoreMode: string | undefined;
}

export interface IndexedReplicaSet {
  key: string;
  namespace: string;
  name: string;
  /** Name of the controlling Deployment, if any. */
  deployment: string | undefined;
}

export interface IndexedWorkload {
  key: string;
  kind: 'Deployment' | 'StatefulSet';
  namespace: string;
  name: string;
  /** Value of kcr.io/checkpoint-restore-schedule. */
  schedule: string | undefined;
}

interface Meta {
  uid: string | undefined;
  name: string | undefined;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  raw: Record<string, unknown>;
}

function meta(obj: unknown): Meta {
  const m = record(record(obj).metadata);
  return {
    uid: str(m.uid),
    name: str(m.name),
    namespace: str(m.namespace) ?? '',
    labels: stringMap(m.labels),
    annotations: stringMap(m.annotations),
    raw: m,
  };
}

/** Index key: the uid, or namespace/name for an object without one (hand-made objects). */
function keyOf(m: Meta): string | undefined {
  if (m.uid !== undefined) return m.uid;
  return m.name === undefined ? undefined : `${m.namespace}/${m.name}`;
}

/** The controller owner reference of an object (the one with controller: true). */
export function controllerOf(metadata: unknown): { kind: string; name: string; uid: string | undefined } | undefined {
  for (const ref of array(record(metadata).ownerReferences)) {
    if (!isRecord(ref) || ref.controller !== true) continue;
    const kind = str(ref.kind);
    const name = str(ref.name);
    if (kind !== undefined && name !== undefined) return { kind, name, uid: str(ref.uid) };
  }
  return undefined;
}

/** Checkpoint names a pod's annotations say it was restored from. */
export function restoredFromNames(annotations: Record<string, string>): string[] {
  const names = new Set<string>();
  for (const [k, v] of Object.entries(annotations)) {
    if (k === ANNOTATIONS.restoredFrom) {
      for (const n of v.split(',')) if (n.trim() !== '') names.add(n.trim());
    } else if (k.startsWith(ANNOTATIONS.restoredFromContainerPrefix) && v !== '') {
      names.add(v);
    }
  }
  return [...names];
}

export function trimPod(obj: unknown): IndexedPod | undefined {
  const m = meta(obj);
  const key = keyOf(m);
  if (key === undefined || m.name === undefined) return undefined;
  const phase = str(record(record(obj).status).phase);
  return {
    key,
    uid: m.uid,
    namespace: m.namespace,
    name: m.name,
    terminating: m.raw.deletionTimestamp !== undefined && m.raw.deletionTimestamp !== null,
    terminal: phase === 'Succeeded' || phase === 'Failed',
    restoredFrom: restoredFromNames(m.annotations),
    claimHolder: m.annotations[CLAIM_HOLDER_ANNOTATION],
  };
}

export function trimNode(obj: unknown): IndexedNode | undefined {
  const m = meta(obj);
  if (m.name === undefined) return undefined;
  // Nodes are cluster-scoped: keyed by name, as the scheduler and the pod's nodeName know them.
  const facts = nodeRestoreFacts({ metadata: { name: m.name, labels: m.labels }, spec: { unschedulable: record(record(obj).spec).unschedulable === true } });
  return facts === undefined ? undefined : { key: facts.name, ...facts };
}

/** The identity a Checkpoint belongs to: spec.identity, else derived like the pod's. */
function checkpointIdentity(spec: Record<string, unknown>): string | undefined {
  const explicit = str(spec.identity);
  if (explicit !== undefined) return explicit;
  const workload = record(spec.workload);
  if (str(workload.kind) === 'Deployment' && str(workload.name) !== undefined) return str(workload.name);
  return str(spec.podName);
}

export function trimCheckpoint(obj: unknown): IndexedCheckpoint | undefined {
  const m = meta(obj);
  const key = keyOf(m);
  const o = record(obj);
  const spec = record(o.spec);
  const status = record(o.status);
  const container = str(spec.containerName);
  if (key === undefined || m.name === undefined || container === undefined) return undefined;
  return {
    key,
    namespace: m.namespace,
    name: m.name,
    deleting: m.raw.deletionTimestamp !== undefined && m.raw.deletionTimestamp !== null,
    identity: checkpointIdentity(spec),
    container,
    workloadKind: str(record(spec.workload).kind),
    podUID: str(spec.podUID),
    podName: str(spec.podName),
    originalImage: str(spec.originalImage),
    originalImageDigest: str(spec.originalImageDigest),
    architecture: str(spec.architecture),
    runtime: str(record(spec.runtime).name),
    phase: str(status.phase),
    runtimeImage: str(status.runtimeImage),
    bad: status.bad === true,
    resourceVersion: str(m.raw.resourceVersion),
    claim: parseClaim(m.annotations[CLAIM_ANNOTATION]),
    pinned: m.annotations[PINNED_ANNOTATION] === 'true',
    targetNode: m.annotations[PINNED_ANNOTATION] === 'true' ? nonEmpty(m.annotations[ANNOTATIONS.targetNode]) : undefined,
    takenMs: timeMs(spec.checkpointTimestamp) ?? -Infinity,
    createdMs: timeMs(m.raw.creationTimestamp) ?? -Infinity,
  };
}

export function trimNamespace(obj: unknown): IndexedNamespace | undefined {
  const m = meta(obj);
  if (m.name === undefined) return undefined;
  // Namespaces are cluster-scoped: keyed by name so the decision finds them by name.
  return { key: m.name, name: m.name, restoreLabel: m.labels[NAMESPACE_LABEL.key] };
}

export function trimSchedule(obj: unknown): IndexedSchedule | undefined {
  const m = meta(obj);
  const key = keyOf(m);
  if (key === undefined || m.name === undefined) return undefined;
  const spec = record(record(obj).spec);
  return {
    key,
    namespace: m.namespace,
    name: m.name,
    selector: parseSelector(spec.selector),
    restoreMode: str(record(spec.restore).mode),
  };
}

export function trimReplicaSet(obj: unknown): IndexedReplicaSet | undefined {
  const m = meta(obj);
  const key = keyOf(m);
  if (key === undefined || m.name === undefined) return undefined;
  const owner = controllerOf(m.raw);
  return { key, namespace: m.namespace, name: m.name, deployment: owner?.kind === 'Deployment' ? owner.name : undefined };
}

export function trimWorkload(kind: 'Deployment' | 'StatefulSet', obj: unknown): IndexedWorkload | undefined {
  const m = meta(obj);
  const base = keyOf(m);
  if (base === undefined || m.name === undefined) return undefined;
  // Kind in the key: hand-made objects without uid are keyed by name, which kinds share.
  return { key: `${kind}/${base}`, kind, namespace: m.namespace, name: m.name, schedule: m.annotations[ANNOTATIONS.workloadSchedule] };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}
