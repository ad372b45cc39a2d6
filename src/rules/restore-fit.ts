// Whether a node can restore a checkpoint (DESIGN.md restore rule 5), the one check the webhook
// (placement), RestoreRequests (targetNode) and in-place restores (the pod's own node) share.
// A checkpoint restores only on a node whose agent published restore.kcr.io/capable=true and the
// runtime that wrote it (an archive of CRI-O never restores on containerd and back), and on the
// CPU architecture it was taken on. Pure: the node's labels and the checkpoint's facts in.
import { CAPABILITY_LABELS } from './restore-capability.ts';

export const ARCH_LABEL = 'kubernetes.io/arch';

/** What a node's labels say (as its agent, or an administrator, set them). */
export interface NodeRestoreFacts {
  name: string;
  /** restore.kcr.io/runtime */
  runtime: string | undefined;
  /** restore.kcr.io/capable ("true" | "false") */
  capable: string | undefined;
  /** kubernetes.io/arch */
  architecture: string | undefined;
  /** spec.unschedulable (cordoned): the scheduler places no new pod there. */
  unschedulable?: boolean;
}

/** What a restore needs from its node: the runtime that wrote the checkpoint and its architecture, when recorded. */
export interface RestoreNeed {
  runtime: string | undefined;
  architecture: string | undefined;
}

/** The node facts from a Node object's labels and spec (a wire object: nothing trusted). */
export function nodeRestoreFacts(node: { metadata?: { name?: string; labels?: Record<string, string> | undefined }; spec?: { unschedulable?: boolean } | undefined }): NodeRestoreFacts | undefined {
  const name = node.metadata?.name;
  if (typeof name !== 'string' || name === '') return undefined;
  const labels = node.metadata?.labels ?? {};
  return {
    name,
    runtime: labels[CAPABILITY_LABELS.runtime],
    capable: labels[CAPABILITY_LABELS.capable],
    architecture: labels[ARCH_LABEL],
    unschedulable: node.spec?.unschedulable === true,
  };
}

/** Why this node cannot restore what `need` says; undefined when it can. Cordoning is not judged here (placement's concern). */
export function nodeMisfit(node: NodeRestoreFacts, need: RestoreNeed): string | undefined {
  if (node.capable !== 'true') {
    return `node ${node.name} cannot restore checkpoints (${CAPABILITY_LABELS.capable}=${node.capable ?? 'unset'})`;
  }
  if (node.runtime === undefined) return `node ${node.name} has no ${CAPABILITY_LABELS.runtime} label`;
  if (need.runtime !== undefined && node.runtime !== need.runtime) {
    return `node ${node.name} runs ${node.runtime}, but the checkpoint was written by ${need.runtime}: an archive restores only on the runtime that wrote it`;
  }
  if (need.architecture !== undefined && node.architecture !== need.architecture) {
    return `node ${node.name} is ${node.architecture ?? 'of no known architecture'}, but the checkpoint was taken on ${need.architecture}`;
  }
  return undefined;
}

/** A node the scheduler may place a new restored pod on: it fits and is not cordoned. */
export function nodeTakesRestore(node: NodeRestoreFacts, need: RestoreNeed): boolean {
  return node.unschedulable !== true && nodeMisfit(node, need) === undefined;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: 'In' | 'Exists';
  values?: string[];
}

/**
 * The node-affinity requirements that keep a restored pod off every node that cannot restore it:
 * capable, and of the checkpoint's runtime (or at least of a known one, for checkpoints that did
 * not record theirs). The webhook adds them to every required term (terms are ORed).
 */
export function placementRequirements(runtime: string | undefined): NodeSelectorRequirement[] {
  return [
    { key: CAPABILITY_LABELS.capable, operator: 'In', values: ['true'] },
    runtime === undefined
      ? { key: CAPABILITY_LABELS.runtime, operator: 'Exists' }
      : { key: CAPABILITY_LABELS.runtime, operator: 'In', values: [runtime] },
  ];
}
