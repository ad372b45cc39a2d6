// Status conditions in the form of the Kubernetes API conventions (metav1.Condition), derived from
// each kind's phase: one pure function per kind, so that `kubectl wait --for=condition=Complete
// checkpointrequest/x` (and Failed, and Ready on a Checkpoint) works from whatever wrote the
// phase. The phase stays the field kcr itself reads; the conditions say the same for tools.
//
// Every function takes the previous conditions and returns the new list: a condition whose
// status did not change keeps its lastTransitionTime (reason, message and observedGeneration
// follow the newest state); conditions of other types are kept as they are. Pure.
import type {
  CheckpointRequestPhase,
  CheckpointStatus,
  Condition,
  RestoreRequestPhase,
} from './types.ts';

export const CONDITION_TYPES = {
  /** CheckpointRequest, RestoreRequest: True once it finished with success. */
  complete: 'Complete',
  /** CheckpointRequest, RestoreRequest: True once it finished without success. */
  failed: 'Failed',
  /** Checkpoint: True while a replacement pod may be restored from it; CheckpointSchedule: see schedule-status.ts. */
  ready: 'Ready',
  /** Checkpoint: True once its image is in the registry (kept from earlier releases). */
  imageBuilt: 'ImageBuilt',
} as const;

/** The reasons these functions write (CamelCase). A Failed request's reason may be a more precise one its writer gives. */
export const CONDITION_REASONS = {
  pending: 'Pending',
  inProgress: 'InProgress',
  checkpointing: 'Checkpointing',
  restoring: 'Restoring',
  checkpointCreated: 'CheckpointCreated',
  checkpointFailed: 'CheckpointFailed',
  restored: 'Restored',
  restoreFailed: 'RestoreFailed',
  pushed: 'Pushed',
  imageBuilt: 'ImageBuilt',
  processing: 'Processing',
  markedBad: 'MarkedBad',
} as const;

/** RFC 3339 in whole seconds, as metav1.Time serialises. */
export function conditionTime(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Sets `next` in `conditions` by type, keeping lastTransitionTime when the status did not change; sorted by type. */
export function setCondition(conditions: readonly Condition[] | undefined, next: Condition): Condition[] {
  const out = (conditions ?? []).filter((c) => c.type !== next.type);
  const old = (conditions ?? []).find((c) => c.type === next.type);
  const keepTime = old !== undefined && old.status === next.status;
  out.push({ ...next, lastTransitionTime: keepTime ? old.lastTransitionTime : next.lastTransitionTime });
  return out.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

/** What a status writer knows when it writes a phase. */
export interface PhaseChange<P extends string> {
  /** Undefined is the phase before anyone wrote one (Pending). */
  phase: P | undefined;
  /** The status message; the conditions' message (a default per phase when unset). */
  message?: string | undefined;
  /** CamelCase reason of a failure (e.g. PodNotFound); the kind's default when unset or not CamelCase. */
  reason?: string | undefined;
  /** metadata.generation of the object the writer read. */
  generation?: number | undefined;
  now: Date;
}

const CAMEL = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

function reasonOr(reason: string | undefined, fallback: string): string {
  return reason !== undefined && CAMEL.test(reason) && reason.length <= 1024 ? reason : fallback;
}

function condition(type: string, status: Condition['status'], reason: string, message: string, generation: number | undefined, now: Date): Condition {
  return { type, status, reason, message, lastTransitionTime: conditionTime(now), ...(generation !== undefined ? { observedGeneration: generation } : {}) };
}

function setAll(previous: readonly Condition[] | undefined, next: Condition[]): Condition[] {
  return next.reduce<Condition[]>((acc, c) => setCondition(acc, c), [...(previous ?? [])]);
}

/** Complete and Failed from a finished-or-not phase. */
function requestConditions(
  previous: readonly Condition[] | undefined,
  outcome: { done: 'Complete' | 'Failed' | undefined; reason: string; message: string },
  generation: number | undefined,
  now: Date,
): Condition[] {
  const { done, reason, message } = outcome;
  return setAll(previous, [
    condition(CONDITION_TYPES.complete, done === 'Complete' ? 'True' : 'False', reason, message, generation, now),
    condition(CONDITION_TYPES.failed, done === 'Failed' ? 'True' : 'False', reason, message, generation, now),
  ]);
}

const REQUEST_DEFAULT_MESSAGES: Record<CheckpointRequestPhase, string> = {
  Pending: 'waiting for the agent of the pod\'s node',
  InProgress: 'the agent is checkpointing the container',
  Completed: 'the checkpoint is stored',
  Failed: 'the checkpoint failed',
};

/** CheckpointRequest: Complete and Failed from its phase Pending | InProgress | Completed | Failed. */
export function checkpointRequestConditions(previous: readonly Condition[] | undefined, change: PhaseChange<CheckpointRequestPhase>): Condition[] {
  const phase = change.phase ?? 'Pending';
  const message = change.message ?? REQUEST_DEFAULT_MESSAGES[phase];
  const outcome =
    phase === 'Completed' ? { done: 'Complete' as const, reason: CONDITION_REASONS.checkpointCreated }
    : phase === 'Failed' ? { done: 'Failed' as const, reason: reasonOr(change.reason, CONDITION_REASONS.checkpointFailed) }
    : { done: undefined, reason: phase === 'InProgress' ? CONDITION_REASONS.inProgress : CONDITION_REASONS.pending };
  return requestConditions(previous, { ...outcome, message }, change.generation, change.now);
}

const RESTORE_DEFAULT_MESSAGES: Record<RestoreRequestPhase, string> = {
  Pending: 'waiting for the controller',
  Checkpointing: 'taking a fresh checkpoint first',
  Restoring: 'restoring the pod',
  Completed: 'the pod runs restored',
  Failed: 'the restore failed',
};

/** RestoreRequest: Complete and Failed from its phase Pending | Checkpointing | Restoring | Completed | Failed. */
export function restoreRequestConditions(previous: readonly Condition[] | undefined, change: PhaseChange<RestoreRequestPhase>): Condition[] {
  const phase = change.phase ?? 'Pending';
  const message = change.message ?? RESTORE_DEFAULT_MESSAGES[phase];
  const outcome =
    phase === 'Completed' ? { done: 'Complete' as const, reason: CONDITION_REASONS.restored }
    : phase === 'Failed' ? { done: 'Failed' as const, reason: reasonOr(change.reason, CONDITION_REASONS.restoreFailed) }
    : { done: undefined, reason: phase === 'Checkpointing' ? CONDITION_REASONS.checkpointing : phase === 'Restoring' ? CONDITION_REASONS.restoring : CONDITION_REASONS.pending };
  return requestConditions(previous, { ...outcome, message }, change.generation, change.now);
}

/** The status fields a Checkpoint's conditions follow. */
export type CheckpointReadiness = Pick<CheckpointStatus, 'phase' | 'runtimeImage' | 'failedReason' | 'bad' | 'badReason'>;

/**
 * Checkpoint: Ready (True while a replacement may be restored from it: phase ImageBuilt with a
 * pullable runtimeImage and not marked bad) and ImageBuilt (its image is in the registry).
 */
export function checkpointConditions(
  previous: readonly Condition[] | undefined,
  status: CheckpointReadiness,
  at: { generation?: number | undefined; now: Date },
): Condition[] {
  const { generation, now } = at;
  const built = status.phase === 'ImageBuilt' && typeof status.runtimeImage === 'string' && status.runtimeImage !== '';
  const failed = status.phase === 'Failed';
  const imageBuilt = built
    ? condition(CONDITION_TYPES.imageBuilt, 'True', CONDITION_REASONS.pushed, `stored as ${status.runtimeImage ?? ''}`, generation, now)
    : failed
      ? condition(CONDITION_TYPES.imageBuilt, 'False', CONDITION_REASONS.checkpointFailed, status.failedReason ?? 'the checkpoint failed', generation, now)
      : condition(CONDITION_TYPES.imageBuilt, 'False', CONDITION_REASONS.processing, 'the checkpoint image is not stored yet', generation, now);
  const ready = status.bad === true
    ? condition(CONDITION_TYPES.ready, 'False', CONDITION_REASONS.markedBad, status.badReason ?? 'a restore from this checkpoint failed: it is never chosen again', generation, now)
    : built
      ? condition(CONDITION_TYPES.ready, 'True', CONDITION_REASONS.imageBuilt, `replacement pods may be restored from ${status.runtimeImage ?? ''}`, generation, now)
      : { ...imageBuilt, type: CONDITION_TYPES.ready };
  return setAll(previous, [imageBuilt, ready]);
}

/** `{ observedGeneration }` for a status, when the writer knows the generation. */
export function observedGeneration(generation: number | undefined): { observedGeneration?: number } {
  return generation !== undefined ? { observedGeneration: generation } : {};
}
