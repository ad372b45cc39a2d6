// A node remembered as unable to restore (DESIGN.md restore rule 7): when a restore fails there
// for the node's own fault, the controller writes the annotation restore.kcr.io/restore-failed
// on the Node, and every later capability decision (the agent's periodic one included) keeps the
// node not capable until an administrator removes it. The fault names the runtime version it was
// seen with: after a runtime upgrade it no longer applies. Pure: values in, values out.

export const RESTORE_FAILED_ANNOTATION = 'restore.kcr.io/restore-failed';

export interface NodeRestoreFault {
  /** When the restore failed (ISO 8601). */
  at: string;
  /** A few words on the node's fault, e.g. "the checkpoint’s base image is not on the node". */
  why: string;
  /** node.status.nodeInfo.containerRuntimeVersion when it failed. */
  runtimeVersion: string;
  /** "namespace/name" of the pod whose restore failed. */
  pod: string;
  /** The Checkpoint (in the pod's namespace) it failed to restore. */
  checkpoint: string;
}

/** Annotation values stay small whatever a runtime's message says. */
const MAX_WHY = 256;

/** The fault seen at `now`; `why` is shortened to fit an annotation. */
export function newNodeRestoreFault(input: { now: Date; why: string; runtimeVersion: string; pod: string; checkpoint: string }): NodeRestoreFault {
  const why = input.why.length <= MAX_WHY ? input.why : `${input.why.slice(0, MAX_WHY - 1)}…`;
  return { at: input.now.toISOString(), why, runtimeVersion: input.runtimeVersion, pod: input.pod, checkpoint: input.checkpoint };
}

/** The annotation's value: JSON with a fixed key order, so the same fault writes the same text. */
export function formatNodeRestoreFault(f: NodeRestoreFault): string {
  return JSON.stringify({ at: f.at, why: f.why, runtimeVersion: f.runtimeVersion, pod: f.pod, checkpoint: f.checkpoint });
}

/** The annotation's value read back; undefined when absent or not what formatNodeRestoreFault writes (at, why and runtimeVersion are required). */
export function parseNodeRestoreFault(raw: string | undefined): NodeRestoreFault | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const text = (k: string): string | undefined => (typeof o[k] === 'string' && o[k] !== '' ? o[k] : undefined);
  const at = text('at');
  const why = text('why');
  const runtimeVersion = text('runtimeVersion');
  if (at === undefined || why === undefined || runtimeVersion === undefined) return undefined;
  return { at, why, runtimeVersion, pod: text('pod') ?? '', checkpoint: text('checkpoint') ?? '' };
}

/** The fault when it still applies: readable and seen with the runtime the node runs now (an upgrade may have fixed it). */
export function activeNodeRestoreFault(raw: string | undefined, containerRuntimeVersion: string | undefined): NodeRestoreFault | undefined {
  const f = parseNodeRestoreFault(raw);
  return f !== undefined && containerRuntimeVersion !== undefined && f.runtimeVersion === containerRuntimeVersion ? f : undefined;
}

/** The capability reason while the fault applies; the controller and the agent write the same text. */
export function nodeRestoreFaultReason(f: NodeRestoreFault): string {
  return `a restore failed on this node at ${f.at}: ${f.why}; remove the annotation ${RESTORE_FAILED_ANNOTATION} once fixed`;
}
