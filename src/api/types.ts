// The kcr API (group checkpoint-restore.kcr.io, version v1) as TypeScript types: the one
// place where the shape of every kind lives. The CRDs in manifests/crds mirror these.

export const GROUP = 'checkpoint-restore.kcr.io';
export const VERSION = 'v1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const PLURALS = {
  CheckpointSchedule: 'checkpointschedules',
  CheckpointRequest: 'checkpointrequests',
  Checkpoint: 'checkpoints',
  RestoreRequest: 'restorerequests',
} as const;

/** Annotations and labels users and kcr put on objects. */
export const ANNOTATIONS = {
  /** Pod opt-in ("true") or opt-out ("false", wins over everything else). */
  restore: 'kcr.io/restore',
  /** Pod opt-out of checkpoints ("false"): no schedule or request dumps its memory. */
  checkpoint: 'kcr.io/checkpoint',
  /** Workload (Deployment/StatefulSet) cron, compatible with the original kcr. */
  workloadSchedule: 'kcr.io/checkpoint-restore-schedule',
  /** Set on a restored pod: the Checkpoint each container was restored from. */
  restoredFrom: 'kcr.io/restored-from',
  /** Prefix of the per-container form: kcr.io/restored-from.<container>. */
  restoredFromContainerPrefix: 'kcr.io/restored-from.',
  /** The identity kcr computed for a pod (StatefulSet pod name, Deployment name, bare pod name). */
  identity: 'kcr.io/identity',
  /** Set on a Checkpoint by a RestoreRequest: restore from it next, and never delete it. */
  pinned: 'kcr.io/pinned',
  /** Next to the pin: the uid of the RestoreRequest that pinned the Checkpoint. */
  pinnedBy: 'kcr.io/pinned-by',
  /** Next to the pin, for a migration: the node the restored pod must run on. */
  targetNode: 'kcr.io/target-node',
  /** Set on a Checkpoint by the controller: since when it has had no workload and no living pod (RFC 3339). */
  orphanedSince: 'kcr.io/orphaned-since',
} as const;

export const NAMESPACE_LABEL = { key: 'kcr.io/restore', value: 'enabled' } as const;

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface PodReference {
  name: string;
  namespace?: string;
}

export interface LocalObjectReference {
  name: string;
}

export interface WorkloadReference {
  kind: 'Deployment' | 'StatefulSet' | 'Pod' | string;
  name: string;
}

// ---------- CheckpointSchedule ----------

export interface RetentionPolicy {
  /** Newest N checkpoints kept per container identity. Default 3. */
  maxCheckpointsPerContainer?: number;
  /** Total size cap for the schedule's checkpoints, a Kubernetes quantity ("10Gi"). */
  maxTotalSize?: string;
  /** Keep checkpoints whose workload no longer exists. Default false. */
  retainOrphan?: boolean;
  /**
   * How long a checkpoint must have had neither its workload nor a living pod of its identity
   * before it is deleted as an orphan (a StatefulSet deleted with --cascade=orphan and re-applied
   * keeps its checkpoints). Default 3600.
   */
  orphanGraceSeconds?: number;
}

export type RestoreMode = 'Replacement' | 'Never';

export interface CheckpointScheduleSpec {
  /** 5-field cron. */
  schedule: string;
  selector: LabelSelector;
  timeZone?: string;
  containerNames?: string[];
  suspend?: boolean;
  timeoutSeconds?: number;
  retention?: RetentionPolicy;
  restore?: { mode?: RestoreMode };
}

export interface CheckpointScheduleStatus {
  lastRunTime?: string;
  nextRunTime?: string;
  lastSuccessfulTime?: string;
  checkpointsCreated?: number;
  /** Ready (Scheduled | Suspended | InvalidSchedule | NotRegistered) and LastRun (controller/schedule-status.ts). */
  conditions?: Condition[];
  observedGeneration?: number;
}

export interface CheckpointSchedule {
  apiVersion: typeof API_VERSION;
  kind: 'CheckpointSchedule';
  metadata: ObjectMeta;
  spec: CheckpointScheduleSpec;
  status?: CheckpointScheduleStatus;
}

// ---------- CheckpointRequest ----------

export type CheckpointRequestPhase = 'Pending' | 'InProgress' | 'Completed' | 'Failed';

export interface CheckpointRequestSpec {
  podReference: PodReference;
  containerName: string;
  checkpointScheduleRef?: LocalObjectReference;
  /** Default 300. */
  timeoutSeconds?: number;
  ttlSecondsAfterFinished?: number;
}

export interface CheckpointRequestStatus {
  phase?: CheckpointRequestPhase;
  startTime?: string;
  completionTime?: string;
  checkpoint?: LocalObjectReference;
  message?: string;
  nodeName?: string;
  attempts?: number;
  /** Archive file name the kubelet wrote on nodeName (a retry pushes it instead of checkpointing again). */
  archive?: string;
  /** Complete and Failed (src/api/conditions.ts), derived from phase. */
  conditions?: Condition[];
  /** The metadata.generation the last phase was written for. */
  observedGeneration?: number;
}

export interface CheckpointRequest {
  apiVersion: typeof API_VERSION;
  kind: 'CheckpointRequest';
  metadata: ObjectMeta;
  spec: CheckpointRequestSpec;
  status?: CheckpointRequestStatus;
}

// ---------- Checkpoint ----------

export type CheckpointPhase = 'Created' | 'Processing' | 'ImageBuilt' | 'Failed';

export interface CheckpointSpec {
  // Fields of the original kcr.
  checkpointData?: string;
  checkpointID?: string;
  checkpointTimestamp?: string;
  containerName: string;
  nodeName?: string;
  schedule?: string;
  selector?: LabelSelector;
  checkpointScheduleRef?: LocalObjectReference;
  // Added by kcr.
  podName?: string;
  podUID?: string;
  workload?: WorkloadReference;
  identity?: string;
  originalImage?: string;
  originalImageDigest?: string;
  /** The container's imageID as the kubelet reported it (e.g. docker.io/library/app@sha256:…). */
  originalImageID?: string;
  /** The runtime that wrote the archive (read from the archive) and the node's version of it. */
  runtime?: { name: string; version?: string };
  /** The base image exactly as the archive's config.dump names it (rootfsImageName, rootfsImageRef). */
  baseImage?: { name?: string; ref?: string };
  architecture?: string;
  sizeBytes?: number;
  archiveDigest?: string;
}

export interface CheckpointStatus {
  phase?: CheckpointPhase;
  checkpointImage?: string;
  /** Pullable reference by digest: registry/repo@sha256:… */
  runtimeImage?: string;
  /** Nodes where a restore of this checkpoint failed for a reason not known to be the node's. */
  failedRestoreNodes?: string[];
  /** Ready and ImageBuilt (src/api/conditions.ts), derived from phase and bad. */
  conditions?: Condition[];
  /** The metadata.generation the conditions were written for. */
  observedGeneration?: number;
  failedReason?: string;
  restoreCount?: number;
  failedRestoreCount?: number;
  lastRestoreTime?: string;
  /** Set when a restore from this checkpoint failed: it is never chosen again. */
  bad?: boolean;
  badReason?: string;
}

export interface Checkpoint {
  apiVersion: typeof API_VERSION;
  kind: 'Checkpoint';
  metadata: ObjectMeta;
  spec: CheckpointSpec;
  status?: CheckpointStatus;
}

// ---------- RestoreRequest ----------

export type RestoreRequestPhase =
  | 'Pending'
  | 'Checkpointing'
  | 'Restoring'
  | 'Completed'
  | 'Failed';

export interface RestoreRequestSpec {
  podReference: PodReference;
  checkpointRef?: LocalObjectReference;
  targetNode?: string;
  checkpointFirst?: boolean;
}

export interface RestoreRequestStatus {
  phase?: RestoreRequestPhase;
  checkpoint?: LocalObjectReference;
  newPod?: PodReference;
  message?: string;
  startTime?: string;
  completionTime?: string;
  /** Complete and Failed (src/api/conditions.ts), derived from phase. */
  conditions?: Condition[];
  /** The metadata.generation the last phase was written for. */
  observedGeneration?: number;
  // Progress the controller keeps so that any replica can take the next step.
  /** UID of the pod being restored (its replacement has another). */
  sourcePodUID?: string;
  /** The pod's identity (its replacement's is the same). */
  identity?: string;
  /** Every Checkpoint pinned for this restore (one per container). */
  checkpoints?: string[];
  /** CheckpointRequests made for checkpointFirst. */
  checkpointRequests?: string[];
  /** When the checkpoints were pinned. */
  pinnedAt?: string;
  /**
   * A bare pod's manifest was kept to recreate it after deleting it: the name of the ConfigMap in
   * kcr's namespace that holds it (kcr-restore-<request uid>). Never the manifest itself: a
   * tenant who could write this status would choose the pod kcr creates.
   */
  keptManifest?: string;
}

export interface RestoreRequest {
  apiVersion: typeof API_VERSION;
  kind: 'RestoreRequest';
  metadata: ObjectMeta;
  spec: RestoreRequestSpec;
  status?: RestoreRequestStatus;
}

export type KcrObject = CheckpointSchedule | CheckpointRequest | Checkpoint | RestoreRequest;
