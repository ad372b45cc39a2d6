// Annotations the simulated nodes read and write. Tests in other processes steer a node
// through these (failure injection), and read a container's memory state from the pod.

export const SIM_ANNOTATIONS = {
  /** Pod: `sim.kcr.io/state.<container>` = JSON AppState, kept current by the node (throttled). */
  statePrefix: 'sim.kcr.io/state.',
  /** Pod: simulated memory size of every container in bytes (pages-1.img size). */
  memoryBytes: 'sim.kcr.io/memory-bytes',
  /** Pod: `sim.kcr.io/memory-bytes.<container>` overrides memoryBytes for one container. */
  memoryBytesPrefix: 'sim.kcr.io/memory-bytes.',
  /** Pod: `sim.kcr.io/crash.<container>` = "loop" (crash every start) or any token (crash once per new value). */
  crashPrefix: 'sim.kcr.io/crash.',
  /** Node: "true" makes every checkpoint on that node fail with 500. */
  failCheckpoint: 'sim.kcr.io/fail-checkpoint',
  /**
   * Node: "true" makes every restore (container from a checkpoint image) on that node fail;
   * a comma-separated list fails only images whose reference or imageID contains an item
   * (a tag, a digest), so one bad checkpoint can fail while older ones restore.
   */
  failRestore: 'sim.kcr.io/fail-restore',
} as const;

/** The manifest annotation that makes CRI-O (>= 1.26) restore a container instead of starting it. */
export const CRIO_CHECKPOINT_ANNOTATION = 'io.kubernetes.cri-o.annotations.checkpoint.name';
/** containerd 2.1-2.3's equivalent; accepted too. */
export const CRIU_CHECKPOINT_ANNOTATION = 'org.criu.checkpoint.container.name';

export const DEFAULT_MEMORY_BYTES = 256 * 1024;

/** Pure: does the fail-restore setting `value` (annotation or list) cover this image? */
export function restoreFailureMatches(value: string | undefined, image: string, imageID: string): boolean {
  if (value === undefined) return false;
  const v = value.trim();
  if (v === '' || v === 'false') return false;
  if (v === 'true') return true;
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .some((m) => image.includes(m) || imageID.includes(m));
}
