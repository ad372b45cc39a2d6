// Where the agent finds an archive the kubelet reports. The kubelet names a path on the node
// (/var/lib/kubelet/checkpoints/checkpoint-<pod>_<ns>-<container>-<RFC3339>.tar); the agent sees
// that folder at its configured checkpoint folder (a hostPath mount), so only the file name is
// kept. A name that could leave the folder is refused. Pure.
import { posix } from 'node:path';

export class ArchivePathError extends Error {
  override name = 'ArchivePathError';
}

/** The archive's file name in the reported path; throws for a name that is not a plain file name. */
export function archiveFileName(reported: string): string {
  const base = posix.basename(reported.trim());
  if (base === '' || base === '.' || base === '..' || base.includes('\0') || base.includes('\\')) {
    throw new ArchivePathError(`the kubelet reported ${JSON.stringify(reported)}, which names no archive file`);
  }
  return base;
}

/** The path of the reported archive inside the agent's checkpoint folder. */
export function localArchivePath(reported: string, checkpointDir: string): string {
  return posix.join(checkpointDir, archiveFileName(reported));
}

/** `checkpoint-<pod>_<namespace>-<container>-`: what every archive of one container starts with. */
export function archivePrefix(pod: string, namespace: string, container: string): string {
  return `checkpoint-${pod}_${namespace}-${container}-`;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))\.tar(?:\.gz)?$/;

/**
 * The time in an archive name of this container, or undefined when the name is not one of its
 * archives. Names hold dashes, so `checkpoint-p_ns-a-` also starts `checkpoint-p_ns-a-b-<time>`;
 * requiring a time right after the prefix tells them apart.
 */
export function archiveTime(name: string, prefix: string): Date | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const m = RFC3339.exec(name.slice(prefix.length));
  if (!m) return undefined;
  const t = new Date(m[1]!);
  return Number.isNaN(t.getTime()) ? undefined : t;
}
