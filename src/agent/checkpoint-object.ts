// The Checkpoint the agent records once its image is stored. Pure.
//
// Name: deterministic from the CheckpointRequest (its name plus the start of its UID), so a
// retried job finds the Checkpoint an earlier attempt created instead of making a second one,
// and a request re-created under the same name gets its own.
//
// Ownership: none. A Checkpoint must outlive its pod (it exists to restore the pod's
// replacement), its CheckpointRequest (removed after ttlSecondsAfterFinished) and even its
// schedule: garbage collection through an owner would delete checkpoints that are restored
// into living pods or pinned by a RestoreRequest, which retention must never delete, and would
// ignore `retainOrphan`. Retention (or a user) deletes Checkpoints; their finalizer has the
// controller delete the manifest first.
import { createHash } from 'node:crypto';
import { API_VERSION, type Checkpoint, type CheckpointStatus, type Condition, type LocalObjectReference } from '../api/types.ts';
import { checkpointConditions, observedGeneration } from '../api/conditions.ts';
import type { PodIdentity } from '../rules/identity.ts';
import { CHECKPOINT_FINALIZER } from '../rules/checkpoint-finalizer.ts';

export const CHECKPOINT_LABELS = {
  /** UID of the CheckpointRequest that made the Checkpoint. */
  requestUid: 'kcr.io/checkpoint-request-uid',
} as const;

export const CHECKPOINT_ANNOTATIONS_ON_OBJECT = {
  /** Name of the CheckpointRequest that made the Checkpoint. */
  request: 'kcr.io/checkpoint-request',
} as const;

const MAX_NAME = 253;

export function checkpointName(requestName: string, requestUid: string): string {
  const suffix = createHash('sha256').update(requestUid).digest('hex').slice(0, 8);
  const head = requestName.slice(0, MAX_NAME - suffix.length - 1).replace(/[-.]+$/, '');
  return head === '' ? `ckpt-${suffix}` : `${head}-${suffix}`;
}

export interface CheckpointFacts {
  name: string;
  namespace: string;
  request: { name: string; uid: string };
  scheduleRef?: LocalObjectReference | undefined;
  podName: string;
  podUid: string;
  container: string;
  node: string;
  identity: PodIdentity;
  originalImage: string;
  originalImageDigest?: string | undefined;
  originalImageID?: string | undefined;
  runtime: { name: string; version?: string };
  baseImage: { name?: string; ref?: string };
  architecture: string;
  /** The kubelet's archive file name. */
  archiveFile: string;
  takenAt: Date;
  sizeBytes: number;
  /** sha256 of the archive as the kubelet wrote it. */
  archiveDigest: string;
}

export function buildCheckpoint(f: CheckpointFacts): Checkpoint {
  return {
    apiVersion: API_VERSION,
    kind: 'Checkpoint',
    metadata: {
      name: f.name,
      namespace: f.namespace,
      labels: { [CHECKPOINT_LABELS.requestUid]: f.request.uid },
      annotations: { [CHECKPOINT_ANNOTATIONS_ON_OBJECT.request]: f.request.name },
      // From its first moment: the image in the registry goes when the Checkpoint goes.
      finalizers: [CHECKPOINT_FINALIZER],
    },
    spec: {
      checkpointData: f.archiveFile,
      // The request's UID: unique per checkpoint, and it links back to the request.
      checkpointID: f.request.uid,
      checkpointTimestamp: f.takenAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      containerName: f.container,
      nodeName: f.node,
      ...(f.scheduleRef ? { checkpointScheduleRef: f.scheduleRef } : {}),
      podName: f.podName,
      podUID: f.podUid,
      workload: { kind: f.identity.kind, name: f.identity.workload },
      identity: f.identity.identity,
      originalImage: f.originalImage,
      ...(f.originalImageDigest ? { originalImageDigest: f.originalImageDigest } : {}),
      ...(f.originalImageID ? { originalImageID: f.originalImageID } : {}),
      runtime: f.runtime,
      ...(f.baseImage.name !== undefined || f.baseImage.ref !== undefined ? { baseImage: f.baseImage } : {}),
      architecture: f.architecture,
      sizeBytes: f.sizeBytes,
      archiveDigest: f.archiveDigest,
    },
  };
}

/**
 * The status once the image is stored: phase ImageBuilt, the references, and the conditions
 * (Ready, ImageBuilt) that follow from it, after `previous` (the Checkpoint as last read; none
 * for one just created).
 */
export function imageBuiltStatus(
  image: { tagReference: string; digestReference: string },
  now: Date,
  previous: { conditions?: Condition[] | undefined; generation?: number | undefined } = {},
): CheckpointStatus {
  const status: CheckpointStatus = { phase: 'ImageBuilt', checkpointImage: image.tagReference, runtimeImage: image.digestReference };
  return { ...status, ...checkpointStatusConditions(previous, status, now) };
}

/** A Checkpoint that failed (its archive lost before the image was stored). */
export function failedCheckpointStatus(why: string, now: Date, previous: { conditions?: Condition[] | undefined; generation?: number | undefined } = {}): CheckpointStatus {
  const status: CheckpointStatus = { phase: 'Failed', failedReason: why };
  return { ...status, ...checkpointStatusConditions(previous, status, now) };
}

function checkpointStatusConditions(
  previous: { conditions?: Condition[] | undefined; generation?: number | undefined },
  status: CheckpointStatus,
  now: Date,
): Pick<CheckpointStatus, 'conditions' | 'observedGeneration'> {
  return {
    conditions: checkpointConditions(previous.conditions, status, { generation: previous.generation, now }),
    ...observedGeneration(previous.generation),
  };
}

/** The parts of a Pod the agent reads (structurally compatible with client-node's V1Pod). */
export interface PodFacts {
  metadata?: { name?: string; uid?: string; labels?: Record<string, string>; ownerReferences?: unknown } | undefined;
  spec?: { nodeName?: string; containers?: Array<{ name: string; image?: string }>; initContainers?: Array<{ name: string; image?: string }> } | undefined;
  status?: { containerStatuses?: Array<{ name: string; image?: string; imageID?: string }>; initContainerStatuses?: Array<{ name: string; image?: string; imageID?: string }> } | undefined;
}

/** The image a container runs and its digest (from the status's imageID), if the pod has it. */
export function containerImage(pod: PodFacts, container: string): { image: string; digest: string | undefined; imageID?: string } | undefined {
  const spec = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((c) => c.name === container);
  if (!spec?.image) return undefined;
  const st = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])].find((c) => c.name === container);
  const m = /sha256:[a-f0-9]{64}/.exec(st?.imageID ?? '');
  return { image: spec.image, digest: m ? m[0] : undefined, ...(st?.imageID ? { imageID: st.imageID } : {}) };
}

/**
 * The software a container runs. A container restored from a checkpoint runs the checkpoint
 * image, but it is still the program of that checkpoint's original image: a checkpoint taken of it
 * records that original, so its own restores match the pod template's image (restore rule 4).
 */
export function originalSoftware(
  running: { image: string; digest: string | undefined },
  restoredFrom: Pick<Checkpoint, 'spec' | 'status'> | undefined,
): { image: string; digest: string | undefined } {
  const original = restoredFrom?.spec.originalImage;
  if (original === undefined || restoredFrom?.status?.runtimeImage !== running.image) return running;
  return { image: original, digest: restoredFrom.spec.originalImageDigest };
}

/** `kubernetes.io/arch`, else the node's reported architecture. */
export function nodeArchitecture(node: { metadata?: { labels?: Record<string, string> }; status?: { nodeInfo?: { architecture?: string } } }): string | undefined {
  return node.metadata?.labels?.['kubernetes.io/arch'] ?? node.status?.nodeInfo?.architecture;
}
