// Which of a container's archives on this node to delete after a successful push. The kubelet
// never deletes archives; once an archive is in the registry the node copy is only a local
// spare (CRI-O can restore from a tar path). Policy: keep the newest `keep` archives of each
// container (KCR_KEEP_ARCHIVES, default 1), delete the older ones. Archives of a push still
// running (`inUse`) are never chosen. Pure.
import { archivePrefix, archiveTime } from './archive-path.ts';

export interface ArchiveOwner {
  pod: string;
  namespace: string;
  container: string;
}

export function archivesToDelete(names: readonly string[], owner: ArchiveOwner, keep: number, inUse: ReadonlySet<string> = new Set()): string[] {
  const prefix = archivePrefix(owner.pod, owner.namespace, owner.container);
  const mine = names
    .map((name) => ({ name, time: archiveTime(name, prefix) }))
    .filter((a): a is { name: string; time: Date } => a.time !== undefined)
    // Newest first; equal times by name so the choice is stable.
    .sort((a, b) => b.time.getTime() - a.time.getTime() || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  return mine
    .slice(Math.max(0, keep))
    .map((a) => a.name)
    .filter((n) => !inUse.has(n));
}
