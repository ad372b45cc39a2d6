// Why a restored container did not start, judged by cause (DESIGN.md restore rule 7): only a
// restore the runtime really tried and that failed says anything about the checkpoint. Pure: the
// kubelet's waiting reason and the runtime's message in, a cause out. The texts are CRI-O's and
// containerd's own (test/cluster/cri-sim/README.md lists them with their sources).
export type RestoreFailureKind =
  /** The node cannot restore this checkpoint (restore off, another runtime, base image missing, no CRIU): never the checkpoint's fault. */
  | 'node'
  /** CRIU itself failed to restore the process: the checkpoint is bad. */
  | 'criu'
  /** The runtime tried and failed for a reason not known here: the checkpoint is bad once it failed on two nodes. */
  | 'runtime'
  /** The registry says the checkpoint image is gone: the checkpoint is bad. */
  | 'image-gone'
  /** The checkpoint image could not be pulled (credentials, network): not the checkpoint's fault. */
  | 'pull';

export interface RestoreFailureCause {
  kind: RestoreFailureKind;
  /** A few words for Events and logs, e.g. "the base image is not on the node". */
  why: string;
}

/** Node-side refusals, each as the runtime words it. */
const NODE_FAULTS: Array<[RegExp, string]> = [
  // Restore switched off (CRI-O before 1.30, containerd 2.2.7+/2.3.4+) or removed (containerd 2.4):
  // the checkpoint image is run as an ordinary image, which has no program.
  [/no command specified/, 'the node’s runtime does not restore from checkpoint images (restore is off or removed): it ran the image as an ordinary one'],
  [/executable file (`[^`]*` )?not found|exec: "[^"]*": stat [^:]*: no such file or directory/, 'the node’s runtime does not restore from checkpoint images: it tried to run the pod’s command from the checkpoint image'],
  [/checkpoint restore via CreateContainer is disabled by configuration/, 'restore is switched off in the node’s containerd (enable_experimental_restore_via_create)'],
  [/checkpoint\/restore support not available/, 'restore is switched off in the node’s CRI-O (enable_criu_support)'],
  // An archive of the other runtime.
  [/failed to read "io\.kubernetes\.cri-o\.(Annotations|Metadata|Labels)"/, 'the checkpoint was written by containerd; this node runs CRI-O'],
  [/failed to read "status\.dump"/, 'the checkpoint was written by CRI-O; this node runs containerd'],
  // The base image: CRI-O only looks on the node; containerd pulls it anonymously.
  [/reading image "[^"]*": image not known/, 'the checkpoint’s base image is not on the node (CRI-O never pulls it)'],
  [/failed to pull checkpoint base image/, 'the node’s containerd could not pull the checkpoint’s base image (it pulls it anonymously)'],
  // The pod does not declare the original's mounts (CRI-O ≥ 1.32): this pod cannot take it here.
  [/expects following bind mounts defined/, 'the new container does not declare every mount the checkpointed one had (CRI-O)'],
  [/criu.*(not found|no such file)|CRIU binary not found|CRIU version/i, 'CRIU is missing or too old on the node'],
];

const CRIU_FAILURES = /CRIU restoring failed|criu failed: type RESTORE|failed to restore containerd task|criu restore failed/i;
const IMAGE_GONE = /manifest unknown|name unknown|not found/i;
const RUNTIME_REASONS = new Set(['CreateContainerError', 'RunContainerError', 'CrashLoopBackOff']);
const PULL_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff']);

/** The cause of a container that did not start from its checkpoint image; undefined when the reason is not a failure to start. */
export function restoreFailureCause(reason: string, message: string): RestoreFailureCause | undefined {
  if (PULL_REASONS.has(reason)) {
    return IMAGE_GONE.test(message) ? { kind: 'image-gone', why: 'the registry no longer has the checkpoint image' } : { kind: 'pull', why: 'the checkpoint image could not be pulled' };
  }
  if (!RUNTIME_REASONS.has(reason)) return undefined;
  for (const [pattern, why] of NODE_FAULTS) if (pattern.test(message)) return { kind: 'node', why };
  if (CRIU_FAILURES.test(message)) return { kind: 'criu', why: 'CRIU failed to restore the checkpoint' };
  // A back-off without the runtime's words says nothing about the checkpoint.
  if (reason === 'CrashLoopBackOff') return undefined;
  return { kind: 'runtime', why: 'the runtime failed to restore the checkpoint' };
}
