// After a restore failed for the node's fault (DESIGN.md restore rule 7): what the controller
// writes on the Node so that no restore lands there again, and whether the pod is then replaced
// (its controller makes a new one, which the webhook places on a capable node or starts fresh)
// or started fresh in place. Pure: the Node as cached, the failure and `now` in; the patch and
// the choice out. The shell is src/controller/node-restore-mark.ts.
import {
  activeNodeRestoreFault,
  formatNodeRestoreFault,
  newNodeRestoreFault,
  nodeRestoreFaultReason,
  RESTORE_FAILED_ANNOTATION,
  type NodeRestoreFault,
} from '../rules/node-restore-fault.ts';
import { CAPABILITY_LABELS, CAPABILITY_REASON_ANNOTATION, capabilityOverride } from '../rules/restore-capability.ts';

/** The parts of a Node read here (wire-form JSON, or client-node's V1Node). */
export interface NodeLike {
  metadata?: { name?: string; uid?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  status?: { nodeInfo?: { containerRuntimeVersion?: string } };
}

export interface NodeMetadataPatch {
  metadata: { labels?: Record<string, string>; annotations: Record<string, string> };
}

export type NodeFaultMark =
  | { ok: false; why: string }
  | {
    ok: true;
    fault: NodeRestoreFault;
    /** A JSON merge patch of the Node's metadata only; undefined when the Node says so already (a retried pass). */
    patch: NodeMetadataPatch | undefined;
    /** An administrator's restore.kcr.io/capable-override=true: the node stays capable whatever kcr writes. */
    forcedCapable: boolean;
    /** The node already carried a fault for this runtime version when the pod was placed on it. */
    markedBefore: boolean;
  };

/**
 * The mark for `node`: the restore-failed annotation, and at once the label capable=false with
 * its reason (as the agent would work it out from the annotation). An administrator's override
 * keeps the label and reason to the agent, which publishes the override's word.
 */
export function nodeFaultMark(input: {
  nodeName: string;
  node: NodeLike | undefined;
  failure: { namespace: string; pod: string; checkpoint: string; why: string };
  /** When the failed pod was placed on the node (podPlacedMs); undefined: unknown. */
  podPlacedMs: number | undefined;
  now: Date;
}): NodeFaultMark {
  const { nodeName, node, failure } = input;
  if (nodeName === '') return { ok: false, why: 'the pod is bound to no node' };
  if (node === undefined) return { ok: false, why: `node ${nodeName} is not known (yet)` };
  const runtimeVersion = node.status?.nodeInfo?.containerRuntimeVersion;
  // Without it the fault could never be matched to the runtime again (the agent would ignore it).
  if (runtimeVersion === undefined || runtimeVersion === '') return { ok: false, why: `node ${nodeName} reports no container runtime version` };
  const before = activeNodeRestoreFault(node.metadata?.annotations?.[RESTORE_FAILED_ANNOTATION], runtimeVersion);
  // A pod placed before the node was marked was admitted without the mark; unknown times count as
  // marked before (no replacement, so never a loop).
  const beforeMs = before === undefined ? NaN : Date.parse(before.at);
  const markedBefore = before !== undefined && (input.podPlacedMs === undefined || !Number.isFinite(beforeMs) || beforeMs <= input.podPlacedMs);
  const override = capabilityOverride(node.metadata?.labels?.[CAPABILITY_LABELS.override]);
  const seen = newNodeRestoreFault({ now: input.now, why: failure.why, runtimeVersion, pod: `${failure.namespace}/${failure.pod}`, checkpoint: failure.checkpoint });
  // The same failure handled again (a pass retried): keep its first time and write nothing new.
  const same = before !== undefined && before.why === seen.why && before.pod === seen.pod && before.checkpoint === seen.checkpoint;
  const fault = same ? before : seen;
  const labelled = override !== undefined ||
    (node.metadata?.labels?.[CAPABILITY_LABELS.capable] === 'false' && node.metadata.annotations?.[CAPABILITY_REASON_ANNOTATION] === nodeRestoreFaultReason(fault));
  const patch: NodeMetadataPatch = override === undefined
    ? {
      metadata: {
        labels: { [CAPABILITY_LABELS.capable]: 'false' },
        annotations: { [RESTORE_FAILED_ANNOTATION]: formatNodeRestoreFault(fault), [CAPABILITY_REASON_ANNOTATION]: nodeRestoreFaultReason(fault) },
      },
    }
    : { metadata: { annotations: { [RESTORE_FAILED_ANNOTATION]: formatNodeRestoreFault(fault) } } };
  return { ok: true, fault, patch: same && labelled ? undefined : patch, forcedCapable: override === true, markedBefore };
}

/**
 * Replace the pod (delete it; its controller makes a new one) or start the container fresh in
 * place. A replacement is only safe when the node is now marked not capable: otherwise the webhook
 * could restore the new pod onto the same node again, a loop.
 */
export function replaceAfterNodeFault(input: {
  controllerOwned: boolean;
  restoredInPlace: boolean;
  /** The mark was written. */
  marked: boolean;
  forcedCapable: boolean;
  markedBefore: boolean;
}): { replace: true } | { replace: false; why: string } {
  if (!input.controllerOwned) return { replace: false, why: 'no controller would replace the pod' };
  if (input.restoredInPlace) return { replace: false, why: 'the container was restored in place' };
  if (!input.marked) return { replace: false, why: 'the node could not be marked not capable, so a replacement could land there again' };
  if (input.forcedCapable) return { replace: false, why: `an administrator forces the node capable (${CAPABILITY_LABELS.override}=true), so a replacement could land there again` };
  // Marked before and still restored here: whatever placed the pod ignores the mark; replacing would loop.
  if (input.markedBefore) return { replace: false, why: 'the node was already marked not capable and a restore still landed there' };
  return { replace: true };
}
