// Writes the mark of a node that cannot restore (src/restore/node-fault-mark.ts decides it): a
// merge patch of the Node's metadata (the ValidatingAdmissionPolicy kcr-controller-node-restore-marks
// allows the controller those keys only) and a Warning Event on the Node. A failure is logged and
// reported, never thrown: the caller then starts the container fresh in place instead.
import type { Logger } from '../log.ts';
import type { NodeFaultMark } from '../restore/node-fault-mark.ts';
import { RESTORE_FAILED_ANNOTATION } from '../rules/node-restore-fault.ts';
import { CAPABILITY_LABELS } from '../rules/restore-capability.ts';
import type { EventRecorder } from './events.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';

export interface NodeRestoreMarkDeps {
  api: KubeJson;
  events: EventRecorder;
  logger: Logger;
}

/** True when the mark was written. `who` names the pod for the logs. */
export async function markNodeRestoreFailed(
  deps: NodeRestoreMarkDeps,
  node: { name: string; uid?: string | undefined },
  mark: NodeFaultMark,
  who: { namespace: string; pod: string; uid: string; container: string; checkpoint: string },
): Promise<boolean> {
  const log = { ...who, node: node.name };
  if (!mark.ok) {
    deps.logger.warn({ ...log, why: mark.why }, 'cannot mark the node as unable to restore');
    return false;
  }
  if (mark.patch === undefined) return true;
  try {
    await deps.api.patch(`/api/v1/nodes/${encodeURIComponent(node.name)}`, mark.patch, 'merge');
  } catch (err) {
    deps.logger.warn({ ...log, code: apiCode(err), err }, 'could not mark the node as unable to restore');
    return false;
  }
  deps.logger.warn({ ...log, why: mark.fault.why, runtimeVersion: mark.fault.runtimeVersion }, 'marked the node as unable to restore');
  const label = mark.forcedCapable ? `its ${CAPABILITY_LABELS.override}=true label still makes it capable` : `it is ${CAPABILITY_LABELS.capable}=false`;
  await deps.events.event(
    { apiVersion: 'v1', kind: 'Node', namespace: '', name: node.name, ...(node.uid ? { uid: node.uid } : {}) },
    'Warning',
    'RestoreNotPossibleOnNode',
    `a restore of checkpoint ${who.namespace}/${who.checkpoint} (pod ${mark.fault.pod}) failed on this node: ${mark.fault.why}; ` +
      `${label} until the annotation ${RESTORE_FAILED_ANNOTATION} is removed (kubectl annotate node ${node.name} ${RESTORE_FAILED_ANNOTATION}-) or the runtime changes`,
  );
  return true;
}
