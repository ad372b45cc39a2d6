// Which of a container's archives on this node to delete after a successful push. The kubelet
// never deletes archives; once an archive is in the registry the node copy is only a local
// spare (CRI-O can restore from a tar path). Policy: keep the newest `keep` archives of each
// container (KCR_KEEP_ARCHIVES, default 1), delete the older ones.
//
// Only archives the ledger records for exactly this owner (namespace, pod, container) are ever
// chosen: a file name cannot tell `team`/`a-x` from `team-a`/`x`, and a file the agent did not
// record (another tool's, an older agent's) is not its to delete. Archives of a push still
// running (`inUse`) are never chosen. Pure.
import type { ArchiveLedger } from './archive-ledger.ts';
import { archivePrefix, archiveTime } from './archive-path.ts';

export interface ArchiveOwner {
  pod: string;
  namespace: string;
  container: string;
}

export interface RetentionPlan {
  /** Files to delete. */
  remove: string[];
  /** Names to drop from the ledger once `remove` is done: those deleted and those already gone. */
  forget: string[];
}

export function archiveRetention(
  ledger: ArchiveLedger,
  present: readonly string[],
  owner: ArchiveOwner,
  keep: number,
  inUse: ReadonlySet<string> = new Set(),
): RetentionPlan {
  const here = new Set(present);
  const prefix = archivePrefix(owner.pod, owner.namespace, owner.container);
  const mine = [...ledger]
    .filter(([name, e]) => here.has(name) && e.namespace === owner.namespace && e.pod === owner.pod && e.container === owner.container)
    .map(([name, e]) => ({ name, time: (archiveTime(name, prefix) ?? new Date(e.recordedAt)).getTime() }))
    // Newest first; equal times by name so the choice is stable.
    .sort((a, b) => b.time - a.time || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  const remove = mine
    .slice(Math.max(0, keep))
    .map((a) => a.name)
    .filter((n) => !inUse.has(n));
  // An entry whose file is gone (deleted by hand, the folder wiped) only grows the ledger.
  const gone = [...ledger.keys()].filter((n) => !here.has(n));
  return { remove, forget: [...remove, ...gone] };
}
