// What a checkpoint archive says about itself (checkpointctl reads the same): which runtime wrote
// it, whose container it is, and the base image its root filesystem came from. Pure: the
// archive's small JSON files in, facts out; an archive that does not say is refused.
//
// CRI-O (internal/lib/checkpoint.go): spec.dump annotations io.kubernetes.pod.name,
// io.kubernetes.pod.namespace, io.kubernetes.container.name and its own
// io.kubernetes.cri-o.Annotations; no status.dump. containerd (internal/cri/server/
// container_checkpoint_linux.go): status.dump, and spec.dump annotations
// io.kubernetes.cri.sandbox-name, io.kubernetes.cri.sandbox-namespace,
// io.kubernetes.cri.container-name. Both: config.dump rootfsImageName and rootfsImageRef.
export type ArchiveRuntime = 'cri-o' | 'containerd';

export interface ArchiveFacts {
  runtime: ArchiveRuntime;
  namespace: string;
  pod: string;
  container: string;
  podUid?: string;
  /**
   * The base image as config.dump names it: rootfsImageName, and rootfsImageRef (an image id for
   * CRI-O, a repo digest for containerd). The shape of Checkpoint spec.baseImage.
   */
  baseImage: { name?: string; ref?: string };
}

export class ArchiveFactsError extends Error {
  override name = 'ArchiveFactsError';
}

/** The small JSON files of an archive, by name (config.dump, spec.dump, status.dump), as read. */
export type ArchiveDumps = ReadonlyMap<string, unknown>;

const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export function archiveFacts(dumps: ArchiveDumps): ArchiveFacts {
  if (!dumps.has('spec.dump')) throw new ArchiveFactsError('the archive has no spec.dump: not a container checkpoint');
  if (!dumps.has('config.dump')) throw new ArchiveFactsError('the archive has no config.dump: not a container checkpoint');
  const annotations = obj(obj(dumps.get('spec.dump')).annotations);
  const config = obj(dumps.get('config.dump'));
  const a = (k: string) => text(annotations[k]);
  const crio = a('io.kubernetes.cri-o.Annotations') !== undefined || a('io.kubernetes.cri-o.ContainerID') !== undefined;
  const containerd = dumps.has('status.dump');
  if (crio === containerd) throw new ArchiveFactsError(crio ? 'the archive carries both CRI-O and containerd files' : 'the archive names neither CRI-O nor containerd as the runtime that wrote it');
  const who = crio
    ? { namespace: a('io.kubernetes.pod.namespace'), pod: a('io.kubernetes.pod.name'), container: a('io.kubernetes.container.name'), podUid: a('io.kubernetes.pod.uid') }
    : { namespace: a('io.kubernetes.cri.sandbox-namespace'), pod: a('io.kubernetes.cri.sandbox-name'), container: a('io.kubernetes.cri.container-name'), podUid: a('io.kubernetes.cri.sandbox-uid') };
  if (who.namespace === undefined || who.pod === undefined || who.container === undefined) {
    throw new ArchiveFactsError(`the archive's spec.dump does not name its pod, namespace and container (${crio ? 'CRI-O' : 'containerd'} annotations missing)`);
  }
  const name = text(config.rootfsImageName);
  const ref = text(config.rootfsImageRef);
  return {
    runtime: crio ? 'cri-o' : 'containerd',
    namespace: who.namespace,
    pod: who.pod,
    container: who.container,
    ...(who.podUid !== undefined ? { podUid: who.podUid } : {}),
    baseImage: { ...(name !== undefined ? { name } : {}), ...(ref !== undefined ? { ref } : {}) },
  };
}

/** Why the archive is not the one asked for, or undefined when it is that container's. */
export function archiveMismatch(facts: ArchiveFacts, want: { namespace: string; pod: string; container: string; podUid?: string }): string | undefined {
  const got = `${facts.namespace}/${facts.pod} container ${facts.container}`;
  if (facts.namespace !== want.namespace || facts.pod !== want.pod || facts.container !== want.container) {
    return `the archive belongs to ${got}, not to ${want.namespace}/${want.pod} container ${want.container}`;
  }
  if (want.podUid !== undefined && want.podUid !== '' && facts.podUid !== undefined && facts.podUid !== want.podUid) {
    return `the archive belongs to pod UID ${facts.podUid} of ${got}, not to UID ${want.podUid}`;
  }
  return undefined;
}
